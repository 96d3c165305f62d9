"""The plugin manager: registration, validation, failure isolation and the explainer contract."""

from __future__ import annotations

import dataclasses
import sys
import time
import types
import uuid
from pathlib import Path

import pytest
import torch
from torch import nn

import audioxai_bench
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.plugins import (
    ExplainerError,
    PluginManager,
    load_plugins,
    run_explainer,
)
from audioxai_bench.run.folder import write_sonified

BUILTIN_EXPLAINERS = {
    "lrp-epsilon", "lrp-epsilon-plus-flat", "lrp-epsilon-alpha2-beta1", "lrp-epsilon-gamma-box",
    "gradient", "gradient-x-input", "integrated-gradients", "smoothgrad", "occlusion",
    "random", "amplitude",
    # the 0 dB reference variants, spectrograms only
    "gradient-x-input-0db", "lrp-epsilon-0db", "lrp-epsilon-alpha2-beta1-0db",
}


class Explainer:
    """A duck-typed explainer whose behaviour the tests choose."""

    representations = frozenset({"waveform", "spectrogram"})

    def __init__(self, name: str, fn=None):
        self.name = name
        self.fn = fn or (lambda model, x, target: torch.zeros_like(x))

    def explain(self, model, x, target):
        return self.fn(model, x, target)


def plugin(name: str, explainers=None, version: str | None = None, **hooks) -> types.ModuleType:
    """A plugin module implementing ``audioxai_bench_explainers`` (and any other ``hooks``)."""
    module = types.ModuleType(name)
    module.__version__ = version
    if explainers is not None:
        def audioxai_bench_explainers():
            return explainers() if callable(explainers) else explainers
        module.audioxai_bench_explainers = audioxai_bench.hookimpl(audioxai_bench_explainers)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, audioxai_bench.hookimpl(fn))
    return module



def bare() -> PluginManager:
    return PluginManager(builtins=False, entrypoints=False)


@pytest.fixture
def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(1, 4, 3, padding=1), nn.ReLU(), nn.Dropout(0.5),
                         nn.Flatten(), nn.Linear(4 * 16, 3)).eval()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(2, 1, 16), torch.tensor([0, 2])


# --- registration -----------------------------------------------------------------------------


def test_markers_are_exported():
    assert audioxai_bench.hookimpl.project_name == "audioxai_bench"
    assert audioxai_bench.hookspec.project_name == "audioxai_bench"


def test_builtins_register_through_the_hooks():
    pm = PluginManager(entrypoints=False)
    assert pm.failures == []
    assert set(pm.explainers.names()) == BUILTIN_EXPLAINERS
    assert pm.models.names() == ["alexnet", "audionet"]
    assert pm.models.get("audionet").representation == "waveform"
    rows = pm.describe()
    assert list(rows[0]) == ["kind", "name", "plugin", "version", "origin", "representations"]
    assert {(r["plugin"], r["version"], r["origin"]) for r in rows} == {
        ("builtin", audioxai_bench.__version__, "builtin")}
    assert {r["name"] for r in rows if r["kind"] == "explainer"} == BUILTIN_EXPLAINERS
    assert {r["name"]: r["representations"] for r in rows}["alexnet"] == "spectrogram"
    order = ["explainer", "sonifier", "metric", "model"]
    assert [r["kind"] for r in rows] == sorted((r["kind"] for r in rows), key=order.index)
    plugins = {r["name"]: r for r in pm.describe_plugins()}
    assert plugins["builtin.explainers_lrp"]["hooks"] == "audioxai_bench_explainers"
    assert plugins["builtin.models"]["plugin"] == "builtin"


def test_unknown_name_lists_the_valid_names():
    pm = PluginManager(entrypoints=False)
    with pytest.raises(AudioXaiError, match="unknown explainer 'lrp-eps'.*lrp-epsilon-plus-flat"):
        pm.explainers.get("lrp-eps")
    with pytest.raises(AudioXaiError, match="unknown model 'resnet'; valid names: alexnet, aud"):
        pm.models.get("resnet")
    with pytest.raises(AudioXaiError, match="unknown metric 'aopc'; valid names: \\(none"):
        bare().metrics.get("aopc")


