"""Benchmark definitions: a flat, versioned YAML file, checked before any work starts.

A definition says what to run (data, tasks, models, folds, training budget, explainers, metrics,
sonifiers) and how much of it (test samples, batch sizes, seed, device). :class:`Definition` is
the file's schema as pydantic models: every key and value is checked, and the first mistake is
one line naming the file and the dotted key (``x.yaml: models[0].width: must be positive, got
-1``). Names of explainers, metrics, sonifiers and models are checked against the plugins by
:func:`audioxai_bench.run.plan.plan_benchmark`. Relative paths are relative to the file's folder.

The schema ships as ``definitions/benchmark.schema.json`` (:func:`write_schema` regenerates it);
an editor with the YAML language server completes keys after a first line
``# yaml-language-server: $schema=<path or URL of benchmark.schema.json>``. Example: the
shipped quickstart (``benchmarks/quickstart.yaml``, the default of ``audioxai-bench run``), with
most of its explainer parameters and metrics and the run settings left out::

    version: 1
    name: quickstart
    data: {synthetic: {speakers: 60, reps: 5, seed: 0}, resampler: sinc}
    tasks: [digit, sex]
    models: [{name: audionet, width: 0.125}, {name: alexnet, width: 0.0625}]
    folds: [0, 1]
    training: {preset: cpu, iterations: 500}
    explainers: [all, {name: occlusion, params: {waveform_window: 320, waveform_stride: 320}}]
    metrics: [faithfulness-gap, gini, {name: runtime, params: {samples: 4}}]
    sonifiers: [keep-positive, spectrogram-mask]
    samples: 48
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..data.cue import N_CUE_CLASSES
from ..data.preprocess import DEFAULT_RESAMPLER, RESAMPLERS
from ..data.splits import TASKS, n_folds
from ..errors import AudioXaiError
from ..guard import DEFAULT_PLUGIN_TIME_LIMIT_S
from ..models.train import TrainConfig
from ..plugins import plugin_paths_from_definition
from .safe_yaml import brief, cut, parse_yaml

FORMAT_VERSION = 1
#: The shipped definitions, in ``benchmarks/`` of the repository and inside the package.
SHIPPED = ("quickstart", "paper-digit", "paper-sex", "ground-truth")
#: The paper's tasks, run when a definition names none (``cue`` is asked for by name).
DEFAULT_TASKS = ("digit", "sex")
SCHEMA_FILE = Path(__file__).parent.parent / "definitions" / "benchmark.schema.json"
#: The largest run seed (a 32-bit signed int, as most tools take). The seeds derived from it
#: by multiplication (seed * 100_003 + batch index, then per stream and row) may outgrow a torch
#: generator's 64 bits: they are reduced into range (:func:`~audioxai_bench.api.metric.torch_seed`).
MAX_SEED = 2**31 - 1
#: Widths and training budgets beyond these are typos, not experiments (the paper: 1, 50 000).
MAX_WIDTH = 64.0
MAX_ITERATIONS = 1_000_000

Task = Literal["digit", "sex", "cue"]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Split = Annotated[int, Field(ge=0)]


class _Section(BaseModel):
    """A mapping of the file: strict types (YAML cannot smuggle ``"4"`` or ``true`` in for a
    number), no unknown keys, ``null`` only where a key documents it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True,
                              use_attribute_docstrings=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, raw: Any) -> Any:
        valid = ", ".join(cls.model_fields)
        if isinstance(raw, BaseModel):
            return raw
        if not isinstance(raw, dict):
            raise ValueError(f"must be a mapping of {valid}")
        unknown = sorted(map(str, set(raw) - set(cls.model_fields)))
        if unknown:
            raise ValueError(f"unknown key {brief(unknown[0])}; valid: {valid}")
        return raw


class _Entry(_Section):
    """A list entry that names a plugin; :attr:`at` is where (``explainers[2]``), for the
    errors that only the plugins can find (:mod:`audioxai_bench.run.plan`)."""

    name: str = Field(min_length=1)
    _at: str = PrivateAttr("")

    @property
    def at(self) -> str:
        return self._at


class ModelChoice(_Entry):
    """A model to train: a registered name, at a width multiplier."""

    width: float = Field(None, gt=0, le=MAX_WIDTH, allow_inf_nan=False)
    """Width multiplier (default: the spec's CPU width for the cpu preset, else 1)."""


