"""Review P10: every plugin call of a run (an explainer, a metric's score and its summary, a
sonifier writing examples) has a time limit, the plugin's ``time_limit_s`` or else the run's
``plugin_time_limit_s`` (``--time-limit``), in every executor: a plugin that hangs fails its
cells with the reason, the rest of the run is kept, and the run exits 1."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from audioxai_bench.cli import main
from audioxai_bench.guard import DEFAULT_PLUGIN_TIME_LIMIT_S
from audioxai_bench.hashing import config_hash
from audioxai_bench.plugins import load_plugins
from audioxai_bench.run.definition import parse_benchmark
from audioxai_bench.run.records import read_records
from audioxai_bench.run.runner import run_benchmark
from tests.helpers import write_tree

#: a plugin call the limit stops takes this long without it (the old code waited it out)
SLEEP_S = 30

HANGS = f'''\
import dataclasses
import time

import audioxai_bench


class Quick(audioxai_bench.BaseExplainer):
    """The rest of the run: it declares a long limit of its own, so that a loaded machine
    cannot make it meet the tests' short default."""

    time_limit_s = 600

    def attribute(self, model, x, target):
        return x.abs()


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuickMetric(audioxai_bench.BaseMetric):
    time_limit_s = 600

    def score(self, batch):
        return audioxai_bench.MetricOutput(scores=batch.relevance.flatten(1).mean(1))


class Hangs(audioxai_bench.BaseExplainer):
    def attribute(self, model, x, target):
        time.sleep({SLEEP_S})
        return x


@dataclasses.dataclass(frozen=True, kw_only=True)
class HangsToo(audioxai_bench.BaseMetric):
    def score(self, batch):
        time.sleep({SLEEP_S})


@dataclasses.dataclass(frozen=True, kw_only=True)
class SummaryHangs(audioxai_bench.BaseMetric):
    """Scores at once; its own summary of the scores hangs."""

    def score(self, batch):
        return audioxai_bench.MetricOutput(scores=batch.relevance.flatten(1).abs().mean(1))

    def summarize(self, output):
        time.sleep({SLEEP_S})
        return {{}}


@dataclasses.dataclass(frozen=True, kw_only=True)
class SonifierHangs(audioxai_bench.BaseSonifier):
    representations: frozenset = frozenset({{"waveform"}})

    def render(self, waveform, relevance, representation):
        time.sleep({SLEEP_S})
        return waveform


@audioxai_bench.hookimpl
def audioxai_bench_explainers():
    return [Quick(name="quick"), Hangs(name="hangs")]


@audioxai_bench.hookimpl
def audioxai_bench_metrics():
    return [QuickMetric(name="quick-metric", higher_is_better=True),
            HangsToo(name="hangs-too", higher_is_better=True),
            SummaryHangs(name="summary-hangs", higher_is_better=True)]


@audioxai_bench.hookimpl
def audioxai_bench_sonifiers():
    return [SonifierHangs(name="sonifier-hangs")]
