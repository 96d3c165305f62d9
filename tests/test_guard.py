"""The plugin guard (issue 14; cases of the reliability probe, reviews/reliability-probe.md §5).

Every test lets one plugin misbehave, checks the reason it fails with, then computes a
well-behaved cell (the ``gradient`` explainer scored by ``faithfulness-gap``) and checks it equals
the same cell of a clean model: what the plugin did is undone, later cells are unaffected.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import torch
import torch.nn.modules.module as torch_module
import yaml
from torch import nn

import audioxai_bench
from audioxai_bench.api.metric import EvalBatch, MetricOutput
from audioxai_bench.cli import main
from audioxai_bench.guard import (
    ExplainerError,
    ModelKeeper,
    PluginCallError,
    check_repeatable,
    explainer_notes,
    run_explainer,
    score_metric,
    time_limit_of,
)
from audioxai_bench.guarded import GuardedSonifier
from audioxai_bench.plugins import PluginManager, load_plugins
from audioxai_bench.run.definition import parse_benchmark
from audioxai_bench.run.records import cell_key, read_records
from audioxai_bench.run.runner import run_benchmark
from tests.helpers import write_tree


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(1, 4, 64, stride=32), nn.ReLU(), nn.AdaptiveAvgPool1d(4),
                        nn.Flatten(), nn.Linear(16, 10)).eval()
    net.representation = "waveform"
    return net


@pytest.fixture(scope="module")
def pm() -> PluginManager:
    return PluginManager(entrypoints=False)


@pytest.fixture
def net() -> nn.Module:
    return tiny_net()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(3, 1, 8000, generator=g), torch.tensor([0, 4, 7])


def good_cell(pm, net, x, target, keeper=None) -> dict[str, torch.Tensor]:
    """The well-behaved cell: gradient relevance, and its faithfulness gap."""
    relevance = run_explainer(pm.explainers.get("gradient"), net, x, target, keeper=keeper)
    out = score_metric(pm.metrics.get("faithfulness-gap"),
                       EvalBatch(model=net, x=x, target=target, relevance=relevance,
                                 representation="waveform", seed=0),
                       name="faithfulness-gap", plugin="builtin", keeper=keeper)
    return {"relevance": relevance, "gap": out.scores}


@pytest.fixture(scope="module")
def clean(pm) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return good_cell(pm, tiny_net(), torch.randn(3, 1, 8000, generator=g),
                     torch.tensor([0, 4, 7]))


def assert_unaffected(pm, net, batch, clean, keeper=None) -> None:
    later = good_cell(pm, net, *batch, keeper=keeper)
    assert torch.equal(later["relevance"], clean["relevance"])
    assert torch.equal(later["gap"], clean["gap"])


class Probe:
    """An explainer whose ``explain`` runs ``fn`` and returns ``|x|``."""

    representations = frozenset({"waveform", "spectrogram"})

    def __init__(self, fn, name: str = "probe", **attrs):
        self.name, self.fn = name, fn
        self.__dict__.update(attrs)

    def explain(self, model, x, target):
        self.fn(model, x)
        return x.abs()


class ProbeMetric:
    name = "probe-metric"
    higher_is_better = True

    def __init__(self, fn, **attrs):
        self.fn = fn
        self.__dict__.update(attrs)

    def score(self, batch):
        self.fn(batch)
        return MetricOutput(scores=torch.zeros(batch.size, dtype=torch.float64))


def explain_fails(probe, net, batch, keeper=None, **kw) -> ExplainerError:
    with pytest.raises(ExplainerError) as info:
        run_explainer(probe, net, *batch, plugin="axbprobe 0.1", keeper=keeper, **kw)
    assert "explainer 'probe' (plugin axbprobe 0.1): " in str(info.value)
    assert "\n" not in str(info.value)
    return info.value


def metric_fails(metric, net, batch, keeper=None) -> PluginCallError:
    x, target = batch
    eval_batch = EvalBatch(model=net, x=x, target=target, relevance=x.abs(),
                           representation="waveform", seed=0)
    with pytest.raises(PluginCallError) as info:
        score_metric(metric, eval_batch, name="probe-metric", plugin="axbprobe 0.1",
                     keeper=keeper)
    assert "metric 'probe-metric' (plugin axbprobe 0.1): " in str(info.value)
    return info.value


def no_grad_params(model, x):
    for p in model.parameters():
        p.requires_grad_(False)


# --- P6, P9: what the probe saw no harm from, now detected ---------------------------------------


def test_p6_requires_grad_switched_off(pm, net, batch, clean):
    err = explain_fails(Probe(no_grad_params), net, batch)
    assert err.kind == "model-changed"
    assert err.reason == ("switched requires_grad of weight of 0 (Conv1d), bias of 0 (Conv1d), "
                          "weight of 4 (Linear) and 1 more (restored)")
    assert all(p.requires_grad for p in net.parameters())
    assert_unaffected(pm, net, batch, clean)


def test_an_attribute_left_on_many_modules_is_one_clause(batch):
    """As captum's DeepLift on AlexNet: 'input' left on 24 layers gave 24 clauses, a 2 kB line
    repeated for every metric."""
    net = tiny_net()
    deep = nn.Sequential(*(nn.Identity() for _ in range(5)))
    net.insert(1, deep)

    def leave_input(model, x):
        for module in deep:
            module.input = x

    err = explain_fails(Probe(leave_input), net, batch)
    assert err.reason == ("added attribute 'input' to 5 modules: 1.0 (Identity), 1.1 (Identity), "
                          "1.2 (Identity) and 2 more (restored)")
    err = explain_fails(Probe(lambda m, x: setattr(deep[0], "input", x)), net, batch)
    assert err.reason == "added attribute 'input' to 1.0 (Identity) (restored)"
    assert not any(hasattr(module, "input") for module in deep)


def test_p9_default_dtype(pm, net, batch, clean):
    try:
        err = explain_fails(Probe(lambda m, x: torch.set_default_dtype(torch.float64)), net,
                            batch)
        assert torch.get_default_dtype() == torch.float32
    finally:
        torch.set_default_dtype(torch.float32)  # never leak into other tests
    assert "changed the default dtype (restored)" in err.reason
    assert_unaffected(pm, net, batch, clean)


def test_model_converted_to_double(pm, net, batch, clean):
    err = explain_fails(Probe(lambda m, x: m.double()), net, batch)
    assert "changed the shape, dtype or device of weight of 0 (Conv1d)" in err.reason
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert_unaffected(pm, net, batch, clean)


# --- hooks and structure ---------------------------------------------------------------------


def test_global_module_hook(pm, net, batch, clean):
    def doubling(model, x):  # a global forward hook doubles every module's output
        torch_module.register_module_forward_hook(lambda module, args, out: out * 2)

    err = explain_fails(Probe(doubling), net, batch)
    assert "left global module hooks (global_forward_hooks) (restored)" in err.reason
    assert not torch_module._global_forward_hooks
    assert_unaffected(pm, net, batch, clean)


def test_global_hooks_of_every_kind_are_found(net, batch):
    for register in (torch_module.register_module_forward_pre_hook,
                     torch_module.register_module_full_backward_hook,
                     torch_module.register_module_buffer_registration_hook):
        err = explain_fails(Probe(lambda m, x, register=register: register(
            lambda *a, **k: None)), net, batch)
        assert "left global module hooks" in err.reason
    assert not any(getattr(torch_module, n) for n in dir(torch_module)
                   if n.startswith("_global_") and n.endswith("hooks"))


def test_submodule_replaced(pm, net, batch, clean):
    relu = net[1]

    def replace(model, x):
        model[1] = nn.Identity()

    err = explain_fails(Probe(replace), net, batch)
    assert "replaced submodule 1 (ReLU by Identity) (restored)" in err.reason
    assert net[1] is relu
    assert_unaffected(pm, net, batch, clean)


def test_submodule_added_and_attribute_changed(pm, net, batch, clean):
    err = explain_fails(Probe(lambda m, x: m.append(nn.Tanh())), net, batch)
    assert "added submodule 5" in err.reason and len(net) == 5
    err = explain_fails(Probe(lambda m, x: setattr(m[0], "stride", (64,))), net, batch)
    assert "replaced attribute 'stride' of 0 (Conv1d)" in err.reason and net[0].stride == (32,)
    assert_unaffected(pm, net, batch, clean)


# --- P10: an enforced time limit ---------------------------------------------------------------


def test_p10_hanging_explainer_is_stopped_at_its_limit(pm, net, batch, clean):
    probe = Probe(lambda m, x: time.sleep(30), time_limit_s=0.5)
    start = time.perf_counter()
    err = explain_fails(probe, net, batch, time_limit_s=time_limit_of(probe))
    assert time.perf_counter() - start < 5
    assert err.kind == "timeout" and "timed out: stopped after 0.5" in err.reason
    assert_unaffected(pm, net, batch, clean)


def test_p10_a_plugin_that_swallows_the_stop_is_stopped_again(net, batch):
    def stubborn(model, x):
        for _ in range(3):
            try:
                time.sleep(30)
            except Exception:
                pass

    start = time.perf_counter()
    err = explain_fails(Probe(stubborn), net, batch, time_limit_s=0.2)
    assert err.kind == "timeout" and time.perf_counter() - start < 5


def test_p10_hanging_metric_is_stopped(net, batch):
    err = metric_fails(ProbeMetric(lambda b: time.sleep(30), time_limit_s=0.3), net, batch)
    assert err.kind == "timeout" and "timed out" in err.reason


def test_p10_the_limit_of_an_outer_call_is_not_taken_for_an_inner_ones(net, batch):
    def explains_slowly(b):  # a metric that explains again, like model randomisation
        run_explainer(Probe(lambda m, x: (m.train(), time.sleep(30))), b.model, b.x, b.target)

    err = metric_fails(ProbeMetric(explains_slowly, time_limit_s=0.3), net, batch)
    assert err.kind == "timeout" and "over the limit of 0.3 s (the plugin's time_limit_s, " \
        "else the run's plugin_time_limit_s or --time-limit)" in err.reason
    assert not net.training


def test_bad_time_limit_is_refused():
    with pytest.raises(audioxai_bench.AudioXaiError, match="time_limit_s must be a positive"):
        time_limit_of(Probe(lambda m, x: None, time_limit_s=-1))
    assert time_limit_of(Probe(lambda m, x: None)) is None


# --- P13: exits of every kind ------------------------------------------------------------------


def exit0(*_):
    raise SystemExit(0)


def test_p13_system_exit_from_an_explainer_is_a_failure(pm, net, batch, clean):
    def leave(model, x):
        model.train()
        raise SystemExit(0)

    err = explain_fails(Probe(leave), net, batch)
    assert err.kind == "exception"
    assert err.reason == "raised SystemExit(0); it also changed the train/eval mode (restored)"
    assert_unaffected(pm, net, batch, clean)


def test_p13_system_exit_from_a_metric_is_a_failure(pm, net, batch, clean):
    err = metric_fails(ProbeMetric(exit0), net, batch)
    assert err.reason == "raised SystemExit(0)"
    assert_unaffected(pm, net, batch, clean)


def test_p13_keyboard_interrupt_is_the_users_and_propagates(pm, net, batch, clean):
    def interrupt(model, x):
        model.train()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_explainer(Probe(interrupt), net, *batch)
    assert not net.training  # restored on the way out
    assert_unaffected(pm, net, batch, clean)


# --- P14: repeatability ------------------------------------------------------------------------


def test_p14_nondeterministic_explainer_fails_the_check(pm, net, batch, clean):
    class Noise(Probe):
        def explain(self, model, x, target):
            return torch.rand_like(x)

    with pytest.raises(ExplainerError) as info:
        check_repeatable(Noise(None), net, *batch, plugin="axbprobe 0.1")
    assert info.value.kind == "nondeterministic"
    assert "not repeatable: two calls on the same 2 samples differ" in str(info.value)
    declared = Noise(None, deterministic=False)
    check_repeatable(declared, net, *batch)  # declared: not checked, and records say so
    assert explainer_notes(declared) == {"deterministic": False}
    assert explainer_notes(Noise(None)) == {}
    assert_unaffected(pm, net, batch, clean)


class Marked(torch.Tensor):
    """A tensor subclass, as a plugin might return to carry metadata."""


@pytest.mark.parametrize(("convert", "reason"), [
    (lambda r: r.to_sparse(), "returned a tensor of layout torch.sparse_coo, not a dense "
                              "(strided) one; return .to_dense()"),
    (lambda r: r.as_subclass(Marked), "returned a Marked, a Tensor subclass (its own operations "
                                      "could change what the metrics compute); return a plain "
                                      "Tensor")])
def test_f4_sparse_or_subclassed_relevance_is_a_contract_breach(net, batch, convert, reason):
    """Probe F4: a sparse relevance passed the check, then failed with a bare torch
    NotImplementedError naming neither the explainer nor its plugin."""
    class Converts(Probe):
        def explain(self, model, x, target):
            return convert(x.abs())

    for check in (run_explainer, check_repeatable):  # the runner calls the check first
        with pytest.raises(ExplainerError) as info:
            check(Converts(None), net, *batch, plugin="axbprobe 0.1")
        assert info.value.kind == "type"
        assert str(info.value) == f"explainer 'probe' (plugin axbprobe 0.1): {reason}"


@pytest.mark.parametrize("name", ["random", "smoothgrad", "gradient"])
def test_p14_builtins_are_repeatable(pm, net, batch, name):
    explainer = pm.explainers.get(name)
    if name == "smoothgrad":
        explainer = pm.configured("explainer", name, name, {"n_samples": 2})
    check_repeatable(explainer, net, *batch, plugin="builtin")


# --- P18, P19: metrics are guarded like explainers ---------------------------------------------


def scale_weights(batch):
    with torch.no_grad():
        for p in batch.model.parameters():
            p.mul_(0.5)


def test_p18_metric_that_scales_the_weights(pm, net, batch, clean):
    keeper = ModelKeeper(net)  # one reference per panel, as the runner keeps it
    err = metric_fails(ProbeMetric(scale_weights), net, batch, keeper=keeper)
    assert err.kind == "model-changed"
    assert err.reason == ("modified weight of 0 (Conv1d), bias of 0 (Conv1d), weight of 4 "
                          "(Linear) and 1 more (restored)")
    assert_unaffected(pm, net, batch, clean, keeper=keeper)


def test_p18_write_through_data_bumps_no_version_but_is_found(pm, net, batch, clean):
    def sneaky(batch):
        batch.model[0].weight.data.mul_(0.5)  # ._version stays as it was

    version = net[0].weight._version
    err = metric_fails(ProbeMetric(sneaky), net, batch, keeper=ModelKeeper(net))
    assert net[0].weight._version == version + 1  # the restore's own copy_
    assert err.reason == "modified weight of 0 (Conv1d) (restored)"
    assert_unaffected(pm, net, batch, clean)


def test_p19_metric_that_leaves_train_mode(pm, net, batch, clean):
    err = metric_fails(ProbeMetric(lambda b: b.model.train()), net, batch)
    assert err.reason == "changed the train/eval mode (restored)"
    assert not net.training
    assert_unaffected(pm, net, batch, clean)


def test_metric_that_changes_its_batch(pm, net, batch, clean):
    other = tiny_net()
    err = metric_fails(ProbeMetric(lambda b: object.__setattr__(b, "model", other)), net, batch)
    assert "replaced a field of its EvalBatch (restored)" in err.reason
    err = metric_fails(ProbeMetric(lambda b: b.relevance.mul_(0)), net, batch)
    assert err.reason == "modified its input (restored)"
    assert_unaffected(pm, net, batch, clean)


def test_a_metrics_own_exception_keeps_its_text(net, batch):
    x, target = batch

    def boom(b):
        raise ValueError("cannot score this")

    with pytest.raises(ValueError, match="cannot score this"):
        score_metric(ProbeMetric(boom), EvalBatch(model=net, x=x, target=target,
                                                 relevance=x.abs(), representation="waveform"),
                     name="probe-metric", plugin="axbprobe 0.1")


def test_a_guarded_sonifier_is_the_sonifier_with_its_calls_its_own(pm, batch):
    """Probe 6 #4: what a sonifier does inside a metric is the sonifier's failure, named with
    its plugin; the metric sees the sonifier's attributes and repr (memo keys hold it)."""
    import copy
    import pickle

    keep_top = pm.sonifiers.get("keep-top")
    guarded = GuardedSonifier(keep_top, "builtin 0.1")
    assert (guarded.name, guarded.representations, guarded.domain, repr(guarded)) == (
        keep_top.name, keep_top.representations, keep_top.domain, repr(keep_top))
    x, _ = batch
    signals, relevance = x[:, 0].clone(), x.clone()
    assert torch.equal(guarded.sonify(signals, relevance, "waveform"),
                       keep_top.sonify(signals, relevance, "waveform"))
    assert repr(copy.copy(guarded)) == repr(pickle.loads(pickle.dumps(guarded))) == repr(keep_top)

    class Bad:
        name, representations = "bad", frozenset({"waveform"})

        def __init__(self, fn):
            self.fn = fn

        def sonify(self, waveform, relevance, representation):
            return self.fn(waveform)

    def fails(fn) -> PluginCallError:
        with pytest.raises(PluginCallError) as info:
            GuardedSonifier(Bad(fn), "axbprobe 0.1").sonify(signals, relevance, "waveform")
        assert str(info.value).startswith("sonifier 'bad' (plugin axbprobe 0.1): ")
        return info.value

    before = signals.clone()
    assert fails(lambda w: w.mul_(0)).reason == "modified its input (restored)"
    assert torch.equal(signals, before)
    assert fails(lambda w: w[:1]).kind == "shape"
    assert fails(lambda w: w * float("nan")).kind == "non-finite"
    assert fails(lambda w: torch.set_default_dtype(torch.float64)).reason == (
        "changed the default dtype (restored)")
    assert torch.get_default_dtype() == torch.float32


