"""The plugin manager: finds plugins, validates what they register, configures variants.

Built-in plugin modules (:data:`audioxai_bench.builtin.BUILTIN_PLUGINS`) are registered first,
then every entry point of the group ``audioxai_bench``, then one-file plugins and modules named
by ``--plugin``, a definition's ``plugins:`` or ``AUDIOXAI_BENCH_PLUGINS``
(:meth:`PluginManager.register_path`: try a method in one file, package it later), each through
the same hooks (:mod:`audioxai_bench.api.hookspecs`). Each plugin's hooks are called one by one,
so a plugin that fails to import, implements an unknown hook, raises or returns a broken object
is recorded in :attr:`PluginManager.failures` with its name and the reason, and the others still
load. A plugin is loaded whole or not at all: one that failed registers nothing, so a run never
mixes the working half of a broken plugin into its results. Objects land in typed registries
(:class:`Registry`) that refuse an unknown name with the list of valid ones.

:meth:`PluginManager.explain` calls an explainer under its contract
(:func:`audioxai_bench.guard.run_explainer`).

Nothing is loaded at import time: call :func:`load_plugins` (or build a :class:`PluginManager`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import pluggy
from torch import Tensor, nn

from audioxai_bench import __version__
from audioxai_bench.api import hookspecs
from audioxai_bench.api.explainer import REPRESENTATIONS, coerce_param
from audioxai_bench.api.metric import RESERVED_METRICS
from audioxai_bench.api.sonifier import RESERVED_SONIFIERS
from audioxai_bench.builtin import BUILTIN_PLUGINS
from audioxai_bench.errors import AudioXaiError, did_you_mean, one_line, traceback_text

# ExplainerError and run_explainer lived here in 0.1; kept importable from here for one release
from audioxai_bench.guard import ExplainerError, run_explainer  # noqa: F401

#: Entry-point group (and pluggy project name) of outside plugins.
GROUP = hookspecs.PROJECT
#: Comma-separated plugin names to block, read by :func:`load_plugins`.
BLOCK_ENV = "AUDIOXAI_BENCH_BLOCK_PLUGINS"
#: ``.py`` files or module names to load as plugins, comma- or ``os.pathsep``-separated, read
#: by :func:`load_plugins`.
PLUGINS_ENV = "AUDIOXAI_BENCH_PLUGINS"
#: Registry kinds, in listing order, and the hook that collects each.
HOOKS: dict[str, str] = {
    "explainer": "audioxai_bench_explainers",
    "sonifier": "audioxai_bench_sonifiers",
    "metric": "audioxai_bench_metrics",
    "model": "audioxai_bench_models",
}
_NAME = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_MODULE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Source:
    """Who registered an object: ``plugin`` (distribution name, ``"builtin"``, a one-file
    plugin's file stem or a module name), its ``version``, and ``origin`` (``"builtin"``,
    ``"entry point"``, ``"file <path>"``, ``"module <name>"``, ``"registered"`` or
    ``"variant of <name>"``). A one-file plugin's version ends in ``sha256.<digest>`` of its
    file, and a module's that no installed distribution provides in ``+sha256.<digest>`` of
    its source files, so an edit shows in every record it scores."""

    plugin: str
    version: str | None
    origin: str

    def __str__(self) -> str:
        return self.plugin if self.version is None else f"{self.plugin} {self.version}"


@dataclasses.dataclass(frozen=True)
class Registration:
    """One registered object with its kind, name and :class:`Source`."""

    kind: str
    name: str
    obj: Any
    source: Source


@dataclasses.dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be used (nothing of it is registered), where and why;
    ``traceback`` is the formatted exception when the plugin raised (shown with ``--debug``);
    ``origin`` is the plugin's (:class:`Source`), so a failure of a plugin the user named by
    file or module can stop a run."""

    plugin: str
    version: str | None
    where: str
    reason: str
    traceback: str | None = dataclasses.field(default=None, compare=False, repr=False)
    origin: str = dataclasses.field(default="", compare=False, repr=False)

    def __str__(self) -> str:
        who = self.plugin if self.version is None else f"{self.plugin} {self.version}"
        return f"plugin {who}: {self.where}: {self.reason}"


