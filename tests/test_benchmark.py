"""Benchmark definitions: the shipped files resolve, and every mistake is one line that helps."""

from __future__ import annotations

import pytest

from audioxai_bench.benchmark import SHIPPED, load_benchmark, parse_benchmark, shipped_path
from audioxai_bench.cli import main
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.plugins import load_plugins
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
    assert {m.name for m in plan.metrics} == set(pm.metrics.names())
    assert load_benchmark(f"benchmarks/{name}.yaml") == bench.__class__(
        **{**bench.__dict__, "source": f"benchmarks/{name}.yaml"})


def test_quickstart_overrides_replace_parameters_under_the_same_name(pm):
    plan = plan_benchmark(load_benchmark("quickstart"), pm)
    occlusion = {e.name: e for e in plan.explainers}["occlusion"]
    assert occlusion.params["waveform_window"] == 400
    assert occlusion.params["spectrogram_window"] == (32, 32)
    randomisation = {m.name: m for m in plan.metrics}["model-randomisation"]
    assert randomisation.params["steps"] == 3 and randomisation.params["max_layers"] is None
    assert len(plan.explainers) == len(pm.explainers)  # replaced, not added


def test_defaults_and_all_folds():
    bench = parse_benchmark(MINIMAL | {"folds": "all"})
    assert bench.tasks == ("digit", "sex")
    assert bench.folds == {"digit": (0, 1, 2, 3, 4), "sex": (0, 1, 2, 3)}
    assert bench.explainers is None and bench.data.path is None and bench.device == "auto"


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
     "metric 'gini' .*has no parameter 'power'; valid:"),
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
