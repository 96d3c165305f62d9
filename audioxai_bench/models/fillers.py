"""The original Caffe nets' weight fillers, which the paper's solvers were tuned on.

The paper's plain SGD (AudioNet at lr 1e-4, AlexNet at 1e-3) starts from nets drawn from the
prototxt fillers (soerenab/AudioMNIST, ``models/*/*_train.prototxt``), not from PyTorch's
defaults: at lr 1e-4 a PyTorch-initialised full-width AudioNet moves its weights 10^3-10^6
times less per step than one drawn from its Caffe fillers (Gaussian, std 0.1), and the
AlexNet's conv2, conv4, conv5, fc6 and fc7 start with bias 0.1 there, which keeps their ReLUs
alive. An architecture lists its fillers as ``caffe_fillers()``; ``TrainConfig.init="caffe"``
draws from them (:func:`audioxai_bench.models.train.initialise`).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import nn


class Filler(NamedTuple):
    """One weight layer's Caffe fillers: a zero-mean Gaussian weight and a constant bias."""

    layer: nn.Module
    weight_std: float
    bias: float


def draw(fillers: list[Filler]) -> None:
    """Draw each layer's weight and bias from its fillers (torch's global generator), in place."""
    for filler in fillers:
        nn.init.normal_(filler.layer.weight, mean=0.0, std=filler.weight_std)
        nn.init.constant_(filler.layer.bias, filler.bias)