# --- through the runner and the command line ---------------------------------------------------


class ProbePlugin:
    """P13 (an explainer exits) and P18 (a metric scales the weights) in one plugin."""

    @audioxai_bench.hookimpl
    def audioxai_bench_explainers(self):
        return [Probe(lambda m, x: exit0(), name="probe-exit")]

    @audioxai_bench.hookimpl
    def audioxai_bench_metrics(self):
        return [ProbeMetric(scale_weights)]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """The test, validation and two training speakers of fold 0, one clip per digit."""
    root = tmp_path_factory.mktemp("tree") / "data"
    return write_tree(root, [1, 2, 4, 11, 5, 13], reps=range(1))


def definition(tree: Path, **changes) -> dict:
    return {"version": 1, "name": "guard", "data": {"path": str(tree)}, "tasks": ["digit"],
            "models": [{"name": "audionet", "width": 0.0625}], "folds": [0],
            "training": {"preset": "cpu", "iterations": 2, "eval_every": 2, "batch_size": 8},
            "explainers": ["gradient", "random"], "metrics": ["faithfulness-gap", "gini"],
            "sonifiers": ["keep-top"], "samples": 4, "batch_size": 2, "examples": 0,
            "device": "cpu"} | changes


def test_runner_fails_the_cells_and_later_cells_equal_a_clean_run(tree, tmp_path,
                                                                   private_cache):
    pm = load_plugins(entrypoints=False)
    pm.register(ProbePlugin(), "axbprobe")
    probe = parse_benchmark(definition(tree, explainers=["probe-exit", "gradient", "random"],
                                       metrics=["probe-metric", "faithfulness-gap", "gini"]))
    report = run_benchmark(probe, tmp_path / "probe", quiet=True, plugins=pm, log=lambda _: None)
    records = {cell_key(r)[5:]: r for r in read_records([tmp_path / "probe"])}
    exits = [r for k, r in records.items() if k[0] == "probe-exit"]
    assert exits and all(r["error"] == "explainer 'probe-exit' (plugin axbprobe): raised "
                                       "SystemExit(0)" for r in exits)
    scaled = [r for k, r in records.items() if k[2] == "probe-metric" and k[0] != "probe-exit"]
    assert len(scaled) == 2 and all("modified weight of features.0 (Conv1d)" in r["error"]
                                    for r in scaled)
    assert report.failed == len(exits) + len(scaled)

    # a clean run with fresh relevance: every other cell has the same value
    for entry in (private_cache / "relevance").iterdir():
        entry.unlink()
    run_benchmark(parse_benchmark(definition(tree)), tmp_path / "clean", quiet=True,
                  plugins=load_plugins(entrypoints=False), log=lambda _: None)
    reference = {cell_key(r)[5:]: r["value"] for r in read_records([tmp_path / "clean"])}
    assert len(reference) == 5
    assert {k: records[k]["value"] for k in reference} == reference


