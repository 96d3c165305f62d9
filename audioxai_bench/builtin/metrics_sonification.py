"""Scores of a sonifier as metrics, so each (explainer, sonifier) pair gets leaderboard records.

These metrics need ``EvalBatch.sonifier`` and ``EvalBatch.signals``; the runner runs them once per
sonifier. All four read one :func:`audioxai_bench.sonify_eval.evaluate_sonifier` result per
batch, and each carries every number of it as extras. Why these scores: see
:mod:`audioxai_bench.sonify_eval`.
"""

from __future__ import annotations

import dataclasses

from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.metric import BaseMetric, BatchMemo, EvalBatch, MetricOutput
from audioxai_bench.evaluation.sonification import SonificationScores, evaluate_sonifier

#: Metric name -> (field of SonificationScores.as_dict(), higher is better).
SCORES: dict[str, tuple[str, bool]] = {
    "sonified-accuracy": ("sonified/accuracy", True),
    "complement-accuracy": ("complement/accuracy", False),
    "kept-energy": ("kept-energy", False),
    "sonified-random-gap": ("gap/probability", True),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class SonificationMetric(BaseMetric):
    """One field of the sonification scores as the per-sample score; the rest as extras."""

    field: str
    memo: BatchMemo = dataclasses.field(default_factory=BatchMemo, compare=False, repr=False)

    def scores(self, batch: EvalBatch) -> SonificationScores:
        """The batch's sonification scores, computed once for all metrics sharing the memo."""
        return self.memo.get(batch, "sonification", lambda: evaluate_sonifier(
            batch.sonifier, batch.model, batch.signals, batch.relevance, batch.target,
            batch.representation, seed=batch.seed, chunk_size=batch.chunk_size,
            dtype=batch.x.dtype))

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        values = self.scores(batch).as_dict()
        return MetricOutput(
            scores=values[self.field], extras=values,
            info={"sonifier": str(getattr(batch.sonifier, "name", type(batch.sonifier)))})


@hookimpl
def audioxai_bench_metrics() -> list[SonificationMetric]:
    """Accuracy on the sonified sound and its complement, kept energy, gap to random."""
    memo = BatchMemo()
    needs = frozenset({"signals", "sonifier"})
    return [SonificationMetric(name=name, higher_is_better=better, field=field, memo=memo,
                               needs=needs) for name, (field, better) in SCORES.items()]
