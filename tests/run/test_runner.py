"""The runner: one record per cell, resumable after any interruption, failures recorded."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from torch import nn

from audioxai_bench import hookimpl
from audioxai_bench.builtin.models import BUILTIN_MODELS
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.leaderboard import build_leaderboard, top_table
from audioxai_bench.models import TrainConfig
from audioxai_bench.plugins import load_plugins
from audioxai_bench.run.artifacts import make_recipe
from audioxai_bench.run.definition import parse_benchmark
from audioxai_bench.run.records import cell_key, load_results, read_records
from audioxai_bench.run.runner import peak_memory_mb, run_benchmark
from audioxai_bench.run.training import load_model
from audioxai_bench.run.units import balanced_sample
from tests.helpers import write_tree

EXPLAINERS = ["gradient", "random"]
PLAIN_METRICS = ["faithfulness-gap", "aopc", "gini", "runtime"]
SONIFIERS = ["keep-top", "spectrogram-mask"]
# per explainer: the plain metrics, and sonified-accuracy once per sonifier; plus test accuracy
N_CELLS = 1 + len(EXPLAINERS) * (len(PLAIN_METRICS) + len(SONIFIERS))


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Every speaker of the paper (so every split has test speakers), one clip per digit."""
    root = tmp_path_factory.mktemp("tree") / "data"
    return write_tree(root, list(range(1, 61)), reps=range(1))


def definition(tree: Path, **changes) -> dict:
    return {"version": 1, "name": "unit", "data": {"path": str(tree)}, "tasks": ["digit"],
            "models": [{"name": "audionet", "width": 0.0625}], "folds": [0],
            "training": {"preset": "cpu", "iterations": 3, "eval_every": 3, "batch_size": 8},
            "explainers": EXPLAINERS, "metrics": [*PLAIN_METRICS, "sonified-accuracy"],
            "sonifiers": SONIFIERS, "samples": 4, "batch_size": 2, "examples": 1,
            "device": "cpu"} | changes


def run(tree: Path, out: Path, plugins=None, **options):
    bench = parse_benchmark(definition(tree, **options.pop("changes", {})))
    pm = plugins or load_plugins(entrypoints=False)
    return run_benchmark(bench, out, quiet=True, plugins=pm, log=lambda _: None, **options)


def values(out: Path) -> dict:
    """Every cell's value but wall-clock runtime (measured afresh by every run)."""
    return {cell_key(r): r.get("value") for r in read_records([out]) if r["metric"] != "runtime"}


def test_a_run_writes_one_record_per_cell_with_provenance(tree, tmp_path):
    report = run(tree, tmp_path / "out")
    records = list(read_records([tmp_path / "out"]))
    assert report.records == len(records) == N_CELLS and report.failed == 0
    assert len({cell_key(r) for r in records}) == N_CELLS
    sonified = [r for r in records if r["metric"] == "sonified-accuracy"]
    assert sorted({r["sonifier"] for r in sonified}) == SONIFIERS
    gap = next(r for r in records if r["metric"] == "faithfulness-gap"
               and r["explainer"] == "gradient")
    assert gap["n"] == 4 and len(gap["ci"]) == 2 and "probability/random" in gap["curves"]
    assert gap["plugins"]["explainer"] == {"name": "gradient", "plugin": "builtin",
                                           "version": gap["versions"]["audioxai-bench"]}
    assert gap["plugins"]["model"]["name"] == "audionet"
    # the control the gap is a difference against, for the leaderboard's test against 0
    assert gap["versus"] == "random order"
    gini = next(r for r in records if r["metric"] == "gini")
    assert gini.get("versus") is None
    for field in ("wall_seconds", "device", "seed", "config_hash", "git_revision", "versions"):
        assert field in gap
    accuracy = next(r for r in records if r["metric"] == "test-accuracy")
    assert accuracy["explainer"] is None and 0 <= accuracy["value"] <= 1
    # the machine behind every number, the model's accuracy included (it trained there)
    assert {r["machine"]["torch_build"] for r in records} == {torch.__version__}
    assert accuracy["machine"] == gap["machine"] and gap["machine"]["cpu"]
    run_info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run_info["report"]["records"] == N_CELLS and run_info["report"]["peak_memory_mb"] > 0