def test_an_unknown_name_suggests_a_close_one_or_loading_its_plugin():
    pm = PluginManager(entrypoints=False)
    with pytest.raises(AudioXaiError, match=r"'window-energy'; valid names: .*; is its plugin "
                                            r"loaded\? \(--plugin, plugins: in the definition"):
        pm.explainers.get("window-energy")
    with pytest.raises(AudioXaiError, match=r"'smoothgrd' \(did you mean 'smoothgrad'\?\); "
                                            r"valid names: [^;]*$"):
        pm.explainers.get("smoothgrd")


def test_duplicate_name_names_both_plugins_and_first_wins():
    pm = bare()
    first, second = Explainer("edge"), Explainer("edge")
    pm.register(plugin("pkg_a", [first], version="1.0"), "pkg_a")
    pm.register(plugin("pkg_b", [second, Explainer("other")], version="2.0"), "pkg_b")
    assert pm.explainers.get("edge") is first
    assert "other" not in pm.explainers  # pkg_b failed: nothing of it registers
    [failure] = pm.failures
    assert failure.plugin == "pkg_b"
    assert "pkg_a 1.0" in failure.reason and "pkg_b 2.0" in failure.reason


def test_a_name_given_twice_by_one_plugin_fails_the_plugin():
    pm = bare()
    pm.register(plugin("twice", [Explainer("edge"), Explainer("edge")], version="1.0"), "twice")
    assert len(pm.explainers) == 0
    [failure] = pm.failures
    assert failure.reason == "explainer 'edge' is registered twice by twice 1.0"


def test_duplicate_of_a_builtin_is_refused():
    pm = PluginManager(entrypoints=False)
    pm.register(plugin("shadow", [Explainer("gradient")]), "shadow")
    assert pm.source("explainer", "gradient").plugin == "builtin"
    assert "builtin" in pm.failures[0].reason and "shadow" in pm.failures[0].reason


def test_a_clash_says_the_whole_plugin_is_left_out_and_to_rename():
    """The reason said 'the one from dup2 is ignored' while dup2's other explainer vanished
    too."""
    pm = PluginManager(entrypoints=False)
    pm.register(plugin("dup2", [Explainer("gradient"), Explainer("fine-one")]), "dup2")
    assert "fine-one" not in pm.explainers
    [failure] = pm.failures
    assert failure.reason == ("explainer 'gradient' is registered by both builtin "
                              f"{audioxai_bench.__version__} and dup2; so nothing of dup2 is "
                              "loaded, its other objects neither: rename its explainer")


def test_a_class_returned_for_an_instance_is_named():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class WindowEnergy(audioxai_bench.BaseExplainer):
        def attribute(self, model, x, target):
            return x

    pm = bare()
    pm.register(plugin("classy", [WindowEnergy]), "classy")
    assert pm.failures[0].reason == ("explainer: returned the class WindowEnergy; return an "
                                     "instance, e.g. WindowEnergy(name=...)")


def test_raising_hook_is_reported_and_others_still_load():
    def broken():
        raise RuntimeError("cannot import my weights")

    pm = PluginManager(entrypoints=False)
    pm.register(plugin("broken_pkg", broken, version="0.3"), "broken_pkg")
    pm.register(plugin("good_pkg", [Explainer("edge")]), "good_pkg")
    assert "edge" in pm.explainers and "gradient" in pm.explainers
    [failure] = pm.failures
    assert (failure.plugin, failure.version, failure.where) == (
        "broken_pkg", "0.3", "audioxai_bench_explainers")
    assert "RuntimeError: cannot import my weights" in str(failure)