class Registry(Generic[T]):
    """Objects of one kind by name; an unknown name fails with the list of valid names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Registration] = {}

    def get(self, name: str) -> T:
        """The object registered as ``name``."""
        return self.registration(name).obj

    def registration(self, name: str) -> Registration:
        """The object registered as ``name`` with its kind and source."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise AudioXaiError(unknown_name(self.kind, name, self.names())) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def registrations(self) -> list[Registration]:
        """Every registration, sorted by name."""
        return [self._items[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return (reg.obj for reg in self.registrations())

    def __len__(self) -> int:
        return len(self._items)

    def _add(self, reg: Registration) -> None:
        clash = self._clash(reg)
        if clash:
            raise _Invalid(clash)
        self._items[reg.name] = reg

    def _clash(self, reg: Registration) -> str:
        """Why ``reg`` cannot join (its name is taken), or ``""``; checked before a plugin's
        objects are added, so a plugin with a clash adds none."""
        old = self._items.get(reg.name)
        if old is None:
            return ""
        return f"{self.kind} {reg.name!r} is registered by both {old.source} and {reg.source}"




def unknown_name(kind: str, name: object, valid: list[str]) -> str:
    """Why ``name`` is not a registered ``kind``, in one line: the valid names, and the closest
    one when there is one (a typo), else the ways to load a plugin (a name nothing resembles
    is most often a plugin that was not loaded)."""
    hint = did_you_mean(name, valid, cutoff=0.7)
    text = f"unknown {kind} {name!r}{hint}; valid names: {', '.join(valid) or '(none registered)'}"
    if hint:
        return text
    return f"{text}; is its plugin loaded? (--plugin, plugins: in the definition, or install it)"


#: Names each kind may not take, and what holds them.
RESERVED: dict[str, dict[str, str]] = {"metric": RESERVED_METRICS,
                                       "sonifier": RESERVED_SONIFIERS}


def reserved_name(kind: str, name: str) -> str | None:
    """Why a ``kind`` may not be called ``name`` (one of :data:`RESERVED`), or None."""
    held = RESERVED.get(kind, {}).get(name)
    if held is None:
        return None
    return (f"{kind} name {name!r} is reserved for {held}: a {kind} so named would be read "
            f"as it; rename the {kind}")


class _Invalid(Exception):
    """An object breaks the registration contract (internal; becomes a PluginFailure)."""


def validate(kind: str, obj: Any) -> str:
    """Check ``obj`` against the contract of ``kind``; return its name or raise ``ValueError``.

    Every object has a lower-case ``name`` (letters, digits, dashes, underscores). Explainers
    declare ``representations`` within ``{"waveform", "spectrogram"}`` and a callable
    ``explain``; sonifiers a callable ``sonify``; metrics ``higher_is_better`` (a bool) and a
    callable ``score``; models a ``representation``, an ``input_shape`` and a callable ``build``.
    """
    if isinstance(obj, type):  # its name may be a dataclass field: no class attribute
        raise ValueError(f"{kind}: returned the class {obj.__name__}; return an instance, "
                         f"e.g. {obj.__name__}(name=...)")
    name = getattr(obj, "name", None)
    if not isinstance(name, str):
        raise ValueError(f"{kind} {type(obj).__name__} has no string attribute 'name'")
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{kind} name {name!r} must be lower-case letters and digits joined by - or _"
        )
    if reserved := reserved_name(kind, name):
        raise ValueError(reserved)

    def need_callable(attr: str) -> None:
        if not callable(getattr(obj, attr, None)):
            raise ValueError(f"{kind} {name!r} has no callable {attr!r}")

    if kind == "explainer":
        reps = getattr(obj, "representations", None)
        if isinstance(reps, str) or not isinstance(reps, Iterable):
            raise ValueError(
                f"explainer {name!r}: representations must be a set of strings, got {reps!r}"
            )
        reps = set(reps)
        if not reps or not reps <= REPRESENTATIONS:
            raise ValueError(
                f"explainer {name!r}: representations {sorted(reps)} must be a non-empty subset "
                f"of {sorted(REPRESENTATIONS)}"
            )
        need_callable("explain")
    elif kind == "sonifier":
        need_callable("sonify")
    elif kind == "metric":
        if not isinstance(getattr(obj, "higher_is_better", None), bool):
            raise ValueError(f"metric {name!r} must declare higher_is_better as True or False")
        need_callable("score")
    elif kind == "model":
        if getattr(obj, "representation", None) not in REPRESENTATIONS:
            raise ValueError(
                f"model {name!r}: representation must be one of {sorted(REPRESENTATIONS)}"
            )
        shape = getattr(obj, "input_shape", None)
        if not (isinstance(shape, tuple) and shape and all(isinstance(n, int) for n in shape)):
            raise ValueError(f"model {name!r}: input_shape must be a tuple of ints")
        need_callable("build")
    else:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(HOOKS)}")
    return name