class Selection(_Entry):
    """One plugin object to use: ``name`` as registered, or a variant of ``base`` with
    ``params`` (``base`` is ``name`` itself when only parameters change)."""

    base: str = Field(None, min_length=1)
    """The registered object this one configures (default: ``name``)."""
    params: dict[str, Any] = {}

    @model_validator(mode="after")
    def _all_is_a_marker(self) -> Selection:
        if "all" in (self.name, self.base) and (self.name != self.base or self.params):
            raise ValueError("'all' stands for every registered one: no base or params")
        return self


@dataclasses.dataclass(frozen=True)
class DataChoice:
    """Real data at ``path``, or a synthetic set (generated once and cached) when ``path`` is
    None. Its fields go into run.json (:meth:`Benchmark.settings`); records name the data by
    what was read, their content's fingerprint and the resampler, not by these fields."""

    path: Path | None = None
    speakers: int = 60
    reps: int = 50
    synth_seed: int = 0
    #: plant cues (data/cue.py, seeded by ``synth_seed``) unless the data are a cue tree: set
    #: when the run has the ``cue`` task
    cue: bool = False
    #: how clips reach 8 kHz (:data:`~audioxai_bench.data.preprocess.RESAMPLERS`)
    resampler: str = DEFAULT_RESAMPLER


