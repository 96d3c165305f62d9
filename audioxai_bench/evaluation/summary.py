"""Turning per-batch metric outputs into record fields, and the few helpers every engine shares.

:func:`merge_outputs` joins a metric's batches, :func:`summarize` makes the record's value,
interval and mean curves, :func:`timed` measures an explainer call (CUDA synchronised) and
:func:`true_class_scores` is the one place that reads a model's verdict on a batch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import Tensor

from audioxai_bench import stats
from audioxai_bench.api.metric import MetricOutput
from audioxai_bench.errors import AudioXaiError

_T = TypeVar("_T")


def true_class_scores(logits: Tensor, target: Tensor, *,
                      log: bool = False) -> tuple[Tensor, Tensor]:
    """``(B,)`` true-class probability (log-probability with ``log``) and correctness (0/1), both
    float64 on the logits' device: the callers batch the transfer to the host."""
    logits = logits.float()
    norm = torch.log_softmax(logits, dim=1) if log else torch.softmax(logits, dim=1)
    score = norm.gather(1, target[:, None])[:, 0].double()
    return score, (logits.argmax(dim=1) == target).double()


def merge_outputs(outputs: Sequence[MetricOutput]) -> MetricOutput:
    """Concatenate the per-batch outputs of one metric along the samples."""
    if not outputs:
        raise AudioXaiError("merge_outputs: no outputs to merge")
    first = outputs[0]
    for out in outputs[1:]:
        if set(out.curves) != set(first.curves) or set(out.extras) != set(first.extras):
            raise AudioXaiError("merge_outputs: batches returned different curves or extras")
        if (out.grid is None) != (first.grid is None) or (
                out.grid is not None and not torch.equal(out.grid, first.grid)):
            raise AudioXaiError("merge_outputs: batches returned different grids")
    return MetricOutput(
        scores=torch.cat([o.scores for o in outputs]),
        curves={k: torch.cat([o.curves[k] for o in outputs]) for k in first.curves},
        grid=first.grid,
        extras={k: torch.cat([o.extras[k] for o in outputs]) for k in first.extras},
        info=first.info,
    )


def summarize(
    metric: Any, output: MetricOutput, *, confidence: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """Record fields for a metric's merged output: mean, bootstrap interval, mean curves.

    A metric with an ``interval(output)`` method gives its own ``ci`` instead of the bootstrap
    over samples (``None`` where there is none, e.g. one measurement shared by every sample);
    an output whose ``info`` says ``proportion`` gets Wilson's interval (the bootstrap of n
    hits out of n reads [1, 1]).

    Keys: ``value``, ``ci`` ([low, high] or null), ``n`` (finite scores), ``higher_is_better``,
    ``scores`` (every sample's score, 7 significant digits, NaN where undefined),
    ``grid`` and ``curves`` (when the metric has curves: means over the samples with a finite
    score, those ``value`` and ``n`` count; NaN where there are none), ``extras``
    (name → {value, ci}, and ``scores`` for those the metric names in ``clip_extras``),
    ``info``, and ``summary`` (the metric's own ``summarize``, if any).
    """
    est = stats.bootstrap_ci(output.scores, confidence=confidence, seed=seed)
    own_interval = getattr(metric, "interval", None)
    if callable(own_interval):
        ci = own_interval(output)
        if ci is not None:
            ci = _checked_interval(getattr(metric, "name", metric), ci, est.mean)
    elif output.info.get("proportion") and est.n:
        ci = list(stats.wilson_interval(est.mean, est.n, confidence))
    else:
        ci = [est.low, est.high]
    record: dict[str, Any] = {"value": est.mean, "ci": None if ci is None else list(ci),
                              "n": est.n, "higher_is_better": bool(metric.higher_is_better),
                              "scores": _rounded(output.scores)}
    if output.curves:
        record["grid"] = output.grid.tolist()
        # over the samples the value and n count: a sample whose score is NaN (e.g. a clip
        # without sound, whose deletion curves are flat at the intact input's probability)
        # would pull the mean curves away from the value they are shown beside
        counted = output.scores.isfinite()
        record["curves"] = {k: v[counted].nanmean(dim=0).tolist()
                            for k, v in output.curves.items()}
    if output.extras:
        record["extras"] = {}
        per_clip = frozenset(getattr(metric, "clip_extras", ()))
        for key, values in output.extras.items():
            e = stats.bootstrap_ci(values, confidence=confidence, seed=seed)
            record["extras"][key] = {"value": e.mean, "ci": [e.low, e.high]}
            if key in per_clip:
                record["extras"][key]["scores"] = _rounded(values)
    bounds = getattr(metric, "bounds", None)
    if output.info or bounds:
        record["info"] = dict(output.info) | ({"bounds": list(bounds)} if bounds else {})
    own = getattr(metric, "summarize", None)
    if callable(own):
        record["summary"] = own(output)
    return record


def _rounded(values: Tensor) -> list[float]:
    """Per-sample values as a record keeps them: 7 significant digits, NaN where undefined."""
    return [float(f"{v:.7g}") for v in values.tolist()]


def _checked_interval(name: Any, ci: Any, value: float) -> list[float]:
    """A metric's own ``interval()`` as ``[low, high]``: two finite numbers with ``low <= value
    <= high`` (float rounding aside); else the cell fails naming the metric (an interval that
    excludes its value, or NaN bounds, is no 95 % interval of it)."""
    def number(v: Any) -> float:
        if isinstance(v, (str, bytes, bool)):
            raise TypeError
        return float(v)

    try:
        low, high = map(number, ci)
    except (TypeError, ValueError):
        raise AudioXaiError(f"metric {name!r}: its interval() returned {ci!r:.60}, not "
                            "[low, high] (or None: no interval)") from None
    said = f"its interval() returned [{low:g}, {high:g}]"
    if not (math.isfinite(low) and math.isfinite(high)):
        raise AudioXaiError(f"metric {name!r}: {said}, bounds that are not finite (return None "
                            "where there is no interval)")
    if low > high:
        raise AudioXaiError(f"metric {name!r}: {said}, the lower bound above the upper")
    slack = 1e-6 * max(1.0, abs(value)) if math.isfinite(value) else math.inf
    if value < low - slack or value > high + slack:
        raise AudioXaiError(f"metric {name!r}: {said}, which does not hold its value "
                            f"{value:g}")
    return [low, high]


def timed(call: Callable[[], _T], device: torch.device | str = "cpu") -> tuple[_T, float]:
    """Run ``call()`` and return its result and wall seconds (CUDA work synchronised), e.g.
    ``relevance, seconds = timed(lambda: pm.explain(name, model, x, target), x.device)`` for
    ``EvalBatch.explain_seconds``."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = call()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - start
