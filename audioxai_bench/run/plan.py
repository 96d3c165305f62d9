"""Which plugin objects a benchmark uses: every name of a definition resolved and configured.

Resolution happens before any work, so an unknown explainer, metric, sonifier or model, or an
unknown parameter, stops a run at once with the valid choices.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..api.explainer import REPRESENTATIONS
from ..errors import AudioXaiError
from ..plugins import (
    PluginManager,
    Source,
    configured_parameters,
    parameters_of,
    reserved_name,
    unknown_name,
)
from .definition import Benchmark, Selection


@dataclasses.dataclass(frozen=True)
class Plugged:
    """A plugin object as a run uses it: configured with the benchmark's parameters."""

    name: str
    obj: Any
    source: Source
    params: dict[str, Any]
    #: the registered object a variant configures (``base`` of a selection), None for one
    #: used under its own name
    base: str | None = None

    def provenance(self) -> dict[str, Any]:
        """Who made the object, as records and the relevance key state it; a variant names its
        base: variants of two objects with the same parameters (``{name: x, base: gradient}``
        and ``{name: x, base: amplitude}``) are other methods, not one cached value."""
        return {"name": self.name, "plugin": self.source.plugin, "version": self.source.version,
                **({"base": self.base} if self.base is not None else {})}


def _plug(pm: PluginManager, kind: str, selections: tuple[Selection, ...] | None,
          source: str) -> list[Plugged]:
    registry = pm.registry(kind)
    chosen: dict[str, Plugged] = {}
    if selections is None or (selections and selections[0].base == "all"):
        for reg in registry.registrations():
            chosen[reg.name] = Plugged(reg.name, reg.obj, reg.source, parameters_of(reg.obj))
        selections = selections[1:] if selections else ()
    for sel in selections:
        variant = sel.name != sel.base
        if reserved := reserved_name(kind, sel.name):
            raise AudioXaiError(f"{_at(source, sel.at, '.name')}: {reserved}")
        if sel.base not in registry:
            raise AudioXaiError(f"{_at(source, sel.at, '.base' if variant else '')}: "
                                f"{unknown_name(kind, sel.base, registry.names())}")
        if variant and sel.name in registry:
            raise AudioXaiError(f"{_at(source, sel.at, '.name')}: {sel.name!r} is already the "
                                f"name of a registered {kind}; a variant needs a new name")
        reg = registry.registration(sel.base)
        obj = reg.obj
        if sel.params or variant:
            try:
                obj = pm.configured(kind, sel.base, sel.name, sel.params)
            except AudioXaiError as exc:
                where = _at(source, sel.at, ".params" if sel.params else "")
                raise AudioXaiError(f"{where}: {exc}") from None
        chosen[sel.name] = Plugged(sel.name, obj, reg.source,
                                   configured_parameters(obj, sel.params),
                                   sel.base if variant else None)
    return list(chosen.values())


def _at(source: str, key: str, field: str) -> str:
    """``file: explainers[2].name`` (just the file for a selection made outside a file)."""
    return f"{source}: {key}{field}" if key else source


@dataclasses.dataclass
class Plan:
    explainers: list[Plugged]
    metrics: list[Plugged]
    sonifiers: list[Plugged]
    models: dict[str, Plugged]


def plan_benchmark(bench: Benchmark, pm: PluginManager) -> Plan:
    """Resolve every name of ``bench`` against the plugins; fail before any work starts."""
    models = {}
    for choice in bench.models:
        if choice.name not in pm.models:
            raise AudioXaiError(f"{_at(bench.source, choice.at, '')}: "
                                f"{unknown_name('model', choice.name, pm.models.names())}")
        reg = pm.models.registration(choice.name)
        models[choice.name] = Plugged(choice.name, reg.obj, reg.source, {})
    return Plan(_plug(pm, "explainer", bench.explainers, bench.source),
                _plug(pm, "metric", bench.metrics, bench.source),
                _plug(pm, "sonifier", bench.sonifiers, bench.source), models)


def applies(obj: Any, representation: str) -> bool:
    """Whether a plugin object declares ``representation`` (all of them when it declares none)."""
    return representation in set(getattr(obj, "representations", REPRESENTATIONS))