class NaNOnOthers(Probe):
    """|x| on the first model it explains, NaN on any other (model randomisation's copies)."""

    def __init__(self):
        super().__init__(lambda model, x: None, name="nan-on-others")
        self.first = None

    def explain(self, model, x, target):
        if self.first is None:
            self.first = model
        return x.abs() if model is self.first else x * float("nan")


def test_a_metric_that_explains_again_names_the_explainer_that_broke(tree, tmp_path,
                                                                     private_cache):
    """Model randomisation explains randomised copies with the explainer under test: in a run
    that call is guarded as the explainer's (as score_attributions does), so the cell says which
    plugin broke the contract, not only that the metric failed."""
    class Plugin:
        @audioxai_bench.hookimpl
        def audioxai_bench_explainers(self):
            return [NaNOnOthers()]

    pm = load_plugins(entrypoints=False)
    pm.register(Plugin(), "axbprobe")
    bench = parse_benchmark(definition(tree, explainers=["nan-on-others"], metrics=[
        {"name": "model-randomisation", "params": {"steps": 2}}]))
    run_benchmark(bench, tmp_path / "out", quiet=True, plugins=pm, log=lambda _: None)
    [record] = [r for r in read_records([tmp_path / "out"]) if r["explainer"] == "nan-on-others"]
    assert record["status"] == "error"
    assert "explainer 'nan-on-others' (plugin axbprobe): returned" in record["error"], record


