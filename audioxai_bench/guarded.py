"""Plugin objects as a metric receives them, their calls guarded as their own.

A metric calls the sonifier (sonification metrics) or the explainer (those that explain again)
it is handed in its :class:`~audioxai_bench.api.metric.EvalBatch` inside its own guarded call:
whatever the sonifier did wrong there was reported as the metric's fault, naming the metric's
plugin (probe 6 #4). The wrappers here run each such call under the guard
(:func:`~audioxai_bench.guard.guarded_call`) as the sonifier's or explainer's own, so its
failure names it and its plugin. Both the runner and
:func:`~audioxai_bench.scoring.score_attributions` (probe 6 #3) hand metrics such wrappers.
Every other attribute, and the ``repr`` (shared memo keys hold a sonifier by its repr), are
the wrapped object's.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from torch import Tensor, nn

from audioxai_bench.api.sonifier import sound_problem
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.guard import (
    ModelKeeper,
    PluginCallError,
    explaining_depth,
    guarded_call,
    run_explainer,
    time_limit_of,
)


class _Wrapped:
    """Attribute access and ``repr`` of the wrapped ``_obj``."""

    def __init__(self, obj: Any, plugin: str, default_limit_s: float | None):
        self._obj, self._plugin, self._default_limit = obj, plugin, default_limit_s

    def __getattr__(self, attr: str) -> Any:
        try:  # not set yet while a copy or an unpickled object is made
            obj = vars(self)["_obj"]
        except KeyError:
            raise AttributeError(attr) from None
        return getattr(obj, attr)

    def __repr__(self) -> str:
        return repr(self._obj)

    def _name(self) -> str:
        return str(getattr(self._obj, "name", type(self._obj).__name__))

    def _limit(self, role: str) -> float | None:
        """The object's ``time_limit_s``, else the default; a bad declared one is its failure."""
        try:
            return time_limit_of(self._obj, self._default_limit)
        except AudioXaiError as exc:
            raise PluginCallError(role, self._name(), self._plugin, "type", str(exc),
                                  0.0) from None


class GuardedSonifier(_Wrapped):
    """``sonifier`` whose ``sonify`` runs under the guard with its waveform and relevance as
    inputs, and whose sound must be finite and of the waveform's shape
    (:func:`~audioxai_bench.api.sonifier.sound_problem`). Raises :class:`PluginCallError`
    naming the sonifier and ``plugin``. It gets no model, so none is compared. The time limit is
    its ``time_limit_s``, else ``default_limit_s``."""

    def __init__(self, sonifier: Any, plugin: str, default_limit_s: float | None = None):
        super().__init__(sonifier, plugin, default_limit_s)

    def sonify(self, waveform: Tensor, relevance: Tensor, representation: str) -> Tensor:
        name, limit = self._name(), self._limit("sonifier")
        start = time.perf_counter()
        sound = guarded_call("sonifier", name, self._plugin, None,
                             lambda: self._obj.sonify(waveform, relevance, representation),
                             time_limit_s=limit, inputs=(waveform, relevance))
        problem = sound_problem(sound, waveform)
        if problem is not None:
            raise PluginCallError("sonifier", name, self._plugin, *problem,
                                  time.perf_counter() - start)
        return sound


def with_sonifier(batches: dict[str, Any], base: Any, key: str, sonifier: Any, plugin: str,
                  default_limit_s: float | None) -> Any:
    """``base`` (an EvalBatch) with ``sonifier`` guarded as its own, made once per ``key`` in
    ``batches``: a sonification metric's calls of it are the sonifier's, not the metric's."""
    if key not in batches:
        batches[key] = dataclasses.replace(
            base, sonifier=GuardedSonifier(sonifier, plugin, default_limit_s))
    return batches[key]


class GuardedExplainer(_Wrapped):
    """``explainer`` whose ``explain`` goes through :func:`~audioxai_bench.guard.run_explainer`
    (the contract's checks of the model, global state, input and result), for the calls a
    metric makes (model randomisation explains its randomised copies). ``keeper`` is used for
    calls on its model; a call on another model (a randomised copy) takes its own. A call made
    inside a guarded explainer call (the runtime metric times its repeats in one) is covered by
    that call's guard and runs bare, so the timing holds no guard. Its ``with_params`` variants
    are guarded alike. Raises :class:`~audioxai_bench.guard.ExplainerError`."""

    def __init__(self, explainer: Any, plugin: str, keeper: ModelKeeper | None = None,
                 default_limit_s: float | None = None):
        super().__init__(explainer, plugin, default_limit_s)
        self._keeper = keeper

    def explain(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        if explaining_depth():
            return self._obj.explain(model, x, target)
        keeper = self._keeper if self._keeper is not None and self._keeper.model is model else None
        return run_explainer(self._obj, model, x, target, plugin=self._plugin, keeper=keeper,
                             time_limit_s=self._limit("explainer"))

    def __getattr__(self, attr: str) -> Any:
        value = super().__getattr__(attr)
        if attr == "with_params" and callable(value):
            def with_params(**params: Any) -> GuardedExplainer:
                return GuardedExplainer(value(**params), self._plugin, self._keeper,
                                        self._default_limit)
            return with_params
        return value
