"""Complexity of an explanation: how concentrated the relevance is over the sound.

The Gini index of ``|R|`` (Hurley & Rickard 2009, "Comparing measures of sparsity"), used as the
sparseness of attributions by Chalasani et al. (2020, "Concise explanations of neural networks
using adversarial training", ICML, arXiv 1810.06583): 0 for a uniform map, ``1 - 1/N`` for a map
with one non-zero feature.

It is computed over the *active* units only, those where the input is not silence
(:func:`~audioxai_bench.api.explainer.silence_of`: waveform samples ≠ 0, spectrogram bins above
the -80 dB floor). 40–45 % of every input is padding or floor, where any map multiplied by
``x - silence`` is exactly 0; over all units those zeros alone make such maps look sparse
(gradient × input 0.90–0.94 against gradient 0.68–0.70 on AudioNet). Sparse is not better:
the metric is descriptive (``ranked = False``), reported beside the ranked ones.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from torch import Tensor

from audioxai_bench.api.explainer import silence_of
from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.metric import BaseMetric, EvalBatch, MetricOutput


def active_units(x: Tensor) -> Tensor:
    """``x.shape`` bool: where the input holds sound (is above, or for waveforms not, silence)."""
    silence = silence_of(x)
    return x != 0 if x.dim() == 3 else x > silence


def gini(relevance: Tensor, active: Tensor | None = None) -> Tensor:
    """``(B,)`` Gini index of ``|relevance[i]|`` over its features, or over those where
    ``active[i]`` is true (float64).

    An all-zero map has no concentration and scores 0; a sample without active units is NaN.
    """
    a = relevance.detach().flatten(1).abs().double()
    if active is None:
        return _gini(a.sort(dim=1).values)
    keep = active.flatten(1)
    return torch.stack([_gini(row[mask].sort().values[None])[0] if mask.any()
                        else row.new_tensor(float("nan")) for row, mask in zip(a, keep)])


def _gini(a: Tensor) -> Tensor:
    """Gini of each row of ascending ``a`` ``(B, n)``."""
    n = a.shape[1]
    total = a.sum(dim=1)
    k = torch.arange(1, n + 1, dtype=torch.float64, device=a.device)
    weighted = (a * (n - k + 0.5)).sum(dim=1) / (total.clamp_min(1e-300) * n)
    return torch.where(total > 0, 1 - 2 * weighted, torch.zeros_like(total))


@dataclasses.dataclass(frozen=True, kw_only=True)
class GiniSparseness(BaseMetric):
    """Gini sparseness of the relevance map over the active units, per sample (descriptive)."""

    ranked: ClassVar[bool] = False
    bounds: ClassVar[tuple[float, float]] = (0.0, 1.0)

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        active = active_units(batch.x)
        return MetricOutput(scores=gini(batch.relevance, active),
                            extras={"active-fraction": active.flatten(1).double().mean(dim=1)},
                            info={"units": "active (non-silent) input features"})


@hookimpl
def audioxai_bench_metrics() -> list[GiniSparseness]:
    """Gini sparseness."""
    return [GiniSparseness(name="gini", display_name="Sparseness (Gini, active units)",
                           higher_is_better=True)]