@pytest.mark.parametrize(
    ("objects", "reason"),
    [
        ([Explainer("Edge")], "lower-case"),
        ([Explainer("has space")], "lower-case"),
        ([object()], "no string attribute 'name'"),
        ([types.SimpleNamespace(name="x", representations={"image"}, explain=len)], "subset"),
        ([types.SimpleNamespace(name="x", representations="waveform", explain=len)], "a set"),
        ([types.SimpleNamespace(name="x", representations=set(), explain=len)], "non-empty"),
        ([types.SimpleNamespace(name="x", representations={"waveform"}, explain=3)], "callable"),
        (Explainer("edge"), "not a list"),
    ],
)
def test_invalid_explainers_are_refused_with_the_reason(objects, reason):
    pm = bare()
    pm.register(plugin("bad_pkg", objects), "bad_pkg")
    assert len(pm.explainers) == 0
    [failure] = pm.failures
    assert failure.plugin == "bad_pkg" and reason in failure.reason


def test_metrics_sonifiers_and_models_are_validated():
    good_metric = types.SimpleNamespace(name="gap", higher_is_better=True, score=len)
    no_direction = types.SimpleNamespace(name="drop", score=len)
    sonifier = types.SimpleNamespace(name="mask", sonify=len)
    model = types.SimpleNamespace(name="tiny", representation="waveform", input_shape=(1, 16),
                                  build=len)
    bad_model = types.SimpleNamespace(name="huge", representation="video", input_shape=(1,),
                                      build=len)
    pm = bare()
    pm.register(plugin(
        "kinds",
        audioxai_bench_metrics=lambda: [good_metric],
        audioxai_bench_sonifiers=lambda: [sonifier],
        audioxai_bench_models=lambda: [model],
    ), "kinds")
    assert (pm.metrics.names(), pm.sonifiers.names(), pm.models.names()) == (
        ["gap"], ["mask"], ["tiny"])
    assert not pm.failures
    pm = bare()
    pm.register(plugin(
        "broken_kinds",
        audioxai_bench_metrics=lambda: [good_metric, no_direction],
        audioxai_bench_sonifiers=lambda: [sonifier],
        audioxai_bench_models=lambda: [model, bad_model],
    ), "broken_kinds")
    # every problem is reported, and the plugin contributes nothing, its valid objects neither
    assert len(pm.metrics) == len(pm.sonifiers) == len(pm.models) == 0
    reasons = " | ".join(f.reason for f in pm.failures)
    assert "higher_is_better" in reasons and "representation must be" in reasons


@pytest.mark.parametrize("name", ["test-accuracy", "cue-control"])
def test_a_metric_may_not_take_the_name_of_the_runners_own_records(name):
    """Probe 5 #1: a metric named as the model's accuracy or cue control record was read as
    it (a 99 % model shown at 8 %)."""
    clash = types.SimpleNamespace(name=name, higher_is_better=True, score=len)
    pm = bare()
    pm.register(plugin("clash_pkg", audioxai_bench_metrics=lambda: [clash]), "clash_pkg")
    assert len(pm.metrics) == 0
    [failure] = pm.failures
    assert failure.plugin == "clash_pkg"
    assert failure.reason == (f"metric name {name!r} is reserved for the runner's record of "
                              + ("a model's test accuracy" if name == "test-accuracy" else
                                 "a cue model's control")
                              + ": a metric so named would be read as it; rename the metric")
    assert "\n" not in str(failure)


def test_a_sonifier_may_not_take_the_name_of_the_original_sound(tmp_path):
    """Probe 5 #13: a sonifier named original wrote its sound over each example's original
    file, and the page played it as the original."""
    clash = types.SimpleNamespace(name="original", sonify=len)
    pm = bare()
    pm.register(plugin("orig_pkg", audioxai_bench_sonifiers=lambda: [clash]), "orig_pkg")
    assert len(pm.sonifiers) == 0
    [failure] = pm.failures
    assert failure.plugin == "orig_pkg" and failure.reason == (
        "sonifier name 'original' is reserved for the file of each example's original sound "
        "(<sample>__original.wav): a sonifier so named would be read as it; rename the "
        "sonifier")
    with pytest.raises(AudioXaiError, match="^sonifier name 'original' is reserved"):
        write_sonified(clash, torch.zeros(1, 8000), torch.zeros(1, 1, 8000), "waveform",
                       tmp_path / "audio")
    assert not (tmp_path / "audio").exists()


