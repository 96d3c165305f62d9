"""Score attributions of any audio classifier with the suite's metrics, in one call.

::

    scores = audioxai_bench.score_attributions(model, x, target, relevance)
    scores.loc["faithfulness-gap", ["value", "ci_low", "ci_high"]]

Works for any model whose input is a ``(B, C, T)`` waveform or a ``(B, C, F, T)`` spectrogram
batch (any length, sample rate or grid), not only the AudioMNIST reference models: the metrics
run exactly as in a benchmark run (:class:`~audioxai_bench.api.metric.EvalBatch` per batch,
under the same guard, outputs merged, mean with a bootstrap interval over samples). A metric
that needs something these inputs do not give, such as the suite's own 8 kHz preprocessing, is
refused with a one-line reason instead of computing a number that means nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from audioxai_bench.api.explainer import REPRESENTATIONS, silence_of
from audioxai_bench.api.metric import DEFAULT_CHUNK, EvalBatch, MetricOutput
from audioxai_bench.errors import AudioXaiError, one_line
from audioxai_bench.guard import (
    DEFAULT_PLUGIN_TIME_LIMIT_S,
    ModelKeeper,
    PluginCallError,
    score_metric,
    summarize_metric,
)
from audioxai_bench.guarded import GuardedExplainer, with_sonifier
from audioxai_bench.shared_memo import MemoKeeper

if TYPE_CHECKING:
    import pandas as pd

#: Metrics that read only the model, the input and the relevance: they apply to any model.
DEFAULT_METRICS: tuple[str, ...] = ("faithfulness-gap", "aopc", "insertion-gap", "insertion-auc",
                                    "gini")
#: Columns of the frame :func:`score_attributions` returns, after its index ``metric``.
COLUMNS: tuple[str, ...] = ("sonifier", "status", "value", "ci_low", "ci_high", "n",
                            "higher_is_better", "reason", "scores", "output")


def score_attributions(
    model: nn.Module,
    x: Any,
    target: Any,
    relevance: Any,
    *,
    representation: str | None = None,
    metrics: str | Iterable[Any] = DEFAULT_METRICS,
    signals: Any = None,
    explainer: Any = None,
    explain_seconds: float | None = None,
    ground_truth: Any = None,
    sonifiers: Iterable[Any] = (),
    plugins: Any = None,
    seed: int = 0,
    batch_size: int = 32,
    chunk_size: int = DEFAULT_CHUNK,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Score the attributions ``relevance`` of ``model`` for ``x`` with the suite's metrics.

    Parameters
    ----------
    model : nn.Module
        Any classifier returning ``(B, classes)`` logits, on the device of ``x``; its train/eval
        mode is left as it is (the metrics evaluate in eval mode).
    x, target, relevance : Tensor or array
        Inputs ``(B, C, T)`` (waveform) or ``(B, C, F, T)`` (spectrogram), the ``(B,)`` classes
        the attributions explain, and the attributions in ``x.shape``.
    representation : str, optional
        ``"waveform"`` or ``"spectrogram"``; by default from ``x``'s number of dimensions.
        Spectrogram metrics take the -80 dB floor as silence, a constant, not each sample's
        minimum (:func:`~audioxai_bench.api.explainer.silence_of`): they read ``x`` as dB
        relative to the loudest bin, floored at -80 dB, as the suite's preprocessing makes it.
        A spectrogram holding values below -80 is refused: its bins there would count as
        silent yet be raised to -80 when their unit is removed, and their loudness would be
        negative (clip it at -80 first, or shift its scale).
    metrics : "all" or iterable of str or metric objects
        Registered metric names or metric objects (e.g. your own, not registered).
        :data:`DEFAULT_METRICS` apply to any model. Each runs under the guard of a benchmark
        run: it must leave the model, torch's global state and its batch as it found them
        (what it changed is put back), return one finite score per sample (NaN where
        undefined) inside its ``bounds``, and finish within its ``time_limit_s`` (else
        :data:`~audioxai_bench.guard.DEFAULT_PLUGIN_TIME_LIMIT_S`). A named metric that cannot
        apply or fails raises :class:`AudioXaiError` naming it, with the reason; with
        ``"all"`` it gets a row with status ``"skipped"`` (or ``"error"`` when it fails) and
        the reason.
    signals : Tensor, optional
        ``(B, 8000)`` 8 kHz signals when ``x`` is the suite's preprocessing of them
        (``audioxai_bench.data.preprocess.to_model_input``): the metrics that go back to sound
        (frequency bands, sonification) need both, and refuse other inputs.
    explainer : object, optional
        The explainer that made ``relevance``, for metrics that explain again
        (``model-randomisation``, and ``runtime``, which times those calls). Those calls go
        through :func:`~audioxai_bench.guard.run_explainer`: one that breaks the contract fails
        the metric with the explainer's name.
    explain_seconds : float, optional
        Wall seconds the whole batch took to explain, for a metric that declares
        ``needs = {"explain_seconds"}`` (a plugin's; no built-in reads it).
    ground_truth : Tensor or array, optional
        Bool mask in ``x.shape``, True where the evidence for the label is known to be, for the
        localisation metrics (``relevance-mass-accuracy``, ``pointing-game``, ...).
    sonifiers : iterable of str or sonifier objects
        Sonifiers for the sonification metrics (one row per metric and sonifier); their calls
        are guarded as the sonifier's own.
    plugins : PluginManager, optional
        Where names are looked up (default :func:`audioxai_bench.load_plugins`).
    seed, batch_size, chunk_size, confidence
        As in a benchmark definition: batch ``i`` is scored with seed ``seed * 100003 + i``
        (random orders and controls), at most ``chunk_size`` inputs per forward pass; the
        interval is the percentile bootstrap over samples at ``confidence``.

    Returns
    -------
    pandas.DataFrame
        One row per metric (per metric and sonifier), indexed by ``metric`` (``name`` or
        ``name/sonifier``), with columns :data:`COLUMNS`: ``value`` (mean over samples),
        ``ci_low``/``ci_high``, ``n`` (finite per-sample scores), ``higher_is_better``,
        ``status`` (``ok``, ``skipped``, ``error``) and ``reason``; ``scores`` holds the
        per-sample scores (a NumPy array) and ``output`` the merged
        :class:`~audioxai_bench.api.metric.MetricOutput` (curves, extras, info).
    """
    import pandas as pd

    from audioxai_bench.evaluation.passes import inputs_per_pass
    from audioxai_bench.evaluation.summary import merge_outputs

    x, target, relevance, signals, rep = _inputs(model, x, target, relevance, signals,
                                                  representation)
    if batch_size < 1 or chunk_size < 1:
        raise AudioXaiError(f"score_attributions: batch_size and chunk_size must be positive, "
                            f"got {batch_size} and {chunk_size}")
    chunk_size = inputs_per_pass(model, x[:1], chunk_size)  # as many as the device holds well
    every = isinstance(metrics, str) and metrics == "all"
    if isinstance(metrics, str) and not every:
        metrics = [metrics]
    pm = plugins
    if pm is None and (every or any(isinstance(m, str) for m in [*metrics, *sonifiers])):
        from audioxai_bench.plugins import load_plugins

        pm = load_plugins()
    chosen = list(pm.metrics) if every else [_resolve(pm, "metric", m) for m in metrics]
    sounds = [_resolve(pm, "sonifier", s) for s in sonifiers]
    keeper = ModelKeeper(model)  # the model as given: every plugin call is compared with it
    sources = {id(obj): _plugin_of(pm, kind, obj)
               for kind, objects in (("metric", chosen), ("sonifier", sounds)) for obj in objects}
    if explainer is not None:
        explainer = GuardedExplainer(explainer, _plugin_of(pm, "explainer", explainer), keeper,
                                     DEFAULT_PLUGIN_TIME_LIMIT_S)
    if ground_truth is not None:
        ground_truth = _tensor(ground_truth, "ground_truth").to(x.device)
        if ground_truth.shape != x.shape or ground_truth.dtype != torch.bool:
            raise AudioXaiError(f"score_attributions: ground_truth must be a bool mask of shape "
                                f"{tuple(x.shape)}, got {ground_truth.dtype} "
                                f"{tuple(ground_truth.shape)}")
    context = _Context(rep, x, signals, explainer, explain_seconds, sounds,
                       ground_truth is not None)

    cells: list[tuple[Any, Any]] = []
    rows: dict[str, dict[str, Any]] = {}
    order: list[str] = []  # row labels in the order the metrics were asked for
    for metric in chosen:
        reason = context.why_not(metric)
        if reason is not None and not every:
            raise AudioXaiError(f"metric {metric.name!r} cannot score these attributions: "
                                f"{reason}")
        if reason is not None:
            rows[metric.name] = _row(metric, None, "skipped", reason)
            order.append(metric.name)
            continue
        if "sonifier" in set(getattr(metric, "needs", ())):
            mine = [(metric, s) for s in sounds if _applies(s, rep)]
        else:
            mine = [(metric, None)]
        cells += mine
        order += [_label(m, s) for m, s in mine]

    outputs: dict[int, list[MetricOutput]] = {i: [] for i in range(len(cells))}
    failed: dict[int, str] = {}
    b = x.shape[0]
    for index, start in enumerate(range(0, b, batch_size)):
        part = slice(start, min(b, start + batch_size))
        base = EvalBatch(model=model, x=x[part], target=target[part], relevance=relevance[part],
                         representation=rep, signals=None if signals is None else signals[part],
                         explainer=explainer,
                         explain_seconds=None if explain_seconds is None
                         else explain_seconds * (part.stop - part.start) / b,
                         ground_truth=None if ground_truth is None else ground_truth[part],
                         seed=seed * 100_003 + index, chunk_size=chunk_size, shared={})
        memo = MemoKeeper(base.shared)  # as the runner's, one per batch
        sonified: dict[str, EvalBatch] = {}
        for i, (metric, sonifier) in enumerate(cells):
            if i in failed:
                continue
            batch = base if sonifier is None else with_sonifier(
                sonified, base, str(id(sonifier)), sonifier, sources[id(sonifier)],
                DEFAULT_PLUGIN_TIME_LIMIT_S)
            try:
                outputs[i].append(score_metric(
                    metric, batch, name=metric.name, plugin=sources[id(metric)],
                    keeper=keeper, default_limit_s=DEFAULT_PLUGIN_TIME_LIMIT_S, memo=memo))
            except Exception as exc:
                failed[i] = _failure(metric, exc, every)

    for i, (metric, sonifier) in enumerate(cells):
        label = _label(metric, sonifier)
        if i not in failed:
            merged = merge_outputs(outputs[i])
            try:  # the metric's own interval() and summarize(), as in a run
                fields = summarize_metric(
                    metric, merged, name=metric.name, plugin=sources[id(metric)],
                    model=model, keeper=keeper, default_limit_s=DEFAULT_PLUGIN_TIME_LIMIT_S,
                    confidence=confidence, seed=seed)
            except Exception as exc:
                failed[i] = _failure(metric, exc, every)
        if i in failed:
            rows[label] = _row(metric, sonifier, "error", failed[i])
            continue
        low, high = fields["ci"] or (None, None)  # a metric may have no interval (runtime)
        rows[label] = _row(metric, sonifier, "ok", None) | {
            "value": fields["value"], "ci_low": low, "ci_high": high,
            "n": fields["n"], "scores": merged.scores.numpy(), "output": merged}
    frame = pd.DataFrame.from_dict({k: rows[k] for k in order}, orient="index",
                                   columns=list(COLUMNS))
    frame.index.name = "metric"
    return frame


