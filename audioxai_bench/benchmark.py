"""Benchmark definitions: a flat, versioned YAML file, checked before any work starts.

A definition says what to run (data, tasks, models, folds, training budget, explainers, metrics,
sonifiers) and how much of it (test samples, batch sizes, seed, device). Every key is checked:
an unknown key or value is a one-line error naming the file and the key, with the valid
choices; names of explainers, metrics, sonifiers and models are checked against the plugins by
:func:`resolve`. Example (``benchmarks/quickstart.yaml`` is the default of ``audioxai-bench run``)::

    version: 1
    name: quickstart
    data: {synthetic: {speakers: 60, reps: 5}}
    tasks: [digit, sex]
    models: [{name: audionet, width: 0.25}, {name: alexnet, width: 0.125}]
    folds: [0]
    training: {preset: cpu, iterations: 300}
    explainers: [all, {name: occlusion, params: {window: 400}}]
    metrics: all
    sonifiers: all
    samples: 24
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .data.splits import n_folds
from .errors import AudioXaiError
from .models.train import TrainConfig

FORMAT_VERSION = 1
TASKS = ("digit", "sex")
DEVICES = ("auto", "cpu", "cuda")
PRESETS = ("auto", "cpu", "paper")
#: The shipped definitions, in ``benchmarks/`` of the repository and inside the package.
SHIPPED = ("quickstart", "paper-digit", "paper-sex")
#: TrainConfig fields a definition may set (device and seed come from the run).
TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig)
                     if f.name not in ("device", "seed", "num_workers"))


@dataclasses.dataclass(frozen=True)
class Selection:
    """One plugin object to use: ``name`` as registered, or a variant of ``base`` with
    ``params`` (``base`` is ``name`` itself when only parameters change)."""

    name: str
    base: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    name: str
    width: float | None = None  # None: the model spec's CPU width for the cpu preset, else 1


@dataclasses.dataclass(frozen=True)
class DataChoice:
    """Real data at ``path``, or a synthetic set (generated once and cached) when ``path`` is
    None."""

    path: Path | None = None
    speakers: int = 60
    reps: int = 50
    synth_seed: int = 0


@dataclasses.dataclass(frozen=True)
class Benchmark:
    name: str
    data: DataChoice
    tasks: tuple[str, ...]
    models: tuple[ModelChoice, ...]
    folds: Mapping[str, tuple[int, ...]]  # per task
    preset: str
    training: Mapping[str, Any]
    explainers: tuple[Selection, ...] | None  # None: every registered one
    metrics: tuple[Selection, ...] | None
    sonifiers: tuple[Selection, ...] | None
    samples: int | None = None  # test samples per task, model and fold; None: all
    batch_size: int = 16
    chunk_size: int = 256
    examples: int = 2
    seed: int = 0
    device: str = "auto"
    description: str = ""
    source: str = "<dict>"

    def with_data(self, path: Path | None) -> Benchmark:
        """The same benchmark on real data at ``path`` (``--data`` of ``audioxai-bench run``)."""
        return dataclasses.replace(self, data=dataclasses.replace(self.data, path=path))

    def settings(self) -> dict[str, Any]:
        """Everything that changes results, as plain data (hashed into every record)."""
        out = dataclasses.asdict(self)
        out.pop("description")
        out.pop("source")
        out["data"]["path"] = None if self.data.path is None else str(self.data.path)
        return out


def shipped_path(name: str) -> Path:
    """The file of a shipped definition (``quickstart``, ``paper-digit``, ``paper-sex``)."""
    if name not in SHIPPED:
        raise AudioXaiError(f"no shipped benchmark {name!r}; shipped: {', '.join(SHIPPED)}")
    return Path(__file__).with_name("definitions") / f"{name}.yaml"


def load_benchmark(path: str | Path) -> Benchmark:
    """Read and check a definition file; a bare shipped name (``quickstart``) works too."""
    path = Path(path)
    if not path.exists() and str(path) in SHIPPED:
        path = shipped_path(str(path))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AudioXaiError(f"{path}: no such benchmark file (shipped: "
                            f"{', '.join(SHIPPED)})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise AudioXaiError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_benchmark(raw, str(path))


class _Reader:
    """Checks one mapping of the file; every error names the file and the dotted key."""

    def __init__(self, raw: Any, source: str, where: str, valid: tuple[str, ...]):
        self.source, self.where = source, where
        if not isinstance(raw, Mapping):
            self.fail(f"must be a mapping of {', '.join(valid)}")
        unknown = sorted(set(map(str, raw)) - set(valid))
        if unknown:
            self.fail(f"unknown key {unknown[0]!r}; valid: {', '.join(valid)}")
        self.raw = raw

    def fail(self, message: str, key: str | None = None) -> None:
        where = ".".join(p for p in (self.where, key) if p) or "definition"
        raise AudioXaiError(f"{self.source}: {where}: {message}")

    def get(self, key: str, default: Any, kind: type | tuple[type, ...], *,
            choices: tuple[Any, ...] = (), minimum: float | None = None) -> Any:
        value = self.raw.get(key, default)
        if value is None or value is default:
            return value
        if isinstance(value, bool) and kind is not bool:
            self.fail(f"must be {_kind_name(kind)}, got {value!r}", key)
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind):
            self.fail(f"must be {_kind_name(kind)}, got {value!r}", key)
        if choices and value not in choices:
            self.fail(f"unknown value {value!r}; valid: {', '.join(map(str, choices))}", key)
        if minimum is not None and value < minimum:
            self.fail(f"must be at least {minimum:g}, got {value!r}", key)
        return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             list: "a list", dict: "a mapping"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


_TOP = ("version", "name", "description", "data", "tasks", "models", "folds", "training",
        "explainers", "metrics", "sonifiers", "samples", "batch_size", "chunk_size", "examples",
        "seed", "device")


def parse_benchmark(raw: Any, source: str = "<dict>") -> Benchmark:
    """A :class:`Benchmark` from parsed YAML; one-line errors name ``source`` and the key."""
    top = _Reader(raw, source, "", _TOP)
    version = top.get("version", None, int)
    if version != FORMAT_VERSION:
        top.fail(f"must be {FORMAT_VERSION} (the format this version reads), got {version!r}",
                 "version")
    name = top.get("name", None, str)
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        top.fail("must be a non-empty name of letters, digits, '-' and '_'", "name")
    tasks = tuple(_names(top, "tasks", TASKS, TASKS))
    training = _training(top)
    return Benchmark(
        name=name,
        description=top.get("description", "", str),
        data=_data(top),
        tasks=tasks,
        models=_models(top),
        folds=_folds(top, tasks),
        preset=training.pop("preset"),
        training=training,
        explainers=_selections(top, "explainers"),
        metrics=_selections(top, "metrics"),
        sonifiers=_selections(top, "sonifiers"),
        samples=top.get("samples", None, int, minimum=1),
        batch_size=top.get("batch_size", 16, int, minimum=1),
        chunk_size=top.get("chunk_size", 256, int, minimum=1),
        examples=top.get("examples", 2, int, minimum=0),
        seed=top.get("seed", 0, int, minimum=0),
        device=top.get("device", "auto", str, choices=DEVICES),
        source=source,
    )


def _names(top: _Reader, key: str, default: tuple[str, ...], valid: tuple[str, ...]) -> list[str]:
    value = top.raw.get(key, list(default))
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        top.fail(f"must be a non-empty list of {', '.join(valid)}", key)
    for v in value:
        if v not in valid:
            top.fail(f"unknown value {v!r}; valid: {', '.join(valid)}", key)
    if len(set(value)) != len(value):
        top.fail("lists a value twice", key)
    return value


def _data(top: _Reader) -> DataChoice:
    raw = top.raw.get("data", {"synthetic": {}})
    data = _Reader(raw, top.source, "data", ("path", "synthetic"))
    path = data.get("path", None, str)
    synth = _Reader(data.raw.get("synthetic") or {}, top.source, "data.synthetic",
                    ("speakers", "reps", "seed"))
    speakers = synth.get("speakers", 60, int, minimum=1)
    if speakers > 60:
        synth.fail("must be at most 60 (the paper's speakers)", "speakers")
    return DataChoice(path=Path(path).expanduser() if path else None, speakers=speakers,
                      reps=synth.get("reps", 50, int, minimum=1),
                      synth_seed=synth.get("seed", 0, int, minimum=0))


def _models(top: _Reader) -> tuple[ModelChoice, ...]:
    raw = top.raw.get("models", ["audionet", "alexnet"])
    if not isinstance(raw, list) or not raw:
        top.fail("must be a non-empty list of model names or {name, width}", "models")
    models = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            models.append(ModelChoice(item))
            continue
        entry = _Reader(item, top.source, f"models[{i}]", ("name", "width"))
        name = entry.get("name", None, str)
        if not name:
            entry.fail("needs a name", "name")
        width = entry.get("width", None, float)
        if width is not None and width <= 0:
            entry.fail(f"must be positive, got {width}", "width")
        models.append(ModelChoice(name, width))
    if len({m.name for m in models}) != len(models):
        top.fail("lists a model twice", "models")
    return tuple(models)


def _folds(top: _Reader, tasks: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    raw = top.raw.get("folds", [0])
    folds = {}
    for task in tasks:
        count = n_folds(task)
        if raw == "all":
            folds[task] = tuple(range(count))
            continue
        if not isinstance(raw, list) or not raw or not all(
                isinstance(f, int) and not isinstance(f, bool) for f in raw):
            top.fail("must be 'all' or a non-empty list of split numbers", "folds")
        bad = [f for f in raw if not 0 <= f < count]
        if bad:
            top.fail(f"split {bad[0]} does not exist for task {task} (0..{count - 1})", "folds")
        folds[task] = tuple(dict.fromkeys(raw))
    return folds


def _training(top: _Reader) -> dict[str, Any]:
    train = _Reader(top.raw.get("training") or {}, top.source, "training",
                    ("preset", *TRAIN_FIELDS))
    out: dict[str, Any] = {"preset": train.get("preset", "auto", str, choices=PRESETS)}
    defaults = TrainConfig()
    for key in TRAIN_FIELDS:
        if key in train.raw:
            current = getattr(defaults, key)
            kind = (float, int) if isinstance(current, float) or current is None else type(current)
            out[key] = train.get(key, None, kind)
    try:
        TrainConfig(**{k: v for k, v in out.items() if k != "preset"})
    except (TypeError, ValueError) as exc:
        train.fail(str(exc))
    return out


def _selections(top: _Reader, key: str) -> tuple[Selection, ...] | None:
    """``all``, or a list of names, ``all`` and ``{name, base, params}`` entries; a later
    entry with the name of an earlier one (or of ``all``) replaces it."""
    raw = top.raw.get(key, "all")
    if raw == "all":
        return None
    if not isinstance(raw, list) or not raw:
        top.fail("must be 'all' or a non-empty list of names and {name, base, params}", key)
    chosen: dict[str, Selection | None] = {}
    for i, item in enumerate(raw):
        if item == "all":
            chosen["all"] = None
            continue
        if isinstance(item, str):
            chosen[item] = Selection(item, item)
            continue
        entry = _Reader(item, top.source, f"{key}[{i}]", ("name", "base", "params"))
        name = entry.get("name", None, str)
        if not name:
            entry.fail("needs a name", "name")
        params = entry.get("params", {}, dict)
        chosen[name] = Selection(name, entry.get("base", name, str), dict(params or {}))
    if "all" in chosen:  # "all" then overrides: keep the marker as a Selection of base "all"
        rest = [s for n, s in chosen.items() if n != "all"]
        return (Selection("all", "all"), *rest)
    return tuple(s for s in chosen.values() if s is not None)