#: Attributes that name or describe a plugin object rather than change what it computes: never
#: among its parameters (records, hashes).
NOT_PARAMETERS = frozenset({"name", "display_name", "representations", "needs", "memo",
                            "higher_is_better"})


def parameters_of(obj: Any) -> dict[str, Any]:
    """An object's parameters, for records and hashes: its ``params`` dict if it has one,
    else its dataclass fields other than names and bookkeeping."""
    params = getattr(obj, "params", None)
    if isinstance(params, dict):
        return dict(params)
    if dataclasses.is_dataclass(obj):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)
                if f.name not in NOT_PARAMETERS and f.compare}
    return {}


def configured_parameters(obj: Any, asked: Mapping[str, Any]) -> dict[str, Any]:
    """What records and hashes hold for ``obj`` made with the parameters ``asked`` (a benchmark
    YAML's): :func:`parameters_of`, then every asked parameter it does not show, at the value
    asked. An object with ``with_params`` but no ``params`` dict shows none, and a ``params``
    that leaves a field out shows fewer: without the asked values the hashes would not change
    with them, and a run would take an edited cell's old numbers from the caches, or
    ``--resume`` would count it done (probe 6 #1). Objects that show every asked parameter,
    every built-in, keep their records and hashes."""
    held = parameters_of(obj)
    return held | {key: value for key, value in asked.items()
                   if key not in held and key not in NOT_PARAMETERS}


def representations_of(obj: Any) -> list[str]:
    """What an object declares it works on, sorted (empty for sonifiers and metrics)."""
    if hasattr(obj, "representations"):
        return sorted(obj.representations)
    if hasattr(obj, "representation"):
        return [obj.representation]
    return []


