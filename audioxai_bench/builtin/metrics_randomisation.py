"""Model randomisation as a sanity check (Adebayo et al. 2018, "Sanity checks for saliency
maps", NeurIPS, arXiv 1810.03292), not a ranked column.

An explanation of a model should depend on the model. Two metrics:

``model-randomisation-check`` (the pass/fail check). Per sample, with R the explanation of the
trained model f, R' the explainer run again on f with a fresh seed, and R1, R2 its explanations
of two independent full re-initialisations g1, g2 of f (every layer, Adebayo et al.'s final
cascade step), for each similarity s (signed Spearman, absolute Spearman, SSIM):

- ``rerun`` = s(R, R'): the ceiling, how alike two runs of the explainer on the *same* model
  are (1 for a deterministic explainer, whose R' is R and is not computed again;
  SmoothGrad's seed-to-seed Spearman was 0.17 in the review, so a low randomised similarity
  can be estimator noise, review H5);
- ``trained-vs-randomised`` = s(R, R1), the quantity of Adebayo et al.;
- ``randomised-vs-randomised`` = s(R1, R2): the null, what two explanations of *unrelated* models
  share (through the input alone). Together with ``input-times-noise`` = Spearman(|a N1|,
  |a N2|), a the input's amplitude and N1, N2 independent Gaussian noise, it shows what rank
  correlation an input-multiplied map gets for free (review: 0.95 on waveforms, 0.81 on dB);
- ``drop`` = rerun - trained-vs-randomised, the per-sample score.

Every explanation other than R uses a fresh explainer seed (``with_params(seed=...)`` where the
explainer has one, and a forked global generator), so that the ceiling, the randomised
similarity and the null all compare independent draws of a stochastic explainer (the idea of
sMPRT, Hedström et al. 2023, "Sanity checks revisited", which smooths the noise away instead).

The test: the explainer depends on the model when randomising the model lowers the similarity
beyond the explainer's own rerun noise, that is when the lower end of the bootstrap interval
of the mean ``drop`` exceeds ``min_drop`` (0.1 of the correlation scale, a convention). The
verdict uses the signed Spearman: the signed rank order is what the suite's deletion and
sonification scores read, while absolute ranks are dominated by |x - reference| (review H5:
every input-multiplied map would fail whatever its model part). Absolute Spearman and SSIM get
their own drops and verdicts beside it, for comparison with Adebayo et al. The margin is the
interval's lower end minus ``min_drop``. It is a sanity check, not a quality score: Binder et
al. (2023, "Shortcomings of top-down randomization-based sanity checks", CVPR) show that
passing it does not make an explanation faithful, so it is never ranked.

``model-randomisation`` (descriptive): the original cascade, top-down, Spearman per depth.
A method whose relevance hardly changes is flagged; the flag reads the absolute Spearman against
a fixed threshold, so read it beside the check above.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audioxai_bench.api.explainer import amplitude_of
from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.metric import BaseMetric, EvalBatch, MetricOutput
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.guard import declares_nondeterministic
from audioxai_bench.stats import bootstrap_ci, correlate_ranks, rank_data, spearman


def randomisable_layers(model: nn.Module) -> list[str]:
    """Names of the modules with their own parameters and ``reset_parameters``, output first.

    Registration order is taken as forward order (true of ``nn.Sequential`` stacks and of the
    AudioMNIST models), so its reverse is the top-down cascade.
    """
    names = []
    for name, module in model.named_modules():
        own = next(module.parameters(recurse=False), None) is not None
        if own and callable(getattr(module, "reset_parameters", None)):
            names.append(name)
    return names[::-1]


def _reinitialise(module: nn.Module, seed: int, device: torch.device) -> None:
    """``reset_parameters`` under a fixed seed, without touching the global random state."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        module.reset_parameters()


