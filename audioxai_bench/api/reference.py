"""Explaining relative to a reference input, exactly, for methods whose reference is x = 0.

Gradient × input and the LRP ε- and αβ-rules attribute relative to the all-zero input (for
ReLU nets LRP-ε with ε → 0 is gradient × input, Ancona et al. 2018, ICLR). On a dB spectrogram
zero is "every bin at full loudness", not silence. A constant shift of the input is absorbed by
the first layer without changing the model (Kindermans et al. 2019, "The (un)reliability of
saliency methods"): with ``x' = x - r`` and the first Conv/Linear layer's bias raised by the
layer's response to ``r``, ``model'(x') = model(x)`` for every ``x``, so a zero-reference method
applied to ``(model', x')`` explains ``x`` relative to ``r``. :func:`relative_to` builds that
pair; the model itself is not touched (the copy shares every parameter but the new bias).

A first layer with zero padding sees the constant 0 at the border, which is ``-r`` after the
shift. The padding moves from the layer into the input (padded with ``-r``), so the unpadded
layer computes exactly what it did; :meth:`Reparameterised.relevance` crops the border off.
Relevance that lands on the padding is dropped: it belongs to the padding, not to the input.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from audioxai_bench.api.explainer import silence_of
from audioxai_bench.errors import AudioXaiError

#: What a zero-reference method can explain relative to: silence (:func:`silence_of`, the
#: default everywhere) or the raw input's zero (0 dB on spectrograms: the ``-0db`` variants).
REFERENCES: tuple[str, ...] = ("silence", "zero")
#: Layers whose bias can absorb an input shift.
FIRST_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: Largest logit difference, relative to the largest logit (at least 1), that still counts as
#: the same function: float32 rounding of the folded shift stays far below it.
LOGIT_TOLERANCE = 1e-4


def reference_of(x: Tensor, reference: str) -> Tensor:
    """``(B, 1, ...)`` reference input per sample for a name in :data:`REFERENCES`."""
    if reference == "silence":
        return silence_of(x)
    if reference == "zero":
        return x.new_zeros((x.shape[0],) + (1,) * (x.dim() - 1))
    raise AudioXaiError(f"unknown reference {reference!r}; valid: {', '.join(REFERENCES)}")


@dataclasses.dataclass(frozen=True, eq=False)
class Reparameterised:
    """``model(x) == self.model(self.x)``, with the reference moved to ``self.x == 0``."""

    model: nn.Module
    x: Tensor
    crop: tuple[slice, ...]

    def relevance(self, relevance: Tensor) -> Tensor:
        """Relevance of ``self.x`` cut back to the original input's shape."""
        return relevance[self.crop]


def relative_to(model: nn.Module, x: Tensor, reference: Tensor | float) -> Reparameterised:
    """The model and input that explain ``x`` relative to ``reference`` with a zero-reference
    method: ``x' = x - r``, the first layer's bias absorbing ``r``.

    ``reference`` must be one constant for the whole batch (silence is: 0 or -80 dB). A zero
    reference returns ``model`` and ``x`` unchanged. The first layer is the first Conv/Linear the
    input reaches; the new model's logits are checked against the old on one sample, and a
    model where the shift does not fold (the input also read elsewhere) fails with the reason
    instead of explaining a different function.
    """
    r = _constant(reference)
    everything = (slice(None),) * x.dim()
    if r == 0.0:
        return Reparameterised(model, x, everything)
    with torch.no_grad():
        order: list[str] = []
        handles = [m.register_forward_pre_hook(lambda *_, name=name: order.append(name))
                   for name, m in model.named_modules() if isinstance(m, FIRST_LAYERS)]
        try:
            expected = model(x[:1])
        finally:
            for handle in handles:
                handle.remove()
        if not order:
            raise AudioXaiError(f"reference {r:g}: {type(model).__name__} has no Conv/Linear "
                                "layer to absorb the input shift")
        layer = model.get_submodule(order[0])
        new_layer, padding = _shifted(layer, r, order[0])
        shifted = _with_module(model, order[0].split("."), new_layer)
        x_new = F.pad(x - r, padding, value=-r) if any(padding) else x - r
        got = shifted(x_new[:1])
        scale = max(1.0, float(expected.abs().max()))
        if not bool(((got - expected).abs() <= LOGIT_TOLERANCE * scale).all()):
            diff = float((got - expected).abs().max())
            raise AudioXaiError(
                f"reference {r:g}: folding the shift into {order[0]} changes "
                f"{type(model).__name__}'s logits by up to {diff:.3g}; its input is read by more "
                "than its first layer, so explain it with reference 'zero'")
    crop = everything
    if any(padding):
        pads = list(reversed(padding[0::2]))  # F.pad lists the last dimension first
        lead = x.dim() - len(pads)
        crop = (slice(None),) * lead + tuple(slice(p, p + n) for p, n in
                                             zip(pads, x.shape[lead:]))
    return Reparameterised(shifted, x_new, crop)


def _constant(reference: Tensor | float) -> float:
    if not isinstance(reference, Tensor):
        return float(reference)
    values = reference.detach().unique()
    if values.numel() != 1:
        raise AudioXaiError("relative_to: the reference must be one constant for the batch, got "
                            f"{values.numel()} different values")
    return float(values)


def _shifted(layer: nn.Module, r: float, name: str) -> tuple[nn.Module, tuple[int, ...]]:
    """A copy of ``layer`` with ``bias += layer_without_bias(r)`` and no padding, and the
    padding (in ``F.pad`` order) the input must take instead."""
    new = copy.deepcopy(layer)
    weight = layer.weight.detach()
    padding: tuple[int, ...] = ()
    if isinstance(layer, nn.Linear):
        shift = weight.double().sum(dim=1) * r
    else:
        pad = layer.padding
        if isinstance(pad, str):
            if pad != "valid":
                raise AudioXaiError(f"reference {r:g}: first layer {name} has padding={pad!r}; "
                                    "only numeric or 'valid' padding can take the shift")
            pad = (0,) * (weight.dim() - 2)
        if any(pad) and layer.padding_mode != "zeros":
            raise AudioXaiError(f"reference {r:g}: first layer {name} pads with "
                                f"{layer.padding_mode!r}; only zero padding can take the shift")
        padding = tuple(p for size in reversed(pad) for p in (size, size))
        new.padding = (0,) * len(pad)
        shift = weight.double().sum(dim=tuple(range(1, weight.dim()))) * r
    bias = shift if layer.bias is None else layer.bias.detach().double() + shift
    new.bias = nn.Parameter(bias.to(weight.dtype), requires_grad=weight.requires_grad)
    return new, padding


def _with_module(root: nn.Module, path: list[str], new: nn.Module) -> nn.Module:
    """A copy of ``root`` with the submodule at ``path`` replaced by ``new``; only the modules on
    the path are copied (shallowly), every other module and parameter is shared."""
    if not path:
        return new
    clone = copy.copy(root)
    clone._modules = type(root._modules)(root._modules)
    clone._modules[path[0]] = _with_module(root._modules[path[0]], path[1:], new)
    return clone