class PluginManager:
    """Loads built-in and installed plugins and holds what they register.

    Parameters
    ----------
    block : iterable of str
        Plugin names to skip: an entry-point name, a distribution name, or ``builtin.<module>``.
    entrypoints : bool
        Load installed plugins of the group ``audioxai_bench``.
    builtins : bool
        Register the built-in plugin modules.
    strict : bool
        Raise :class:`AudioXaiError` at the first plugin failure instead of recording it
        (for plugin authors' tests).

    A plugin with any failure (an unknown hook, a hook that raises, a broken or clashing
    object) registers nothing: all of a plugin is loaded or none of it.

    Attributes
    ----------
    explainers, sonifiers, metrics, models : Registry
        The objects of each kind, by name.
    failures : list of PluginFailure
        Plugins that were skipped (nothing of them registered), with the reasons.
    extra : dict of str to str
        What :meth:`register_path` was given (a file's absolute path or a module name) → the
        plugin name it registers under.
    hooks : pluggy.PluginManager
        The underlying pluggy manager.
    """

    def __init__(
        self,
        *,
        block: Iterable[str] = (),
        entrypoints: bool = True,
        builtins: bool = True,
        strict: bool = False,
    ):
        self.hooks = pluggy.PluginManager(GROUP)
        self.hooks.add_hookspecs(hookspecs)
        self.strict = strict
        self.explainers: Registry[Any] = Registry("explainer")
        self.sonifiers: Registry[Any] = Registry("sonifier")
        self.metrics: Registry[Any] = Registry("metric")
        self.models: Registry[Any] = Registry("model")
        self.failures: list[PluginFailure] = []
        self.extra: dict[str, str] = {}
        self._options = {"block": list(block), "entrypoints": entrypoints,
                         "builtins": builtins, "strict": strict}
        self._sources: dict[str, Source] = {}
        self._named: set[str] = set()  # every plugin name met, loaded or not (see blockable)
        for name in block:
            self.hooks.set_blocked(name)
        if builtins:
            for module_name in BUILTIN_PLUGINS:
                name = "builtin." + module_name.rsplit(".", 1)[-1]
                if not self.hooks.is_blocked(name):
                    module = importlib.import_module(module_name)
                    self.register(module, name, Source("builtin", __version__, "builtin"))
        if entrypoints:
            self._load_entrypoints()

    def recipe(self) -> dict[str, Any]:
        """How to load the same plugins in another process (a Ray worker; see
        :func:`replicate_plugins`): the options and every file or module registered by path."""
        return {**self._options, "extra": list(self.extra)}

    def registry(self, kind: str) -> Registry[Any]:
        """The registry of ``kind`` (``"explainer"``, ``"sonifier"``, ``"metric"``, ``"model"``)."""
        registries = {
            "explainer": self.explainers,
            "sonifier": self.sonifiers,
            "metric": self.metrics,
            "model": self.models,
        }
        try:
            return registries[kind]
        except KeyError:
            raise AudioXaiError(f"unknown kind {kind!r}; valid: {', '.join(HOOKS)}") from None

    def register(
        self, plugin: object, name: str | None = None, source: Source | None = None
    ) -> None:
        """Register ``plugin`` (a module or object with hook functions) and collect its objects.

        ``source`` defaults to the plugin's name and ``__version__`` with origin
        ``"registered"``. Failures are recorded (or raised when ``strict``); a plugin with any
        failure is unregistered and adds no object, so a plugin reported failed contributes
        nothing (not even its correctly spelt hooks).
        """
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        source = source or Source(name, getattr(plugin, "__version__", None), "registered")
        self._named.add(name)
        try:
            registered = self.hooks.register(plugin, name)
        except Exception as exc:  # pluggy's PluginValidationError, or a name already taken
            self._fail(source, "register", one_line(exc))
            return
        if registered is None:  # blocked
            return
        found, problems = self._gather(plugin, source)
        if problems:
            self.hooks.unregister(plugin)
            for where, reason, exc in problems:
                self._fail(source, where, reason, exc)
            return
        self._sources[registered] = source
        for reg in found:
            self.registry(reg.kind)._add(reg)

    def _gather(self, plugin: object, source: Source
                ) -> tuple[list[Registration], list[tuple[str, str, BaseException | None]]]:
        """What ``plugin``'s hooks return, validated but not registered yet, and every problem
        as ``(where, reason, exception)``: all of them are reported, and a plugin with one
        is left out whole."""
        problems: list[tuple[str, str, BaseException | None]] = [
            (caller.name, "implements an unknown hook"
                 + (did_you_mean(caller.name, HOOKS.values()) or " (a typo?)"), None)
            for caller in self.hooks.get_hookcallers(plugin) or [] if not caller.has_spec()]
        found: list[Registration] = []
        for kind, hook_name in HOOKS.items():
            caller = getattr(self.hooks.hook, hook_name)
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    self._collect(kind, hook_name, impl.function, source, found, problems)
        return found, problems

    def _collect(self, kind: str, hook_name: str, function: Any, source: Source,
                 found: list[Registration],
                 problems: list[tuple[str, str, BaseException | None]]) -> None:
        """Call one hook; append its valid objects to ``found`` and what is wrong to
        ``problems`` (a name taken by another plugin or twice by this one included)."""
        try:
            objects = function()
        except Exception as exc:
            problems.append((hook_name, f"raised {one_line(exc)}", exc))
            return
        if objects is None:
            return
        if not isinstance(objects, (list, tuple)):
            problems.append((hook_name, f"returned {type(objects).__name__}, not a list", None))
            return
        for obj in objects:
            try:
                reg = Registration(kind, validate(kind, obj), obj, source)
            except ValueError as exc:
                problems.append((hook_name, str(exc), None))
                continue
            clash = self.registry(kind)._clash(reg)
            if clash:  # the whole plugin is left out: say so, and what fixes it
                problems.append((hook_name, f"{clash}; so nothing of {source.plugin} is loaded, "
                                            f"its other objects neither: rename its {kind}",
                                 None))
            elif any((r.kind, r.name) == (kind, reg.name) for r in found):
                problems.append((hook_name, f"{kind} {reg.name!r} is registered twice by "
                                            f"{source}", None))
            else:
                found.append(reg)

    def _fail(self, source: Source, where: str, reason: str,
              exc: BaseException | None = None) -> None:
        trace = traceback_text(exc) if exc is not None else None
        failure = PluginFailure(source.plugin, source.version, where, reason, trace,
                                source.origin)
        if self.strict:
            raise AudioXaiError(str(failure))
        self.failures.append(failure)

    def _load_entrypoints(self) -> None:
        # Like pluggy's load_setuptools_entrypoints, but one plugin that fails to import is
        # recorded instead of stopping the others from loading.
        tried: dict[str, Source] = {}  # entry-point name -> the first plugin that claimed it
        for dist, dist_name, ep in _installed_entry_points():
            if self.hooks.is_blocked(ep.name) or self.hooks.is_blocked(dist_name):
                continue
            source = Source(dist_name, dist.version, "entry point")
            taken = self._sources.get(ep.name) or tried.get(ep.name)
            if taken is not None:
                if taken.plugin != dist_name:  # else: the same dist seen twice on sys.path
                    self._fail(source, f"entry point {ep.name}",
                               f"the plugin name {ep.name!r} is already used by {taken}")
                continue
            tried[ep.name] = source
            try:
                plugin = ep.load()
            except Exception as exc:
                self._fail(source, f"entry point {ep.name} = {ep.value}", one_line(exc), exc)
                continue
            self.register(plugin, ep.name, source)

    def register_path(self, spec: str | os.PathLike[str]) -> str | None:
        """Register a one-file plugin (a ``.py`` path) or an importable module by name.

        The file is imported under a unique module name and registered under its stem (block it
        by that name) with origin ``"file <absolute path>"``; a module under its dotted name with
        origin ``"module <name>"``; the version of each (a module's when no installed
        distribution provides it) ends in a digest of its source (:class:`Source`). A file or
        module given twice is registered once, and a module that is registered already (an
        installed plugin loaded through its entry point) is not registered again: its
        registered name is returned. A missing
        file, an import error, a name already taken or a plugin without any hook is a one-line
        failure naming the file (recorded, or raised when ``strict``). Returns the plugin name,
        or ``None`` when it failed or is blocked.
        """
        text = os.fspath(spec)
        if isinstance(spec, os.PathLike) or is_plugin_file(text):
            return self._register_file(Path(text))
        return self._register_module(text)

    def _register_file(self, path: Path) -> str | None:
        path = path.expanduser().resolve()
        key = str(path)
        if key in self.extra:
            return self.extra[key]
        name, where = path.stem, f"file {path}"
        source = Source(name, None, where)
        self._named.add(name)
        if self.hooks.is_blocked(name):
            return None
        if not path.is_file():
            self._fail(source, where, "no such file" if not path.exists() else "not a file")
            return None
        taken = self._sources.get(name)
        if taken is not None:
            self._fail(source, where, f"the plugin name {name!r} is already used by {taken} "
                                      f"({taken.origin}); rename the file")
            return None
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:12]
        module_name = "audioxai_bench_file_plugin_{}_{}".format(
            re.sub(r"\W", "_", name), hashlib.sha256(key.encode()).hexdigest()[:8])
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            self._fail(source, where, "cannot be imported as a Python module (not a .py file?)")
            return None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module  # dataclasses and pickling look modules up here
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            self._fail(source, where, f"import failed: {one_line(exc)}", exc)
            return None
        version = _with_digest(getattr(module, "__version__", None), digest)
        return self._register_extra(key, module, name, Source(name, version, where))

    def _register_module(self, name: str) -> str | None:
        if name in self.extra:
            return self.extra[name]
        where = f"module {name}"
        source = Source(name, None, where)
        self._named.add(name)
        if self.hooks.is_blocked(name):
            return None
        if not _MODULE.fullmatch(name):
            self._fail(source, where, "is neither a .py file nor a module name")
            return None
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            self._fail(source, where, f"import failed: {one_line(exc)}", exc)
            return None
        registered = self.hooks.get_name(module)
        if registered is not None:  # loaded already, e.g. through its entry point: that plugin
            self.extra[name] = registered
            return registered
        version = getattr(module, "__version__", None)
        digest = None if _installed(name) else _source_digest(module)
        if digest:  # code on the path, edited in place: its records must tell the edit apart
            version = _with_digest(version, digest)
        return self._register_extra(name, module, name, Source(name, version, where))

    def _register_extra(self, key: str, module: Any, name: str, source: Source) -> str | None:
        failed = len(self.failures)
        self.register(module, name, source)
        if self.hooks.get_plugin(name) is not module:
            if len(self.failures) == failed:  # not recorded yet (strict mode raised already)
                self._fail(source, source.origin, "could not be registered")
            return None
        self.extra[key] = name
        if not self.hooks.get_hookcallers(module):
            self._fail(source, source.origin, "implements no hook: mark functions named after "
                                              "the hooks with @audioxai_bench.hookimpl")
        return name

    def blockable(self) -> list[str]:
        """Every name a block list can match, sorted: the built-in modules'
        (``builtin.<module>``), each installed plugin's entry-point and distribution name
        (loaded or not) and every other plugin this manager met (files, modules)."""
        names = {"builtin." + module.rsplit(".", 1)[-1] for module in BUILTIN_PLUGINS}
        for _, dist_name, ep in _installed_entry_points():
            names.update((ep.name, dist_name))
        return sorted(names | self._named)

    def check_block(self, names: Iterable[str], where: str) -> None:
        """Refuse block-list entries that match no plugin, in one line naming ``where`` the
        list came from and the known names: a misspelt entry blocks nothing, and the user
        would believe a plugin is off while it runs."""
        names = list(names)
        known = self.blockable() if names else []
        unknown = [name for name in names if name not in known]
        if unknown:
            named = ", ".join(repr(name) + did_you_mean(name, known) for name in unknown)
            raise AudioXaiError(f"{where}: {named} "
                                f"match{'es' if len(unknown) == 1 else ''} no plugin; known "
                                f"plugins: {', '.join(known)}")

    def configured(self, kind: str, base: str, name: str, params: Mapping[str, Any]) -> Any:
        """The ``kind`` registered as ``base``, renamed ``name`` with ``params`` replaced, not
        registered (a benchmark YAML's variant, or other parameters under the same name).

        Through the object's ``with_params(name=..., **params)`` when it has one, else as a
        dataclass (``dataclasses.replace``, each value converted to its field's type by
        :func:`~audioxai_bench.api.explainer.coerce_param`, so ``percent: five`` stops here, not
        every cell with a ``TypeError``). Errors (unknown base or parameter, a broken result)
        are one-line :class:`AudioXaiError` messages naming the object and its plugin.
        """
        reg = self.registry(kind).registration(base)
        obj, params = reg.obj, dict(params)
        try:
            if callable(getattr(obj, "with_params", None)):
                variant = obj.with_params(name=name, **params)
            elif dataclasses.is_dataclass(obj):
                unknown = sorted(set(params) - {f.name for f in dataclasses.fields(obj)})
                valid = sorted(parameters_of(obj))
                if unknown and not valid:
                    raise AudioXaiError(f"has no parameter {unknown[0]!r}: it takes no parameters")
                if unknown:
                    raise AudioXaiError(f"has no parameter {unknown[0]!r}; valid: "
                                        f"{', '.join(valid)}")
                types = {f.name: str(f.type) for f in dataclasses.fields(obj)}
                params = {k: _coerce(kind, base, k, getattr(obj, k), v, types[k])
                          for k, v in params.items()}
                variant = dataclasses.replace(obj, name=name, **params)
            else:
                raise AudioXaiError("takes no parameters: it has no with_params() method and "
                                    "is not a dataclass")
            validate(kind, variant)
        except Exception as exc:
            text = one_line(exc) if not isinstance(exc, AudioXaiError) else str(exc)
            own = f"{kind} {base!r}: "
            if text.startswith(own):  # the object's own message: add its plugin
                text = text[len(own):]
            elif text.startswith(f"{kind} "):
                raise AudioXaiError(text) from None
            raise AudioXaiError(f"{kind} {base!r} (plugin {reg.source}): {text}") from None
        if variant.name != name:
            raise AudioXaiError(f"{kind} {base!r}: with_params ignored name={name!r}")
        for key, value in params.items():  # a value the variant shows must be the one asked
            held = getattr(variant, key, value)
            if not _same_value(held, value):
                raise AudioXaiError(f"{kind} {base!r} (plugin {reg.source}): with_params "
                                    f"ignored {key}={value!r} (the variant holds {held!r})")
        return variant

    def make_variant(self, base: str, name: str, params: Mapping[str, Any]) -> Any:
        """Register explainer ``name``: explainer ``base`` with ``params`` replaced (see
        :meth:`configured`); the variant is credited to the base's plugin."""
        variant = self.configured("explainer", base, name, params)
        reg = self.explainers.registration(base)
        source = Source(reg.source.plugin, reg.source.version, f"variant of {base}")
        if name in self.explainers:
            raise AudioXaiError(f"explainer {name!r} is already registered by "
                                f"{self.source('explainer', name)}; a variant needs a new name")
        self.explainers._add(Registration("explainer", name, variant, source))
        return variant

    def source(self, kind: str, name: str) -> Source:
        """Which plugin registered the ``kind`` called ``name`` (for result records)."""
        return self.registry(kind).registration(name).source

    def describe(self) -> list[dict[str, str]]:
        """One row per registered object, for ``audioxai-bench plugins``.

        Keys, in order: ``kind``, ``name``, ``plugin``, ``version``, ``origin``,
        ``representations`` (comma-separated, empty where it does not apply). Sorted by kind
        (explainer, sonifier, metric, model), then name. Failures are in :attr:`failures`.
        """
        rows = []
        for kind in HOOKS:
            for reg in self.registry(kind).registrations():
                rows.append(
                    {
                        "kind": kind,
                        "name": reg.name,
                        "plugin": reg.source.plugin,
                        "version": reg.source.version or "",
                        "origin": reg.source.origin,
                        "representations": ",".join(representations_of(reg.obj)),
                    }
                )
        return rows

    def describe_plugins(self) -> list[dict[str, str]]:
        """One row per loaded plugin (datasette-style): ``name`` (the blockable plugin name),
        ``plugin`` (distribution or ``"builtin"``), ``version``, ``origin`` and ``hooks`` (the
        hooks it implements, comma-separated). Sorted by name."""
        rows = []
        for name, source in sorted(self._sources.items()):
            plugin = self.hooks.get_plugin(name)
            hooks = sorted(c.name for c in self.hooks.get_hookcallers(plugin) or [])
            rows.append({"name": name, "plugin": source.plugin, "version": source.version or "",
                         "origin": source.origin, "hooks": ",".join(hooks)})
        return rows

    def explain(
        self,
        name: str,
        model: nn.Module,
        x: Tensor,
        target: Tensor,
        *,
        time_limit_s: float | None = None,
    ) -> Tensor:
        """Relevance of explainer ``name`` for ``x``, checked by :func:`run_explainer`.

        Fails with :class:`AudioXaiError` when the explainer does not declare the model's
        ``representation``, and with :class:`ExplainerError` when it breaks the contract.
        """
        reg = self.explainers.registration(name)
        rep = getattr(model, "representation", None)
        if rep is not None and rep not in set(reg.obj.representations):
            raise AudioXaiError(
                f"explainer {name!r} (plugin {reg.source}) does not support {rep} models; it "
                f"declares {', '.join(representations_of(reg.obj))}"
            )
        return run_explainer(
            reg.obj, model, x, target, time_limit_s=time_limit_s, plugin=str(reg.source)
        )


