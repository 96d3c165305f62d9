"""F1: a metric must not change what the shared memo holds for other cells (shared_memo.py).

A plugin metric that halved the shared deletion curves in place changed the faithfulness gap of
every later explainer on the panel (exit 0), and the score cache kept the wrong values."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import audioxai_bench
from audioxai_bench.api.metric import EvalBatch
from audioxai_bench.guard import ModelKeeper, PluginCallError, score_metric
from audioxai_bench.plugins import PluginManager, load_plugins
from audioxai_bench.run.definition import parse_benchmark
from audioxai_bench.run.records import cell_key, read_records
from audioxai_bench.run.runner import run_benchmark
from audioxai_bench.shared_memo import MemoKeeper, arrays_in
from tests.helpers import write_tree
from tests.test_guard import ProbeMetric, definition, scale_weights, tiny_net


def floats_in(value):
    """Every floating tensor in a memo entry."""
    return [t for t in arrays_in(value) if isinstance(t, torch.Tensor) and t.is_floating_point()]


def halve_in_place(batch):
    for value in batch.shared.values():
        for t in floats_in(value):
            t.mul_(0.5)


def halve_through_data(batch):  # bumps no version counter
    for value in batch.shared.values():
        for t in floats_in(value):
            t.data.mul_(0.5)


class Panel:
    """One batch of a panel as the runner scores it: a model keeper and one memo (with its
    keeper) that every explainer's batch shares."""

    def __init__(self):
        g = torch.Generator().manual_seed(1)
        self.net = tiny_net()
        self.x, self.target = torch.randn(3, 1, 8000, generator=g), torch.tensor([0, 4, 7])
        self.keeper, self.shared = ModelKeeper(self.net), {}
        self.memo = MemoKeeper(self.shared)

    def batch(self, relevance, shared=True) -> EvalBatch:
        return EvalBatch(model=self.net, x=self.x, target=self.target, relevance=relevance,
                         representation="waveform", seed=0,
                         shared=self.shared if shared else {})

    def score(self, metric, relevance, plugin="builtin", shared=True):
        return score_metric(metric, self.batch(relevance, shared), name=metric.name,
                            plugin=plugin, keeper=self.keeper,
                            memo=self.memo if shared else None)


@pytest.fixture
def gap() -> object:
    return PluginManager(entrypoints=False).metrics.get("faithfulness-gap")


@pytest.mark.parametrize("write", [halve_in_place, halve_through_data])
def test_a_metric_that_writes_into_the_memo_fails_and_later_cells_are_clean(gap, write):
    panel = Panel()
    first, second = panel.x.abs(), panel.x.flip(-1).abs()  # two explainers' relevance
    panel.score(gap, first)  # the first explainer fills the memo
    assert panel.shared
    kept = {k: [t.clone() for t in floats_in(v)] for k, v in panel.shared.items()}
    with pytest.raises(PluginCallError) as info:
        panel.score(ProbeMetric(write), first, plugin="axbprobe 0.1")
    err = info.value
    assert err.kind == "memo-changed"
    assert str(err) == ("metric 'probe-metric' (plugin axbprobe 0.1): changed the shared memo: "
                        "modified 'perturbation-curves' (restored)")
    for key, tensors in kept.items():  # put back in place
        assert all(torch.equal(a, b) for a, b in zip(floats_in(panel.shared[key]), tensors,
                                                      strict=True))
    later = panel.score(gap, second).scores  # the next explainer reads the memo
    assert torch.equal(later, panel.score(gap, second, shared=False).scores)


def test_an_entry_replaced_by_another_plugin_is_put_back(gap):
    panel = Panel()
    panel.score(gap, panel.x.abs())
    (key, value), = panel.shared.items()

    def replace(batch):
        batch.shared[key] = dataclasses.replace(value, probability=value.probability * 0.5)

    with pytest.raises(PluginCallError, match=r"replaced 'perturbation-curves', made by builtin"):
        panel.score(ProbeMetric(replace), panel.x.abs(), plugin="axbprobe 0.1")
    assert panel.shared[key] is value
    panel.score(ProbeMetric(replace), panel.x.abs(), plugin="builtin")  # its maker may