def test_unknown_hook_is_reported():
    pm = bare()
    pm.register(plugin("typo_pkg", audioxai_bench_explainer=lambda: []), "typo_pkg")
    assert pm.failures[0].reason == ("implements an unknown hook (did you mean "
                                     "'audioxai_bench_explainers'?)")
    assert pm.failures[0].where == "audioxai_bench_explainer"


def test_a_plugin_with_a_misspelt_hook_contributes_nothing():
    """Reported FAILED, so none of it runs: not the objects of its correctly spelt hook, and
    its hooks are not called again (the plugin is unregistered)."""
    calls = []

    def good():
        calls.append("good")
        return [Explainer("typo-good")]

    pm = bare()
    pm.register(plugin("typo_pkg", good, audioxai_bench_explainer=lambda: []), "typo_pkg")
    [failure] = pm.failures
    assert (failure.plugin, failure.where) == ("typo_pkg", "audioxai_bench_explainer")
    assert "typo-good" not in pm.explainers and len(pm.explainers) == 0
    assert pm.hooks.get_plugin("typo_pkg") is None and pm.describe_plugins() == []
    assert pm.hooks.hook.audioxai_bench_explainers() == [] and calls == ["good"]
    # the name is free again: the corrected plugin loads
    pm.register(plugin("typo_pkg", good), "typo_pkg")
    assert pm.explainers.names() == ["typo-good"] and len(pm.failures) == 1


def test_strict_mode_raises_at_the_first_failure():
    pm = PluginManager(builtins=False, entrypoints=False, strict=True)
    with pytest.raises(AudioXaiError, match="plugin bad_pkg: .*lower-case"):
        pm.register(plugin("bad_pkg", [Explainer("Bad"), Explainer("good")]), "bad_pkg")
    assert len(pm.explainers) == 0 and pm.hooks.get_plugin("bad_pkg") is None


def test_block_builtin_by_name(monkeypatch):
    pm = PluginManager(entrypoints=False, block=["builtin.explainers_baseline"])
    assert "random" not in pm.explainers and "gradient" in pm.explainers
    monkeypatch.setenv("AUDIOXAI_BENCH_BLOCK_PLUGINS", "builtin.explainers_lrp, builtin.models")
    pm = load_plugins(entrypoints=False)
    assert "lrp-epsilon" not in pm.explainers and len(pm.models) == 0
    assert "gradient" in pm.explainers


def test_a_block_name_that_matches_no_plugin_is_an_error_naming_it(monkeypatch):
    """A misspelt entry blocks nothing; accepted silently, the user would believe the plugin
    is off while it runs."""
    monkeypatch.setenv("AUDIOXAI_BENCH_BLOCK_PLUGINS", "builtin.explainers_lrp, builtin.modles")
    with pytest.raises(AudioXaiError) as raised:
        load_plugins(entrypoints=False)
    text = str(raised.value)
    assert text.startswith("AUDIOXAI_BENCH_BLOCK_PLUGINS: 'builtin.modles' (did you mean "
                           "'builtin.models'?) matches no plugin; known plugins: ")
    assert "\n" not in text and "builtin.explainers_lrp" in text
    monkeypatch.delenv("AUDIOXAI_BENCH_BLOCK_PLUGINS")
    with pytest.raises(AudioXaiError, match=r"^block: 'nope', 'nada' match no plugin; known"):
        load_plugins(entrypoints=False, block=["nope", "nada"])