def _installed_entry_points() -> Iterator[tuple[importlib.metadata.Distribution, str,
                                                importlib.metadata.EntryPoint]]:
    """``(distribution, its name, entry point)`` for every installed entry point of the group
    (for loading, and for the names a block list may use)."""
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"] or "?"
        for ep in dist.entry_points:
            if ep.group == GROUP:
                yield dist, dist_name, ep


def _installed(module_name: str) -> bool:
    """Whether an installed distribution provides the top-level package of ``module_name``
    (its version then says which code it is)."""
    top = module_name.split(".")[0]
    return top in importlib.metadata.packages_distributions()


def _with_digest(version: str | None, digest: str) -> str:
    """A plugin's version with the digest of its source: ``0.1+sha256.<digest>``, or
    ``sha256.<digest>`` where it declares none."""
    return f"{version}+sha256.{digest}" if version else f"sha256.{digest}"


def _source_digest(module: Any) -> str | None:
    """The first 12 hex digits of the SHA-256 of a module's source, as a one-file plugin's:
    its file, or every ``.py`` file of its package (relative names and contents); ``None``
    when it has no source file."""
    folders = list(getattr(module, "__path__", ()))
    if folders:
        files = sorted((path.relative_to(folder).as_posix(), path) for folder in folders
                       for path in Path(folder).rglob("*.py"))
    else:
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py"):
            return None
        files = [(Path(file).name, Path(file))]
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def is_plugin_file(spec: str) -> bool:
    """Whether a plugin spec names a file (ends in ``.py`` or has a path separator) rather
    than a module."""
    return spec.endswith(".py") or "/" in spec or os.sep in spec or bool(
        os.altsep and os.altsep in spec)