def write_distribution(root: Path, dist: str, entry_points: dict[str, str]) -> None:
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[audioxai_bench]\n{lines}")


def test_p16_p17_a_plugin_that_fails_to_load_is_not_silent_in_run(tree, tmp_path, monkeypatch,
                                                                  capsys):
    broken, clash = f"broken_{uuid.uuid4().hex[:8]}", f"clash_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{broken}.py").write_text("raise ImportError('no module named torchaudio2')\n")
    (tmp_path / f"{clash}.py").write_text(
        "import torch, audioxai_bench\n"
        "class G:\n"
        "    name = 'random'\n"
        "    representations = {'waveform'}\n"
        "    def explain(self, model, x, target):\n"
        "        return torch.zeros_like(x)\n"
        "@audioxai_bench.hookimpl\n"
        "def audioxai_bench_explainers():\n"
        "    return [G()]\n")
    write_distribution(tmp_path, "axbprobe", {"axbprobe": broken})
    write_distribution(tmp_path, "axbclash", {"axbclash": clash})
    monkeypatch.syspath_prepend(str(tmp_path))
    # 'all' explainers, kept cheap: only the baseline module's (random, amplitude) stay
    monkeypatch.setenv("AUDIOXAI_BENCH_BLOCK_PLUGINS",
                       "builtin.explainers_lrp, builtin.explainers_captum")
    spec = tmp_path / "all.yaml"
    spec.write_text(yaml.safe_dump(definition(tree, explainers="all", metrics=["gini"])))

    rc = main(["--quiet", "run", str(spec), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "warning: plugin axbprobe 0.1: entry point axbprobe" in err
    assert "ImportError: no module named torchaudio2" in err
    assert "explainer 'random' is registered by both builtin" in err  # P16
    assert "error: the benchmark asks for all explainers, but 2 plugin failure(s)" in err
    failures = json.loads((tmp_path / "out" / "run.json").read_text())["plugin_failures"]
    assert len(failures) == 2 and any("torchaudio2" in f for f in failures)

    # named explainers: what was asked for ran, so a warning but status 0
    spec.write_text(yaml.safe_dump(definition(tree, explainers=["random"], metrics=["gini"])))
    assert main(["--quiet", "run", str(spec), "--out", str(tmp_path / "named")]) == 0
    err = capsys.readouterr().err
    assert "warning: plugin axbprobe 0.1" in err and "error:" not in err
