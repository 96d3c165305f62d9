"""Benchmark definitions: the shipped files resolve, and every mistake is one line that helps."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import pytest

from audioxai_bench.cli import main
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.plugins import load_plugins
from audioxai_bench.run.definition import SHIPPED, load_benchmark, parse_benchmark, shipped_path
from audioxai_bench.run.plan import plan_benchmark

MINIMAL = {"version": 1, "name": "t"}


@pytest.fixture(scope="module")
def pm():
    return load_plugins(entrypoints=False)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_definitions_parse_and_resolve(name, pm):
    bench = load_benchmark(name)
    assert bench.name == name
    plan = plan_benchmark(bench, pm)
    assert {e.name for e in plan.explainers} >= set(pm.explainers.names())
    if name.startswith("paper"):  # the others pick their metrics to fit minutes
        assert {m.name for m in plan.metrics} == set(pm.metrics.names())
    assert load_benchmark(f"benchmarks/{name}.yaml") == bench.__class__(
        **{**bench.__dict__, "source": f"benchmarks/{name}.yaml"})


def test_the_module_docstring_example_is_the_quickstart_shortened():
    """It showed other widths, folds and budget than the quickstart it named."""
    import yaml

    from audioxai_bench.run import definition

    example = definition.__doc__.split("::\n", 1)[1]
    raw = yaml.safe_load("\n".join(line[4:] for line in example.splitlines()))
    shown = parse_benchmark(raw)
    quickstart = load_benchmark("quickstart")
    for key in ("name", "data", "tasks", "models", "folds", "preset", "training", "sonifiers",
                "samples"):
        assert getattr(shown, key) == getattr(quickstart, key), key
    def named(selections):
        return [(m.name, m.base, m.params) for m in selections]

    assert all(metric in named(quickstart.metrics) for metric in named(shown.metrics))


def test_quickstart_overrides_replace_parameters_under_the_same_name(pm):
    plan = plan_benchmark(load_benchmark("quickstart"), pm)
    occlusion = {e.name: e for e in plan.explainers}["occlusion"]
    assert occlusion.params["waveform_window"] == 320
    assert occlusion.params["waveform_stride"] == 320
    assert occlusion.params["spectrogram_window"] == (32, 32)  # the default, not overridden
    assert len(plan.explainers) == len(pm.explainers)  # replaced, not added
    metrics = {m.name: m for m in plan.metrics}
    assert metrics["runtime"].params["samples"] == 4
    assert metrics["model-randomisation-check"].params["samples"] == 16
    assert {metrics[m].params["controls"] for m in metrics if m.startswith("sonified")} == {2}
    # the ROAD variant is a comment away, to fit the time budget
    assert "faithfulness-gap-road" not in metrics
    assert metrics["faithfulness-gap"].params["baseline"] == "silence"
    ranked = {"faithfulness-gap", "gap-vs-amplitude", "srg", "insertion-gap"}
    assert ranked <= set(metrics) and "aopc" not in metrics
    # the paper's test, for the leaderboard's figure (the paper definitions run every metric)
    assert metrics["paper-manipulation"].params["scope"] == "all"
    assert metrics["paper-manipulation"].params["unit"] == "feature"
    assert [s.name for s in plan.sonifiers] == ["keep-positive", "spectrogram-mask"]


def test_defaults_and_all_folds():
    bench = parse_benchmark(MINIMAL | {"folds": "all"})
    assert bench.tasks == ("digit", "sex")
    assert bench.folds == {"digit": (0, 1, 2, 3, 4), "sex": (0, 1, 2, 3)}
    assert bench.explainers is None and bench.data.path is None and bench.device == "auto"


@pytest.mark.parametrize("name, resampler", [("paper-digit", "fft"), ("paper-sex", "fft"),
                                             ("quickstart", "sinc"), ("ground-truth", "sinc")])
def test_every_shipped_definition_names_its_resampler(name, resampler):
    """The paper's benchmarks resample as the paper's code; the CPU ones keep the sinc their
    cached data and committed results were made with. A definition naming none gets sinc."""
    import yaml

    assert set(SHIPPED) == {"paper-digit", "paper-sex", "quickstart", "ground-truth"}
    assert yaml.safe_load(shipped_path(name).read_text())["data"]["resampler"] == resampler
    assert load_benchmark(name).data.resampler == resampler
    assert load_benchmark(name).settings()["data"]["resampler"] == resampler
    assert parse_benchmark(MINIMAL).data.resampler == "sinc"


def test_a_variant_from_a_base_is_added(pm):
    bench = parse_benchmark(MINIMAL | {"explainers": [
        "gradient", {"name": "lrp-eps-small", "base": "lrp-epsilon", "params": {"epsilon": 1e-6}}]})
    plan = plan_benchmark(bench, pm)
    assert [e.name for e in plan.explainers] == ["gradient", "lrp-eps-small"]
    assert plan.explainers[1].params["epsilon"] == 1e-6
    assert str(plan.explainers[1].source).startswith("builtin")


@pytest.mark.parametrize("raw, message", [
    ({"version": 2, "name": "t"}, "version: must be 1"),
    (MINIMAL | {"taks": ["digit"]}, "unknown key 'taks'; valid: version, name"),
    (MINIMAL | {"tasks": ["digits"]}, "tasks: unknown value 'digits'; valid: digit, sex"),
    (MINIMAL | {"folds": [7], "tasks": ["sex"]}, "split 7 does not exist for task sex"),
    (MINIMAL | {"samples": 0}, "samples: must be at least 1"),
    (MINIMAL | {"samples": "ten"}, "samples: must be an integer"),
    (MINIMAL | {"device": "tpu"}, "device: unknown value 'tpu'; valid: auto, cpu, cuda"),
    (MINIMAL | {"training": {"iters": 3}}, "training: unknown key 'iters'; valid: preset, "
                                           "iterations"),
    (MINIMAL | {"training": {"iterations": 0}}, "iterations must be at least 1"),
    (MINIMAL | {"data": {"synthetic": {"speakers": 61}}}, "data.synthetic.speakers: must be at "
                                                          "most 60"),
    (MINIMAL | {"models": [{"name": "audionet", "depth": 3}]}, r"models\[0\]: unknown key "
                                                               "'depth'"),
    (MINIMAL | {"name": "a b"}, "name: must be a non-empty name"),
    (MINIMAL | {"data": {"resampler": "linear"}}, "data.resampler: unknown value 'linear'; "
                                                  "valid: sinc, fft$"),
])
def test_bad_definitions_fail_naming_the_key(raw, message):
    with pytest.raises(AudioXaiError, match=message) as info:
        parse_benchmark(raw, "x.yaml")
    assert str(info.value).startswith("x.yaml: ") and "\n" not in str(info.value)


@pytest.mark.parametrize("raw, message", [
    (MINIMAL | {"explainers": ["gradeint"]}, "unknown explainer 'gradeint'.*gradient"),
    (MINIMAL | {"metrics": ["aopc", "gap"]}, "unknown metric 'gap'.*faithfulness-gap"),
    (MINIMAL | {"sonifiers": ["mask"]}, "unknown sonifier 'mask'.*spectrogram-mask"),
    (MINIMAL | {"models": ["resnet"]}, "unknown model 'resnet'.*alexnet, audionet"),
    (MINIMAL | {"explainers": [{"name": "occlusion", "params": {"window": 3}}]},
     "explainer 'occlusion' has no parameter 'window'; valid:.*waveform_window"),
    (MINIMAL | {"metrics": [{"name": "gini", "params": {"power": 2}}]},
     "metric 'gini' .*has no parameter 'power': it takes no parameters$"),
])
def test_unknown_names_and_parameters_list_the_valid_ones(raw, message, pm):
    with pytest.raises(AudioXaiError, match=message):
        plan_benchmark(parse_benchmark(raw), pm)


def test_the_cli_reports_a_bad_file_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: t\nsamples: [1\n")
    assert main(["run", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {bad}:") and "not valid YAML" in err and "\n" not in err
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert "no such benchmark file" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing started


def test_shipped_files_live_in_the_package():
    assert shipped_path("quickstart").is_file()
    with pytest.raises(AudioXaiError, match="shipped: quickstart, paper-digit, paper-sex"):
        shipped_path("paper")


# -- the schema and its shipped JSON form ----------------------------------------------------

def test_the_shipped_json_schema_is_the_models_schema():
    from audioxai_bench.run.definition import SCHEMA_FILE, schema_text
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "regenerate: python -c 'from audioxai_bench.run.definition import write_schema; "
        "write_schema()'")
    schema = json.loads(schema_text())
    assert schema["additionalProperties"] is False and schema["required"] == ["version", "name"]
    assert schema["properties"]["seed"]["maximum"] == 2**31 - 1


def test_the_schema_ships_in_the_package():
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    package_data = re.search(r"^audioxai_bench = \[(.*)\]$", pyproject, re.M).group(1)
    assert '"definitions/*.json"' in package_data


def test_training_keys_are_the_train_config_fields():
    from audioxai_bench.models.train import TrainConfig
    from audioxai_bench.run.definition import TrainingSection
    settable = {f.name for f in dataclasses.fields(TrainConfig)} - {
        "device", "seed", "num_workers", "deterministic",  # the run's, not the training's
        "input_centre", "input_scale"}  # one model's input, not every model's training
    assert set(TrainingSection.model_fields) == settable | {"preset"}


# -- relative paths ----------------------------------------------------------------------------

def test_a_relative_data_path_is_taken_from_the_definition_folder(tmp_path, monkeypatch):
    (tmp_path / "defs" / "syn").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "defs" / "b.yaml").write_text("version: 1\nname: t\ndata: {path: syn}\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    bench = load_benchmark("../defs/b.yaml")
    assert bench.data.path == tmp_path / "defs" / "syn" and bench.data.path.is_dir()
    assert bench.settings()["data"]["path"] == str(tmp_path / "defs" / "syn")  # run.json
    assert bench.with_data(Path("mine")).data.path == tmp_path / "elsewhere" / "mine"
    assert parse_benchmark(MINIMAL | {"data": {"path": "/abs/d"}}).data.path == Path("/abs/d")


# -- issue 14: values the old checks let through -----------------------------------------------

@pytest.mark.parametrize("raw, message", [
    # Y5: null is not a value, except where a key documents it
    (MINIMAL | {"batch_size": None}, "batch_size: must be an integer, got None"),
    (MINIMAL | {"chunk_size": None}, "chunk_size: must be an integer, got None"),
    (MINIMAL | {"device": None}, "device: unknown value None; valid: auto, cpu, cuda"),
    (MINIMAL | {"samples": None}, "samples: must be an integer, got None"),
    (MINIMAL | {"training": None}, "training: must be a mapping of preset, iterations"),
    (MINIMAL | {"data": {"synthetic": None}}, "data.synthetic: must be a mapping of speakers"),
    (MINIMAL | {"data": {"path": None}}, "data.path: must be a string, got None"),
    (MINIMAL | {"folds": None}, "folds: must be 'all' or a non-empty list of split numbers"),
    (MINIMAL | {"metrics": None}, "metrics: must be 'all' or a non-empty list of names"),
    (MINIMAL | {"models": [{"name": "audionet", "width": None}]},
     r"models\[0\].width: must be a number, got None"),
    (MINIMAL | {"explainers": [{"name": "x", "base": None}]},
     r"explainers\[0\].base: must be a string, got None"),
    # Y6: values that used to fail only at run time
    (MINIMAL | {"seed": None}, "seed: must be an integer, got None"),
    (MINIMAL | {"seed": 2**64}, "seed: must be at most 2147483647, got 18446744073709551616"),
    (MINIMAL | {"seed": 2**63 - 1}, "seed: must be at most 2147483647"),
    (MINIMAL | {"seed": -1}, "seed: must be at least 0, got -1"),
    (MINIMAL | {"seed": True}, "seed: must be an integer, got True"),
    (MINIMAL | {"models": [{"name": "audionet", "width": -1}]},
     r"^x.yaml: models\[0\].width: must be positive, got -1$"),
    (MINIMAL | {"models": [{"name": "audionet", "width": float("nan")}]},
     r"models\[0\].width: must be a finite number, got nan"),
    (MINIMAL | {"models": [{"name": "audionet", "width": float("inf")}]},
     r"models\[0\].width: must be a finite number, got inf"),
    (MINIMAL | {"models": [{"name": "audionet", "width": 1e5}]},
     r"models\[0\].width: must be at most 64, got 100000.0"),
    (MINIMAL | {"training": {"weight_decay": -1.0}},
     "training.weight_decay: must be at least 0, got -1.0"),
    (MINIMAL | {"training": {"lr": 0}}, "training: TrainConfig.lr must be positive"),
    (MINIMAL | {"training": {"lr": -1e-3}}, "training: TrainConfig.lr must be positive"),
    (MINIMAL | {"training": {"lr": float("inf")}}, "training.lr: must be a finite number"),
    (MINIMAL | {"training": {"momentum": 1.5}}, "training.momentum: must be less than 1"),
    (MINIMAL | {"training": {"iterations": 10**9}},
     "training.iterations: must be at most 1000000, got 1000000000"),
    (MINIMAL | {"training": {"iterations": 2.5}}, "training.iterations: must be an integer"),
    (MINIMAL | {"training": {"optimizer": "rmsprop"}},
     "training.optimizer: unknown value 'rmsprop'; valid: sgd, adam"),
    # other shapes
    ({"name": "t"}, "version: is required"),
    (MINIMAL | {"version": True}, "version: must be an integer, got True"),
    (MINIMAL | {"tasks": ["digit", "digit"]}, "tasks: lists a value twice"),
    (MINIMAL | {"models": ["audionet", {"name": "audionet"}]}, "models: lists a model twice"),
    (MINIMAL | {"explainers": "gradient"}, "explainers: must be 'all' or a non-empty list"),
    (MINIMAL | {"explainers": []}, "explainers: must not be empty"),
    (MINIMAL | {"explainers": [{"name": "all", "params": {"a": 1}}]},
     r"explainers\[0\]: 'all' stands for every registered one"),
    ([1, 2], "definition: must be a mapping of version, name"),
])
def test_values_that_would_fail_at_run_time_are_refused_naming_the_key(raw, message):
    with pytest.raises(AudioXaiError, match=message) as info:
        parse_benchmark(raw, "x.yaml")
    assert str(info.value).startswith("x.yaml: ") and "\n" not in str(info.value)


def test_documented_nulls_turn_a_preset_setting_off():
    bench = parse_benchmark(MINIMAL | {"training": {"lr_halve_every": None, "grad_clip": None}})
    assert bench.training == {"lr_halve_every": None, "grad_clip": None}
    assert bench.samples is None  # an absent key keeps its default


def test_a_message_never_holds_a_huge_value():
    for raw in (MINIMAL | {"samples": "x" * 100_000}, MINIMAL | {"k" * 100_000: 1},
                MINIMAL | {"training": {"iterations": [[list(range(1000))] * 1000] * 1000}}):
        with pytest.raises(AudioXaiError) as info:
            parse_benchmark(raw, "x.yaml")
        # the value is cut; the rest is the file, the key and the valid keys' list
        assert len(str(info.value)) < 400 and "x" * 81 not in str(info.value)
        assert "k" * 81 not in str(info.value) and "999" not in str(info.value)


def _fails(tmp_path, text: str | bytes, message: str) -> str:
    path = tmp_path / "d.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(AudioXaiError, match=message) as info:
        load_benchmark(path)
    assert str(info.value).startswith(f"{path}") and "\n" not in str(info.value)
    return str(info.value)


BOMB = "version: 1\nname: t\ntraining: {preset: cpu, iterations: [&a [lol,lol,lol,lol,lol,\
lol,lol,lol,lol], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,\
*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d], &f [*e,*e,*e,*e,*e,*e,*e,*e,*e], &g [*f,*f,*f\
,*f,*f,*f,*f,*f,*f], &h [*g,*g,*g,*g,*g,*g,*g,*g,*g], &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]]}\n"


def test_yaml_aliases_are_refused_so_a_billion_laughs_cannot_expand(tmp_path):
    start = time.perf_counter()
    message = _fails(tmp_path, BOMB, r":3: not valid YAML \(aliases \(\*a\) are not allowed")
    assert time.perf_counter() - start < 2 and len(message) < 200


def test_deep_nesting_is_one_line(tmp_path):
    _fails(tmp_path, "version: 1\nname: t\ndescription: " + "[" * 50_000 + "]" * 50_000,
           r":3: not valid YAML \(nested deeper than 50 levels\)")


def test_bytes_that_are_not_utf8_are_one_line(tmp_path):
    _fails(tmp_path, b"version: 1\nname: t\xff\xfe\n", r"not UTF-8 text \(byte 0xff at offset 18\)")


def test_a_key_given_twice_is_refused(tmp_path):
    _fails(tmp_path, "version: 1\nname: t\nsamples: 4\nsamples: 8\n",
           r"d.yaml:4: not valid YAML \(duplicate key 'samples'\)")
    _fails(tmp_path, "version: 1\nname: t\ntraining:\n  iterations: 3\n  iterations: 4\n",
           r"d.yaml:5: not valid YAML \(duplicate key 'iterations'\)")


@pytest.mark.parametrize("text, message", [
    ("", "definition: must be a mapping of version"),  # Y13, unchanged
    ("# only a comment\n", "definition: must be a mapping of version"),
    ("---\n...\n", "definition: must be a mapping of version"),
    ("version: 1\nname: t\x00\n", r"not valid YAML \(unacceptable character #x0000"),
    ("version: 1\nname: t\nseed: " + "9" * 5000 + "\n", "not valid YAML"),
    ("version: 1\nname: t\nseed: !!python/object/apply:os.system [echo]\n",
     "could not determine a constructor"),
])
def test_other_unusable_files_are_one_line(tmp_path, text, message):
    _fails(tmp_path, text, message)


def test_a_folder_is_not_a_definition(tmp_path):
    with pytest.raises(AudioXaiError, match="cannot read"):
        load_benchmark(tmp_path)


def test_the_cli_refuses_a_bomb_before_any_work(tmp_path, capsys):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    assert main(["run", str(bomb), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bomb}:3: not valid YAML") and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


# -- names checked against the plugins name the file and key -----------------------------------

@pytest.mark.parametrize("raw, message", [
    (MINIMAL | {"explainers": ["gradient", "gradeint"]},
     r"^x.yaml: explainers\[1\]: unknown explainer 'gradeint' \(did you mean 'gradient'\?\); "
     "valid names: amplitude, gradient"),
    (MINIMAL | {"explainers": [{"name": "eps", "base": "lrp-epsilom"}]},
     r"^x.yaml: explainers\[0\].base: unknown explainer 'lrp-epsilom' \(did you mean "
     "'lrp-epsilon'\\?\\)"),
    (MINIMAL | {"models": ["audionet", "audionett"]},
     r"^x.yaml: models\[1\]: unknown model 'audionett' \(did you mean 'audionet'\?\)"),
    # a name nothing resembles is most often a plugin that was not loaded
    (MINIMAL | {"explainers": ["window-energy"]},
     r"^x.yaml: explainers\[0\]: unknown explainer 'window-energy'; valid names: .*; is its "
     r"plugin loaded\? \(--plugin, plugins: in the definition, or install it\)$"),
    (MINIMAL | {"metrics": ["all", {"name": "gini", "params": {"power": 2}}]},
     r"^x.yaml: metrics\[1\].params: metric 'gini' .*has no parameter 'power'"),
    # Y15: a variant may not take the name of another registered object
    (MINIMAL | {"explainers": [{"name": "gradient", "base": "random"}]},
     r"^x.yaml: explainers\[0\].name: 'gradient' is already the name of a registered "
     "explainer; a variant needs a new name$"),
    (MINIMAL | {"sonifiers": [{"name": "keep-top", "base": "keep-positive"}]},
     r"^x.yaml: sonifiers\[0\].name: 'keep-top' is already the name of a registered sonifier"),
    # probe 5 #1: a metric under the name of the runner's own records was read as them
    (MINIMAL | {"metrics": ["faithfulness-gap", {"name": "test-accuracy", "base": "gini"}]},
     r"^x.yaml: metrics\[1\].name: metric name 'test-accuracy' is reserved for the runner's "
     r"record of a model's test accuracy: a metric so named would be read as it; rename the "
     r"metric$"),
    (MINIMAL | {"metrics": [{"name": "cue-control", "base": "gini", "params": {}}]},
     r"^x.yaml: metrics\[0\].name: metric name 'cue-control' is reserved"),
    # probe 5 #13: a sonifier named original overwrote each example's original sound
    (MINIMAL | {"sonifiers": [{"name": "original", "base": "keep-positive"}]},
     r"^x.yaml: sonifiers\[0\].name: sonifier name 'original' is reserved for the file of "
     r"each example's original sound"),
])
def test_plugin_name_errors_name_the_file_and_key(raw, message, pm):
    with pytest.raises(AudioXaiError, match=message) as info:
        plan_benchmark(parse_benchmark(raw, "x.yaml"), pm)
    assert "\n" not in str(info.value)


def test_a_variant_with_a_new_name_of_a_builtin_still_works(pm):
    plan = plan_benchmark(parse_benchmark(MINIMAL | {"explainers": [
        "random", {"name": "random-seed-3", "base": "random", "params": {"seed": 3}}]}), pm)
    assert [e.name for e in plan.explainers] == ["random", "random-seed-3"]


@pytest.mark.parametrize("reps", [1, 2, 3, 5, 50])
def test_the_cue_task_refuses_synthetic_repetitions_that_are_not_a_multiple_of_4(reps):
    """Probe 5 #11: reps 2 or 3 ran without a word, though each (speaker, digit) then lacks a
    cue class, so its speech carries label information."""
    raw = {**MINIMAL, "tasks": ["cue"], "data": {"synthetic": {"reps": reps}}}
    with pytest.raises(AudioXaiError) as info:
        parse_benchmark(raw, "gt.yaml")
    assert str(info.value).startswith(f"gt.yaml: data.synthetic.reps: must be a multiple of 4 "
                                      f"for the cue task, got {reps} (")
    assert "\n" not in str(info.value)
    assert parse_benchmark({**raw, "tasks": ["digit", "sex"]}).data.reps == reps  # no cue
    fine = parse_benchmark({**raw, "data": {"synthetic": {"reps": 8}}})
    assert (fine.data.reps, fine.data.cue) == (8, True)
    # real data: the run checks the tree's own repetitions (plant_cues; data_tree for a cue tree)
    assert parse_benchmark({**raw, "data": {**raw["data"], "path": "data"}}).data.cue


class _Signed:
    """A plain-object explainer with ``with_params`` and no ``params`` dict (both optional)."""

    representations = frozenset({"waveform", "spectrogram"})

    def __init__(self, name="signed", sign=1.0, display_name=""):
        self.name, self.sign, self.display_name = name, float(sign), display_name

    def with_params(self, name, **params):
        return type(self)(name=name, **params)

    def explain(self, model, x, target):
        return self.sign * x.abs()


class _Partial(_Signed):
    """Its ``params`` leaves ``sign`` out."""

    @property
    def params(self):
        return {"kind": "partial"}


def test_the_asked_parameters_of_a_variant_are_always_recorded_and_hashed():
    """Probe 6 #1: a with_params() object without a params dict recorded {} for any YAML
    params, so the config hash, the relevance and score cache keys and --resume never saw an
    edit (the sign 1 numbers came back for sign -1, marked cached, exit status 0)."""
    import audioxai_bench

    class Plugin:
        @audioxai_bench.hookimpl
        def audioxai_bench_explainers(self):
            return [_Signed(), _Partial(name="partial")]

    pm = load_plugins(entrypoints=False)
    pm.register(Plugin(), "signed-plugin")
    plan = plan_benchmark(parse_benchmark(MINIMAL | {"explainers": [
        "signed", {"name": "sv", "base": "signed", "params": {"sign": -1}},
        {"name": "pv", "base": "partial", "params": {"sign": -1, "display_name": "P"}}]}), pm)
    params = {e.name: e.params for e in plan.explainers}
    assert params == {"signed": {}, "sv": {"sign": -1}, "pv": {"kind": "partial", "sign": -1}}


def test_built_in_variants_record_the_same_parameters_as_before(pm):
    """Every built-in shows its parameters itself: adding the asked ones changes none of their
    records or hashes (a display name is no parameter)."""
    plan = plan_benchmark(parse_benchmark(MINIMAL | {"explainers": [
        {"name": "g2", "base": "gradient", "params": {"display_name": "Gradient two"}},
        {"name": "occlusion", "params": {"waveform_window": 320, "waveform_stride": 320}}],
        "metrics": [{"name": "fg2", "base": "faithfulness-gap",
                     "params": {"grid": [0.0, 0.5], "display_name": "FG"}}]}), pm)
    from audioxai_bench.plugins import parameters_of

    for plugged in (*plan.explainers, *plan.metrics):
        assert plugged.params == parameters_of(plugged.obj)
    assert plan.explainers[0].params == {}
