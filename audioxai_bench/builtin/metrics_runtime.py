"""Cost of an explanation: wall seconds per explained sample, measured warm and repeated.

The first call of an explainer pays for lazy imports (zennit, captum), allocator growth and
kernel selection, so one cold call can be ten times a warm one; one measurement has no spread.
This metric explains the panel's first batch (or its first ``samples`` samples) again:
``warmup`` untimed calls, then ``repeats`` timed ones (CUDA synchronised), all under the
explainer guard. The score is the median call divided by the batch size, the same for every
sample and for the panel's later batches (they are not re-timed, which bounds the cost to
``warmup + repeats`` calls per explainer and model).
The spread of the repeats (min, quartiles, max, per sample) is in the record's ``info``. The
record has no interval (``ci`` is null): all samples share one measurement, so a bootstrap
over them would be the constant ``[x, x]``; the repeat quantiles are the spread to read.
Wall time on a shared machine is noisy; compare runtimes from one run on one device. So that a
reader can tell a slow explainer from a busy machine, ``info`` also keeps the process's CPU
seconds of the timed calls and, on a CPU, ``cpu_share``: those CPU seconds over the wall
seconds. One torch thread that had its core throughout gives about 1; other work on the
machine (or an explainer that waits) gives less, and the leaderboard marks such a runtime.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
import weakref
from typing import Any

import torch

from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.metric import BaseMetric, EvalBatch, MetricOutput
from audioxai_bench.evaluation.summary import timed
from audioxai_bench.guard import run_explainer


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds of each timed call of an explainer on a batch of ``batch_size`` samples: wall
    seconds, and this process's CPU seconds (all its threads) during them."""

    seconds: tuple[float, ...]
    batch_size: int
    cpu_seconds: tuple[float, ...]
    threads: int

    def cpu_share(self) -> float:
        """CPU seconds over wall seconds of the timed calls (see the module doc)."""
        return sum(self.cpu_seconds) / max(sum(self.seconds), 1e-12)

    def per_sample(self, q: float) -> float:
        """The ``q`` quantile (0 = min, 0.5 = median, 1 = max) of a call, per sample."""
        ordered = sorted(self.seconds)
        if q == 0.5:
            return statistics.median(ordered) / self.batch_size
        position = q * (len(ordered) - 1)
        low, frac = int(position), position - int(position)
        high = min(low + 1, len(ordered) - 1)
        return (ordered[low] * (1 - frac) + ordered[high] * frac) / self.batch_size


class _Repeated:
    """An explainer called ``warmup + repeats`` times in one guarded call, timing the repeats."""

    def __init__(self, explainer: Any, warmup: int, repeats: int):
        self.explainer, self.warmup, self.repeats = explainer, warmup, repeats
        self.name = getattr(explainer, "name", type(explainer).__name__)
        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []

    def explain(self, model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor):
        relevance = None
        for _ in range(self.warmup):
            relevance = self.explainer.explain(model, x, target)
        for _ in range(self.repeats):
            cpu = time.process_time()
            relevance, seconds = timed(lambda: self.explainer.explain(model, x, target),
                                       x.device)
            self.cpu_seconds.append(time.process_time() - cpu)
            self.seconds.append(seconds)
        return relevance


@dataclasses.dataclass(frozen=True, kw_only=True)
class Runtime(BaseMetric):
    """Seconds per sample: the median of ``repeats`` warm calls on the panel's first batch.

    Parameters
    ----------
    repeats : int
        Timed calls (at least 5, so the median and quartiles mean something).
    warmup : int
        Untimed calls before them.
    samples : int, optional
        Time the explainer on only this many samples of the first batch (the whole batch when
        absent): bounds the cost of slow explainers; the per-sample time of a smaller batch is
        a little higher where batching pays (the record's ``info`` states the size timed).
    """

    repeats: int = 5
    warmup: int = 1
    samples: int | None = None
    memo: weakref.WeakKeyDictionary = dataclasses.field(
        default_factory=weakref.WeakKeyDictionary, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.repeats < 5 or self.warmup < 1:
            raise ValueError(f"metric {self.name!r}: repeats must be at least 5 and warmup at "
                             f"least 1, got {self.repeats} and {self.warmup}")
        if self.samples is not None and self.samples < 1:
            raise ValueError(f"metric {self.name!r}: samples must be at least 1, "
                             f"got {self.samples}")

    def timing(self, batch: EvalBatch) -> Timing:
        """The explainer's timing on this model: measured on the first batch it is asked for,
        then kept for the model's later batches (held only while the model is alive)."""
        explainer = batch.explainer
        key = (getattr(explainer, "name", None), repr(explainer), tuple(batch.x.shape[1:]),
               str(batch.device), self.warmup, self.repeats, self.samples)
        per_model = self.memo.setdefault(batch.model, {})
        if key not in per_model:
            timed_part = slice(0, self.samples)
            x, target = batch.x[timed_part], batch.target[timed_part]
            repeated = _Repeated(explainer, self.warmup, self.repeats)
            run_explainer(repeated, batch.model, x, target,
                          plugin=f"timed by metric {self.name}")
            per_model[key] = Timing(tuple(repeated.seconds), len(x),
                                    tuple(repeated.cpu_seconds), torch.get_num_threads())
        return per_model[key]

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        timing = self.timing(batch)
        median = timing.per_sample(0.5)
        spread = {name: timing.per_sample(q) for name, q in
                  (("min", 0.0), ("q25", 0.25), ("median", 0.5), ("q75", 0.75), ("max", 1.0))}
        info = {"unit": "seconds per sample", "device": str(batch.device),
                "warmup": self.warmup, "repeats": len(timing.seconds),
                "timed_batch_size": timing.batch_size,
                "call_seconds": [round(s, 6) for s in timing.seconds],
                "per_sample_spread": spread, "threads": timing.threads,
                "cpu_seconds": [round(s, 6) for s in timing.cpu_seconds]}
        if batch.device.type == "cpu":
            info["cpu_share"] = round(timing.cpu_share(), 3)
        return MetricOutput(scores=torch.full((batch.size,), median, dtype=torch.float64),
                            info=info)

    def interval(self, output: MetricOutput) -> None:
        """No interval: every sample carries the same measured median (see the module doc);
        the repeats' spread is in ``info``."""
        return None


@hookimpl
def audioxai_bench_metrics() -> list[Runtime]:
    """Runtime per explanation."""
    return [Runtime(name="runtime", display_name="Seconds per explanation",
                    higher_is_better=False, needs=frozenset({"explainer"}))]