def _failure(metric: Any, exc: Exception, every: bool) -> str:
    """The reason ``metric`` failed, for its row under ``"all"``; else raised, naming it. A
    guard's verdict on the metric is its reason; one on the sonifier or explainer it called
    names that plugin."""
    if isinstance(exc, PluginCallError):
        reason = exc.reason if exc.role == "metric" else str(exc)
    else:
        reason = one_line(exc)
    if not every:
        raise AudioXaiError(f"metric {metric.name!r} failed: {reason}") from exc
    return reason


def _plugin_of(pm: Any, kind: str, obj: Any) -> str:
    """The plugin that registered ``obj`` (as its records name it), or ``"unregistered"``."""
    if pm is not None:
        for reg in pm.registry(kind).registrations():
            if reg.obj is obj:
                return str(reg.source)
    return "unregistered"


def _label(metric: Any, sonifier: Any) -> str:
    return metric.name if sonifier is None else f"{metric.name}/{sonifier.name}"


def _row(metric: Any, sonifier: Any, status: str, reason: str | None) -> dict[str, Any]:
    return {"sonifier": getattr(sonifier, "name", None), "status": status, "value": np.nan,
            "ci_low": np.nan, "ci_high": np.nan, "n": 0,
            "higher_is_better": bool(metric.higher_is_better), "reason": reason, "scores": None,
            "output": None}


