"""The run matrix: data × task × model × split × explainer × metric × sonifier, resumable.

For every (task, model, split) "panel" the runner gets the trained model (cached), picks the
test samples (class-balanced, seeded), and for each explainer gets the relevance (cached),
then scores every applicable metric on the same batches, so metrics that read the same
perturbation curves compute them once per batch. Each finished cell is appended to
``results.jsonl`` at once; with ``resume`` a cell that already has an ``ok`` record with the
same config hash and the same code (the source of this package and of the cell's plugins: a
plugin edited without a new version must not share a number with its old self) is not computed
again; with ``rescore`` too, every cell is. A failing explainer, metric or sonifier is recorded as
an ``error`` record with its reason and the rest runs on.

The work comes in units (:mod:`~audioxai_bench.run.units`), one training per panel and one
explain-and-score per panel and explainer; they return records and write nothing in the
results folder. An executor
(:mod:`~audioxai_bench.run.executors`) runs them, here or on a Ray cluster, and hands each
outcome back to the runner, the one writer of the folder.

One run writes a folder at a time (a lock, :func:`~audioxai_bench.run.records.folder_lock`),
and a run never destroys earlier results: a folder that holds them is continued with
``resume``, or kept aside under a new name with ``overwrite``; otherwise the run refuses to
start.
"""

from __future__ import annotations

import dataclasses
import json
import math
import resource
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ..api.metric import ACCURACY_METRIC, CONTROL_METRIC
from ..atomic import atomic_write, clean_stale_temps
from ..data.cache import cache_root
from ..data.dataset import AudioMNIST, load_audiomnist
from ..data.layout import tree_problem
from ..data.splits import N_CLASSES, accuracy_floor
from ..errors import AudioXaiError, one_line, traceback_text
from ..evaluation.meta import REFERENCES, SIGNED, references_of, uncheckable
from ..faults import fault_point
from ..guard import explainer_notes, guarded_call, time_limit_of
from ..hashing import config_hash
from ..plugins import PluginManager
from ..progress import Progress, status
from ..reproducibility import torch_mode, torch_threads, with_nondeterministic_hint
from ..stats import clustered_wilson
from . import folder
from .artifacts import ModelRecipe, check_batch_size, data_tree, model_key
from .control import P_TRUE_WITHOUT_CUE, cue_control
from .control import RULE as CONTROL_RULE
from .definition import Benchmark
from .executors import Failed, open_executor, threads_remedy
from .plan import Plugged, applies
from .records import (
    RESULTS_FILE,
    SCHEMA_VERSION,
    ResultStore,
    cell_key,
    discard_unused,
    finished_cells,
    folder_lock,
    keep_aside,
)
from .score_cache import code_digest
from .setup import RunSetup, prepare_run
from .units import (
    Explained,
    Panel,
    PanelSpec,
    Todo,
    Trained,
    Units,
    Where,
    WorkerSetup,
)

#: What a run that may not write into a folder's earlier results can do instead.
ELSEWHERE = ("write to another --out, or start over with --overwrite (the earlier results are "
             "kept aside)")

# --- the run ------------------------------------------------------------------------------


@dataclasses.dataclass
class RunReport:
    out: Path
    wall_seconds: float
    peak_memory_mb: float
    stages: dict[str, float]
    records: int
    failed: int
    skipped: int
    cached: dict[str, int]
    #: finished cells of the folder computed again: their code changed (or ``rescore``)
    redone: int = 0

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["out"] = str(self.out)
        return d


def _cells(n: int) -> str:
    return f"{n} finished cell{'' if n == 1 else 's'}"


def training_settings(config: Any) -> dict[str, Any]:
    """The training a replicate seed must share (every setting of ``config`` but its seed and
    where it ran), so the leaderboard can refuse to pool seeds trained differently (a learning
    rate or batch size changed between them)."""
    return {k: v for k, v in dataclasses.asdict(config).items()
            if k not in ("seed", "device", "num_workers")}


def _clips_differ(there: list[str], here: list[str]) -> str:
    """How a folder's clips of a split differ from those a definition picks: their numbers,
    and where those agree, how many differ (or that the order does: each batch seeds its
    metrics)."""
    if len(there) != len(here):
        return f"{len(there)} there, {len(here)} here"
    other = len(set(there) - set(here))
    return (f"{len(there)} there, {len(here)} here, {other} of them different" if other else
            f"the same {len(there)} in another order")


