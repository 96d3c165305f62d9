"""The units of a run's work: one training per panel (:meth:`Units.train_unit`), one
explain-and-score per panel and explainer (:meth:`Units.explain_unit`) or reference map of known
quality (:meth:`Units.reference_unit`).

A unit computes records and writes nothing in the results folder; an executor
(:mod:`~audioxai_bench.run.executors`) runs it here or on a Ray worker and hands the outcome to
the runner (:mod:`~audioxai_bench.run.runner`), the one writer. The caches (data, models,
relevance, scores) are read and written here, so every node shares them.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..api.metric import EvalBatch, MetricOutput
from ..data.cache import CACHE_ENV
from ..data.dataset import AudioMNIST, ClipDataset
from ..data.ground_truth import MASK_RULES
from ..data.preprocess import to_model_input
from ..errors import AudioXaiError, one_line, traceback_text
from ..evaluation.meta import reference_maps, reference_name
from ..evaluation.passes import inputs_per_pass
from ..evaluation.summary import merge_outputs, timed
from ..guard import (
    ModelKeeper,
    PluginCallError,
    check_repeatable,
    run_explainer,
    score_metric,
    summarize_metric,
    time_limit_of,
)
from ..guarded import GuardedExplainer, with_sonifier
from ..hashing import config_hash
from ..models.train import correct_per_clip
from ..plugins import Source, replicate_plugins
from ..progress import Progress
from ..reproducibility import machine, numerics
from ..shared_memo import MemoKeeper
from . import folder
from .artifacts import ModelRecipe, load_relevance, make_recipe, store_relevance, trained_model
from .definition import Benchmark
from .plan import Plugged
from .records import record_problem
from .score_cache import code_digest, discard_scores, load_scores, score_key, store_scores
from .setup import RunSetup, prepare_run


@dataclasses.dataclass
class Where:
    """Which (task, model, split) a record belongs to; ``model_key`` names the trained model."""

    task: str
    model_name: str
    fold: int
    representation: str
    model_key: str

    @property
    def label(self) -> str:
        return folder.panel_stem(self.task, self.model_name, self.fold)


def moved(value: Any, device: torch.device) -> Any:
    """``value`` with every tensor in it (also inside tuples, lists, dicts and dataclasses)
    on ``device``: a panel's shared memo, as it travels between processes."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(moved(v, device) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(moved(v, device) for v in value)
    if isinstance(value, dict):
        return {k: moved(v, device) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: moved(getattr(value, f.name), device)
                                             for f in dataclasses.fields(value) if f.init})
    return value


@dataclasses.dataclass
class Panel(Where):
    """A trained model with its chosen test samples on the run's device."""

    model: torch.nn.Module
    signals: torch.Tensor  # (N, 8000)
    x: torch.Tensor
    target: torch.Tensor
    rows: np.ndarray
    n_test: int  # test clips of the split (the model's accuracy is over all of them)
    chunk_size: int  # inputs per forward pass of the engines: the definition's, if they fit
    #: per batch index: what metrics keep for every explainer (see EvalBatch.shared)
    shared: dict[int, dict] = dataclasses.field(default_factory=dict)
    #: per batch index: the reference copies of ``shared``'s entries every metric call is
    #: checked against (a metric must not change what other cells read)
    memo: dict[int, MemoKeeper] = dataclasses.field(default_factory=dict)
    #: which clips the per-sample scores belong to: ``clips`` and their ``speakers``, so any
    #: test (paired, clustered by speaker) can be run later from the records alone
    samples: dict[str, list] = dataclasses.field(default_factory=dict)
    #: the model's state as trained: every plugin call is checked against it (guard.py)
    keeper: ModelKeeper | None = None
    #: where the evidence was planted, in ``x.shape`` (EvalBatch.ground_truth); None: unknown
    ground_truth: torch.Tensor | None = None
    #: the rule that drew ``ground_truth`` (:data:`~audioxai_bench.data.ground_truth.
    #: MASK_RULES`), which the records of metrics that read it state in ``info``
    ground_truth_rule: str | None = None