def test_a_block_name_with_underscores_for_dashes_gets_the_dashed_name(tmp_path, monkeypatch):
    """'my_plugin' (the module) for 'my-plugin' (the entry point) got no "did you mean", which
    every other unknown name gets."""
    write_distribution(tmp_path, "my-plugin", "0.1.0", {"my-plugin": "my_plugin_not_imported"})
    # closer by spelling alone
    write_distribution(tmp_path, "other-plugin", "0.1.0", {"my_plugins": "not_imported_either"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("AUDIOXAI_BENCH_BLOCK_PLUGINS", "my_plugin")
    with pytest.raises(AudioXaiError, match=r"^AUDIOXAI_BENCH_BLOCK_PLUGINS: 'my_plugin' \(did "
                                            r"you mean 'my-plugin'\?\) matches no plugin"):
        load_plugins(entrypoints=False)


def write_distribution(root: Path, dist: str, version: str, entry_points: dict[str, str]) -> None:
    """A minimal installed distribution (``.dist-info``) that importlib.metadata finds."""
    info = root / f"{dist}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[audioxai_bench]\n{lines}")


def test_entry_points_are_loaded_with_distribution_and_version(tmp_path, monkeypatch):
    module = f"fake_plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "import torch\nimport audioxai_bench\n\n"
        "class Edge:\n"
        "    name = 'fake-edge'\n"
        "    representations = {'waveform'}\n"
        "    def explain(self, model, x, target):\n"
        "        return torch.zeros_like(x)\n\n"
        "@audioxai_bench.hookimpl\n"
        "def audioxai_bench_explainers():\n"
        "    return [Edge()]\n"
    )
    write_distribution(tmp_path, "fake-plug", "1.2.3",
                       {"fake": module, "gone": "no_such_module_anywhere"})
    other = tmp_path / "other"
    write_distribution(other, "other-plug", "0.1", {"fake": module})  # a name clash
    monkeypatch.syspath_prepend(str(other))
    monkeypatch.syspath_prepend(str(tmp_path))

    pm = load_plugins()
    row = next(r for r in pm.describe() if r["name"] == "fake-edge")
    assert (row["plugin"], row["version"], row["origin"], row["representations"]) == (
        "fake-plug", "1.2.3", "entry point", "waveform")
    assert "gradient" in pm.explainers  # built-ins unaffected
    [failure] = [f for f in pm.failures if f.plugin == "fake-plug"]
    assert "gone" in failure.where and "ModuleNotFoundError" in failure.reason
    [clash] = [f for f in pm.failures if f.plugin == "other-plug"]
    assert "'fake' is already used by fake-plug 1.2.3" in clash.reason

    # the installed package named again (--plugin, a definition's plugins:) is the same plugin
    again = load_plugins(extra=[module])
    assert not [f for f in again.failures if f.plugin == module]  # was: already
    # registered under a different name, which stopped the run
    assert again.register_path(module) == "fake" and again.extra[module] == "fake"
    assert again.source("explainer", "fake-edge").plugin == "fake-plug"

    assert "fake-edge" not in load_plugins(block=["fake"]).explainers  # the entry-point name
    # an installed plugin's names are known to the block list even when not loaded
    load_plugins(entrypoints=False, block=["fake", "fake-plug", "other-plug"])
    # blocking a distribution leaves the other one's entry point of the same name free
    assert load_plugins(block=["fake-plug"]).source("explainer", "fake-edge").plugin == (
        "other-plug")


# --- variants ---------------------------------------------------------------------------------


def test_make_variant_registers_a_configured_copy():
    pm = PluginManager(entrypoints=False)
    variant = pm.make_variant("occlusion", "occlusion-200ms", {"waveform_window": 1600,
                                                                "waveform_stride": 800})
    assert pm.explainers.get("occlusion-200ms") is variant
    assert variant.params["waveform_window"] == 1600 and variant.params["waveform_stride"] == 800
    assert pm.explainers.get("occlusion").params["waveform_window"] == 80  # base untouched
    src = pm.source("explainer", "occlusion-200ms")
    assert (src.plugin, src.origin) == ("builtin", "variant of occlusion")
    eps = pm.make_variant("lrp-epsilon", "lrp-eps-small", {"epsilon": "1e-6"})  # YAML string
    assert eps.epsilon == 1e-6
    box = pm.make_variant("lrp-epsilon-gamma-box", "lrp-box-db", {"low": "-80", "high": 0})
    assert (box.low, box.high) == (-80.0, 0)