def _applies(obj: Any, representation: str) -> bool:
    return representation in set(getattr(obj, "representations", REPRESENTATIONS))


def _resolve(pm: Any, kind: str, item: Any) -> Any:
    """A registered object by name, or a plugin object checked like a registration."""
    from audioxai_bench.plugins import validate

    if isinstance(item, str):
        return pm.registry(kind).get(item)
    try:
        validate(kind, item)
    except ValueError as exc:
        raise AudioXaiError(f"score_attributions: {exc}") from None
    return item


def _tensor(value: Any, what: str) -> Tensor:
    try:
        return value if isinstance(value, Tensor) else torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise AudioXaiError(f"score_attributions: {what} must be a tensor or an array: "
                            f"{one_line(exc)}") from None


def _inputs(model: nn.Module, x: Any, target: Any, relevance: Any, signals: Any,
            representation: str | None) -> tuple[Tensor, Tensor, Tensor, Tensor | None, str]:
    """The inputs as tensors on ``x``'s device, checked against each other and the model."""
    x = _tensor(x, "x").detach()
    if not x.dtype.is_floating_point or x.dim() not in (3, 4):
        raise AudioXaiError(f"score_attributions: x must be a floating (B, C, T) waveform or "
                            f"(B, C, F, T) spectrogram batch, got {x.dtype} {tuple(x.shape)}")
    inferred = "waveform" if x.dim() == 3 else "spectrogram"
    rep = representation or inferred
    if rep not in REPRESENTATIONS:
        raise AudioXaiError(f"score_attributions: representation must be one of "
                            f"{sorted(REPRESENTATIONS)}, got {rep!r}")
    if rep != inferred:
        raise AudioXaiError(f"score_attributions: a {rep} batch has "
                            f"{3 if rep == 'waveform' else 4} dimensions, x has {x.dim()}")
    if rep == "spectrogram" and bool((x < silence_of(x)).any()):
        raise AudioXaiError(f"score_attributions: the spectrogram x holds values down to "
                            f"{float(x.min()):g}, below the -80 dB floor the metrics take as "
                            f"silence (dB relative to the loudest bin); clip it at -80 or "
                            f"shift its scale")
    target = _tensor(target, "target").to(x.device)
    if target.shape != (x.shape[0],) or target.dtype.is_floating_point or \
            target.dtype == torch.bool:
        raise AudioXaiError(f"score_attributions: target must be ({x.shape[0]},) class indices, "
                            f"got {target.dtype} {tuple(target.shape)}")
    relevance = _tensor(relevance, "relevance").detach().to(x.device)
    if relevance.shape != x.shape:
        raise AudioXaiError(f"score_attributions: relevance has shape {tuple(relevance.shape)}, "
                            f"x has {tuple(x.shape)}")
    if not bool(torch.isfinite(relevance).all()):
        raise AudioXaiError("score_attributions: relevance holds NaN or Inf values")
    weight = next(iter(model.parameters()), None)
    if weight is not None and weight.device != x.device:
        raise AudioXaiError(f"score_attributions: the model is on {weight.device}, x on "
                            f"{x.device}; move one of them")
    if signals is not None:
        signals = _tensor(signals, "signals").detach().to(x.device)
        if signals.dim() != 2 or signals.shape[0] != x.shape[0]:
            raise AudioXaiError(f"score_attributions: signals must be ({x.shape[0]}, samples), "
                                f"got {tuple(signals.shape)}")
    return x, target.long(), relevance.to(x.dtype), signals, rep