def cascade_depths(n_layers: int, steps: int | None) -> list[int]:
    """Depths (layers randomised, 1..n) to explain at: all, or ``steps`` evenly spaced ones
    that start at 1 and end at ``n_layers``."""
    if steps is None or steps >= n_layers:
        return list(range(1, n_layers + 1))
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if steps == 1:
        return [n_layers]
    return sorted({round(1 + k * (n_layers - 1) / (steps - 1)) for k in range(steps)})


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelRandomisation(BaseMetric):
    """Per-sample mean rank correlation between trained and cascadingly randomised relevance.

    Parameters
    ----------
    absolute : bool
        Correlate ``|R|`` (Adebayo et al.'s main setting: a flipped sign is not a new
        explanation).
    max_layers : int, optional
        Randomise at most this many layers from the top.
    steps : int, optional
        Explain at this many cascade depths, evenly spaced from the top layer to the deepest
        (always included); ``None`` explains after every layer. Each depth costs one
        explanation, so ``steps`` bounds the cost on deep models while the cascade still
        reaches every layer.
    flag_threshold : float
        :meth:`summarize` flags the method as insensitive when the mean correlation with the
        fully randomised model is at least this (a convention, not a number from the paper).
    seed : int
        Seeds the re-initialisation, so every explainer and batch sees the same random models.
    """

    absolute: bool = True
    max_layers: int | None = None
    steps: int | None = None
    flag_threshold: float = 0.5
    seed: int = 0
    ranked: bool = False

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        names = randomisable_layers(batch.model)[: self.max_layers]
        if not names:
            raise ValueError(f"metric {self.name!r}: the model has no layer to re-initialise")
        depths = cascade_depths(len(names), self.steps)
        randomised = copy.deepcopy(batch.model)
        modules = dict(randomised.named_modules())
        reference = batch.relevance.abs() if self.absolute else batch.relevance
        reference_ranks = rank_data(reference.flatten(1))
        correlations = []
        for i, name in enumerate(names):
            _reinitialise(modules[name], self.seed * 1000 + i, batch.device)
            if i + 1 not in depths:
                continue
            relevance = batch.explainer.explain(randomised, batch.x, batch.target).detach()
            if self.absolute:
                relevance = relevance.abs()
            correlations.append(
                correlate_ranks(reference_ranks, rank_data(relevance.flatten(1))).cpu())
        curve: Tensor = torch.stack(correlations, dim=1)
        return MetricOutput(
            scores=curve.mean(dim=1),
            curves={"spearman": curve},
            grid=torch.tensor(depths, dtype=torch.float64),
            extras={"spearman/all-randomised": curve[:, -1]},
            info={"layers": names, "absolute": self.absolute, "ranked": self.ranked},
        )

    def summarize(self, output: MetricOutput) -> dict[str, Any]:
        """The flag: ``insensitive`` when relevance survives randomising every layer."""
        final = float(output.extras["spearman/all-randomised"].nanmean())
        return {"spearman_all_randomised": final, "insensitive": final >= self.flag_threshold,
                "flag_threshold": self.flag_threshold}


# --- the sanity check ---------------------------------------------------------------------------