def test_entries_a_failed_call_made_are_discarded(gap):
    """Curves computed while a metric had the weights halved must not feed later cells."""
    panel = Panel()

    def poison(batch):
        scale_weights(batch)
        gap.score(batch)  # fills the memo with curves of the spoilt model

    with pytest.raises(PluginCallError, match="modified weight"):
        panel.score(ProbeMetric(poison), panel.x.abs(), plugin="axbprobe 0.1")
    assert panel.shared == {}


class MemoPlugin:
    @audioxai_bench.hookimpl
    def audioxai_bench_metrics(self):
        return [ProbeMetric(halve_in_place)]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tree") / "data"
    return write_tree(root, [1, 2, 4, 11, 5, 13], reps=range(1))


def test_a_metric_that_replaces_a_field_and_writes_the_memo_is_an_input_change(gap):
    """Both at once: the cell's kind is the replaced field's, its reason names both."""
    panel = Panel()
    panel.score(gap, panel.x.abs())

    def both(batch):
        halve_in_place(batch)
        object.__setattr__(batch, "relevance", batch.relevance * 2)

    with pytest.raises(PluginCallError) as info:
        panel.score(ProbeMetric(both), panel.x.abs(), plugin="axbprobe 0.1")
    assert info.value.kind == "input-changed"
    assert "replaced a field of its EvalBatch" in str(info.value)
    assert "changed the shared memo" in str(info.value)


def test_an_owner_renewing_its_entry_from_one_it_broke_keeps_nothing():
    """A call that spoils another plugin's entry and then renews its own from it: the renewal
    rests on broken values, so the old entry comes back (review of F1)."""
    shared = {"a": torch.ones(3), "b": torch.full((2,), 42.0)}
    memo = MemoKeeper(shared)
    before = memo.before()
    memo.after(before, "p1")  # both kept, made before the keeper saw them (no owner)
    before = memo.before()
    shared["a"].zero_()  # another plugin's entry spoilt in place
    shared["b"] = shared["a"].sum().reshape(1)  # its own renewed from it
    assert memo.after(before, "p2") == ["modified 'a'"]
    assert torch.equal(shared["a"], torch.ones(3))
    assert torch.equal(shared["b"], torch.full((2,), 42.0))  # the renewal not kept


def test_a_numpy_entry_that_cannot_be_put_back_is_dropped():
    """An array changed and made read-only cannot be written back: called restored, it stayed
    wrong (so did a reshaped one)."""
    shared = {"c": np.arange(6.0)}
    memo = MemoKeeper(shared)
    before = memo.before()
    shared["c"][0] = 99.0
    shared["c"].flags.writeable = False
    assert memo.after(before, "p2") == ["modified 'c'"]
    assert "c" not in shared  # computed again by the next metric that needs it


def test_run_with_a_memo_writer_keeps_every_other_cell_and_the_score_cache_clean(
        tree, tmp_path, private_cache):
    pm = load_plugins(entrypoints=False)
    pm.register(MemoPlugin(), "axbprobe")
    metrics = ["faithfulness-gap", "probe-metric", "gini"]
    probe = parse_benchmark(definition(tree, explainers=["gradient", "random", "gradient-x-input"],
                                       metrics=metrics))
    report = run_benchmark(probe, tmp_path / "probe", quiet=True, plugins=pm, log=lambda _: None)
    records = {cell_key(r)[5:]: r for r in read_records([tmp_path / "probe"])}
    failed = [r for k, r in records.items() if r["status"] != "ok"]
    assert {r["metric"] for r in failed} == {"probe-metric"} and report.failed == 3
    assert all("changed the shared memo: modified 'perturbation-curves' (restored)" in r["error"]
               for r in failed)

    # without the plugin, from the same score cache, and with the score cache bypassed
    clean = parse_benchmark(definition(tree, explainers=["gradient", "random", "gradient-x-input"]))
    for out, rescore in (("cached", False), ("fresh", True)):
        run_benchmark(clean, tmp_path / out, quiet=True, plugins=load_plugins(entrypoints=False),
                      log=lambda _: None, rescore=rescore)
        again = {cell_key(r)[5:]: r["value"] for r in read_records([tmp_path / out])}
        assert len(again) == 7
        assert {k: records[k]["value"] for k in again} == again
