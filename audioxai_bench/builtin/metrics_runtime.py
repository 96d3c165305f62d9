"""Cost of an explanation: wall seconds per explained sample.

The runner times the explainer (:func:`audioxai_bench.evaluation.timed`) and passes the seconds
for the batch as ``EvalBatch.explain_seconds``; this metric turns them into a per-sample record
like any other, so runtime sits beside faithfulness on the leaderboard.
"""

from __future__ import annotations

import dataclasses

import torch

from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.metric import BaseMetric, EvalBatch, MetricOutput


@dataclasses.dataclass(frozen=True, kw_only=True)
class Runtime(BaseMetric):
    """Seconds per sample: the batch's explanation time shared equally by its samples."""

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        per_sample = float(batch.explain_seconds) / batch.size
        return MetricOutput(scores=torch.full((batch.size,), per_sample, dtype=torch.float64),
                            info={"unit": "seconds per sample", "device": str(batch.device)})


@hookimpl
def audioxai_bench_metrics() -> list[Runtime]:
    """Runtime per explanation."""
    return [Runtime(name="runtime", display_name="Seconds per explanation",
                    higher_is_better=False, needs=frozenset({"explain_seconds"}))]