#: Similarity measures of the check, by record name.
MEASURES: tuple[str, ...] = ("spearman", "abs-spearman", "ssim")
#: SSIM constants of Wang et al. (2004): Gaussian window of 11 with sigma 1.5, K1, K2.
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def ssim(a: Tensor, b: Tensor, data_range: float | Tensor = 1.0) -> Tensor:
    """``(B,)`` mean structural similarity of ``(B, C, T)`` or ``(B, C, H, W)`` maps (Wang,
    Bovik, Sheikh & Simoncelli 2004, IEEE TIP), per channel then averaged.

    Local statistics under a Gaussian window (11 taps, sigma 1.5; separable in 2-D), only
    where the window fits (as scikit-image crops its borders), with C1 = (0.01 L)^2 and
    C2 = (0.03 L)^2 for the data range L (a number, or one per sample).
    """
    if a.shape != b.shape:
        raise ValueError(f"ssim: expected two maps of one shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    return _ssim(_LocalStats.of(a), _LocalStats.of(b), data_range)


@dataclasses.dataclass(frozen=True)
class _LocalStats:
    """A map's windowed mean and variance, kept to be paired with many maps.

    The blurs run in float32 (eight times faster than float64 on a CPU) on the map minus its
    own mean, so that E[x^2] - E[x]^2 does not cancel; the mean is added back in float64.
    SSIM then agrees with a float64 computation to about 1e-6 on [0, 1] maps.
    """

    centred: Tensor
    mean: Tensor
    mu: Tensor
    var: Tensor

    @classmethod
    def of(cls, maps: Tensor) -> _LocalStats:
        if maps.dim() not in (3, 4):
            raise ValueError(f"ssim: expected (B, C, T) or (B, C, H, W) maps, got "
                             f"{tuple(maps.shape)}")
        if min(maps.shape[2:]) < SSIM_WINDOW:
            raise ValueError(f"ssim: maps must span at least {SSIM_WINDOW} points, got "
                             f"{tuple(maps.shape[2:])}")
        wide = maps.double()
        mean = wide.flatten(2).mean(dim=2).view(*maps.shape[:2], *([1] * (maps.dim() - 2)))
        centred = (wide - mean).float()
        mu = _blur(centred)
        return cls(centred, mean, mu.double() + mean, (_blur(centred * centred) - mu.square())
                   .double())


def _blur(v: Tensor) -> Tensor:
    """The Gaussian window over the last one or two axes of ``v``, per channel ("valid")."""
    taps = torch.arange(SSIM_WINDOW, dtype=v.dtype, device=v.device) - SSIM_WINDOW // 2
    g = torch.exp(-taps.square() / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    c = v.shape[1]
    if v.dim() == 3:
        return F.conv1d(v, g.view(1, 1, -1).expand(c, 1, -1), groups=c)
    v = F.conv2d(v, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(v, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def _ssim(a: _LocalStats, b: _LocalStats, data_range: float | Tensor) -> Tensor:
    """SSIM of two maps from their local statistics (see :func:`ssim`)."""
    dims = a.centred.dim()
    L = torch.as_tensor(data_range, dtype=torch.float64, device=a.mu.device)
    L = L.view(-1, *([1] * (dims - 1))) if L.dim() else L
    c1, c2 = (SSIM_K1 * L) ** 2, (SSIM_K2 * L) ** 2
    # the covariance of the centred maps: the means' shift cancels in it
    mu_ac, mu_bc = a.mu - a.mean, b.mu - b.mean
    cov = _blur(a.centred * b.centred).double() - mu_ac * mu_bc
    index = ((2 * a.mu * b.mu + c1) * (2 * cov + c2)
             / ((a.mu.square() + b.mu.square() + c1) * (a.var + b.var + c2)))
    return index.flatten(1).mean(dim=1)


def _unit_range(maps: Tensor) -> Tensor:
    """Each map min-max scaled to [0, 1] (a constant map to 0), so that SSIM compares
    structure and not the overall scale, which differs by orders of magnitude between a trained
    and a random model."""
    flat = maps.double().flatten(1)
    low, high = flat.amin(dim=1, keepdim=True), flat.amax(dim=1, keepdim=True)
    span = (high - low).where(high > low, torch.ones_like(high))
    return ((flat - low) / span).view(maps.shape)


def similarities(maps: dict[str, Tensor], pairs: dict[str, tuple[str, str]]
                 ) -> dict[str, Tensor]:
    """``(B,)`` signed Spearman, absolute Spearman and SSIM (on [0, 1]-scaled maps) of the
    named ``pairs`` of ``maps``, as ``"<measure>/<pair>"`` (measures: :data:`MEASURES`).
    Each map is ranked and scaled once, however many pairs it is in."""
    flat = {k: v.flatten(1) for k, v in maps.items()}
    signed = {k: rank_data(v) for k, v in flat.items()}
    absolute = {k: rank_data(v.abs()) for k, v in flat.items()}
    scaled = {k: _LocalStats.of(_unit_range(v)) for k, v in maps.items()}
    out = {}
    for pair, (a, b) in pairs.items():
        out[f"spearman/{pair}"] = correlate_ranks(signed[a], signed[b])
        out[f"abs-spearman/{pair}"] = correlate_ranks(absolute[a], absolute[b])
        out[f"ssim/{pair}"] = _ssim(scaled[a], scaled[b], 1.0)
    return out


def randomised_copy(model: nn.Module, seed: int, device: torch.device) -> nn.Module:
    """A copy of ``model`` with every layer that has ``reset_parameters`` re-initialised from
    ``seed`` (the global random state is left as it was)."""
    clone = copy.deepcopy(model)
    modules = dict(clone.named_modules())
    names = randomisable_layers(clone)
    if not names:
        raise AudioXaiError("the model has no layer to re-initialise")
    for i, name in enumerate(names):
        _reinitialise(modules[name], seed * 1000 + i, device)
    return clone


def _seed_of(explainer: Any) -> int | None:
    """The explainer's integer ``seed`` parameter, if it has one."""
    params = getattr(explainer, "params", None)
    seed = params.get("seed") if isinstance(params, dict) else None
    return seed if isinstance(seed, int) else None


def can_redraw(explainer: Any) -> bool:
    """Whether a fresh seed can change ``explainer``'s relevance: it declares ``deterministic =
    False`` or has an integer ``seed`` parameter. Any other explainer is deterministic (the
    runner's guard checks that two calls agree), so its rerun is its relevance and is not
    computed again."""
    return declares_nondeterministic(explainer) or _seed_of(explainer) is not None


def _explain_fresh(explainer: Any, model: nn.Module, x: Tensor, target: Tensor,
                   draw: int) -> Tensor:
    """The explainer's relevance with a fresh seed ``draw``: its own ``seed`` parameter moved
    (where it has one) and the global generator forked and seeded."""
    seed = _seed_of(explainer)
    if seed is not None and callable(getattr(explainer, "with_params", None)):
        explainer = explainer.with_params(seed=seed + draw)
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(1_000_003 * draw + 17)
        return explainer.explain(model, x, target).detach()


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomisationCheck(BaseMetric):
    """Pass/fail: does randomising the model change the explanation beyond rerun noise?

    The per-sample score is the ``drop`` of the first measure in ``verdict_on`` (see the module
    docstring for every quantity and the test).

    Parameters
    ----------
    verdict_on : tuple of str
        Measures (of :data:`MEASURES`) whose drop must pass; the first gives the score.
    min_drop : float
        The smallest mean drop that counts as model dependence (a convention).
    confidence : float
        Of the bootstrap interval of the mean drop.
    seed : int
        Seeds the two re-initialisations and the noise of the input-times-noise null.
    samples : int, optional
        Check only this many samples of each batch, spread evenly over it (the others score
        NaN and are left out of the verdict): the check explains every sample twice more, so
        this bounds its cost. All samples when absent.
    ranked : bool
        False: a sanity check, never a ranked column.
    """

    verdict_on: tuple[str, ...] = ("spearman",)
    min_drop: float = 0.1
    confidence: float = 0.95
    seed: int = 0
    samples: int | None = None
    ranked: bool = False

    def __post_init__(self) -> None:
        unknown = [m for m in self.verdict_on if m not in MEASURES]
        if not self.verdict_on or unknown:
            raise AudioXaiError(f"metric {self.name!r}: verdict_on must name some of "
                                f"{', '.join(MEASURES)}, got {list(self.verdict_on)}")
        if self.samples is not None and self.samples < 2:
            raise AudioXaiError(f"metric {self.name!r}: samples must be at least 2, got "
                                f"{self.samples}")

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        b = batch.size
        if self.samples is None or self.samples >= b:
            return self._score(batch)
        picked = torch.linspace(0, b - 1, self.samples, device=batch.device).round().long()
        part = self._score(dataclasses.replace(batch, **{
            k: v[picked] for k in ("x", "target", "relevance", "signals", "ground_truth")
            if (v := getattr(batch, k)) is not None}))

        def spread(values: Tensor) -> Tensor:
            full = torch.full((b, *values.shape[1:]), math.nan, dtype=values.dtype)
            full[picked.cpu()] = values.cpu()
            return full

        return MetricOutput(scores=spread(part.scores),
                            extras={k: spread(v) for k, v in part.extras.items()},
                            info=part.info | {"samples_checked": f"{self.samples} of {b}"})

    def _score(self, batch: EvalBatch) -> MetricOutput:
        x, target, device = batch.x, batch.target, batch.device
        try:
            first = randomised_copy(batch.model, 2 * self.seed + 1, device)
            second = randomised_copy(batch.model, 2 * self.seed + 2, device)
        except AudioXaiError as exc:
            raise AudioXaiError(f"metric {self.name!r}: {exc}") from None
        redraws = can_redraw(batch.explainer)
        rerun = (_explain_fresh(batch.explainer, batch.model, x, target, 1) if redraws
                 else batch.relevance)
        r1 = _explain_fresh(batch.explainer, first, x, target, 2)
        r2 = _explain_fresh(batch.explainer, second, x, target, 3)
        maps = {"trained": batch.relevance, "rerun": rerun, "randomised": r1, "other": r2}
        extras = similarities(maps, {"rerun": ("trained", "rerun"),
                                     "trained-vs-randomised": ("trained", "randomised"),
                                     "randomised-vs-randomised": ("randomised", "other")})
        for measure in MEASURES:
            extras[f"{measure}/drop"] = (extras[f"{measure}/rerun"]
                                         - extras[f"{measure}/trained-vs-randomised"])
        generator = batch.generator(salt=907)
        amplitude = amplitude_of(x).double()
        n1 = torch.randn(amplitude.shape, generator=generator, device=device,
                         dtype=torch.float64)
        n2 = torch.randn(amplitude.shape, generator=generator, device=device,
                         dtype=torch.float64)
        extras["input-times-noise"] = spearman((amplitude * n1).abs(), (amplitude * n2).abs())
        return MetricOutput(
            scores=extras[f"{self.verdict_on[0]}/drop"], extras=extras,
            info={"verdict_on": list(self.verdict_on), "min_drop": self.min_drop,
                  "randomised": "every layer, two independent seeds", "ranked": self.ranked,
                  "rerun": "explained again with a fresh seed" if redraws
                  else "the relevance itself: a deterministic explainer"})

    def summarize(self, output: MetricOutput) -> dict[str, Any]:
        """The verdict: per measure the mean drop, its interval and whether its lower end
        clears ``min_drop``; ``passes`` when every measure of ``verdict_on`` does."""
        measures = {}
        for measure in MEASURES:
            est = bootstrap_ci(output.extras[f"{measure}/drop"], confidence=self.confidence)
            measures[measure] = {
                "drop": est.mean, "ci": [est.low, est.high],
                "passes": bool(est.low > self.min_drop), "margin": est.low - self.min_drop,
                **{what: float(output.extras[f"{measure}/{what}"].nanmean())
                   for what in ("rerun", "trained-vs-randomised", "randomised-vs-randomised")}}
        passes = all(measures[m]["passes"] for m in self.verdict_on)
        return {"passes": passes, "verdict": "pass" if passes else "fail",
                "margin": min(measures[m]["margin"] for m in self.verdict_on),
                "verdict_on": list(self.verdict_on), "min_drop": self.min_drop,
                "measures": measures,
                "input_times_noise_spearman": float(output.extras["input-times-noise"].nanmean())}


@hookimpl
def audioxai_bench_metrics() -> list[BaseMetric]:
    """The pass/fail randomisation check and the descriptive cascade."""
    needs = frozenset({"explainer"})
    return [
        RandomisationCheck(
            name="model-randomisation-check", higher_is_better=True, needs=needs,
            display_name="Model randomisation check (signed Spearman drop vs rerun)"),
        ModelRandomisation(
            name="model-randomisation", display_name="Model randomisation (Spearman, cascading)",
            higher_is_better=False, needs=needs),
    ]