def test_base_classes_say_which_method_to_implement(net, batch):
    """A subclass that overrides the wrong method got a bare NotImplementedError."""

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Wrong(audioxai_bench.BaseExplainer):
        def explain_batch(self, model, x, target):
            return x

    with pytest.raises(ExplainerError, match=r"NotImplementedError: Wrong must implement "
                                             r"attribute\(model, x, target\)"):
        run_explainer(Wrong(name="wrong"), net, *batch)
    with pytest.raises(NotImplementedError, match=r"TopShare must implement score\(batch\)"):
        audioxai_bench.BaseMetric.score(TopShare(name="t", higher_is_better=True), None)
    with pytest.raises(NotImplementedError, match=r"Gate must implement render\(waveform, "):
        audioxai_bench.BaseSonifier.render(Gate(name="g"), None, None, "waveform")


def test_a_scalar_metric_score_is_asked_for_one_score_per_sample():
    with pytest.raises(AudioXaiError, match=r"^MetricOutput: scores must be a \(B,\) tensor, "
                                            r"one value per sample, got \(\)$"):
        audioxai_bench.MetricOutput(scores=torch.tensor(0.5))
    with pytest.raises(AudioXaiError, match=r"curve 'c' must be a \(2, K\) tensor, one row per "
                                            r"sample, got \(3, 4\)$"):
        audioxai_bench.MetricOutput(scores=torch.zeros(2), curves={"c": torch.zeros(3, 4)},
                                    grid=torch.zeros(4))


def test_make_variant_errors_are_one_line():
    pm = PluginManager(entrypoints=False)
    pm.register(plugin("plain", [Explainer("edge")]), "plain")
    with pytest.raises(AudioXaiError, match="no parameter 'window'; valid: .*waveform_window"):
        pm.make_variant("occlusion", "occ2", {"window": 3})
    with pytest.raises(AudioXaiError, match="already|both"):
        pm.make_variant("occlusion", "gradient", {})
    with pytest.raises(AudioXaiError, match="takes no parameters"):
        pm.make_variant("edge", "edge2", {"x": 1})
    with pytest.raises(AudioXaiError, match="unknown explainer 'nope'"):
        pm.make_variant("nope", "n2", {})
    with pytest.raises(AudioXaiError, match="composite"):
        pm.make_variant("lrp-epsilon", "lrp-x", {"composite": "magic"})
    with pytest.raises(AudioXaiError, match="lower-case"):
        pm.make_variant("lrp-epsilon", "LRP", {})
    with pytest.raises(AudioXaiError, match="must be like"):
        pm.make_variant("smoothgrad", "sg", {"n_samples": "many"})

    class DropsParams(Explainer):
        """with_params keeps the new name but not the parameters (probe F11)."""

        power = 1.0

        def with_params(self, name, **params):
            return DropsParams(name)

    pm.register(plugin("drops", [DropsParams("scaled")]), "drops")
    with pytest.raises(AudioXaiError, match=r"explainer 'scaled' \(plugin drops.*\): with_params "
                                            r"ignored power=4.0 \(the variant holds 1.0\)"):
        pm.make_variant("scaled", "scaled-sq", {"power": 4.0})


@dataclasses.dataclass(frozen=True, kw_only=True)
class TopShare(audioxai_bench.BaseMetric):
    """A plugin metric with a float parameter and no with_params (the dataclass path)."""

    percent: float = 10.0
    cap: float | None = None
    count: int | None = None
    label: str | None = None

    def score(self, batch):
        return audioxai_bench.MetricOutput(scores=torch.zeros(batch.size))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Gate(audioxai_bench.BaseSonifier):
    """A plugin sonifier without parameters."""

    def render(self, waveform, relevance, representation):
        return waveform


