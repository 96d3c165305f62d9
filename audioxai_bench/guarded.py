"""Plugin objects as a metric receives them, their calls guarded as their own.

A metric calls the sonifier it is handed in its :class:`~audioxai_bench.api.metric.EvalBatch`
(sonification metrics) inside its own guarded call: whatever the sonifier did wrong there was
reported as the metric's fault, naming the metric's plugin (probe 6 #4). The wrapper here runs
each such call under the guard (:func:`~audioxai_bench.guard.guarded_call`) as the sonifier's
own, so its failure names it and its plugin. Every other attribute, and the ``repr`` (shared
memo keys hold a sonifier by its repr), are the wrapped object's.
"""

from __future__ import annotations

import time
from typing import Any

from torch import Tensor

from audioxai_bench.api.sonifier import sound_problem
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.guard import (
    PluginCallError,
    guarded_call,
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
