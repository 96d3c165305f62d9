"""Layers of the reference models that compute what ``torch.nn`` computes, faster on a CPU.

:class:`InputConv2d` is the first convolution of the spectrogram model. In training its input
needs no gradient, only the weights do, and PyTorch's CPU weight gradient for one input channel
and a stride of 4 is slow: for AlexNet's 11 x 11 kernel over 32 inputs of 227 x 227 it took
97 ms against 11 ms for the forward pass (2 cores, torch 2.11; two thirds of a training step at
width 1/16). The same gradient is a convolution of the input with the output gradient dilated
by the stride, which torch computes in 10 ms. Only the order of the sums differs (its error
against a float64 reference equals torch's own), so a model trained with it gets other last
bits: :attr:`audioxai_bench.builtin.models.ModelSpec.revision` keeps the cache keys apart.

:class:`Standardise` and :func:`fold_input_affine` let a model train on a centred input and
still take the raw input afterwards (``TrainConfig.input_centre``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _WeightGradByConvolution(torch.autograd.Function):
    """``conv2d(x, weight, bias, stride)`` for an ``x`` that needs no gradient, with the weight
    gradient computed as a dilated convolution."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None,
                stride: tuple[int, int]) -> Tensor:
        ctx.save_for_backward(x)
        ctx.stride, ctx.kernel, ctx.has_bias = stride, weight.shape[2:], bias is not None
        return F.conv2d(x, weight, bias, stride)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor, Tensor | None, None]:
        (x,) = ctx.saved_tensors
        kh, kw = ctx.kernel
        # dW[o, c, i, j] = sum over b, h, w of grad[b, o, h, w] * x[b, c, s h + i, s w + j]:
        # batch and channels swap roles, the output gradient is the kernel, dilated by s
        grad_weight = F.conv2d(x.transpose(0, 1), grad.transpose(0, 1), dilation=ctx.stride)
        grad_weight = grad_weight[:, :, :kh, :kw].transpose(0, 1)
        grad_bias = grad.sum(dim=(0, 2, 3)) if ctx.has_bias else None
        return None, grad_weight, grad_bias, None


class InputConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (the same module type for zennit and captum) whose weight gradient, on a
    CPU when its input needs no gradient, comes from :class:`_WeightGradByConvolution`; every
    other case, and every forward value, is ``nn.Conv2d``'s own."""

    def forward(self, x: Tensor) -> Tensor:
        plain = (self.padding == (0, 0) and self.dilation == (1, 1) and self.groups == 1
                 and self.padding_mode == "zeros")
        if (plain and x.device.type == "cpu" and torch.is_grad_enabled() and not x.requires_grad
                and self.weight.requires_grad):
            return _WeightGradByConvolution.apply(x, self.weight, self.bias, self.stride)
        return super().forward(x)


class Standardise(nn.Module):
    """``(x - centre) / scale``: put in front of a model while it trains."""

    def __init__(self, centre: float, scale: float):
        super().__init__()
        self.centre, self.scale = float(centre), float(scale)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.centre) / self.scale


@torch.no_grad()
def fold_input_affine(layer: nn.Module, centre: float, scale: float) -> None:
    """Make ``layer`` compute on ``x`` what it computed on ``(x - centre) / scale``.

    For a weight ``W`` and bias ``b``: ``W / scale`` and ``b - centre / scale * sum(W)`` (the
    sum over each output's inputs). Exact for an ``nn.Linear`` and an ``nn.Conv2d`` without
    padding; a padded convolution pads with 0, which is not ``centre`` after the fold.
    """
    if isinstance(layer, nn.Conv2d):
        if layer.padding not in ((0, 0), "valid"):
            raise ValueError(f"cannot fold an input affine into a padded {type(layer).__name__}")
    elif not isinstance(layer, nn.Linear):
        raise ValueError(f"cannot fold an input affine into a {type(layer).__name__}; "
                         "an input_layer must be an nn.Linear or an unpadded nn.Conv2d")
    weight = layer.weight
    shift = weight.sum(dim=tuple(range(1, weight.ndim))) * (centre / scale)
    if layer.bias is None:
        layer.bias = nn.Parameter(-shift)
    else:
        layer.bias.sub_(shift)
    weight.div_(scale)