def peak_memory_mb() -> float:
    """Peak resident memory of the largest of this process and its finished children (a process
    pool's workers each count alone, not summed), in MB (ru_maxrss: KiB on Linux, bytes on
    macOS)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / (1024 * 1024 if sys.platform == "darwin" else 1024)


class Runner:
    """Runs one benchmark into ``out``; see the module docstring. ``executor`` (default: the
    definition's) runs the units; ``address`` is the Ray cluster's (default: a local one),
    ``workers`` the process pool's size (default: the definition's, else one per core);
    ``rescore`` scores every cell again instead of reading the score cache (run/score_cache.py)."""

    def __init__(self, setup: RunSetup, out: Path, *, resume: bool = False,
                 overwrite: bool = False, quiet: bool = False,
                 log: Callable[[str], None] = status, debug: bool = False,
                 executor: str | None = None, address: str | None = None,
                 workers: int | None = None, rescore: bool = False):
        self.bench, self.plan, self.device = setup.bench, setup.plan, setup.device
        self.preset, self.env, self.plugins = setup.preset, setup.env, setup.plugins
        self.out, self.resume, self.quiet, self.log = Path(out), resume, quiet, log
        self.overwrite, self.debug, self.rescore = overwrite, debug, rescore
        self.executor_name, self.address = executor or self.bench.executor, address
        self.workers = workers if workers is not None else (
            self.bench.workers if self.executor_name == "processes" else None)
        self._shown: set[str] = set()  # tracebacks printed under debug (once each)
        self.stages: dict[str, float] = {}
        self.cached = {"data": 0, "models": 0, "relevance": 0, "scores": 0}
        self.counts = {"records": 0, "failed": 0, "skipped": 0, "redone": 0, "undigested": 0}
        self.units: list[dict[str, Any]] = []  # what each unit cost, for run.json
        self.example_failures: list[str] = []  # pictures, sounds for the page not written

    # -- bookkeeping --------------------------------------------------------------------

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - start

    def _open_store(self) -> ResultStore:
        """The folder's result store; earlier results are continued (``resume``), kept aside
        (``overwrite``) or the run refuses to start."""
        path = self.out / RESULTS_FILE
        earlier = path.exists() and path.stat().st_size > 0
        if earlier and not (self.resume or self.overwrite):
            raise AudioXaiError(f"{self.out} holds the results of an earlier run; continue it "
                                f"with --resume, {ELSEWHERE}")
        if earlier and self.overwrite:  # the pictures and sounds are the earlier run's too
            for name in (RESULTS_FILE, folder.RUN_FILE, folder.EXAMPLES_DIR, folder.AUDIO_DIR):
                if (self.out / name).exists():
                    kept = keep_aside(self.out / name)
                    self.log(f"kept the earlier run's {name} as {kept}")
        elif self.resume and not earlier:
            self.log(f"no results in {self.out} yet: the run starts from the beginning")
        store = ResultStore(path)
        if store.repaired_bytes:
            self.log(f"{path}: cut off a torn last line ({store.repaired_bytes} bytes) left by "
                     "an interrupted run")
        return store

    def _base_settings(self, where: Where) -> dict[str, Any]:
        """What every record's config hash covers. The data enter by content (the fingerprint),
        not by path, so the same data in another folder or cache give the same hash, and by how
        they were resampled (left out for sinc, as ``deterministic`` when true: earlier hashes
        stay valid)."""
        b = self.bench
        fast = {} if b.deterministic else {"deterministic": False}  # earlier hashes stay valid
        return {"data": self.data.fingerprint, **self.data.preprocessing,
                "model": where.model_key, "samples": b.samples, "batch_size": b.batch_size,
                "seed": b.seed, **self.work.numerics, **fast}

    def _record(self, panel: Where, *, explainer: Plugged | None, sonifier: Plugged | None,
                metric: str, metric_plug: Plugged | None, settings: dict[str, Any],
                fields: dict[str, Any]) -> dict[str, Any]:
        used = {k: p for k, p in (("explainer", explainer), ("metric", metric_plug),
                                  ("sonifier", sonifier)) if p is not None}
        params = {k: p.params for k, p in used.items()}
        plugins = {k: p.provenance() for k, p in used.items()}
        plugins["model"] = self.plan.models[panel.model_name].provenance()
        record = {
            "schema": SCHEMA_VERSION, "benchmark": self.bench.name, "dataset": self.dataset_name,
            "data_fingerprint": self.data.fingerprint, "resampler": self.data.resampler,
            "task": panel.task,
            "model": panel.model_name, "representation": panel.representation,
            "fold": panel.fold, "model_key": panel.model_key,
            "explainer": explainer.name if explainer else None,
            "sonifier": sonifier.name if sonifier else None, "metric": metric,
            "status": "ok", "error": None, "device": str(self.device), "seed": self.bench.seed,
            "batch_size": self.bench.batch_size,
            "executor": self.executor_name, "torch_threads": self.work.threads,
            "torch_deterministic": self.bench.deterministic,
            "config_hash": config_hash({**settings, "params": params, "plugins": plugins}),
            "code_digest": code_digest(*(p.obj for p in used.values())),
            "plugins": plugins, "params": json.loads(json.dumps(params, default=repr)),
            "git_revision": self.env["git_revision"], "versions": self.env["versions"],
            "python": self.env["python"],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        if metric_plug is not None:  # a verdict, or shown only (a sanity check, a description)
            record["ranked"] = bool(getattr(metric_plug.obj, "ranked", True))
            versus = getattr(metric_plug.obj, "versus", None)
            if versus is not None:
                record["versus"] = str(versus)
        record.update(fields)
        return record

    def _write(self, record: dict[str, Any]) -> None:
        if record["status"] == "error":
            record = record | {"error": with_nondeterministic_hint(record["error"])}
        self.store.append(record)
        fault_point("record")
        self.counts["records"] += 1
        if record["status"] == "error":
            self.counts["failed"] += 1
            self.log(f"FAILED {record['task']}/{record['model']}/fold {record['fold']}/"
                     f"{record['explainer']}/{record['metric']}"
                     f"{'/' + record['sonifier'] if record['sonifier'] else ''}: {record['error']}")
            trace = record.get("traceback")
            if self.debug and trace and trace not in self._shown:
                self._shown.add(trace)
                print(trace.rstrip(), file=sys.stderr)

    def _done(self, record: dict[str, Any]) -> bool:
        """Whether the folder has the cell of ``record`` done by this code; a cell done by other
        code (or any, with ``rescore``) is counted as redone and computed again."""
        key = (*cell_key(record), record["config_hash"])
        if key not in self.finished:
            return False
        if self.rescore or self.finished[key] != record["code_digest"]:
            self.counts["redone"] += 1
            self.counts["undigested"] += not self.rescore and self.finished[key] is None
            return False
        self.counts["skipped"] += 1
        return True

    def _why_redone(self) -> str:
        """Why finished cells were computed again (:meth:`_done`)."""
        if self.rescore:
            return "--rescore"
        old, changed = self.counts["undigested"], self.counts["redone"] - self.counts["undigested"]
        return "; ".join(filter(None, [
            changed and f"{changed} because their code (this package's or a plugin's source) "
                        "changed since they were recorded",
            old and f"{old} because they were recorded before records kept their code's digest",
        ]))

    # -- the stages -----------------------------------------------------------------------

    def run(self) -> RunReport:
        """Run into ``out`` holding its lock; refused at once when another run holds it.

        A missing ``data.path`` fails before ``out`` is made; the folders this run made (``out``
        and any missing parents) are removed again when it fails before writing anything."""
        if self.resume and self.overwrite:
            raise AudioXaiError("--resume and --overwrite exclude each other")
        check_data_path(self.bench)
        made = [f for f in (self.out, *self.out.absolute().parents) if not f.exists()]
        self.out.mkdir(parents=True, exist_ok=True)
        with folder_lock(self.out):
            try:
                clean_stale_temps(self.out)  # e.g. a run.json whose writer was killed
                clean_stale_temps(self.out / folder.EXAMPLES_DIR)
                with torch_mode(self.bench.deterministic):
                    return self._run()
            except Exception:
                if made:
                    discard_unused(self.out, made[1:])
                raise

    def _run(self) -> RunReport:
        start = time.perf_counter()
        self.store = self._open_store()
        earlier = self.store.records() if self.resume else []  # read once, for both
        self.finished = finished_cells(earlier)
        self.earlier_models = self._earlier_models(earlier)
        with self._stage("data"):
            self.data, self.dataset_name = self._load_data()
        fault_point("data")
        if self.preset == "paper" and self.device.type == "cpu":
            self.log("warning: the paper preset (full width, the paper's budget) takes days on a "
                     "CPU; it is meant for --device cuda")
        with open_executor(self.executor_name, self, self.address, self.workers) as executor, \
                torch_threads(executor.threads):
            self.executor = executor
            self.executor_name = executor.name
            self.work = Units(RunSetup(self.bench, self.plugins, self.plan, self.device,
                                       self.preset, self.env), self.data, quiet=self.quiet,
                              rescore=self.rescore, threads=executor.threads)
            self.log(f"device {self.device}; preset {self.preset}; "
                     f"{len(self.plan.explainers)} explainers, {len(self.plan.metrics)} metrics, "
                     f"{len(self.plan.sonifiers)} sonifiers; executor {executor.name}, "
                     f"{executor.threads} torch thread(s) per unit")
            self._check_earlier_samples(earlier)
            panels = [(task, choice, fold) for task in self.bench.tasks
                      for choice in self.bench.models for fold in self.bench.folds[task]]
            for panel in panels:  # every panel's batch fits its training set, before any trains
                check_batch_size(self.work.recipe(*panel), self.data)
            for panel in panels:
                self._submit_training(*panel)
            executor.wait()
        if self.counts["redone"]:
            self.log(f"computed {_cells(self.counts['redone'])} of {self.out} again: "
                     f"{self._why_redone()}")
        report = RunReport(self.out, time.perf_counter() - start, peak_memory_mb(),
                           {k: round(v, 2) for k, v in self.stages.items()},
                           self.counts["records"], self.counts["failed"], self.counts["skipped"],
                           dict(self.cached), self.counts["redone"])
        # the time limit is not a setting of the results (settings()), but of this run
        limit = {"plugin_time_limit_s": self.bench.plugin_time_limit_s}
        text = json.dumps({"benchmark": self.bench.settings() | {"source": self.bench.source}
                           | limit,
                           "report": report.as_dict(), **self.env,
                           "executor": self.executor_name, "units": self.units,
                           "plugin_failures": [str(f) for f in self.plugins.failures],
                           "example_failures": self.example_failures,
                           # the leaderboard's sign that the run finished (unfinished_run)
                           "results_bytes": (self.out / RESULTS_FILE).stat().st_size},
                          indent=2, default=str)
        atomic_write(self.out / folder.RUN_FILE, lambda f: f.write(text.encode() + b"\n"))
        return report

    def _load_data(self) -> tuple[AudioMNIST, str]:
        root, name, cached = data_tree(self.bench.data,
                                       lambda step: Progress(step, self.quiet, " clips"))
        self.cached["data"] += cached
        data = load_audiomnist(root, seed=self.bench.seed, resampler=self.bench.data.resampler,
                               progress=Progress("preprocess", self.quiet, " clips"))
        if data.skipped:
            self.log(f"skipped {data.skipped} unusable clips (see 'audioxai-bench data check')")
        return data, name

    def worker_setup(self, threads: int) -> WorkerSetup:
        """How another process runs this run's units with ``threads`` torch threads each (see
        :class:`WorkerSetup`)."""
        return WorkerSetup(self.bench, str(self.device), self.plugins.recipe(), str(cache_root()),
                           self.data, uuid.uuid4().hex, threads, self.rescore)

    def _earlier_models(self, records: list[dict[str, Any]]
                        ) -> dict[tuple[str, str, int], dict[str, dict[str, Any]]]:
        """The trained models (``model_key``) the folder's ``records`` of each (task, model,
        split) came from, each with the numerics its first record states
        (:func:`_record_numerics`); refused at once when they are another benchmark's (one
        folder, one benchmark: its examples and run.json would be replaced by this one's)."""
        models: dict[tuple[str, str, int], dict[str, dict[str, Any]]] = {}
        for r in records:
            if r["benchmark"] != self.bench.name:
                raise AudioXaiError(
                    f"{self.out} holds results of benchmark {r['benchmark']!r}, not "
                    f"{self.bench.name!r}; a folder holds one benchmark's: {ELSEWHERE}")
            if r.get("model_key"):
                models.setdefault((r["task"], r["model"], r["fold"]), {}).setdefault(
                    r["model_key"], _record_numerics(r))
        return models

    def _check_earlier_samples(self, records: list[dict[str, Any]]) -> None:
        """Refuse to resume where the folder's cells were scored on other clips or batches
        than this definition's (its ``samples``, ``batch_size``, data or seed changed): the
        cells it does not compute again (an explainer it dropped) would stay beside its own,
        and tables would rank values of different clips side by side."""
        batch_sizes = {r["batch_size"] for r in records if r.get("batch_size") is not None}
        if batch_sizes - {self.bench.batch_size}:
            raise AudioXaiError(
                f"{self.out} holds results scored with batch_size "
                f"{', '.join(map(str, sorted(batch_sizes)))}, this definition has "
                f"{self.bench.batch_size} (each batch seeds its metrics); resumed, its tables "
                f"would mix the two: {ELSEWHERE}")
        clips: dict[tuple[str, str, int], dict[str, Any]] = {}
        for r in records:
            if r.get("clips") is not None:
                clips.setdefault((r["task"], r["model"], r["fold"]), r)
        models = {choice.name for choice in self.bench.models}
        mine: dict[tuple[str, int], list[str]] = {}  # a split's clips, whichever its model
        for (task, model, fold), record in clips.items():
            if model not in models or fold not in self.bench.folds.get(task, ()):
                continue
            if (task, fold) not in mine:
                mine[task, fold] = self.work.sample_clips(task, fold)
            earlier, here = record["clips"], mine[task, fold]
            if earlier != here:
                seed = record.get("seed")
                why = (f"its seed changed since ({seed} there, {self.bench.seed} here)"
                       if seed is not None and seed != self.bench.seed else
                       "its samples, data or seed changed since")
                raise AudioXaiError(
                    f"{self.out} holds results of {task}-{model}-fold{fold} scored on other "
                    f"clips ({_clips_differ(earlier, here)}: {why}); resumed, its tables would "
                    f"rank cells of different clips side by side: {ELSEWHERE}")

    def _submit_training(self, task: str, choice: Any, fold: int) -> None:
        recipe = self.work.recipe(task, choice, fold)
        where = Where(task, choice.name, fold, recipe.spec.representation,
                       model_key(recipe, self.data.fingerprint, self.work.numerics,
                                 self.data.resampler))
        earlier = self.earlier_models.get((task, choice.name, fold), {})
        other = [numbers for key, numbers in earlier.items() if key != where.model_key]
        if other:
            panel = f"{task}-{choice.name}-fold{fold}"
            changed = numerics_change(other[0], self.work.numerics, self.executor_name)
            if changed:
                raise AudioXaiError(
                    f"{self.out} holds results of {panel} from a model trained with other "
                    f"numerics ({changed[0]}), which change its weights; resumed, its cells "
                    f"would mix two models: to continue it, {changed[1]}; else {ELSEWHERE}")
            raise AudioXaiError(
                f"{self.out} holds results of {panel} from another trained model (the "
                "definition's training or data changed since); resumed, its cells would mix "
                f"two models: {ELSEWHERE}")
        self.executor.submit("train", Units.train_unit, (task, choice, fold),
                             lambda out: self._trained(where, recipe, out))

    def _trained(self, where: Where, recipe: ModelRecipe, out: Trained | Failed) -> None:
        """A panel's model is there: record its accuracy, hand out its explainers."""
        settings = self._base_settings(where)
        accuracy = self._record(where, explainer=None, sonifier=None, metric=ACCURACY_METRIC,
                                metric_plug=None, settings=settings, fields={})
        if isinstance(out, Failed):  # recorded; the other models still run
            self._write(accuracy | (out.here or {}) | {
                "status": "error", "error": f"training failed: {out.reason}",
                "traceback": out.traceback})
            return
        self._spent("train", out.seconds, where, host=out.here["host"])
        self.cached["models"] += out.cached
        meta = out.meta
        how = "cached model" if out.cached else f"trained in {meta['train_seconds']:.0f} s"
        floor, acc = accuracy_floor(N_CLASSES[where.task]), meta["test_accuracy"]
        known = isinstance(acc, (int, float)) and math.isfinite(acc)
        # as the leaderboard's below_floor: an accuracy without a value is not above the floor
        weak = ("" if known and acc >= floor else
                f"; {'below' if known else 'so not shown above'} the floor of {floor:.0%}: its "
                "explanations are scored, not ranked or judged")
        said = f"{acc:.1%}" if known else "without a value"
        self.log(f"{where.label}: test accuracy {said} ({how}){weak}")
        spec = PanelSpec(where, out.state)
        panel = self.work.panel_of(spec)
        if not self._done(accuracy):
            acc, n = meta["test_accuracy"], panel.n_test
            hits, speakers = self.work.test_hits(panel, meta)
            low, high, n_eff = clustered_wilson(hits, speakers)
            self._write(accuracy | {
                "value": acc, "ci": [low, high], "n": n,
                "scores": hits.astype(int).tolist(), "speakers": speakers.tolist(),
                "higher_is_better": True, "wall_seconds": meta.get("train_seconds"),
                **out.here, **({"cached": True} if out.cached else {}),
                "extras": {"val-accuracy": {"value": meta["val_accuracy"]}},
                "info": {"interval": "Wilson at the effective sample size of the speaker "
                                     "clusters (stats.clustered_wilson)",
                         "n_effective": n_eff, "test_speakers": len(set(speakers.tolist())),
                         "width": recipe.width, "preset": recipe.preset,
                         "iterations": recipe.config.iterations,
                         "precision": recipe.config.precision,
                         "compile": recipe.config.compile,
                         "selected_iteration": meta["selected_iteration"],
                         "training": training_settings(recipe.config)
                         | ({"then": recipe.design} if recipe.design else {})}})
        if where.task == "cue":
            self._cue_control(panel, settings)
        units = []
        cells = self._cells(panel)
        for explainer in self.plan.explainers:
            if not applies(explainer.obj, panel.representation):
                continue
            todo = self._todo(panel, explainer, cells, settings, explainer_notes(explainer.obj))
            if todo or self.bench.examples:
                units.append((Units.explain_unit, explainer.name, todo))
        if panel.ground_truth is not None:  # the metrics themselves, on maps of known quality
            checkable = [(m, s) for m, s in cells if not uncheckable(m.obj)]
            for name in (*REFERENCES, SIGNED):
                mine = [(m, s) for m, s in checkable if name in references_of(m.obj)]
                todo = self._todo(panel, Units.reference(name), mine, settings, {})
                if todo:
                    units.append((Units.reference_unit, name, todo))
        if not units:
            return
        pending = _Pending(panel, len(units), Progress(f"explain {where.label}", self.quiet,
                                                       " explainers"))
        pending.bar(0, pending.total)
        if not self.executor.parallel or len(units) == 1:  # one process shares its panel
            self._submit_explain(pending, self.executor.share(spec), units)
            return
        # units elsewhere: the first computes what every explainer shares (the reference
        # orders' curves, the sonifiers' controls, ...), the others start from its result
        (unit, name, todo), rest = units[0], units[1:]

        def first_done(out: Explained | Failed) -> None:
            self._explained(pending, name, todo, out)
            shared = out.shared if isinstance(out, Explained) else None
            self._submit_explain(pending, self.executor.share(
                dataclasses.replace(spec, shared=shared)), rest)

        self.executor.submit("explain", unit, (self.executor.share(spec), name, todo, True),
                             first_done)

    def _submit_explain(self, pending: _Pending, handle: Any,
                        units: list[tuple[Callable[..., Explained], str, list[Todo]]]) -> None:
        for unit, name, todo in units:
            self.executor.submit("explain", unit, (handle, name, todo),
                                 lambda out, name=name, todo=todo:
                                 self._explained(pending, name, todo, out))

    def _cue_control(self, panel: Panel, settings: dict[str, Any]) -> None:
        """Record the cue task's control (run/control.py) for the panel's model."""
        record = self._record(panel, explainer=None, sonifier=None, metric=CONTROL_METRIC,
                              metric_plug=None, settings=settings, fields={})
        if self._done(record):
            return
        try:
            check = cue_control(panel.model, self.data, panel.fold, panel.representation,
                                self.device, self.bench.batch_size)
        except Exception as exc:  # recorded; the explainers still run
            self._write(record | self.work.computed_here() | {
                "status": "error", "error": one_line(exc), "traceback": traceback_text(exc)})
            return
        self.log(f"{panel.label}: cue control {'passed' if check.passed else 'FAILED'}: "
                 f"accuracy {check.removed:.1%} without the cue (chance {check.chance:.0%}), "
                 f"true-class probability without it at most "
                 f"{max(check.p_true_without_cue().values()):.2f} for a class, "
                 f"{check.only:.1%} on the cue alone, {check.swapped:.1%} following another "
                 "clip's cue")
        self._write(record | self.work.computed_here() | {
            "value": check.removed, "ci": check.interval("removed"),
            "n": check.n, "higher_is_better": False, "ranked": False,
            "extras": {**{f"cue-{which}-accuracy": {"value": check.accuracy(which),
                                                    "ci": check.interval(which)}
                          for which in ("only", "swapped")},
                       **{f"{P_TRUE_WITHOUT_CUE}/{label}": {"value": p}
                          for label, p in check.p_true_without_cue().items()}},
            "info": {"chance": check.chance, "passed": check.passed, "rule": CONTROL_RULE}})

    def _todo(self, panel: Panel, plug: Plugged, cells: list[tuple[Plugged, Plugged | None]],
              settings: dict[str, Any], fields: dict[str, Any]) -> list[Todo]:
        """The cells of ``plug`` (an explainer or a reference map) still to compute; a cell whose
        metric needs what the panel lacks gets a skipped record with the reason instead."""
        todo = []
        for metric, sonifier in cells:
            record = self._record(panel, explainer=plug, sonifier=sonifier, metric=metric.name,
                                  metric_plug=metric, settings=settings, fields=fields)
            if self._done(record):
                continue
            reason = _missing_need(metric.obj, panel)
            if reason:
                self._write(record | {"status": "skipped", "reason": reason})
            else:
                todo.append((metric.name, sonifier and sonifier.name, record))
        return todo

    def _explained(self, pending: _Pending, explainer: str, todo: list[Todo],
                   out: Explained | Failed) -> None:
        """An explainer's cells are done: append them; after a panel's last, its examples."""
        if isinstance(out, Failed):
            for _, _, record in todo:
                self._write(record | (out.here or {}) | {
                    "status": "error", "error": out.reason, "traceback": out.traceback})
        else:
            self._spent("explain+score", out.seconds, pending.panel, explainer=explainer,
                        host=out.records[0]["host"] if out.records else None)
            self.cached["relevance"] += out.cached
            self.cached["scores"] += sum(r.get("cached") is True for r in out.records)
            for record in out.records:
                self._write(record)
            if out.examples is not None:
                pending.examples[explainer] = out.examples
        pending.left -= 1
        pending.bar(pending.total - pending.left, pending.total)
        if not pending.left:
            self._write_examples(pending.panel, pending.examples)

    def _spent(self, stage: str, seconds: float, where: Where, **unit: Any) -> None:
        """Count a unit's own seconds in its stage and list it (run.json ``units``)."""
        self.stages[stage] = self.stages.get(stage, 0.0) + seconds
        self.units.append({"unit": stage.split("+")[0], "task": where.task,
                           "model": where.model_name, "fold": where.fold, **unit,
                           "seconds": round(seconds, 4)})

    def _cells(self, panel: Panel) -> list[tuple[Plugged, Plugged | None]]:
        """(metric, sonifier-or-None) pairs that apply to the panel's representation."""
        cells = []
        for metric in self.plan.metrics:
            if not applies(metric.obj, panel.representation):
                continue
            if "sonifier" in set(getattr(metric.obj, "needs", ())):
                cells += [(metric, s) for s in self.plan.sonifiers
                          if applies(s.obj, panel.representation)]
            else:
                cells.append((metric, None))
        # cells of one sonifier side by side: metrics sharing a memo compute once per batch
        sonifiers = [None, *self.plan.sonifiers]
        return sorted(cells, key=lambda c: sonifiers.index(c[1]))

    def _write_examples(self, panel: Panel, relevance: dict[str, torch.Tensor]) -> None:
        """Inputs, relevance maps and sonified WAVs of the first samples, for the leaderboard."""
        if not relevance:
            return
        n = self.bench.examples
        signals = panel.signals[:n].cpu()
        truth = panel.ground_truth
        inputs, target = panel.x[:n].cpu().numpy(), panel.target[:n].cpu().numpy()
        maps = {name: r.numpy() for name, r in relevance.items()}
        if self.resume:  # the explainers of the runs before stay on the page
            try:
                maps = folder.earlier_maps(self.out, panel.label, signals.numpy(), inputs,
                                           target) | maps
            except AudioXaiError as exc:  # a picture of the page: no cell need fail
                failure = f"could not keep the earlier examples of {panel.label}: {exc}"
                self.example_failures.append(failure)
                self.log(failure)
        try:
            folder.write_examples(self.out, panel.label, signals=signals.numpy(), inputs=inputs,
                                  target=target, relevance=maps,
                                  ground_truth=None if truth is None else truth[:n].cpu().numpy())
        except Exception as exc:  # a picture of the page: no cell need fail, no run stop
            failure = f"could not write the examples of {panel.label}: {one_line(exc)}"
            self.example_failures.append(failure)
            self.log(failure)
        names = folder.sample_names(min(n, len(panel.rows)))
        for explainer, rel in relevance.items():
            for sonifier in self.plan.sonifiers:
                if not applies(sonifier.obj, panel.representation):
                    continue
                try:
                    guarded_call(
                        "sonifier", sonifier.name, str(sonifier.source), panel.model,
                        lambda sonifier=sonifier, explainer=explainer, rel=rel:
                        folder.write_sonified(sonifier.obj, signals, rel, panel.representation,
                                              folder.audio_folder(self.out, panel.label,
                                                                  explainer), names=names),
                        time_limit_s=time_limit_of(sonifier.obj, self.bench.plugin_time_limit_s),
                        keeper=panel.keeper,
                        inputs=(signals, rel), reraise=True)
                except Exception as exc:  # kept in run.json: no metric cell need fail too
                    failure = (f"could not write {sonifier.name} examples of {explainer} on "
                               f"{panel.label}: {one_line(exc)}")
                    self.example_failures.append(failure)
                    self.log(failure)


