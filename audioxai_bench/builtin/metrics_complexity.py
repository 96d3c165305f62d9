"""Complexity of an explanation: how concentrated the relevance is.

The Gini index of ``|R|`` (Hurley & Rickard 2009, "Comparing measures of sparsity"), used as the
sparseness of attributions by Chalasani et al. (2020, "Concise explanations of neural networks
using adversarial training", ICML, arXiv 1810.06583): 0 for a uniform map, ``1 - 1/N`` for a map
with one non-zero feature. A listener or reader can take in a sparse map; higher is better.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.metric import BaseMetric, EvalBatch, MetricOutput


def gini(relevance: Tensor) -> Tensor:
    """``(B,)`` Gini index of ``|relevance[i]|`` over all its features (float64).

    An all-zero map has no concentration and scores 0.
    """
    a = relevance.detach().flatten(1).abs().double().sort(dim=1).values
    n = a.shape[1]
    total = a.sum(dim=1)
    k = torch.arange(1, n + 1, dtype=torch.float64, device=a.device)
    weighted = (a * (n - k + 0.5)).sum(dim=1) / (total.clamp_min(1e-300) * n)
    return torch.where(total > 0, 1 - 2 * weighted, torch.zeros_like(total))


@dataclasses.dataclass(frozen=True, kw_only=True)
class GiniSparseness(BaseMetric):
    """Gini sparseness of the relevance map, per sample."""

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        return MetricOutput(scores=gini(batch.relevance))


@hookimpl
def audioxai_bench_metrics() -> list[GiniSparseness]:
    """Gini sparseness."""
    return [GiniSparseness(name="gini", display_name="Sparseness (Gini)", higher_is_better=True)]