def split_plugin_list(text: str) -> list[str]:
    """The specs of :data:`PLUGINS_ENV`: comma- or ``os.pathsep``-separated, blanks dropped."""
    return [p.strip() for p in re.split(f"[,{re.escape(os.pathsep)}]", text) if p.strip()]


def plugin_paths_from_definition(raw: Any, definition_file: str | os.PathLike[str] | None
                                 ) -> tuple[str, ...]:
    """The ``plugins:`` key of a benchmark definition as :meth:`PluginManager.register_path`
    specs: relative ``.py`` paths resolved against the definition's folder (the current folder
    when ``definition_file`` is ``None``), module names as they are.

    Anything but a list of non-empty strings is a one-line :class:`AudioXaiError` naming the
    file and the key.
    """
    where = f"{definition_file}: plugins" if definition_file is not None else "plugins"
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        raise AudioXaiError(f"{where}: must be a list of .py files or module names, got "
                            f"{type(raw).__name__} {raw!r}")
    folder = Path(definition_file).parent if definition_file is not None else Path()
    specs = []
    for i, item in enumerate(raw):
        if not isinstance(item, str) or not item.strip():
            raise AudioXaiError(f"{where}[{i}]: must be a .py file or a module name, got "
                                f"{item!r}")
        item = item.strip()
        if is_plugin_file(item):
            path = Path(item).expanduser()
            specs.append(str(path if path.is_absolute() else folder / path))
        elif _MODULE.fullmatch(item):
            specs.append(item)
        else:
            raise AudioXaiError(f"{where}[{i}]: {item!r} is neither a .py file nor a module "
                                "name")
    return tuple(specs)


