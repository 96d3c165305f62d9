"""Layer-wise Relevance Propagation through zennit (Bach et al. 2015, PLOS ONE 10(7):e0130140).

The AudioMNIST paper (Becker et al., arXiv 1807.03418) explained both models with LRP's ε- and
αβ-rules; the composites here follow the recommendations of Montavon et al. (2019, "Layer-Wise
Relevance Propagation: An Overview") and Kohlbrenner et al. (2020, "Towards best practice in
explaining neural network decisions with LRP"). Each explainer only names a zennit composite and
its parameters; zennit's ``Gradient`` attributor, started from the target logit (a one-hot
mask of the output), does the work.
zennit is imported on first use, so listing plugins stays fast.

The ε- and αβ-rules have no input-layer rule of their own: at the input they attribute relative
to x = 0, which on the paper's dB spectrogram input is 0 dB, the loudest bin. Their ``reference``
parameter (default ``"silence"``) moves that reference exactly, by reparameterising the first
layer (:mod:`audioxai_bench.api.reference`); the ``-0db`` variants keep x = 0, the 0 dB
reference that any first-layer rule without a box rule has on the paper's input scale. They are
not the paper's configuration: its LRP rules and their parameters are not in its public code
(which holds no LRP), so ε = 0.25 and the α2β1 composite are this project's choice.
EpsilonPlusFlat's flat rule and EpsilonGammaBox's z^B rule set the input layer's reference
themselves (none; the box bounds), so their ``reference`` is ``"input-rule"``.
The z^B rule takes a positive weight's share relative to ``low`` and a negative weight's
relative to ``high``: on a dB spectrogram with per-sample bounds, the latter is the clip's
loudest bin, so gamma-box is partly a 0 dB method. How much that matters depends on the model
(README, results: below ``random`` on AlexNets trained on the raw dB input, not on those
trained centred).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import Tensor, nn
from torch.nn import functional as F

from audioxai_bench.api.explainer import BaseExplainer, require_positive, spatial_dims
from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.reference import REFERENCES, reference_of, relative_to

#: Where the 0 dB variants are registered (on waveforms zero is silence: nothing to compare).
SPECTROGRAM = frozenset({"spectrogram"})
#: Composite presets by short name (the ``composite`` parameter).
COMPOSITES: tuple[str, ...] = (
    "epsilon",
    "epsilon-plus-flat",
    "epsilon-alpha2-beta1",
    "epsilon-gamma-box",
)
#: Composites whose input-layer rule sets its own reference (the ``"input-rule"`` reference).
INPUT_RULE_COMPOSITES: tuple[str, ...] = ("epsilon-plus-flat", "epsilon-gamma-box")


def make_composite(
    preset: str,
    x: Tensor,
    *,
    epsilon: float = 1e-6,
    gamma: float = 0.25,
    stabilizer: float = 1e-6,
    low: float | None = None,
    high: float | None = None,
    canonize: bool = False,
) -> Any:
    """Build the zennit composite ``preset`` for the batch ``x``.

    ``"epsilon"`` applies the ε-rule to every convolution and dense layer (LRP-ε of Bach et al.
    2015); the others are zennit's ``EpsilonPlusFlat``, ``EpsilonAlpha2Beta1`` and
    ``EpsilonGammaBox``. The z^B (box) rule of the first layer needs the input's bounds: ``low``
    and ``high`` when given, otherwise each sample's own minimum and maximum, so one sample's
    relevance does not depend on the rest of its batch. ``canonize`` merges batch norms into the
    preceding layer (zennit's ``SequentialMergeBatchNorm``), as LRP assumes.
    """
    from zennit import composites as zc
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.rules import Epsilon
    from zennit.types import Linear

    canonizers = [SequentialMergeBatchNorm()] if canonize else None
    if preset == "epsilon":
        layer_map = zc.layer_map_base(stabilizer) + [(Linear, Epsilon(epsilon=epsilon))]
        return zc.LayerMapComposite(layer_map=layer_map, canonizers=canonizers)
    if preset == "epsilon-plus-flat":
        return zc.EpsilonPlusFlat(epsilon=epsilon, stabilizer=stabilizer, canonizers=canonizers)
    if preset == "epsilon-alpha2-beta1":
        return zc.EpsilonAlpha2Beta1(
            epsilon=epsilon, stabilizer=stabilizer, canonizers=canonizers
        )
    if preset == "epsilon-gamma-box":
        dims = spatial_dims(x)
        lo = x.amin(dim=dims, keepdim=True) if low is None else x.new_tensor(low)
        hi = x.amax(dim=dims, keepdim=True) if high is None else x.new_tensor(high)
        return zc.EpsilonGammaBox(
            low=lo.expand_as(x),
            high=hi.expand_as(x),
            epsilon=epsilon,
            gamma=gamma,
            stabilizer=stabilizer,
            canonizers=canonizers,
        )
    raise ValueError(f"unknown LRP composite {preset!r}; valid: {', '.join(COMPOSITES)}")


def target_logit(output: Tensor, target: Tensor) -> Tensor:
    """The relevance LRP starts from: the target's logit, every other output zero.

    Bach et al. (2015) redistribute the prediction f_c(x) itself, so relevance sums to the
    logit (up to what ε absorbs) and LRP-ε with ε → 0 equals gradient × input on ReLU nets
    (Ancona et al. 2018, ICLR, arXiv 1711.06104), comparable in scale with the captum methods.
    """
    return F.one_hot(target, output.shape[-1]).to(output.dtype) * output.detach()


def has_batch_norm(model: nn.Module) -> bool:
    """Whether ``model`` has normalisation layers that LRP should merge first."""
    from zennit.types import BatchNorm

    return any(isinstance(m, BatchNorm) for m in model.modules())


@dataclasses.dataclass(frozen=True, kw_only=True)
class ZennitLRP(BaseExplainer):
    """LRP with a zennit composite preset (see :data:`COMPOSITES`).

    Parameters
    ----------
    composite : str
        Preset name.
    epsilon : float
        ε of the ε-rule (dense layers; every layer for ``"epsilon"``).
    gamma : float
        γ of the γ-rule (convolutions after the first, ``"epsilon-gamma-box"`` only).
    stabilizer : float
        Denominator stabiliser of the other rules.
    low, high : float or None
        Input bounds of the z^B rule; ``None``: each sample's minimum / maximum.
    reference : str
        What the input layer attributes relative to. ``"epsilon"`` and
        ``"epsilon-alpha2-beta1"``: ``"silence"`` (the default) or ``"zero"`` (0 dB on
        spectrograms, the top of the paper's input scale, registered as ``lrp-epsilon-0db``
        and ``lrp-epsilon-alpha2-beta1-0db``). ``"epsilon-plus-flat"`` and ``"epsilon-gamma-box"``:
        ``"input-rule"`` (their default), the input layer's own rule decides.
    """

    composite: str = "epsilon-plus-flat"
    epsilon: float = 1e-6
    gamma: float = 0.25
    stabilizer: float = 1e-6
    low: float | None = None
    high: float | None = None
    reference: str | None = None

    def __post_init__(self) -> None:
        if self.composite not in COMPOSITES:
            raise ValueError(
                f"unknown LRP composite {self.composite!r}; valid: {', '.join(COMPOSITES)}"
            )
        own_rule = self.composite in INPUT_RULE_COMPOSITES
        if self.reference is None:  # the composite's default
            object.__setattr__(self, "reference", "input-rule" if own_rule else "silence")
        valid = ("input-rule",) if own_rule else REFERENCES
        if self.reference not in valid:
            raise ValueError(f"composite {self.composite!r} takes reference "
                             f"{' or '.join(map(repr, valid))}, got {self.reference!r}")
        # a negative ε or stabiliser flips the sign of small contributions instead of damping
        # them; γ < 0 favours negative over positive ones: neither is the rule any more
        require_positive(self, "epsilon", "stabilizer")
        if not self.gamma >= 0:
            raise ValueError(f"gamma must be non-negative, got {self.gamma!r}")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low must be below high, got low={self.low!r}, high={self.high!r}")

    def attribute(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        from zennit.attribution import Gradient

        shifted = None
        if self.reference in REFERENCES:
            shifted = relative_to(model, x, reference_of(x, self.reference))
            model, x = shifted.model, shifted.x
        composite = make_composite(
            self.composite,
            x,
            epsilon=self.epsilon,
            gamma=self.gamma,
            stabilizer=self.stabilizer,
            low=self.low,
            high=self.high,
            canonize=has_batch_norm(model),
        )
        with Gradient(model=model, composite=composite) as attributor:
            _, relevance = attributor(x, lambda out: target_logit(out, target))
        return relevance if shifted is None else shifted.relevance(relevance)


@hookimpl
def audioxai_bench_explainers() -> list[ZennitLRP]:
    """LRP-ε and the three composites the zennit authors recommend, and ε and α2β1 with the
    0 dB reference of the paper's input scale (``-0db``; spectrograms only: on waveforms zero
    is silence)."""
    return [
        ZennitLRP(
            name="lrp-epsilon",
            display_name="LRP-ε",
            composite="epsilon",
            epsilon=0.25,
        ),
        ZennitLRP(
            name="lrp-epsilon-0db",
            display_name="LRP-ε (0 dB reference)",
            composite="epsilon",
            epsilon=0.25,
            reference="zero",
            representations=SPECTROGRAM,
        ),
        ZennitLRP(
            name="lrp-epsilon-plus-flat",
            display_name="LRP EpsilonPlusFlat",
            composite="epsilon-plus-flat",
        ),
        ZennitLRP(
            name="lrp-epsilon-alpha2-beta1",
            display_name="LRP EpsilonAlpha2Beta1",
            composite="epsilon-alpha2-beta1",
        ),
        ZennitLRP(
            name="lrp-epsilon-alpha2-beta1-0db",
            display_name="LRP EpsilonAlpha2Beta1 (0 dB reference)",
            composite="epsilon-alpha2-beta1",
            reference="zero",
            representations=SPECTROGRAM,
        ),
        ZennitLRP(
            name="lrp-epsilon-gamma-box",
            display_name="LRP EpsilonGammaBox",
            composite="epsilon-gamma-box",
        ),
    ]