class Benchmark(BaseModel):
    """A checked definition as the runner uses it (build it with :func:`parse_benchmark`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    data: DataChoice
    tasks: tuple[str, ...]
    models: tuple[ModelChoice, ...]
    folds: dict[str, tuple[int, ...]]  # per task
    preset: str
    training: dict[str, Any]  # TrainConfig overrides
    explainers: tuple[Selection, ...] | None  # None: every registered one
    metrics: tuple[Selection, ...] | None
    sonifiers: tuple[Selection, ...] | None
    samples: int | None = None  # test samples per task, model and fold; None: all
    batch_size: int = 16
    chunk_size: int = 256
    examples: int = 2
    seed: int = 0
    device: str = "auto"
    deterministic: bool = True
    #: one-file plugins and modules the run loads (``--plugin``), paths made absolute
    plugins: tuple[str, ...] = ()
    executor: str = "local"  # where the units run (run/executors.py)
    workers: int | None = None  # the processes executor's pool size
    #: seconds one plugin call may take when the plugin declares no ``time_limit_s``
    plugin_time_limit_s: float = DEFAULT_PLUGIN_TIME_LIMIT_S
    description: str = ""
    source: str = "<dict>"

    def with_data(self, path: Path | None) -> Benchmark:
        """The same benchmark on real data at ``path`` (``--data`` of ``audioxai-bench run``)."""
        path = None if path is None else _absolute(Path.cwd(), path)
        return self.model_copy(update={"data": dataclasses.replace(self.data, path=path)})

    def settings(self) -> dict[str, Any]:
        """Everything that changes results, as plain data: run.json's ``benchmark``. Records
        hash what it resolves to instead (the data's fingerprint, the model's key, the
        plugins' parameters), so the same data in another folder give the same hash."""
        # plugins: each record names the plugin (and a file's content hash) that made it
        # where the units ran enters records as their device and torch threads; a time limit
        # decides whether a cell fails, never its value
        out = self.model_dump(exclude={"description", "source", "plugins", "executor",
                                       "workers", "plugin_time_limit_s"})
        out["data"]["path"] = None if self.data.path is None else str(self.data.path)
        return out


# -- the file's schema ------------------------------------------------------------------------

def _named(value: Any) -> Any:
    """A bare name stands for ``{name: <name>}``."""
    return {"name": value} if isinstance(value, str) else value


def _selected(value: Any) -> Any:
    """As :func:`_named`; a selection's ``base`` defaults to its name."""
    value = _named(value)
    if isinstance(value, dict) and "base" not in value and isinstance(value.get("name"), str):
        value = {**value, "base": value["name"]}
    return value


def _all_or_list(what: str):
    def check(value: Any) -> Any:
        if value == "all":
            return None
        if not isinstance(value, list):
            raise ValueError(f"must be 'all' or a non-empty list of {what}, got {brief(value)}")
        return value
    return check


def _tasks(value: Any) -> Any:
    value = [value] if isinstance(value, str) else value
    for task in value if isinstance(value, list) else ():
        if task not in TASKS:
            raise ValueError(f"unknown value {brief(task)}; valid: {', '.join(TASKS)}")
    return value


Named = Annotated[ModelChoice, BeforeValidator(_named, json_schema_input_type=str | ModelChoice)]
Chosen = Annotated[Selection, BeforeValidator(_selected, json_schema_input_type=str | Selection)]
Selections = Annotated[
    Annotated[list[Chosen], Field(min_length=1)] | None,
    BeforeValidator(_all_or_list("names and {name, base, params}"),
                    json_schema_input_type=Literal["all"] | list[str | Selection]),
    Field("all", validate_default=True,
          description="'all' (every registered one), or names, 'all' and {name, base, params} "
                      "entries; a later entry replaces an earlier one of the same name")]


class Synthetic(_Section):
    """An offline synthetic AudioMNIST, generated once and cached."""

    speakers: int = Field(60, ge=1, le=60)
    """How many of the paper's 60 speakers."""
    reps: int = Field(50, ge=1)
    """Repetitions of each digit per speaker."""
    seed: Seed = 0


class DataSection(_Section):
    """Real AudioMNIST at ``path``, else the synthetic set."""

    path: str = Field(None, min_length=1)
    """An AudioMNIST tree (its data/ folder); relative to this file's folder."""
    synthetic: Synthetic = Field({}, validate_default=True)
    resampler: Literal[RESAMPLERS] = DEFAULT_RESAMPLER
    """How clips reach 8 kHz: fft (scipy.signal.resample, the paper's code) or sinc
    (torchaudio's windowed sinc: weaker above 3.5 kHz, some aliasing from above 4 kHz). Default
    sinc, the resampler of results made before the choice."""


class TrainingSection(_Section):
    """A training preset and any TrainConfig setting that overrides it. TrainConfig checks its
    own ranges (reported at ``training``); the schema adds types and what it leaves open."""

    preset: Literal["auto", "cpu", "paper"] = "auto"
    """cpu (narrow, minutes), paper (full width, the paper's budget) or auto (paper on cuda)."""
    iterations: int = Field(None, le=MAX_ITERATIONS)
    batch_size: int = None
    lr: float = Field(None, allow_inf_nan=False)
    momentum: float = Field(None, ge=0, lt=1, allow_inf_nan=False)
    weight_decay: float = Field(None, ge=0, allow_inf_nan=False)
    lr_halve_every: int | None = None
    """Halve the learning rate every this many iterations; null: never."""
    grad_clip: float | None = Field(None, allow_inf_nan=False)
    """Clip the gradients' global L2 norm at this; null: no clipping."""
    eval_every: int = None
    select: Literal["best", "final"] = None
    optimizer: Literal["sgd", "adam"] = None
    precision: Literal["fp32", "bf16"] = None
    """fp32 (default, exact) or bf16 autocast: faster on a GPU, not the paper's arithmetic."""
    compile: bool = None
    """Train through torch.compile (default false)."""
    init: Literal["default", "caffe"] = None
    """Starting weights: the layers' own (PyTorch's) or the original Caffe nets' fillers (the
    paper preset's)."""

    @model_validator(mode="after")
    def _a_train_config(self) -> TrainingSection:
        try:
            TrainConfig(**self.model_dump(exclude_unset=True, exclude={"preset"}))
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None
        return self


class Definition(_Section):
    """An audioxai-bench benchmark definition (see audioxai_bench/benchmark.py)."""

    version: int = Field(json_schema_extra={"const": FORMAT_VERSION})
    """The format version: 1."""
    name: str = Field(pattern=r"^[\w-]+$")
    description: str = ""
    data: DataSection = Field({}, validate_default=True)
    tasks: Annotated[list[str], BeforeValidator(
        _tasks, json_schema_input_type=Task | list[Task])] = Field(DEFAULT_TASKS, min_length=1)
    models: list[Named] = Field(["audionet", "alexnet"], min_length=1, validate_default=True)
    folds: Annotated[
        Annotated[list[Split], Field(min_length=1)] | None,
        BeforeValidator(_all_or_list("split numbers"),
                        json_schema_input_type=Literal["all"] | list[Split])] = [0]
    """The paper's splits: 'all' or a list (digit has 5, sex 4; cue uses digit's)."""
    training: TrainingSection = Field({}, validate_default=True)
    explainers: Selections
    metrics: Selections
    sonifiers: Selections
    samples: int = Field(None, ge=1)
    """Test samples per task, model and split (default: all)."""
    batch_size: int = Field(16, ge=1)
    chunk_size: int = Field(256, ge=1)
    examples: int = Field(2, ge=0)
    seed: Seed = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    deterministic: bool = True
    """Deterministic torch algorithms (default): the same records on every run on one device.
    false lets cuDNN autotune: faster on a GPU, not repeatable there; records say which."""
    plugins: list[Annotated[str, Field(min_length=1)]] = []
    """One-file plugins (.py files, relative to this file) or module names to load, as
    ``audioxai-bench run --plugin``: try a method before packaging it."""
    executor: Literal["local", "processes", "ray"] = "local"
    """Where the work runs: local (this process), processes (a pool of worker processes on this
    machine, ``workers`` of them, one per core by default) or ray (tasks on a Ray cluster), as
    ``audioxai-bench run --executor``. On a CPU the records depend on the torch threads per unit
    (records say how many): the same executor and thread count give the same records."""
    workers: Annotated[int, Field(ge=1)] | None = None
    """Processes of the ``processes`` executor (default: one per core)."""
    plugin_time_limit_s: float = Field(DEFAULT_PLUGIN_TIME_LIMIT_S, gt=0, allow_inf_nan=False)
    """Seconds one call of a plugin (an explainer or a metric on a batch, a metric's summary, a
    sonifier) may take unless the plugin declares its own ``time_limit_s``; a call over it fails its
    cells with the reason, and the run goes on. Generous by default (30 minutes): it stops a
    plugin that hangs, not a slow method; results do not depend on it."""

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version != FORMAT_VERSION:
            raise ValueError(f"must be {FORMAT_VERSION} (the format this version reads), "
                             f"got {brief(version)}")
        return version

    @field_validator("tasks")
    @classmethod
    def _tasks_once(cls, tasks: list[str]) -> list[str]:
        if len(set(tasks)) != len(tasks):
            raise ValueError("lists a value twice")
        return tasks

    @field_validator("folds")
    @classmethod
    def _folds_exist(cls, folds: list[int] | None, info: ValidationInfo) -> list[int] | None:
        for task in info.data.get("tasks", ()) if folds else ():
            bad = [f for f in folds if f >= n_folds(task)]
            if bad:
                raise ValueError(f"split {bad[0]} does not exist for task {task} "
                                 f"(0..{n_folds(task) - 1})")
        return folds

    @field_validator("models", "explainers", "metrics", "sonifiers")
    @classmethod
    def _locate(cls, items: list | None, info: ValidationInfo) -> list | None:
        for i, item in enumerate(items or ()):
            item._at = f"{info.field_name}[{i}]"
        if info.field_name == "models" and len({m.name for m in items}) != len(items):
            raise ValueError("lists a model twice")
        return items

    def benchmark(self, source: str, folder: Path) -> Benchmark:
        """The benchmark as the runner uses it; relative paths are taken from ``folder``."""
        data, synth = self.data, self.data.synthetic
        if "cue" in self.tasks and data.path is None and synth.reps % N_CUE_CLASSES:
            raise AudioXaiError(
                f"{source}: data.synthetic.reps: must be a multiple of {N_CUE_CLASSES} for the "
                f"cue task, got {synth.reps} (the cue class cycles over a speaker's repetitions "
                f"of a digit: otherwise some classes come more often for each, so its speech "
                f"would tell the class apart)")
        return Benchmark(
            name=self.name, description=self.description, source=source,
            data=DataChoice(path=data.path and _absolute(folder, data.path),
                            speakers=synth.speakers, reps=synth.reps, synth_seed=synth.seed,
                            cue="cue" in self.tasks, resampler=data.resampler),
            tasks=tuple(self.tasks), models=tuple(self.models),
            folds={t: tuple(range(n_folds(t))) if self.folds is None
                   else tuple(dict.fromkeys(self.folds)) for t in self.tasks},
            preset=self.training.preset,
            training=self.training.model_dump(exclude_unset=True, exclude={"preset"}),
            explainers=_chosen(self.explainers), metrics=_chosen(self.metrics),
            sonifiers=_chosen(self.sonifiers), samples=self.samples,
            batch_size=self.batch_size, chunk_size=self.chunk_size, examples=self.examples,
            seed=self.seed, device=self.device, executor=self.executor, workers=self.workers,
            deterministic=self.deterministic, plugin_time_limit_s=self.plugin_time_limit_s,
            plugins=plugin_paths_from_definition(self.plugins, folder / Path(source).name))


def _chosen(selections: list[Selection] | None) -> tuple[Selection, ...] | None:
    """None for every registered one; else the entries, a later one replacing an earlier one
    of the same name, with the ``all`` marker (a Selection of base ``all``) first if given."""
    if selections is None:
        return None
    chosen = {s.name: s for s in selections}
    return (chosen.pop("all"), *chosen.values()) if "all" in chosen else tuple(chosen.values())


def _absolute(folder: Path, path: str | Path) -> Path:
    return Path(os.path.abspath(Path(folder) / Path(path).expanduser()))


# -- reading ----------------------------------------------------------------------------------

def shipped_path(name: str) -> Path:
    """The file of a shipped definition (``quickstart``, ``paper-digit``, ``paper-sex``)."""
    if name not in SHIPPED:
        raise AudioXaiError(f"no shipped benchmark {name!r}; shipped: {', '.join(SHIPPED)}")
    return Path(__file__).parent.parent / "definitions" / f"{name}.yaml"


def load_benchmark(path: str | Path) -> Benchmark:
    """Read and check a definition file; a bare shipped name (``quickstart``) works too."""
    path = Path(path)
    if not path.exists() and str(path) in SHIPPED:
        path = shipped_path(str(path))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AudioXaiError(f"{path}: no such benchmark file (shipped: "
                            f"{', '.join(SHIPPED)})") from None
    except OSError as exc:
        raise AudioXaiError(f"{path}: cannot read ({exc.strerror or exc})") from None
    raw = parse_yaml(data, str(path))
    return parse_benchmark(raw, str(path), path.parent)


def parse_benchmark(raw: Any, source: str = "<dict>", folder: str | Path = ".") -> Benchmark:
    """A :class:`Benchmark` from parsed YAML; one-line errors name ``source`` and the key.
    Relative paths are taken from ``folder`` (the definition file's folder)."""
    try:
        definition = Definition.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise AudioXaiError(f"{source}: {_dotted(first['loc']) or 'definition'}: "
                            f"{_message(first)}") from None
    except RecursionError:
        raise AudioXaiError(f"{source}: definition: nested too deeply") from None
    return definition.benchmark(source, Path(folder))


# -- one-line errors --------------------------------------------------------------------------

_KINDS = {"int_type": "an integer", "int_from_float": "an integer", "float_type": "a number",
          "finite_number": "a finite number", "string_type": "a string",
          "bool_type": "true or false", "list_type": "a list", "dict_type": "a mapping"}
_BOUNDS = {"greater_than": "more than {gt}", "greater_than_equal": "at least {ge}",
           "less_than": "less than {lt}", "less_than_equal": "at most {le}"}


def _dotted(loc: tuple) -> str:
    """``('models', 0, 'width')`` as ``models[0].width``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return cut(out, 120)


def _message(error: dict) -> str:
    """Today's wording for the first error pydantic reports."""
    kind, ctx, got = error["type"], error.get("ctx") or {}, brief(error.get("input"))
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error"))
    if kind == "missing":
        return "is required"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        return f"must be a non-empty name of letters, digits, '-' and '_', got {got}"
    if kind == "literal_error":
        valid = ", ".join(re.findall(r"'([^']*)'", ctx.get("expected", "")))
        return f"unknown value {got}; valid: {valid}"
    if kind == "greater_than" and ctx.get("gt") == 0:
        return f"must be positive, got {got}"
    if kind in _BOUNDS:
        bound = {k: f"{v:g}" if isinstance(v, float) else v for k, v in ctx.items()}
        return f"must be {_BOUNDS[kind].format(**bound)}, got {got}"
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}, got {got}"
    return f"{error['msg'][:1].lower()}{error['msg'][1:]}, got {got}"


# -- the JSON schema --------------------------------------------------------------------------

def json_schema() -> dict[str, Any]:
    """The JSON schema of a definition file, for editors (generated from :class:`Definition`)."""
    def tidy(node: Any) -> Any:  # "default": null only where null is allowed
        if isinstance(node, dict):
            return {k: tidy(v) for k, v in node.items()
                    if not (k == "default" and v is None and "anyOf" not in node)}
        return [tidy(v) for v in node] if isinstance(node, list) else node
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "audioxai-bench benchmark definition",
            **{k: tidy(v) for k, v in Definition.model_json_schema().items() if k != "title"}}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


def write_schema(path: Path = SCHEMA_FILE) -> Path:
    """Regenerate the shipped ``benchmark.schema.json`` (a test keeps it in step)."""
    path.write_text(schema_text(), encoding="utf-8")
    return path