'''


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """A tree, the hanging plugin file and a fresh cache (nothing computed before)."""
    monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(tmp_path / "cache"))
    tree = write_tree(tmp_path / "data", [1, 2, 4, 5, 13], reps=range(1))
    plugin = tmp_path / "hanging.py"
    plugin.write_text(HANGS)
    return tree, plugin


def definition(tree, **changes) -> dict:
    return {"version": 1, "name": "hang", "data": {"path": str(tree)}, "tasks": ["digit"],
            "models": [{"name": "audionet", "width": 0.0625}], "folds": [0],
            "training": {"preset": "cpu", "iterations": 2, "eval_every": 2, "batch_size": 8},
            "explainers": ["quick"], "metrics": ["quick-metric"], "sonifiers": ["keep-top"],
            "samples": 2, "batch_size": 2, "examples": 0, "device": "cpu"} | changes


def timed_out(record: dict, plugin: str, name: str, limit: str) -> bool:
    """Whether ``record`` failed at the time limit ``limit``, naming the object ``name`` and
    its plugin file (by stem and content hash)."""
    error = record["error"] or ""
    named = f"metric {name!r} (plugin {plugin} sha256." in error or (
        f"explainer {name!r} (plugin {plugin} sha256." in error)
    return (record["status"] == "error" and named and "timed out: stopped after" in error
            and f"over the limit of {limit} s" in error)


def test_an_explainer_and_a_metric_that_hang_fail_at_the_definitions_limit(setup, tmp_path):
    # the old code enforced only a declared time_limit_s: it slept SLEEP_S per call, then ok
    tree, plugin = setup
    spec = tmp_path / "bench.yaml"
    raw = definition(tree, explainers=["quick", "hangs"], metrics=["quick-metric", "hangs-too"],
                     plugin_time_limit_s=0.5)
    spec.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    start = time.monotonic()
    assert main(["--quiet", "run", str(spec), "--out", str(out), "--plugin", str(plugin)]) == 1
    assert time.monotonic() - start < SLEEP_S
    records = {(r["explainer"], r["metric"]): r for r in read_records([out])}
    assert records[("quick", "quick-metric")]["status"] == "ok"
    assert timed_out(records[("hangs", "quick-metric")], "hanging", "hangs", "0.5")
    assert timed_out(records[("hangs", "hangs-too")], "hanging", "hangs", "0.5")
    assert timed_out(records[("quick", "hangs-too")], "hanging", "hangs-too", "0.5")
    # the limit decides whether a cell fails, never its value: not in the config hash
    bench = parse_benchmark(raw)
    assert config_hash(bench.settings()) == config_hash(
        parse_benchmark(raw | {"plugin_time_limit_s": 1800}).settings())
    no_limit = {k: v for k, v in raw.items() if k != "plugin_time_limit_s"}
    assert parse_benchmark(no_limit).plugin_time_limit_s == DEFAULT_PLUGIN_TIME_LIMIT_S == 1800


def test_a_metric_whose_own_summary_hangs_fails_at_the_time_limit_of_the_command_line(
        setup, tmp_path, capsys):
    tree, plugin = setup
    spec = tmp_path / "bench.yaml"
    spec.write_text(yaml.safe_dump(definition(tree, metrics=["quick-metric", "summary-hangs"])))
    out = tmp_path / "out"
    start = time.monotonic()
    assert main(["--quiet", "run", str(spec), "--out", str(out), "--plugin", str(plugin),
                 "--time-limit", "1"]) == 1
    assert time.monotonic() - start < SLEEP_S  # the summary is stopped, not waited out
    records = {r["metric"]: r for r in read_records([out])}
    assert records["quick-metric"]["status"] == "ok"
    assert records["test-accuracy"]["status"] == "ok"
    assert timed_out(records["summary-hangs"], plugin.stem, "summary-hangs", "1"), \
        records["summary-hangs"]["error"]
    # the command line's limit replaced the definition's default, and run.json says so
    assert json.loads((out / "run.json").read_text())["benchmark"]["plugin_time_limit_s"] == 1
    assert "summary-hangs" in capsys.readouterr().err  # its FAILED line


def test_a_sonifier_that_hangs_writing_examples_is_stopped(setup, tmp_path):
    tree, plugin = setup
    bench = parse_benchmark(definition(tree, sonifiers=["sonifier-hangs"], examples=1,
                                       plugin_time_limit_s=0.5))
    said: list[str] = []
    start = time.monotonic()
    report = run_benchmark(bench, tmp_path / "out", quiet=True, log=said.append,
                           plugins=load_plugins(entrypoints=False, extra=[plugin]))
    assert time.monotonic() - start < SLEEP_S
    assert report.failed == 0  # the examples are no cell: the run logs the failure
    assert any("could not write sonifier-hangs examples" in line
               and "timed out: stopped after" in line
               and "over the limit of 0.5 s" in line for line in said), said


def _hang_in(executor: str, tree, plugin, out, **options) -> None:
    """Run the hanging explainer and metric next to built-in ones in ``executor``; the hangs
    fail at the limit, the rest is recorded ok."""
    bench = parse_benchmark(definition(
        tree, explainers=["quick", "hangs"], metrics=["quick-metric", "hangs-too"],
        plugin_time_limit_s=0.5, executor=executor, **options))
    start = time.monotonic()
    report = run_benchmark(bench, out, quiet=True, log=lambda _: None,
                           plugins=load_plugins(entrypoints=False, extra=[plugin]))
    assert time.monotonic() - start < SLEEP_S
    records = {(r["explainer"], r["metric"]): r for r in read_records([out])}
    assert {r["executor"] for r in records.values()} == {executor}
    assert records[("quick", "quick-metric")]["status"] == "ok"
    assert records[(None, "test-accuracy")]["status"] == "ok"
    for cell, name in ((("hangs", "quick-metric"), "hangs"), (("hangs", "hangs-too"), "hangs"),
                       (("quick", "hangs-too"), "hangs-too")):
        assert timed_out(records[cell], plugin.stem, name, "0.5"), records[cell]["error"]
    assert report.failed == 3


def test_a_hang_is_stopped_in_the_process_pool(setup, tmp_path):
    # the units run on each worker process's main thread, where the alarm can stop a call
    tree, plugin = setup
    _hang_in("processes", tree, plugin, tmp_path / "out", workers=2)


@pytest.mark.ray
def test_a_hang_is_stopped_on_a_ray_worker(setup, tmp_path):
    # a Ray task runs on its worker's main thread too (tox -e ray)
    pytest.importorskip("ray", reason="the ray extra: pip install 'audioxai-bench[ray]'")
    tree, plugin = setup
    _hang_in("ray", tree, plugin, tmp_path / "out")