def test_examples_and_sonified_audio_are_written(tree, tmp_path):
    run(tree, tmp_path / "out")
    with np.load(tmp_path / "out" / "examples" / "digit-audionet-fold0.npz") as npz:
        assert npz["signals"].shape == (1, 8000) and npz["inputs"].shape == (1, 1, 8000)
        assert npz["relevance__gradient"].shape == (1, 1, 8000)
        assert set(npz.files) >= {"target", "relevance__random"}
    wavs = sorted(p.name for p in (tmp_path / "out" / "audio" / "digit-audionet-fold0"
                                   / "gradient").glob("*.wav"))
    assert "sample-000__original.wav" in wavs and "sample-000__keep-top.wav" in wavs
    data, rate = sf.read(tmp_path / "out" / "audio" / "digit-audionet-fold0" / "gradient"
                         / "sample-000__spectrogram-mask.wav")
    assert rate == 8000 and data.shape == (8000,)


def test_resume_computes_nothing_twice_and_repairs_a_torn_line(tree, tmp_path):
    out = tmp_path / "out"
    run(tree, out)
    first = values(out)
    report = run(tree, out, resume=True)
    assert report.records == 0 and report.skipped == N_CELLS
    # cut the file after 5 records and leave half a line, as a kill in mid-write would
    path = out / "results.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:5]) + lines[5][:40])
    report = run(tree, out, resume=True)
    assert report.records == N_CELLS - 5 and report.skipped == 5
    records = list(read_records([out]))
    assert Counter(cell_key(r) for r in records).most_common(1)[0][1] == 1  # no duplicates
    assert values(out) == first  # deterministic on CPU, from the cached model and relevance


