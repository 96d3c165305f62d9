"""The cue task through the runner: ground truth reaches the metrics, a metric that needs it is
skipped with its reason on other tasks, and every cue model gets its control record."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from audioxai_bench import hookimpl
from audioxai_bench.api.metric import MetricOutput
from audioxai_bench.data.cue import plant_cues, sidecar_path
from audioxai_bench.data.dataset import load_audiomnist
from audioxai_bench.data.ground_truth import MASK_RULES, sample_span
from audioxai_bench.data.layout import scan_dataset
from audioxai_bench.data.splits import speaker_split
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.leaderboard import build_leaderboard, collect
from audioxai_bench.plugins import load_plugins
from audioxai_bench.run.definition import parse_benchmark
from audioxai_bench.run.records import load_results
from audioxai_bench.run.runner import run_benchmark
from tests.helpers import write_tree
from tests.run.helpers import definition, run


class MaskStart:
    """Scores each sample by the first model-input sample its ground truth marks."""

    name = "mask-start"
    higher_is_better = True
    representations = frozenset({"waveform"})
    needs = frozenset({"ground_truth"})

    def score(self, batch):
        assert batch.ground_truth.shape == batch.x.shape
        first = batch.ground_truth[:, 0].float().argmax(dim=1)
        return MetricOutput(scores=first.double(),
                            extras={"marked": batch.ground_truth.flatten(1).sum(1).double()})


class MaskPlugin:
    @hookimpl
    def audioxai_bench_metrics(self):
        return [MaskStart()]


@pytest.fixture(scope="module")
def cue_source(tmp_path_factory) -> Path:
    """Every speaker of the paper, digits 0-2, 4 repetitions: each (speaker, digit) carries
    every cue class once (plant_cues refuses fewer)."""
    return write_tree(tmp_path_factory.mktemp("cue-source") / "data", list(range(1, 61)),
                      digits=range(3), reps=range(4))


@pytest.fixture(scope="module")
def cue_tree(cue_source: Path, tmp_path_factory) -> Path:
    return plant_cues(cue_source, tmp_path_factory.mktemp("cue") / "data", seed=0).out


def _run(root: Path, out: Path, task: str, **changes):
    pm = load_plugins(entrypoints=False)
    pm.register(MaskPlugin(), "mask-plugin")
    bench = parse_benchmark(definition(root, tasks=[task], explainers=["random"],
                                       metrics=["mask-start", "gini"], samples=6) | changes)
    run_benchmark(bench, out, quiet=True, plugins=pm, log=lambda _: None)
    return load_results(out)


def test_the_runner_passes_the_ground_truth_of_the_scored_clips(cue_tree, tmp_path):
    df = _run(cue_tree, tmp_path / "out", "cue")
    record = df[df.metric == "mask-start"].record.iloc[0]
    assert record["status"] == "ok" and record["task"] == "cue"
    data = load_audiomnist(cue_tree, seed=0)
    rows = [data.relpaths.index(c) for c in record["clips"]]
    assert record["targets"] == data.labels("cue")[rows].tolist()  # the class each clip explains
    start, stop = sample_span(data.cues.take(np.array(rows)))
    assert record["scores"] == start.astype(float).tolist()
    assert record["extras"]["marked"]["value"] == pytest.approx(float(np.mean(stop - start)))
    assert (df[df.metric == "gini"].status == "ok").all()


def test_scores_against_the_ground_truth_state_its_rule_so_two_rules_do_not_pool(
        cue_tree, tmp_path, monkeypatch):
    """A new mask rule changes the localisation scores and no plugin's version: the record of
    each metric that reads the ground truth states its rule (info.ground_truth), so seeds
    scored against two rules are refused as replicates, as any differing info entry is."""
    metrics = {"metrics": ["mask-start", "relevance-auc", "gini"]}
    first = _run(cue_tree, tmp_path / "a", "cue", **metrics)
    stated = {m: (r.get("info") or {}).get("ground_truth")
              for m, r in zip(first.metric, first.record) if r["status"] == "ok"}
    assert stated == {"mask-start": MASK_RULES["waveform"], "relevance-auc": MASK_RULES["waveform"],
                      "gini": None, "test-accuracy": None, "cue-control": None}
    monkeypatch.setitem(MASK_RULES, "waveform", "waveform v2: a wider rule")
    _run(cue_tree, tmp_path / "b", "cue", seed=1, **metrics)
    with pytest.raises(AudioXaiError, match=re.escape(
            """in info.ground_truth ("waveform v1: the burst's samples" against "waveform v2: """)):
        collect.read([tmp_path / "a", tmp_path / "b"])


