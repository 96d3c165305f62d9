"""The executor seam without Ray: choosing one, a unit that raises, plugins rebuilt elsewhere."""

from __future__ import annotations

import pytest

from audioxai_bench.errors import AudioXaiError
from audioxai_bench.plugins import load_plugins, replicate_plugins
from audioxai_bench.run.executors import open_executor
from audioxai_bench.run.records import read_records
from audioxai_bench.run.units import Units
from tests.run.helpers import METRICS, N_CELLS, run


def test_an_unknown_executor_or_an_address_without_ray_is_refused():
    with pytest.raises(AudioXaiError, match="unknown executor 'dask'; valid: local, ray"):
        with open_executor("dask", runner=None):
            pass
    with pytest.raises(AudioXaiError, match="--address .* needs --executor ray"):
        with open_executor("local", runner=None, address="auto"):
            pass


def test_a_unit_that_raises_fails_its_cells_and_the_run_goes_on(tree, cache, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(cache))
    explain = Units.explain_unit

    def broken(self, spec, explainer, todo):
        if explainer == "random":
            raise RuntimeError("out of memory on this node")
        return explain(self, spec, explainer, todo)

    monkeypatch.setattr(Units, "explain_unit", broken)
    report = run(tree, tmp_path / "out")

    records = list(read_records([tmp_path / "out"]))
    assert len(records) == N_CELLS
    failed = [r for r in records if r["status"] == "error"]
    assert {r["explainer"] for r in failed} == {"random"} and len(failed) == len(METRICS)
    assert all(r["error"] == "RuntimeError: out of memory on this node" for r in failed)
    assert all("broken" in r["traceback"] for r in failed)
    assert report.failed == len(METRICS)
    assert {r["executor"] for r in records} == {"local"}


def test_replicated_plugins_are_the_same_plugins(tmp_path):
    plugin = tmp_path / "mine.py"
    plugin.write_text("import audioxai_bench\n\n\nclass Abs(audioxai_bench.BaseExplainer):\n"
                      "    def attribute(self, model, x, target):\n        return x.abs()\n\n\n"
                      "@audioxai_bench.hookimpl\ndef audioxai_bench_explainers():\n"
                      "    return [Abs(name='abs')]\n")
    pm = load_plugins(entrypoints=False, block=["builtin.explainers_baseline"], extra=[plugin])
    copy = replicate_plugins(pm.recipe())

    def seen(manager):
        return {r.name: (r.source.plugin, r.source.version, r.source.origin)
                for r in manager.explainers.registrations()}

    assert "abs" in seen(copy) and "random" not in seen(copy)
    assert seen(copy) == seen(pm)