@dataclasses.dataclass
class _Context:
    """What the inputs offer, to say why a metric cannot apply."""

    representation: str
    x: Tensor
    signals: Tensor | None
    explainer: Any
    explain_seconds: float | None
    sonifiers: Sequence[Any]
    has_ground_truth: bool
    _preprocessed: str | None = dataclasses.field(default=None, init=False)
    _checked: bool = dataclasses.field(default=False, init=False)

    def why_not(self, metric: Any) -> str | None:
        """Why ``metric`` cannot score these inputs, in one line, or ``None``."""
        rep = self.representation
        if not _applies(metric, rep):
            return (f"applies to {', '.join(sorted(metric.representations))} "
                    f"models only, these are {rep} inputs")
        needs = set(getattr(metric, "needs", ()))
        if "signals" in needs:
            problem = self.not_preprocessed()
            if problem:
                return (f"it reads the sound through the suite's AudioMNIST preprocessing (8 kHz "
                        f"signals, to_model_input), and {problem}")
        if "explainer" in needs and self.explainer is None:
            return "it explains again: pass the explainer that made the relevance (explainer=)"
        if "explain_seconds" in needs and self.explain_seconds is None:
            return "it needs the time the explanation took (explain_seconds=)"
        if "ground_truth" in needs and not self.has_ground_truth:
            return ("it compares the relevance with where the evidence is: pass ground_truth= "
                    "(a bool mask in x.shape)")
        if "sonifier" in needs and not any(_applies(s, rep) for s in self.sonifiers):
            return f"it scores a sonifier: pass sonifiers= (ones that take {rep} relevance)"
        return None

    def not_preprocessed(self) -> str | None:
        """``None`` when ``x`` is the suite's model input of ``signals``, else what is not."""
        if self._checked:
            return self._preprocessed
        self._checked = True
        from audioxai_bench.data.check import WINDOW
        from audioxai_bench.data.preprocess import to_model_input

        if self.signals is None:
            self._preprocessed = "no signals= were given"
        elif self.signals.shape[1] != WINDOW:
            self._preprocessed = (f"the signals have {self.signals.shape[1]} samples, not "
                                  f"{WINDOW} (1 s at 8 kHz)")
        else:
            expected = to_model_input(self.signals.float(), self.representation)
            if expected.shape != self.x.shape or not torch.allclose(
                    expected.to(self.x.dtype), self.x, rtol=1e-4, atol=1e-4):
                self._preprocessed = (f"x {tuple(self.x.shape)} is not "
                                      f"to_model_input(signals, {self.representation!r})")
        return self._preprocessed