def test_a_ground_truth_metric_is_skipped_with_its_reason_without_ground_truth(cue_tree,
                                                                                tmp_path):
    df = _run(cue_tree, tmp_path / "out", "digit")
    # a resumed run counts the skipped cell as done
    pm = load_plugins(entrypoints=False)
    pm.register(MaskPlugin(), "mask-plugin")
    bench = parse_benchmark(definition(cue_tree, tasks=["digit"], explainers=["random"],
                                       metrics=["mask-start", "gini"], samples=6))
    again = run_benchmark(bench, tmp_path / "out", quiet=True, plugins=pm, log=lambda _: None,
                          resume=True)
    assert again.records == 0 and again.skipped == len(df)
    skipped = df[df.metric == "mask-start"]
    assert skipped.status.tolist() == ["skipped"]
    assert "needs the ground truth" in skipped.reason.iloc[0]
    assert "digit task" in skipped.reason.iloc[0]
    assert (df[df.metric == "gini"].status == "ok").all()
    assert "cue-control" not in set(df.metric)
    build_leaderboard([tmp_path / "out"], tmp_path / "board", quiet=True)  # reads skipped cells
    assert "mask-start" not in (tmp_path / "board" / "README.md").read_text()


def test_every_cue_model_gets_its_control_record(cue_tree, tmp_path):
    df = _run(cue_tree, tmp_path / "out", "cue")
    (record,) = df[df.metric == "cue-control"].record
    data = load_audiomnist(cue_tree, seed=0)
    n_test = int(np.isin(data.speaker, speaker_split("cue", 0).test).sum())
    assert record["status"] == "ok" and record["n"] == n_test
    assert record["info"]["chance"] == 0.25 and record["ranked"] is False
    assert record["machine"] and record["host"]  # where the control ran, as for every cell
    removed, swapped = record["value"], record["extras"]["cue-swapped-accuracy"]["value"]
    assert 0 <= record["extras"]["cue-only-accuracy"]["value"] <= 1
    kept = {k: v["value"] for k, v in record["extras"].items()
            if k.startswith("p-true-without-cue/")}
    assert sorted(kept) == [f"p-true-without-cue/{c}" for c in range(4)]
    assert all(0 <= p <= 1 for p in kept.values())
    assert record["info"]["passed"] == (abs(removed - 0.25) <= 0.05 and swapped >= 0.9
                                        and max(kept.values()) <= 0.3)
    # the leaderboard reads a cue run, control record and all
    written = build_leaderboard([tmp_path / "out"], tmp_path / "board", quiet=True)
    readme = (tmp_path / "board" / "README.md").read_text()
    assert "## cue · audionet" in readme
    # the control is the model's, in a table of its own with intervals over speakers
    control = readme[readme.index("Cue control:"):]
    assert f"| 0 | {100 * removed:.1f} % [" in control and "| Control |" in control
    label, most = max(kept.items(), key=lambda item: item[1])
    assert f"| {most:.3f} (cue {label[-1]}) |" in control
    ranking_header = next(line for line in readme.splitlines() if line.startswith("| # |"))
    assert "cue-control" not in ranking_header
    assert {p.name for p in written} >= {"README.md", "leaderboard.csv"}


def test_a_synthetic_cue_run_plants_the_cues_once_and_caches_them(cue_source, tmp_path,
                                                                   monkeypatch):
    import audioxai_bench.run.artifacts as artifacts

    monkeypatch.setattr(artifacts, "synthetic_data", lambda *a, **k: (cue_source, True))
    raw = definition(cue_source, tasks=["cue"], explainers=["random"], metrics=["gini"],
                     samples=4)
    raw["data"] = {"synthetic": {"speakers": 60, "reps": 4}}
    bench = parse_benchmark(raw)
    assert bench.data.cue
    pm = load_plugins(entrypoints=False)
    first = run_benchmark(bench, tmp_path / "a", quiet=True, plugins=pm, log=lambda _: None)
    second = run_benchmark(bench, tmp_path / "b", quiet=True, plugins=pm, log=lambda _: None)
    assert (first.cached["data"], second.cached["data"]) == (1, 2)  # planted, then reused
    df = load_results(tmp_path / "b")
    assert set(df.dataset) == {"synthetic-60x4-seed0-cue0"} and (df.status == "ok").all()