def test_an_interrupted_run_resumes_to_the_same_results(tree, tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    run(tree, reference)
    pm = load_plugins(entrypoints=False)
    gini = pm.metrics.get("gini")
    calls = {"n": 0}
    original = type(gini).score

    def interrupt_on_third(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(type(gini), "score", interrupt_on_third)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run(tree, out, plugins=pm, rescore=True)  # not from the reference run's score cache
    partial = list(read_records([out]))
    assert 0 < len(partial) < N_CELLS
    monkeypatch.setattr(type(gini), "score", original)
    run(tree, out, resume=True)
    assert values(out) == values(reference)
    assert len(list(read_records([out]))) == N_CELLS


class Broken:
    """An explainer plugin that raises, and a metric that raises on waveform inputs."""

    name = "broken"
    representations = frozenset({"waveform"})

    def explain(self, model, x, target):
        raise RuntimeError("no relevance today")


@dataclasses.dataclass(frozen=True)
class FailingMetric:
    name: str = "fails"
    higher_is_better: bool = True

    def score(self, batch):
        raise ValueError("cannot score this")


class BrokenPlugin:
    @hookimpl
    def audioxai_bench_explainers(self):
        return [Broken()]

    @hookimpl
    def audioxai_bench_metrics(self):
        return [FailingMetric()]


def test_failing_cells_are_recorded_and_the_rest_runs_on(tree, tmp_path):
    pm = load_plugins(entrypoints=False)
    pm.register(BrokenPlugin(), "broken-plugin")
    report = run(tree, tmp_path / "out", plugins=pm, changes={
        "explainers": [*EXPLAINERS, "broken"], "metrics": [*PLAIN_METRICS, "fails"]})
    df = load_results(tmp_path / "out")
    errors = df[df.status == "error"]
    assert report.failed == len(errors) > 0
    broken = errors[errors.explainer == "broken"]
    assert len(broken) == len(PLAIN_METRICS) + 1
    assert broken.error.str.contains("explainer 'broken' .*no relevance today").all()
    fails = errors[errors.metric == "fails"]
    assert set(fails.explainer) == {"gradient", "random", "broken"}
    assert fails[fails.explainer == "gradient"].error.iloc[0] == (
        "metric 'fails' (plugin broken-plugin): raised ValueError: cannot score this")
    ok = df[(df.status == "ok") & (df.explainer == "gradient")]
    assert set(ok.metric) == set(PLAIN_METRICS)


class Unpooling:
    """Relevance through max_unpool1d, which torch has no deterministic kernel for (on a CPU
    too; captum's DeepLift runs max_unpool2d through AlexNet's pooling)."""

    name = "unpooling"
    representations = frozenset({"waveform"})

    def explain(self, model, x, target):
        pooled, where = torch.nn.functional.max_pool1d(x.flatten(1)[:, None], 1,
                                                       return_indices=True)
        return torch.nn.functional.max_unpool1d(pooled, where, 1).reshape(x.shape)


class UnpoolingPlugin:
    @hookimpl
    def audioxai_bench_explainers(self):
        return [Unpooling()]


def test_a_cell_without_a_deterministic_kernel_says_how_to_run_it(tree, tmp_path):
    pm = load_plugins(entrypoints=False)
    pm.register(UnpoolingPlugin(), "unpooling-plugin")
    report = run(tree, tmp_path / "out", plugins=pm, changes={
        "explainers": ["unpooling"], "metrics": ["gini"], "examples": 0})
    [cell] = [r for r in read_records([tmp_path / "out"]) if r["metric"] == "gini"]
    assert cell["status"] == "error" and report.failed == 1
    assert "does not have a deterministic implementation" in cell["error"]
    assert "\n" not in cell["error"] and cell["error"].endswith(
        "`audioxai-bench run --nondeterministic` allows it, and the records say so]")


@dataclasses.dataclass(frozen=True)
class NoScores:
    """Undefined on every clip, as a metric of a method that returns nothing to score."""

    name: str = "no-scores"
    higher_is_better: bool = True

    def score(self, batch):
        from audioxai_bench.api.metric import MetricOutput

        return MetricOutput(scores=torch.full((len(batch.x),), float("nan")))


class NoScoresPlugin:
    @hookimpl
    def audioxai_bench_metrics(self):
        return [NoScores()]


def test_a_metric_without_a_finite_score_fails_its_cell_and_writes_no_nan(tree, tmp_path):
    """Minor 2: an ``ok`` cell with value NaN and n 0, counted as not failed, and bare NaN
    tokens in results.jsonl that strict JSON readers refuse."""
    pm = load_plugins(entrypoints=False)
    pm.register(NoScoresPlugin(), "no-scores-plugin")
    report = run(tree, tmp_path / "out", plugins=pm, changes={
        "explainers": ["gradient"], "metrics": ["gini", "no-scores"], "examples": 0})
    [cell] = [r for r in read_records([tmp_path / "out"]) if r["metric"] == "no-scores"]
    assert cell["status"] == "error" and report.failed == 1
    assert cell["error"] == ("metric 'no-scores' (plugin no-scores-plugin): no finite score on "
                             "any clip")
    assert "NaN" not in (tmp_path / "out" / "results.jsonl").read_text()


@dataclasses.dataclass(frozen=True)
class LinearSpec:
    """A model from a plugin: the runner trains and caches it like a built-in one."""

    name: str = "linear"
    representation: str = "waveform"
    input_shape: tuple[int, ...] = (1, 8000)
    # training presets are data on the spec: a plugin model trains like a built-in one
    presets: Mapping[str, TrainConfig] = dataclasses.field(
        default_factory=lambda: {"cpu": BUILTIN_MODELS[0].presets["cpu"]})

    def build(self, n_classes: int, width: float = 1.0) -> nn.Module:
        net = nn.Sequential(nn.Flatten(), nn.Linear(8000, n_classes))
        net.representation = "waveform"
        return net


class ModelPlugin:
    @hookimpl
    def audioxai_bench_models(self):
        return [LinearSpec()]


def test_models_from_plugins_are_trained_cached_and_scored(tree, tmp_path):
    pm = load_plugins(entrypoints=False)
    pm.register(ModelPlugin(), "model-plugin")
    options = {"changes": {"models": ["linear"], "metrics": ["gini"]}}
    first = run(tree, tmp_path / "a", plugins=pm, **options)
    second = run(tree, tmp_path / "b", plugins=pm, **options)
    assert first.cached["models"] == 0 and second.cached["models"] == 1
    assert second.cached["relevance"] == len(EXPLAINERS)
    df = load_results(tmp_path / "b")
    assert set(df.model) == {"linear"} and (df.status == "ok").all()
    assert df[df.metric == "test-accuracy"].record.iloc[0]["plugins"]["model"]["plugin"] == \
        "model-plugin"
    (checkpoint,) = (Path(os.environ["AUDIOXAI_BENCH_CACHE"]) / "models").glob("linear-*.pt")
    model, meta = load_model(checkpoint, plugins=pm)  # built through the plugin's spec
    assert meta["model"] == "linear" and isinstance(model[1], nn.Linear)


def test_a_plugin_model_without_a_preset_fails_naming_it(tree, tmp_path):
    pm = load_plugins(entrypoints=False)
    pm.register(ModelPlugin(), "model-plugin")
    spec = pm.models.get("linear")
    with pytest.raises(AudioXaiError, match="model 'linear' .* no training preset 'paper'; "
                                            "it declares cpu"):
        make_recipe(spec, "model-plugin", "digit", 0, "paper")


@pytest.mark.parametrize("platform, maxrss", [("linux", 300 * 1024),
                                               ("darwin", 300 * 1024 * 1024)])
def test_peak_memory_is_in_mb_on_linux_and_macos(monkeypatch, platform, maxrss):
    """ru_maxrss is KiB on Linux and bytes on macOS: a macOS run reported 1024 times its peak."""
    import resource
    from types import SimpleNamespace

    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(resource, "getrusage", lambda who: SimpleNamespace(ru_maxrss=maxrss))
    assert peak_memory_mb() == 300.0


def test_balanced_sample_takes_classes_in_turn():
    rows = np.arange(20)
    labels = np.array([0] * 10 + [1] * 5 + [2] * 5)
    picked = balanced_sample(rows, labels, 6, seed=0)
    assert sorted(labels[picked].tolist()) == [0, 0, 1, 1, 2, 2]
    assert labels[picked[:3]].tolist() == [0, 1, 2]
    assert np.array_equal(picked, balanced_sample(rows, labels, 6, seed=0))
    assert len(balanced_sample(rows, labels, None, seed=1)) == 20


def test_sex_task_examples_cover_both_classes(tree, tmp_path):
    run(tree, tmp_path / "out", changes={"tasks": ["sex"], "metrics": ["gini"],
                                         "explainers": ["gradient"], "samples": 6, "examples": 2})
    with np.load(tmp_path / "out" / "examples" / "sex-audionet-fold0.npz") as npz:
        assert npz["target"].tolist() == [0, 1]  # classes take turns: male, female
    df = load_results(tmp_path / "out")
    assert df[df.metric == "gini"].n.iloc[0] == 6


def test_a_killed_cli_run_resumes_without_duplicates(tree, tmp_path, private_cache):
    """kill -9 in the middle of a run, then --resume: every cell exactly once."""
    spec = tmp_path / "unit.yaml"
    three = ["gradient", "random", "amplitude"]
    spec.write_text(yaml.safe_dump(definition(tree, explainers=three)))
    out = tmp_path / "out"
    results = out / "results.jsonl"
    cmd = [sys.executable, "-m", "audioxai_bench.cli", "--quiet", "run", str(spec), "--out",
           str(out)]
    env = {**os.environ, "AUDIOXAI_BENCH_CACHE": str(private_cache), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and results.read_bytes().count(b"\n") >= 4:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = results.read_bytes().count(b"\n")
    assert 4 <= killed_at < 1 + 3 * (len(PLAIN_METRICS) + len(SONIFIERS))
    done = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    records = list(read_records([out]))
    assert len(records) == 1 + 3 * (len(PLAIN_METRICS) + len(SONIFIERS))
    assert len({cell_key(r) for r in records}) == len(records)
    assert "faithfulness gap" in done.stdout.lower() and "peak memory" in done.stdout
    assert "from caches: " in done.stdout and "models 1" in done.stdout  # trained before the kill


@dataclasses.dataclass(frozen=True)
class ExplodingSpec(LinearSpec):
    """A plugin model that cannot be trained."""

    name: str = "exploding"

    def build(self, n_classes: int, width: float = 1.0) -> nn.Module:
        net = super().build(n_classes, width)
        net.register_forward_hook(lambda *_: (_ for _ in ()).throw(RuntimeError("NaN loss")))
        return net


class ExplodingPlugin:
    @hookimpl
    def audioxai_bench_models(self):
        return [ExplodingSpec()]


def test_a_model_that_fails_to_train_is_recorded_and_the_others_run(tree, tmp_path):
    pm = load_plugins(entrypoints=False)
    pm.register(ExplodingPlugin(), "exploding-plugin")
    report = run(tree, tmp_path / "out", plugins=pm,
                 changes={"models": ["exploding", "audionet"], "metrics": ["gini"]})
    df = load_results(tmp_path / "out")
    failed = df[df.status == "error"]
    assert report.failed == 1 and failed.model.tolist() == ["exploding"]
    assert failed.error.iloc[0] == "training failed: RuntimeError: NaN loss"
    assert set(df[df.status == "ok"].model) == {"audionet"}
    where = {(r["status"], r["host"], json.dumps(r["machine"]))  # failures say where, too
             for r in read_records([tmp_path / "out"]) if r["metric"] == "test-accuracy"}
    assert len(where) == 2 and len({w[1:] for w in where}) == 1


def test_two_runs_from_nothing_give_the_same_numbers(tree, tmp_path, monkeypatch):
    """Deterministic under the seed on CPU: separate caches, so both train and explain anew."""
    outs = []
    for name in ("a", "b"):
        monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(tmp_path / f"cache-{name}"))
        report = run(tree, tmp_path / name, changes={"explainers": ["gradient", "smoothgrad"]})
        assert report.cached == {"data": 0, "models": 0, "relevance": 0, "scores": 0}
        outs.append(values(tmp_path / name))
    assert outs[0] == outs[1]  # every metric but wall-clock runtime
    assert len(outs[0]) == 1 + 2 * (len(PLAIN_METRICS) - 1 + len(SONIFIERS))


def test_the_leaderboard_reads_a_real_run(tree, tmp_path):
    """The runner's records and examples, as they are, make every part of the leaderboard."""
    run(tree, tmp_path / "run", changes={
        "models": [{"name": "audionet", "width": 0.0625}, {"name": "alexnet", "width": 0.0625}],
        "metrics": ["faithfulness-gap", "frequency-bands", "sonified-accuracy",
                    {"name": "model-randomisation", "params": {"steps": 1}}],
        "sonifiers": ["spectrogram-mask"], "samples": 4, "batch_size": 4})
    written = build_leaderboard([tmp_path / "run"], tmp_path / "board", quiet=True)
    assert {p.name for p in written} >= {"README.md", "index.html", "leaderboard.csv"}
    readme = (tmp_path / "board" / "README.md").read_text()
    assert "## digit · alexnet" in readme and "## digit · audionet" in readme
    assert "Frequency bands" in readme and "No cell failed." in readme
    page = (tmp_path / "board" / "index.html").read_text()
    assert page.count("data:audio/wav;base64,") >= 2 and "data:image/png;base64," in page
    assert top_table(load_results(tmp_path / "run")).count("gradient") == 2


def test_a_run_with_another_seed_is_a_replicate_the_leaderboard_pools(tree, tmp_path,
                                                                        monkeypatch):
    """``run --seed 1`` trains and scores its own models into results/<name>-seed1; the
    leaderboard pools both runs' clips per split, with (split, speaker) units."""
    import pandas as pd

    from audioxai_bench.cli import main
    from audioxai_bench.leaderboard import aggregate, collect

    spec = tmp_path / "unit.yaml"
    spec.write_text(yaml.safe_dump(definition(tree, metrics=["faithfulness-gap"], samples=24,
                                              batch_size=8, examples=0)))
    monkeypatch.chdir(tmp_path)
    assert main(["--quiet", "run", str(spec)]) == 0
    assert main(["--quiet", "run", str(spec), "--seed", "1"]) == 0
    folders = [tmp_path / "results" / "unit", tmp_path / "results" / "unit-seed1"]
    one, two = (load_results(f) for f in folders)
    assert set(one["seed"]) == {0} and set(two["seed"]) == {1}

    def gap(df: pd.DataFrame) -> dict:
        return df[(df.metric == "faithfulness-gap") & (df.explainer == "gradient")].iloc[0][
            "record"]

    build_leaderboard(folders, tmp_path / "board", quiet=True)
    cells = pd.read_csv(tmp_path / "board" / "leaderboard.csv")
    pooled = cells[(cells.metric == "faithfulness-gap") & (cells.explainer == "gradient")]
    assert pooled["models"].iloc[0] == 2 and pooled["n"].iloc[0] == 48
    assert pooled["value"].iloc[0] == pytest.approx(
        np.mean(gap(one)["scores"] + gap(two)["scores"]), rel=1e-5)
    # one speaker's clips under both seeds' models form one unit: units stay independent
    rows = collect.read(folders)
    data = aggregate._clustered(rows[rows.metric == "faithfulness-gap"], ["explainer"])
    speakers = [set(gap(df)["speakers"]) for df in (one, two)]
    assert data.unit_means().shape[1] == len(speakers[0] | speakers[1]) < sum(map(len, speakers))
    models = pd.read_csv(tmp_path / "board" / "models.csv")
    assert sorted(zip(models["fold"], models["seed"])) == [(0, 0), (0, 1)]
    readme = (tmp_path / "board" / "README.md").read_text()
    assert "| 0 (seed 1) |" in readme and "the runs of each seed trained their own" in readme


def test_the_log_says_when_a_model_is_below_the_accuracy_floor(tree, tmp_path):
    """A model at chance (3 iterations) is scored, and the run says at once that its
    explanations will not be ranked."""
    lines: list[str] = []
    bench = parse_benchmark(definition(tree, metrics=["gini"], explainers=["gradient"]))
    run_benchmark(bench, tmp_path / "out", quiet=True, plugins=load_plugins(entrypoints=False),
                  log=lines.append)
    accuracy = next(r for r in read_records([tmp_path / "out"])
                    if r["metric"] == "test-accuracy")
    said = [line for line in lines if "test accuracy" in line]
    assert accuracy["value"] < 0.55 and len(said) == 1
    assert said[0].endswith("below the floor of 55%: its explanations are scored, not ranked "
                            "or judged")


def test_the_log_does_not_show_a_model_without_a_test_accuracy_above_the_floor(tree, tmp_path,
                                                                               monkeypatch):
    """A model whose test accuracy has no value (NaN: no test clips scored) is, as in the
    leaderboard, not shown above the floor: the log neither prints 'nan%' as an accuracy nor
    leaves out that its explanations will not be ranked."""
    from audioxai_bench.run import units

    def without_value(*args, **kwargs):
        model, meta, cached = original(*args, **kwargs)
        return model, meta | {"test_accuracy": float("nan")}, cached

    original = units.trained_model
    monkeypatch.setattr(units, "trained_model", without_value)
    lines: list[str] = []
    bench = parse_benchmark(definition(tree, metrics=["gini"], explainers=["gradient"]))
    run_benchmark(bench, tmp_path / "out", quiet=True, plugins=load_plugins(entrypoints=False),
                  log=lines.append)
    [said] = [line for line in lines if "test accuracy" in line]
    assert "nan" not in said
    assert said.endswith("not shown above the floor of 55%: its explanations are scored, not "
                         "ranked or judged")