def test_a_dataclass_metrics_parameters_are_typed_before_any_work():
    """A text where a number belongs failed every cell with a bare TypeError naming neither
    the parameter nor the plugin; it now stops the configuration, like an explainer's."""
    pm = bare()
    pm.register(plugin("mine", audioxai_bench_metrics=lambda: [
        TopShare(name="top-share", higher_is_better=True)], version="0.1"), "mine")
    with pytest.raises(AudioXaiError, match=r"^metric 'top-share' \(plugin mine 0.1\): "
                                            r"parameter 'percent' must be like 10.0, got 'five'$"):
        pm.configured("metric", "top-share", "top-share-x", {"percent": "five"})
    assert pm.configured("metric", "top-share", "top-5", {"percent": 5}).percent == 5.0
    assert pm.configured("metric", "top-share", "top-5", {"percent": "5e0"}).percent == 5.0
    # a parameter whose default is None goes by its annotation: numbers stay numbers, of their
    # kind, and any other optional field takes the value as given
    with pytest.raises(AudioXaiError, match=r"parameter 'cap' must be a number, got 'high'$"):
        pm.configured("metric", "top-share", "capped", {"cap": "high"})
    variant = pm.configured("metric", "top-share", "v", {"cap": "1e-3", "count": "16",
                                                         "label": "loud"})
    assert (variant.cap, variant.count, variant.label) == (1e-3, 16, "loud")
    assert isinstance(variant.count, int)


def test_a_sonifier_without_parameters_says_so():
    pm = bare()
    pm.register(plugin("mine", audioxai_bench_sonifiers=lambda: [Gate(name="gate")]), "mine")
    with pytest.raises(AudioXaiError, match=r"sonifier 'gate' \(plugin mine\): has no parameter "
                                            r"'gain': it takes no parameters$"):
        pm.configured("sonifier", "gate", "gate2", {"gain": 2})


def test_an_explainers_bad_parameter_names_its_plugin():
    pm = PluginManager(entrypoints=False)
    with pytest.raises(AudioXaiError, match=r"^explainer 'smoothgrad' \(plugin builtin .*\): "
                                            r"parameter 'n_samples' must be like 16"):
        pm.make_variant("smoothgrad", "sg", {"n_samples": "many"})


# --- the explainer contract -------------------------------------------------------------------


def assert_model_intact(net: nn.Module, state: dict, training: bool) -> None:
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert all(m.training == training for m in net.modules())


def test_good_explainer_passes(net, batch):
    x, target = batch
    result = run_explainer(Explainer("ok", lambda m, x, t: torch.ones_like(x)), net, x, target)
    assert torch.equal(result, torch.ones_like(x))