def test_the_page_draws_the_planted_region_over_the_cue_examples(cue_tree, tmp_path):
    from audioxai_bench.leaderboard import figures, media
    from audioxai_bench.run import folder

    pm = load_plugins(entrypoints=False)
    bench = parse_benchmark(definition(cue_tree, tasks=["cue"], explainers=["random"],
                                       metrics=["gini"], samples=4, examples=2))
    run_benchmark(bench, tmp_path / "out", quiet=True, plugins=pm, log=lambda _: None)
    arrays = folder.read_examples(folder.examples_file(tmp_path / "out", "cue-audionet-fold0"))
    truth = arrays["ground_truth"]
    assert truth.shape == arrays["inputs"].shape and truth.dtype == bool
    assert (truth.reshape(len(truth), -1).sum(1) > 0).all()  # every clip has its cue
    examples = media.load_examples(
        folder.examples_file(tmp_path / "out", "cue-audionet-fold0"), "0")
    drawn = figures.relevance_figure(examples, 0, ["random"], "cue").axes
    plain = figures.relevance_figure(dataclasses.replace(examples, ground_truth=None), 0,
                                     ["random"], "cue").axes
    # the planted span is shaded on the input and on every relevance panel
    assert [len(ax.patches) for ax in drawn[:2]] == [len(ax.patches) + 1 for ax in plain[:2]]
    build_leaderboard([tmp_path / "out"], tmp_path / "board", quiet=True)
    assert "where the cue was planted" in (tmp_path / "board" / "index.html").read_text()


def test_a_cached_cue_tree_is_keyed_by_the_burst_settings(tree, monkeypatch):
    from audioxai_bench.data import cue
    from audioxai_bench.run import artifacts

    planted = []

    def plant(source, out, **kwargs):
        planted.append(source)

    monkeypatch.setattr(artifacts, "plant_cues", plant)
    first, cached = artifacts.cue_data(tree, 0)
    assert not cached and artifacts.cue_data(tree, 0) == (first, True)
    monkeypatch.setattr(cue, "LEVEL_DB", (-16.0, -10.0))  # quieter bursts: another tree
    second, cached = artifacts.cue_data(tree, 0)
    assert not cached and second != first and planted == [tree, tree]


def test_a_run_plants_its_cues_for_its_own_resampler(tree, monkeypatch):
    """The planter read every clip with sinc's rate check, so a run resampling by fft lost the
    clips only sinc refuses. The run passes its resampler, which keys the cached tree; sinc's
    key states none, as the keys of the trees planted before."""
    from audioxai_bench import __version__
    from audioxai_bench.data.cache import data_fingerprint
    from audioxai_bench.data.cue import cue_settings
    from audioxai_bench.hashing import config_hash
    from audioxai_bench.run import artifacts
    from audioxai_bench.run.definition import DataChoice

    planted = []
    monkeypatch.setattr(artifacts, "plant_cues",
                        lambda source, out, **kwargs: planted.append(kwargs["resampler"]))
    sinc, _, _ = artifacts.data_tree(DataChoice(path=tree, cue=True))
    fft, _, _ = artifacts.data_tree(DataChoice(path=tree, cue=True, resampler="fft"))
    assert planted == ["sinc", "fft"] and fft != sinc
    before = config_hash({"source": data_fingerprint(tree, scan_dataset(tree).clips),
                          "seed": 0, "version": __version__, "cue": cue_settings()})
    assert sinc.name.endswith(before)


def test_a_cue_tree_planted_for_another_resampler_is_refused(cue_tree):
    """Planting kept the clips its resampler takes: a run resampling otherwise would lack the
    clips only its own takes, silently."""
    from audioxai_bench.run.artifacts import data_tree
    from audioxai_bench.run.definition import DataChoice

    assert data_tree(DataChoice(path=cue_tree, cue=True))[0] == cue_tree  # planted for sinc
    with pytest.raises(AudioXaiError, match=r"planted for resampler sinc, .* not for fft: "
                                            r"plant them again with .*--resampler fft'$"):
        data_tree(DataChoice(path=cue_tree, cue=True, resampler="fft"))