def _record_numerics(record: dict[str, Any]) -> dict[str, Any]:
    """Where a record's cell was computed, as :func:`~audioxai_bench.reproducibility.numerics`
    says it (the keys that enter the trained model's ``model_key``), read from its ``device``,
    ``torch_threads`` and ``machine``; what it does not state is left out. Its ``executor``
    comes along for messages."""
    device = str(record.get("device") or "").split(":")[0] or None
    threads = record.get("torch_threads") if device == "cpu" else None
    return {"device": device, **({"threads": threads} if threads is not None else {}),
            **(record.get("machine") or {}), "executor": record.get("executor")}


_PART = {"cpu": "processor", "cpu_capability": "CPU capability", "accelerator": "GPU",
         "torch_build": "torch"}


def numerics_change(then: dict[str, Any], now: dict[str, Any], executor: str
                    ) -> tuple[str, str] | None:
    """What differs between the ``numerics`` a folder's model was trained with (``then``, from
    its records) and this run's (``now``), and how to match it, as two phrases; None when they
    agree (so its training or data changed)."""
    if then.get("device") and then["device"] != now.get("device"):
        return (f"device {then['device']} there, {now.get('device')} here",
                f"run with --device {then['device']}")
    parts = [f"{_PART.get(k, k)} {then[k]} there, {now.get(k)} here"
             for k in _PART if then.get(k) is not None and then[k] != now.get(k)]
    if parts:
        return "; ".join(parts), "resume it on the machine that computed them"
    if then.get("threads") is not None and then["threads"] != now.get("threads"):
        return (f"{then['threads']} torch thread(s) per unit there (executor "
                f"{then.get('executor')}), {now.get('threads')} here (executor {executor})",
                f"run with {threads_remedy(then['threads'])}")
    return None