def replicate_plugins(recipe: dict[str, Any]) -> PluginManager:
    """The plugins :meth:`PluginManager.recipe` describes, loaded in this process; installed
    plugins come from this process's environment, which must match the first one's."""
    options = dict(recipe)
    extra = options.pop("extra")
    pm = PluginManager(**options)
    for spec in extra:
        pm.register_path(spec)
    return pm


def load_plugins(
    *, block: Iterable[str] = (), entrypoints: bool = True, strict: bool = False,
    extra: Iterable[str | os.PathLike[str]] = (),
) -> PluginManager:
    """A :class:`PluginManager` with the built-ins, every installed plugin, and the one-file
    plugins or modules in the environment variable ``AUDIOXAI_BENCH_PLUGINS`` and in ``extra``
    (see :meth:`PluginManager.register_path`).

    Plugins named in ``block`` or in the environment variable ``AUDIOXAI_BENCH_BLOCK_PLUGINS``
    (comma-separated) are skipped; a name there that matches no plugin is a one-line
    :class:`AudioXaiError` naming it and the known names (:meth:`PluginManager.check_block`).
    """
    block = list(block)
    blocked = [n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()]
    pm = PluginManager(block=[*block, *blocked], entrypoints=entrypoints, strict=strict)
    for spec in [*split_plugin_list(os.environ.get(PLUGINS_ENV, "")), *extra]:
        pm.register_path(spec)
    pm.check_block(blocked, BLOCK_ENV)
    pm.check_block(block, "block")
    return pm


def _coerce(kind: str, owner: str, key: str, current: Any, value: Any, annotation: str) -> Any:
    """A dataclass field's YAML value in the field's type (:func:`coerce_param`) where the
    field holds a number, a string, a bool, a tuple or ``None``; other types as given."""
    if current is None or isinstance(current, (bool, int, float, str, tuple)):
        return coerce_param(owner, key, current, value, kind=kind, annotation=annotation)
    return value


def _same_value(held: Any, asked: Any) -> bool:
    """Whether a variant's field holds the parameter value asked for (a YAML list asked for
    a tuple field, or a number written as text, ``"1e-6"``, counts as the same)."""
    if isinstance(held, (list, tuple)) and isinstance(asked, (list, tuple)):
        return len(held) == len(asked) and all(map(_same_value, held, asked))
    if isinstance(held, (int, float)) and isinstance(asked, str):
        try:
            return float(asked) == held
        except ValueError:
            return False
    try:
        return bool(held == asked)
    except Exception:  # an object that cannot be compared (an array, say): not checked
        return True