def test_a_cue_model_is_taught_no_favourite_class_after_learning_the_cues(cue_tree,
                                                                          monkeypatch):
    """Science audit 6, H1: trained on cued clips alone every cue model answered one class
    whenever it heard no cue. After its recipe's steps it trains half as many again on the
    training clips and their cue-free copies, labelled NO_CLASS, in the recipe's input
    coordinates (review 20, M1: the folded AlexNet took 80 times larger steps in raw dB); the
    recipe's key and the result say so (M2)."""
    import torch

    import audioxai_bench.run.artifacts as artifacts
    from audioxai_bench.data.ground_truth import burst_signals
    from audioxai_bench.models.train import NO_CLASS

    seen, folded, weights = [], [], []
    real = artifacts.train

    def spy(model, train_set, val_set, test_set, config, **kw):
        weights.append(kw.get("no_class_weight", 1.0))
        seen.append((train_set, config, model.input_layer.weight.detach().clone()))
        result = real(model, train_set, val_set, test_set, config, **kw)
        folded.append(model.input_layer.weight.detach().clone())
        return result

    monkeypatch.setattr(artifacts, "train", spy)
    spec = load_plugins(entrypoints=False).models.registration("alexnet")
    recipe = artifacts.make_recipe(spec.obj, "builtin", "cue", 0, "cpu", width=0.0625,
                                   iterations=4, eval_every=2, batch_size=8)
    assert recipe.config.standardises_input  # the cpu AlexNet learns on a centred input
    data = load_audiomnist(cue_tree, seed=0)
    heard = []
    _, meta, result = artifacts._train(recipe, data, lambda it, total, _: heard.append((it, total)))
    (plain, first, _), (both, second, start) = seen
    # the second stage's steps counted on (review 20, L3)
    assert heard[3:] == [(4, 4), (5, 6), (6, 6)]
    assert (first.iterations, second.iterations, result.iterations) == (4, 2, 6)
    assert second.select == "final" and weights == [1.0, artifacts.CUE_FREE_WEIGHT] == [1, 12]
    assert (second.input_centre, second.input_scale) == (first.input_centre, first.input_scale)
    # stage 2 starts from stage 1's weights unfolded back to the centred input
    assert torch.allclose(start, folded[0] * first.input_scale, rtol=1e-5, atol=1e-7)
    assert meta["selected_iteration"] == result.selected_iteration == 6
    assert [h["iteration"] for h in result.history] == [2, 4, 5, 6]
    n = len(plain)
    labels = both.labels[both.rows]
    assert len(both) == 2 * n and (labels[n:] == NO_CLASS).all()
    assert (labels[:n] == plain.labels[plain.rows]).all()
    # the copies are the clips without their bursts, made from the memory-mapped signals
    clips, copies = both.signals_at(np.arange(n)), both.signals_at(np.arange(n, 2 * n))
    bursts = burst_signals(data.cues.take(plain.rows)).numpy()
    assert both.signals is data.signals and np.array_equal(clips, data.signals[plain.rows])
    assert np.array_equal(copies, clips - bursts)
    # the design is in the cue recipes' key (cached models made otherwise are not these),
    # and not in another task's
    digit = dataclasses.replace(recipe, task="digit")
    keys = recipe.key, digit.key
    monkeypatch.setattr(artifacts, "CUE_TRAINING", "another design")
    assert recipe.key != keys[0] and digit.key == keys[1]


def test_a_cue_tree_whose_speech_would_tell_the_class_is_refused_as_its_source_is(tmp_path):
    """plant_cues refuses a source whose repetitions let speech tell the cue class; a run whose
    data.path was already a cue tree (planted from 4 repetitions, 2 of them removed since) was
    not checked, and trained on it."""
    source = write_tree(tmp_path / "src", list(range(1, 61)), digits=range(2), reps=range(4))
    tree = plant_cues(source, tmp_path / "cue").out
    for wav in [*tree.glob("*/*_2.wav"), *tree.glob("*/*_3.wav")]:
        wav.unlink()
        sidecar_path(wav).unlink()
    with pytest.raises(AudioXaiError) as info:
        run(tree, tmp_path / "out", changes={"tasks": ["cue"]})
    assert str(info.value).startswith(f"{tree}: speaker 01, digit 0 has 2 repetition(s), whose "
                                      "cue classes occur [")
    assert "the cue task needs a multiple of 4 repetitions" in str(info.value)
    assert not (tmp_path / "out").exists()