@dataclasses.dataclass
class PanelSpec:
    """What a unit needs to make a panel anywhere: where it is and the trained weights (CPU)."""

    where: Where
    state: dict[str, torch.Tensor]
    #: what the panel's first unit kept for every explainer (Panel.shared), on the CPU
    shared: dict[int, dict] | None = None


@dataclasses.dataclass
class Trained:
    """The outcome of a training unit."""

    state: dict[str, torch.Tensor]  # on the CPU, to travel to any node
    meta: dict[str, Any]
    cached: bool
    seconds: float
    here: dict[str, Any]  # Units.computed_here of the unit: its host and machine


@dataclasses.dataclass
class Explained:
    """The outcome of an explain-and-score unit: its records, ready to append."""

    records: list[dict[str, Any]]
    examples: torch.Tensor | None  # relevance of the first samples, for the leaderboard
    cached: bool
    seconds: float
    #: the panel's shared memo (Panel.shared) on the CPU, where the unit was asked to hand it back
    shared: dict[int, dict] | None = None


#: a cell still to compute, as a unit receives it: (metric, sonifier or None, its record so far)
Todo = tuple[str, str | None, dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class WorkerSetup:
    """What another process (a Ray worker) needs to run this run's units: the definition, the
    device, how the plugins were loaded, the cache and the data. Picklable."""

    bench: Benchmark
    device: str
    plugins: dict[str, Any]
    cache: str
    data: AudioMNIST
    token: str  # one per run: a worker prepares each run once
    threads: int  # torch threads per unit (the executor's)
    rescore: bool = False

    def units(self) -> Units:
        """This run's units in this process (they never open the results folder)."""
        os.environ[CACHE_ENV] = self.cache
        setup = prepare_run(self.bench, device=self.device,
                            plugins=replicate_plugins(self.plugins))
        return Units(setup, self.data, quiet=True, rescore=self.rescore, threads=self.threads)


class Units:
    """Runs the units of one run in this process: the definition's plan on its device, the
    data, and the panel of the units that follow each other (made once)."""

    def __init__(self, setup: RunSetup, data: AudioMNIST, *, threads: int, quiet: bool = False,
                 rescore: bool = False):
        self.bench, self.plan, self.device = setup.bench, setup.plan, setup.device
        self.preset, self.data, self.quiet, self.rescore = setup.preset, data, quiet, rescore
        #: torch threads the units run with (the executor's; see run/executors.py)
        self.threads = threads
        self.versions = setup.env.get("versions")  # of torch, captum, zennit...: relevance key
        self._panel_cache: Panel | None = None

    @property
    def numerics(self) -> dict[str, Any]:
        """:func:`~audioxai_bench.reproducibility.numerics` of this run's units."""
        return numerics(self.device, self.threads)

    def computed_here(self) -> dict[str, Any]:
        """A record's ``host`` and ``machine``: where its unit ran (a worker, a ray node)."""
        return {"host": socket.gethostname(), "machine": machine(str(self.device))}

    def recipe(self, task: str, choice: Any, fold: int) -> ModelRecipe:
        """What determines the model of ``task``, a model ``choice`` and ``fold`` in this run."""
        plug = self.plan.models[choice.name]
        return make_recipe(plug.obj, str(plug.source), task, fold, self.preset,
                           width=choice.width, **self.bench.training, seed=self.bench.seed,
                           device=str(self.device), deterministic=self.bench.deterministic)

    def train_unit(self, task: str, choice: Any, fold: int) -> Trained:
        """Train (or load from the cache) one panel's model."""
        start = time.perf_counter()
        recipe = self.recipe(task, choice, fold)
        bar = Progress(f"train {folder.panel_stem(task, choice.name, fold)}", self.quiet, " it")
        model, meta, cached = trained_model(recipe, self.data, self.device, progress=bar,
                                            numerics=self.numerics)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return Trained(state, meta, cached, time.perf_counter() - start, self.computed_here())

    def explain_unit(self, spec: PanelSpec, explainer_name: str, todo: list[Todo],
                     hand_back: bool = False) -> Explained:
        """Explain one panel with one explainer and score its cells ``todo``; with
        ``hand_back``, return what the metrics kept for every explainer."""
        start = time.perf_counter()
        panel = self.panel_of(spec)
        explainer = _named(self.plan.explainers, explainer_name)
        cells = self._plugged(todo)
        model = self.plan.models[spec.where.model_name]
        for metric, sonifier, record in cells:
            for kind, plug in (("explainer", explainer), ("metric", metric),
                               ("sonifier", sonifier), ("model", model)):
                if plug is not None and record["plugins"][kind] != plug.provenance():
                    raise AudioXaiError(f"{socket.gethostname()} has {plug.provenance()}, the "
                                        f"run {record['plugins'][kind]}: install the same "
                                        "plugins on every node")
        records, relevance, cached = self._explain_and_score(panel, explainer, cells)
        examples = None
        if relevance is not None and self.bench.examples:
            examples = relevance[: self.bench.examples].cpu()
        return Explained(records, examples, cached, time.perf_counter() - start,
                         moved(panel.shared, torch.device("cpu")) if hand_back else None)

    def reference_unit(self, spec: PanelSpec, name: str, todo: list[Todo],
                       hand_back: bool = False) -> Explained:
        """Score one reference map of known quality (:mod:`audioxai_bench.evaluation.meta`),
        built from the panel's planted evidence, on its cells ``todo``."""
        start = time.perf_counter()
        panel = self.panel_of(spec)
        relevance = reference_maps(panel.ground_truth, self.bench.seed)[name]
        records, _, _ = self._explain_and_score(panel, self.reference(name),
                                                self._plugged(todo), relevance=relevance)
        return Explained(records, None, False, time.perf_counter() - start,
                         moved(panel.shared, torch.device("cpu")) if hand_back else None)

    def _plugged(self, todo: list[Todo]) -> list[tuple[Plugged, Plugged | None, dict[str, Any]]]:
        """A unit's cells with their metric and sonifier plugins, looked up by name here."""
        metrics, sonifiers = self.plan.metrics, self.plan.sonifiers
        return [(_named(metrics, m), s and _named(sonifiers, s), record) for m, s, record in todo]

    @staticmethod
    def reference(name: str) -> Plugged:
        """A reference map as the explainer of its records, ``reference:<map>``."""
        return Plugged(reference_name(name), None,
                       Source("audioxai-bench", __version__, "reference map"),
                       {"reference": name})

    def panel_of(self, spec: PanelSpec) -> Panel:
        """The panel of ``spec``, made once for the units of one panel that follow each other
        (so metrics share their per-batch memo across explainers), with the memo ``spec``
        brings from the panel's first unit where that ran in another process."""
        panel = self._panel_cache
        if panel is None or panel.model_key != spec.where.model_key:
            where = spec.where
            choice = next(c for c in self.bench.models if c.name == where.model_name)
            recipe = self.recipe(where.task, choice, where.fold)
            model = recipe.build()
            model.load_state_dict(spec.state)
            panel = self._panel_cache = self._panel(where, model.to(self.device).eval())
        for index, kept in (spec.shared or {}).items():  # computed by the panel's first unit
            mine = panel.shared.setdefault(index, {})
            for key, value in kept.items():
                mine.setdefault(key, moved(value, self.device))
        return panel

    def test_rows(self, task: str, fold: int) -> np.ndarray:
        """The split's test clips, in the order of the model's test set."""
        return self.data.split_rows(task, fold)["test"]

    def sample_rows(self, task: str, fold: int) -> np.ndarray:
        """The test clips a panel of the split explains (whichever its model): the definition's
        ``samples`` of them, classes balanced, in an order seeded by its ``seed``."""
        test_rows = self.test_rows(task, fold)
        labels = self.data.labels(task)
        return balanced_sample(test_rows, labels[test_rows], self.bench.samples, self.bench.seed)

    def sample_clips(self, task: str, fold: int) -> list[str]:
        """:meth:`sample_rows` as the records name them (``clips``)."""
        return [self.data.relpaths[r] for r in self.sample_rows(task, fold)]

    def test_hits(self, panel: Panel, meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Per test clip, whether the model got it right, and its speaker: from the training's
        record of it, or (a model cached before it was recorded) by classifying them again."""
        rows = self.test_rows(panel.task, panel.fold)
        kept = meta.get("test_correct")
        if isinstance(kept, str) and len(kept) == len(rows):
            hits = np.frombuffer(kept.encode(), dtype=np.uint8) == ord("1")
        else:
            test = ClipDataset(self.data.signals, self.data.labels(panel.task), rows,
                               panel.representation)
            hits = correct_per_clip(panel.model, test, device=self.device).numpy()
        return hits, self.data.speaker[rows].astype(int)

    def _panel(self, where: Where, model: torch.nn.Module) -> Panel:
        labels = self.data.labels(where.task)
        test_rows = self.test_rows(where.task, where.fold)
        rows = self.sample_rows(where.task, where.fold)
        signals = torch.from_numpy(np.asarray(self.data.signals[rows], dtype=np.float32))
        x = to_model_input(signals, where.representation)
        target = torch.from_numpy(labels[rows].astype(np.int64))
        truth = self.data.ground_truth(where.task, rows, where.representation)
        return Panel(**dataclasses.asdict(where), model=model, signals=signals.to(self.device),
                      x=x.to(self.device), target=target.to(self.device), rows=rows,
                      n_test=len(test_rows), keeper=ModelKeeper(model),
                      ground_truth=None if truth is None else truth.to(self.device),
                      ground_truth_rule=(None if truth is None
                                         else MASK_RULES[where.representation]),
                      chunk_size=inputs_per_pass(model, x[:1].to(self.device),
                                                 self.bench.chunk_size),
                      samples={"clips": [self.data.relpaths[r] for r in rows],
                               "speakers": self.data.speaker[rows].astype(int).tolist(),
                               "targets": labels[rows].astype(int).tolist()})

    def _batches(self, n: int) -> list[slice]:
        size = self.bench.batch_size
        return [slice(i, min(i + size, n)) for i in range(0, n, size)]

    def _relevance(self, panel: Panel, explainer: Plugged
                   ) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Relevance of the panel's samples, the seconds each batch took and whether it came
        from the cache (the runtime metric then reports the run that computed them). The cache
        key holds the code (as the score cache's): an edited explainer computes again."""
        key = config_hash({"model": panel.model_key, "explainer": explainer.provenance(),
                           "params": explainer.params, "rows": panel.rows.tolist(),
                           "batch_size": self.bench.batch_size, **self.numerics,
                           "versions": self.versions, "code": code_digest(explainer.obj)})
        entry = None if self.rescore else load_relevance(key, tuple(panel.x.shape))
        if entry is not None:
            return entry["relevance"].to(self.device), entry["seconds"], True
        parts, seconds = [], []
        limit = time_limit_of(explainer.obj, self.bench.plugin_time_limit_s)
        check_repeatable(explainer.obj, panel.model, panel.x, panel.target, keeper=panel.keeper,
                         plugin=str(explainer.source), time_limit_s=limit)
        for b in self._batches(len(panel.rows)):
            rel, sec = timed(lambda b=b: run_explainer(
                explainer.obj, panel.model, panel.x[b], panel.target[b], keeper=panel.keeper,
                plugin=str(explainer.source), time_limit_s=limit), self.device)
            parts.append(rel)
            seconds.append(sec)
        relevance, secs = torch.cat(parts), torch.tensor(seconds, dtype=torch.float64)
        store_relevance(key, relevance, secs)
        return relevance, secs, False

    def _explain_and_score(self, panel: Panel, explainer: Plugged,
                           todo: list[tuple[Plugged, Plugged | None, dict[str, Any]]],
                           relevance: torch.Tensor | None = None
                           ) -> tuple[list[dict[str, Any]], torch.Tensor | None, bool]:
        """The records of the cells ``todo``, the relevance and whether it was cached; with
        ``relevance`` given (a reference map), that map is scored instead of explaining.
        Cells scored by an earlier run with the same code come from the score cache."""
        keys = [score_key(record, panel.chunk_size, explainer.obj, metric.obj,
                          sonifier and sonifier.obj) for metric, sonifier, record in todo]
        kept = [None if self.rescore else load_scores(key) for key in keys]
        here = self.computed_here()
        for i, fields in enumerate(kept):
            problem = fields is not None and record_problem(
                todo[i][2] | here | fields | {"cached": True})
            if problem:  # verified, yet no valid record: set aside, scored again
                discard_scores(keys[i], problem)
                kept[i] = None
        missing = [i for i, fields in enumerate(kept) if fields is None]
        computed: list[dict[str, Any]] = []
        cached = False
        if missing or (relevance is None and self.bench.examples):
            computed, relevance, cached = self._score(
                panel, explainer, [todo[i] for i in missing], [keys[i] for i in missing],
                relevance)
        fresh = iter(computed)
        records = [next(fresh) if fields is None else record | here | fields | {"cached": True}
                   for (_, _, record), fields in zip(todo, kept)]
        return records, relevance, cached

    def _score(self, panel: Panel, explainer: Plugged,
               todo: list[tuple[Plugged, Plugged | None, dict[str, Any]]], keys: list[str],
               relevance: torch.Tensor | None
               ) -> tuple[list[dict[str, Any]], torch.Tensor | None, bool]:
        """:meth:`_explain_and_score` of the cells not in the score cache; each finished cell
        is kept there under its key of ``keys``."""
        here = self.computed_here()
        try:
            if relevance is None:
                relevance, seconds, cached = self._relevance(panel, explainer)
            else:
                seconds, cached = [float("nan")] * len(self._batches(len(relevance))), False
        except AudioXaiError as exc:
            trace = getattr(exc, "traceback", None)  # the plugin's, when it raised
            return [record | here | {"status": "error", "error": str(exc)}
                    | ({"traceback": trace} if trace else {}) for _, _, record in todo], None, False
        records = []
        outputs: dict[int, list[MetricOutput]] = {i: [] for i in range(len(todo))}
        errors: dict[int, str] = {}
        traces: dict[int, str] = {}
        spent = dict.fromkeys(range(len(todo)), 0.0)
        # for metrics that explain again (model randomisation): its faults are its own
        guarded_explainer = GuardedExplainer(explainer.obj, str(explainer.source), panel.keeper,
                                             self.bench.plugin_time_limit_s)
        for index, b in enumerate(self._batches(len(panel.rows))):
            base = EvalBatch(model=panel.model, x=panel.x[b], target=panel.target[b],
                             relevance=relevance[b], representation=panel.representation,
                             signals=panel.signals[b], explainer=guarded_explainer,
                             explain_seconds=float(seconds[index]),
                             ground_truth=None if panel.ground_truth is None
                             else panel.ground_truth[b],
                             seed=self.bench.seed * 100_003 + index,
                             chunk_size=panel.chunk_size,
                             shared=panel.shared.setdefault(index, {}))
            if index not in panel.memo:
                panel.memo[index] = MemoKeeper(base.shared)
            sonified: dict[str, EvalBatch] = {}
            for i, (metric, sonifier, _) in enumerate(todo):
                if i in errors:
                    continue
                batch = base if sonifier is None else with_sonifier(
                    sonified, base, sonifier.name, sonifier.obj, str(sonifier.source),
                    self.bench.plugin_time_limit_s)
                t0 = time.perf_counter()
                try:
                    outputs[i].append(score_metric(
                        metric.obj, batch, name=metric.name, plugin=str(metric.source),
                        keeper=panel.keeper, default_limit_s=self.bench.plugin_time_limit_s,
                        memo=panel.memo[index]))
                except PluginCallError as exc:  # the model is restored; the rest runs on
                    errors[i], traces[i] = str(exc), exc.traceback
                except Exception as exc:  # recorded as the cell's error; the rest runs on
                    errors[i], traces[i] = metric_error(metric, exc), traceback_text(exc)
                spent[i] += time.perf_counter() - t0
        for i, (metric, _, record) in enumerate(todo):
            record = record | here
            if i in errors:
                records.append(record | {"status": "error", "error": errors[i],
                                         "traceback": traces.get(i)})
                continue
            try:
                fields = summarize_metric(
                    metric.obj, merge_outputs(outputs[i]), name=metric.name,
                    plugin=str(metric.source), model=panel.model, keeper=panel.keeper,
                    default_limit_s=self.bench.plugin_time_limit_s, seed=self.bench.seed)
            except PluginCallError as exc:
                records.append(record | {"status": "error", "error": str(exc),
                                         "traceback": exc.traceback})
                continue
            except Exception as exc:
                records.append(record | {"status": "error", "error": metric_error(metric, exc),
                                         "traceback": traceback_text(exc)})
                continue
            fields = fields | panel.samples | {"wall_seconds": round(spent[i], 4)}
            rule = panel.ground_truth_rule if _reads_ground_truth(metric.obj) else None
            if rule:  # scores against another mask are other scores: seeds pool on info
                fields["info"] = (fields.get("info") or {}) | {"ground_truth": rule}
            problem = record_problem(record | fields) or (
                None if fields["n"] else "no finite score on any clip")  # a value NaN, n 0
            if problem:  # the cell fails here, not the writer (and the run) later
                records.append(record | {"status": "error", "error": f"metric {metric.name!r} "
                                         f"(plugin {metric.source}): {problem}"})
                continue
            store_scores(keys[i], fields)
            records.append(record | fields)
        return records, relevance, cached


def metric_error(metric: Plugged, exc: BaseException) -> str:
    """A metric's own exception as its cell's error, naming the metric and its plugin as an
    explainer's failure does (a bare ``TypeError: ...`` did not say whose it was)."""
    text = one_line(exc)
    prefix = f"metric {metric.name!r}"
    own = str(exc).strip().partition("\n")[0] if isinstance(exc, AudioXaiError) else ""
    if own.startswith(f"{prefix} (plugin "):
        return own
    if own.startswith(f"{prefix}:"):  # e.g. summarize's checks of its interval(): the plugin
        return f"{prefix} (plugin {metric.source}){own[len(prefix):]}"
    return f"{prefix} (plugin {metric.source}): raised {text}"


def _reads_ground_truth(metric: Any) -> bool:
    """Whether ``metric`` scores maps against the ground truth (``needs`` it)."""
    return "ground_truth" in set(getattr(metric, "needs", ()))


def _named(plugs: list[Plugged], name: str) -> Plugged:
    """The plugin object ``name`` of this process's plan (a worker's may lack it)."""
    for plug in plugs:
        if plug.name == name:
            return plug
    raise AudioXaiError(f"{socket.gethostname()} has no {name!r}: install the same plugins on "
                        "every node")


def balanced_sample(rows: np.ndarray, labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """``n`` of ``rows`` with classes as equal as possible, in a seeded order (all when None).

    Each class is shuffled, then the classes take turns, so the first samples (the examples)
    cover different classes.
    """
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(rows[labels == c]) for c in np.unique(labels)]
    order = []
    for i in range(max((len(p) for p in per_class), default=0)):
        order += [int(p[i]) for p in per_class if i < len(p)]
    order_arr = np.asarray(order, dtype=np.int64)
    return order_arr if n is None else order_arr[:n]