@pytest.mark.parametrize(
    ("fn", "kind", "reason"),
    [
        (lambda m, x, t: 1 / 0, "exception", "raised ZeroDivisionError"),
        (lambda m, x, t: torch.zeros(2, 16), "shape", "shape (2, 16), expected (2, 1, 16)"),
        (lambda m, x, t: torch.full_like(x, float("nan")), "non-finite", "32 NaN/Inf"),
        (lambda m, x, t: x.new_full(x.shape, float("inf")), "non-finite", "NaN/Inf"),
        (lambda m, x, t: x.long(), "type", "not a floating type"),
        (lambda m, x, t: x.numpy(), "type", "ndarray, not a Tensor"),
        (lambda m, x, t: (m.train(), x)[1], "model-changed", "train/eval mode"),
        (lambda m, x, t: (m[0].weight.data.add_(1), x)[1], "model-changed", "modified weight"),
        (lambda m, x, t: (setattr(m[0], "bias", nn.Parameter(torch.zeros(4))), x)[1],
         "model-changed", "replaced bias"),
        (lambda m, x, t: (m(x).sum().backward(), x)[1], "model-changed", ".grad"),
        (lambda m, x, t: (m[0].register_forward_hook(lambda *a: None), x)[1], "model-changed",
         "left hooks"),
        (lambda m, x, t: (torch.set_grad_enabled(False), x)[1], "model-changed", "autograd"),
        (lambda m, x, t: x.mul_(0), "input-changed", "modified its input"),
    ],
)
def test_broken_explainer_is_reported_and_the_model_restored(net, batch, fn, kind, reason):
    x, target = batch
    x_before = x.clone()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ExplainerError) as info:
        run_explainer(Explainer("bad-one", fn), net, x, target, plugin="badpkg 0.1")
    err = info.value
    assert (err.explainer, err.plugin, err.kind) == ("bad-one", "badpkg 0.1", kind)
    assert reason in str(err) and "'bad-one' (plugin badpkg 0.1)" in str(err)
    assert isinstance(err, AudioXaiError) and "\n" not in str(err)
    # everything is back: the next method sees the same model, input and autograd state
    assert_model_intact(net, state, training=False)
    assert all(p.grad is None for p in net.parameters())
    assert torch.is_grad_enabled() and torch.equal(x, x_before)
    good = run_explainer(Explainer("good"), net, x, target)
    assert good.shape == x.shape


def test_exception_after_changing_the_model_mentions_both(net, batch):
    def fn(m, x, t):
        m.train()
        raise ValueError("oops")

    with pytest.raises(ExplainerError, match="raised ValueError: oops; it also changed the train"):
        run_explainer(Explainer("bad", fn), net, *batch)
    assert not net.training


def test_slow_explainer_is_stopped_at_its_time_limit(net, batch):
    def slow(m, x, t):
        time.sleep(0.15)
        return torch.zeros_like(x)

    with pytest.raises(ExplainerError, match="over the limit of 0.05 s") as info:
        run_explainer(Explainer("slow", slow), net, *batch, time_limit_s=0.05)
    assert info.value.kind == "timeout" and 0.05 <= info.value.seconds < 0.15  # stopped
    assert run_explainer(Explainer("slow", slow), net, *batch, time_limit_s=5).shape == (2, 1, 16)


def test_manager_explain_names_the_plugin_and_checks_the_representation(net, batch):
    pm = bare()
    pm.register(plugin("nanpkg", [Explainer("nan", lambda m, x, t: x * float("nan"))],
                       version="9.9"), "nanpkg")
    with pytest.raises(ExplainerError, match="'nan' \\(plugin nanpkg 9.9\\): returned"):
        pm.explain("nan", net, *batch)
    net.representation = "spectrogram"
    wave_only = Explainer("wave")
    wave_only.representations = {"waveform"}
    pm.register(plugin("wavepkg", [wave_only]), "wavepkg")
    with pytest.raises(AudioXaiError, match="does not support spectrogram models"):
        pm.explain("wave", net, *batch)


def test_bad_target_is_the_callers_error(net, batch):
    x, _ = batch
    for target in (torch.tensor([0]), torch.tensor([0.0, 1.0]), torch.tensor([[0], [1]])):
        with pytest.raises(AudioXaiError) as info:
            run_explainer(Explainer("ok"), net, x, target)
        assert not isinstance(info.value, ExplainerError)


def test_the_old_hookspecs_path_warns_that_it_goes(monkeypatch):
    """It said it worked "for one release (0.2)" in 0.1.0, and warned nobody."""
    import importlib

    from audioxai_bench.api import hookspecs

    monkeypatch.delitem(sys.modules, "audioxai_bench.hookspecs", raising=False)
    with pytest.warns(DeprecationWarning, match=r"moved to audioxai_bench\.api\.hookspecs"):
        old = importlib.import_module("audioxai_bench.hookspecs")
    assert old.hookimpl is hookspecs.hookimpl and old.hookspec is hookspecs.hookspec
