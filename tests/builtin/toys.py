"""Toy models and signals with known answers, shared by the tests of this folder."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from audioxai_bench.api.explainer import explaining, silence_of

REGION = slice(1000, 2000)


class WindowNet(nn.Module):
    """Waveform toy: the sign of a fixed projection of samples 1000-2000 picks one of 2 classes
    (scaled so that the classes are confident but not saturated)."""

    def __init__(self, scale: float = 0.2) -> None:
        super().__init__()
        self.scale = scale
        self.register_buffer("pattern", torch.randn(1000, generator=torch.Generator()
                                                    .manual_seed(1)))

    def forward(self, x: Tensor) -> Tensor:
        s = (x[:, 0, REGION] * self.pattern).sum(-1) * self.scale
        return torch.stack([-s, s], dim=1)


def speech_like(n: int, seed: int = 0, start: int = 600, stop: int = 6600) -> Tensor:
    """``(n, 8000)`` padded signals: noise bursts of varying loudness between ``start`` and
    ``stop``, exact silence (padding) outside."""
    g = torch.Generator().manual_seed(seed)
    signals = torch.zeros(n, 8000)
    t = torch.arange(stop - start)
    envelope = 0.3 + torch.sin(math.pi * t / len(t)) ** 2
    signals[:, start:stop] = 1000 * envelope * torch.randn(n, stop - start, generator=g)
    return signals


def tones(freqs: list[float], n: int, seed: int = 0) -> Tensor:
    """``n`` padded signals holding tones at ``freqs`` (slightly detuned per sample) and noise."""
    t = torch.arange(8000) / 8000
    env = torch.zeros(8000)
    env[2000:6000] = torch.hann_window(4000)
    g = torch.Generator().manual_seed(seed)
    rows = [sum(torch.sin(2 * math.pi * f * (1 + 0.02 * i) * t) for f in freqs) * env * 3000
            + torch.randn(8000, generator=g) for i in range(n)]
    return torch.stack(rows)


class LowRowsNet(nn.Module):
    """Spectrogram toy: class 1 when rows 0-17 (0-300 Hz) are loud."""

    def forward(self, x: Tensor) -> Tensor:
        low = ((x[:, 0, :18] + 80) / 80).amax(dim=1).mean(dim=-1)
        z = 20 * (low - 0.2)
        return torch.stack([-z / 2, z / 2], dim=1)


def occlusion_effect(model: nn.Module, x: Tensor, block: int = 80) -> Tensor:
    """The model's own occlusion effect on a waveform batch: each ``block`` of samples carries
    the drop of the predicted class's log-probability when that block is silenced."""
    with explaining(model), torch.no_grad():
        logp = torch.log_softmax(model(x), dim=1)
        predicted = logp.argmax(dim=1)
        base = logp.gather(1, predicted[:, None])[:, 0]
        relevance = torch.zeros_like(x)
        for start in range(0, x.shape[-1], block):
            occluded = x.clone()
            occluded[..., start: start + block] = silence_of(x)
            drop = base - torch.log_softmax(model(occluded), dim=1).gather(
                1, predicted[:, None])[:, 0]
            relevance[..., start: start + block] = drop[:, None, None]
    return relevance