def _missing_need(metric: Any, panel: Panel) -> str | None:
    """Why ``metric`` cannot score this panel (a field it needs that these data lack), or None."""
    if "ground_truth" in set(getattr(metric, "needs", ())) and panel.ground_truth is None:
        return (f"it needs the ground truth of where the evidence is, which only the cue task "
                f"has (this is the {panel.task} task)")
    return None


@dataclasses.dataclass
class _Pending:
    """A panel whose explain units are out: how many are left, the examples they returned."""

    panel: Panel
    total: int
    bar: Callable[[int, int], None]
    examples: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.left = self.total


def check_data_path(bench: Benchmark) -> None:
    """Refuse a definition's ``data.path`` that cannot be an AudioMNIST tree
    (:func:`~audioxai_bench.data.layout.tree_problem`), in one line naming the definition file,
    the key and the path, before the run makes or locks its output folder (the data are read
    only later, inside the run)."""
    path = bench.data.path
    problem = None if path is None else tree_problem(path)
    if problem:
        raise AudioXaiError(f"{bench.source}: data.path: {path}: {problem}")


def run_benchmark(bench: Benchmark, out: str | Path, *, device: str | None = None,
                  plugins: PluginManager | None = None, **options: Any) -> RunReport:
    """Resolve ``bench`` (:func:`~audioxai_bench.run.setup.prepare_run`) and run it into the
    folder ``out``; ``options`` as :class:`Runner`."""
    return Runner(prepare_run(bench, device=device, plugins=plugins), Path(out), **options).run()
