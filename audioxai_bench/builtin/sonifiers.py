"""Audible heatmaps: relevance turned into sound (Becker et al., arXiv 1807.03418).

The paper's user study found that listeners understand an explanation better when they hear it.
Waveform relevance is heard by weighting or gating the signal in time: the rectified signal times
its relevance (``heatmap-x-signal``, the paper's audible explanation as the authors' later work
describes it), the signal where smoothed relevance is positive (``keep-positive``) or in its
most relevant part (``keep-top``). Spectrogram relevance is heard by masking the STFT magnitude
and inverting with the original phase (``spectrogram-mask``, ``spectrogram-keep-top``); both
also render *waveform* relevance through the spectrogram, as the STFT of the relevance-weighted
signal.

Every sonifier takes ``(B, samples)`` padded 8 kHz signals and relevance in the model input's
shape and returns ``(B, samples)``. Each is a mask (or a weighting) of the signal, so the
complement ``signal - sonified`` is the sound with the explanation removed.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.sonifier import BaseSonifier
from audioxai_bench.data.check import TARGET_RATE
from audioxai_bench.data.preprocess import istft, model_grid_to_stft, stft

WAVEFORM = frozenset({"waveform"})


def moving_average(values: Tensor, width: int) -> Tensor:
    """Centred moving average of ``(B, T)`` rows over ``width`` samples, edges replicated.

    ``avg_pool1d`` in float64: as fast on a CPU as a difference of cumulative sums, where a
    width-80 ``conv1d`` took about a second per 64 rows (the matched-size scores gate
    thousands), and deterministic on CUDA, where a floating-point ``cumsum`` is not.
    """
    if width <= 1:
        return values
    left = (width - 1) // 2
    padded = F.pad(values[:, None].double(), (left, width - 1 - left), mode="replicate")
    return F.avg_pool1d(padded, width, stride=1)[:, 0].to(values.dtype)


def top_mask(scores: Tensor, percent: float) -> Tensor:
    """1 on the ``percent`` % highest scores of each row (flattened) that are positive, else 0;
    ties by position. Nothing is kept where nothing is relevant."""
    flat = scores.flatten(1)
    k = int(round(percent / 100 * flat.shape[1]))
    mask = torch.zeros_like(flat, dtype=torch.float64)
    if k > 0:
        mask.scatter_(1, flat.argsort(dim=1, descending=True, stable=True)[:, :k], 1.0)
    return (mask * (flat > 0)).view(scores.shape)


def _ms(ms: float) -> int:
    return max(1, int(round(ms * TARGET_RATE / 1000)))


# --- sonifiers -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class KeepPositive(BaseSonifier):
    """The signal where relevance, averaged over ``smooth_ms``, is positive; silence elsewhere.

    The gate opens and closes over ``fade_ms`` so that it does not click.
    """

    representations: frozenset[str] = WAVEFORM
    smooth_ms: float = 10.0
    fade_ms: float = 5.0

    def render(self, waveform: Tensor, relevance: Tensor, representation: str) -> Tensor:
        smoothed = moving_average(relevance[:, 0].double(), _ms(self.smooth_ms))
        gate = moving_average((smoothed > 0).double(), _ms(self.fade_ms))
        return waveform * gate


@dataclasses.dataclass(frozen=True, kw_only=True)
class KeepTop(BaseSonifier):
    """The ``percent`` % of samples with the highest smoothed relevance, where it is positive
    (faded gate)."""

    representations: frozenset[str] = WAVEFORM
    percent: float = 20.0
    smooth_ms: float = 10.0
    fade_ms: float = 5.0

    def render(self, waveform: Tensor, relevance: Tensor, representation: str) -> Tensor:
        smoothed = moving_average(relevance[:, 0].double(), _ms(self.smooth_ms))
        gate = moving_average(top_mask(smoothed, self.percent), _ms(self.fade_ms))
        return waveform * gate


@dataclasses.dataclass(frozen=True, kw_only=True)
class HeatmapTimesSignal(BaseSonifier):
    """``ReLU(x) ⊙ R``: the rectified signal weighted by relevance scaled to ``max |R| = 1``."""

    representations: frozenset[str] = WAVEFORM

    def render(self, waveform: Tensor, relevance: Tensor, representation: str) -> Tensor:
        r = relevance[:, 0].double()
        scale = r.abs().amax(dim=1, keepdim=True)
        weight = r / scale.where(scale > 0, torch.ones_like(scale))
        return waveform.double().clamp_min(0) * weight


@dataclasses.dataclass(frozen=True, kw_only=True)
class SpectrogramMask(BaseSonifier):
    """Mask the STFT magnitude by relevance; invert with the signal's own phase.

    ``mode="soft"``: the mask is ``ReLU(R) / max ReLU(R)`` on the spectrogram grid; for waveform
    relevance it is the share of each bin's magnitude that comes from the relevance-weighted
    signal, ``|STFT(ReLU(R) ⊙ x)| / |STFT(x)|`` (clipped at 1). ``mode="top"``: keep the
    ``percent`` % of bins with the most positive relevance (for waveforms: the largest
    ``|STFT(ReLU(R) ⊙ x)|``), as a 0/1 mask.
    """

    mode: str = "soft"
    percent: float = 20.0
    domain: ClassVar[str] = "stft"

    def __post_init__(self) -> None:
        if self.mode not in ("soft", "top"):
            raise ValueError(f"sonifier {self.name!r}: mode must be 'soft' or 'top'")

    def mask(self, waveform: Tensor, relevance: Tensor, representation: str,
             spec: Tensor | None = None) -> Tensor:
        """The ``(B, 228, frames)`` mask on the full STFT grid of ``waveform`` (``spec``: that
        STFT, when the caller has it already)."""
        spec = stft(waveform) if spec is None else spec
        if representation == "spectrogram":
            r = relevance.double().sum(dim=1).clamp_min(0)  # (B, 227, 227)
            if self.mode == "top":
                r = top_mask(r, self.percent)
            else:
                peak = r.flatten(1).amax(dim=1)[:, None, None]
                r = r / peak.where(peak > 0, torch.ones_like(peak))
            return model_grid_to_stft(r, spec.shape[-1])
        weight = relevance[:, 0].double().clamp_min(0)
        peak = weight.amax(dim=1, keepdim=True)
        weight = weight / peak.where(peak > 0, torch.ones_like(peak))
        relevant = stft(waveform.double() * weight).abs()
        if self.mode == "top":
            return top_mask(relevant, self.percent)
        magnitude = spec.abs()
        ratio = relevant / magnitude.where(magnitude > 0, torch.ones_like(magnitude))
        return ratio.where(magnitude > 0, torch.zeros_like(ratio)).clamp(0, 1)

    def render(self, waveform: Tensor, relevance: Tensor, representation: str) -> Tensor:
        spec = stft(waveform)
        return istft(spec * self.mask(waveform, relevance, representation, spec),
                     waveform.shape[-1])


def builtin_sonifiers() -> list[BaseSonifier]:
    """The built-in sonifiers with their default parameters."""
    return [
        HeatmapTimesSignal(name="heatmap-x-signal", display_name="ReLU(x) ⊙ R"),
        KeepPositive(name="keep-positive", display_name="Keep where relevance > 0 (smoothed)"),
        KeepTop(name="keep-top", display_name="Keep the top 20 % of samples"),
        SpectrogramMask(name="spectrogram-mask", display_name="STFT soft mask, original phase"),
        SpectrogramMask(name="spectrogram-keep-top", display_name="STFT top 20 % of bins",
                        mode="top"),
    ]


@hookimpl
def audioxai_bench_sonifiers() -> list[BaseSonifier]:
    """Waveform gates and weights; STFT masks for spectrogram (and waveform) relevance."""
    return builtin_sonifiers()
