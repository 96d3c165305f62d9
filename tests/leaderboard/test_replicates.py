"""Seed replicates, and the splits of a table, are pooled only where they were run from one
definition."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from audioxai_bench.cli import main
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.leaderboard import build_leaderboard, collect
from tests.helpers import record, run_store

SMOOTHGRAD = {"n_samples": 8, "noise_level": 0.15}
TRAINING = {"preset": "cpu", "width": 0.125, "iterations": 500, "n_effective": 60.0,
            "training": {"lr": 0.001, "batch_size": 100}}


def _run(root: Path, seed: int, *, params: dict = SMOOTHGRAD, info: dict = TRAINING,
         fingerprint: str = "1fbf1fe31350b47a", version: str = "0.1.0",
         base: str | None = None, **stated) -> Path:
    """A run of one seed: AudioNet's accuracy and smoothgrad's faithfulness gap, by the
    ``version`` of its plugin, a variant of ``base`` where given (``stated``: more fields of
    both records)."""
    common = {"seed": seed, "data_fingerprint": fingerprint, "model_key": f"model-{seed}",
              **stated}
    store = run_store(root)
    store.append(record("audionet", "test-accuracy", 0.86, n=200, **common,
                        info=info | {"n_effective": 50.0 + seed},  # an outcome: may differ
                        plugins={"model": {"name": "audionet", "plugin": "builtin"}}))
    store.append(record("audionet", "faithfulness-gap", 0.2, explainer="smoothgrad",
                        params={"explainer": params, "metric": {"baseline": "silence"}},
                        plugins={"explainer": {"name": "smoothgrad", "plugin": "builtin",
                                               "version": version,
                                               **({"base": base} if base else {})}},
                        **common))
    return root


def test_replicates_of_one_definition_are_pooled(tmp_path):
    df = collect.read([_run(tmp_path / "a", 0), _run(tmp_path / "b", 1)])
    assert sorted(df["seed"].unique()) == [0, 1]


#: (change to a run, the field the refusal names, its two values): what neither a seed nor a
#: split may change.
DEFINITION_CHANGES = [
    pytest.param({"params": SMOOTHGRAD | {"n_samples": 16}}, "params.explainer.n_samples",
                 "8 against 16", id="explainer-params"),
    pytest.param({"info": TRAINING | {"iterations": 20}}, "info.iterations", "500 against 20",
                 id="training-budget"),
    pytest.param({"info": TRAINING | {"training": {"lr": 0.01, "batch_size": 100}}},
                 "info.training.lr", "0.001 against 0.01", id="learning-rate"),
    pytest.param({"fingerprint": "5be2e3a0c1d4f6a7"}, "data_fingerprint",
                 '"1fbf1fe31350b47a" against "5be2e3a0c1d4f6a7"', id="data"),
    pytest.param({"resampler": "fft"}, "resampler", '"sinc" against "fft"', id="resampler"),
    # a variant (``{name: smoothgrad, base: gradient}``) against the object of that name: a
    # record without a base is the object under its own name
    pytest.param({"base": "gradient"}, "plugins.explainer.base",
                 '"smoothgrad" against "gradient"', id="variant-base"),
]


@pytest.mark.parametrize("change, field, values", DEFINITION_CHANGES)
def test_seeds_of_different_definitions_are_refused_naming_both_folders_and_the_field(
        tmp_path, capsys, change, field, values):
    """Probe F1: seed 0 with smoothgrad's 2 noise samples and seed 1 with 16 made one cell
    (n=8, models=2); so did a 500- and a 20-iteration training, and data of 599 and 600
    clips, with exit status 0."""
    a, b = _run(tmp_path / "a", 0), _run(tmp_path / "b", 1, **change)
    with pytest.raises(AudioXaiError, match=(
            rf"^{re.escape(str(a))}, {re.escape(str(b))}: the records of .*audionet split 0 "
            rf"differ between seed 0 and seed 1 in {re.escape(field)} \({re.escape(values)}\): "
            "a replicate changes only the seed")):
        build_leaderboard([a, b], tmp_path / "board", quiet=True)
    assert main(["leaderboard", str(a), str(b), "--out", str(tmp_path / "board")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "board").exists()


def test_seeds_of_a_variant_on_other_bases_are_refused_even_with_mixed_versions(tmp_path,
                                                                                  capsys):
    """Records name a variant's base (``{name: x, base: gradient}``), but the check compared
    name, origin and version only: seeds of one variant name on gradient and on amplitude
    were pooled into one cell, exit status 0."""
    a = _run(tmp_path / "a", 0, base="gradient")
    b = _run(tmp_path / "b", 1, base="amplitude")
    assert main(["leaderboard", str(a), str(b), "--out", str(tmp_path / "board")]) == 2
    assert capsys.readouterr().err == (
        f"error: {a}, {b}: the records of smoothgrad · faithfulness-gap on digit · audionet "
        "split 0 differ between seed 0 and seed 1 in plugins.explainer.base (\"gradient\" "
        'against "amplitude"): a replicate changes only the seed; give the leaderboard runs '
        "of one definition\n")
    with pytest.raises(AudioXaiError, match=r"in plugins\.explainer\.base "):
        collect.read([a, b], mixed_versions=True)
    c = _run(tmp_path / "c", 0, fold=1, base="amplitude")  # another split: refused too
    with pytest.raises(AudioXaiError, match=r"between split 0 and split 1 in "
                                            r"plugins\.explainer\.base "):
        collect.read([a, c])
    # one base: pooled; the object under its own name pools with records naming it as base
    collect.read([a, _run(tmp_path / "d", 1, base="gradient")])
    collect.read([_run(tmp_path / "e", 0), _run(tmp_path / "f", 1, base="smoothgrad")])


@pytest.mark.parametrize("field, mine, theirs", [("samples", 16, 8), ("batch_size", 16, 8)])
def test_seeds_scored_on_other_numbers_of_clips_or_batches_are_refused(tmp_path, field, mine,
                                                                       theirs):
    """Probe 5 #12: seed 0 of samples 16 and seed 1 of samples 8 pooled (seed 0 then weighs
    twice seed 1 in each mean); the facts only said "8–16 explained test clips"."""
    def stated(value: int) -> dict:
        return ({"clips": [f"{i:02d}/0_{i:02d}_0.wav" for i in range(value)]}
                if field == "samples" else {"batch_size": value})

    a = _run(tmp_path / "a", 0, **stated(mine))
    b = _run(tmp_path / "b", 1, **stated(theirs))
    with pytest.raises(AudioXaiError, match=(
            rf"^{re.escape(str(a))}, {re.escape(str(b))}: the records of .*audionet split 0 "
            rf"differ between seed 0 and seed 1 in {field} \({mine} against {theirs}\): a "
            "replicate changes only the seed; give the leaderboard runs of one definition$")):
        collect.read([a, b])
    collect.read([a, _run(tmp_path / "c", 1, **stated(mine))])  # the same: pooled


def test_two_folders_of_one_seed_are_one_run_or_refused(tmp_path):
    """The newest record of each cell and seed wins, so a second folder of seed 0 holding the
    same cells replaced the first whole: another trained model's, or other clips' numbers
    stood in the tables alone, the first run vanished unsaid, and the manifest named both,
    exit status 0. A copy of one run (or its resumed copy) counts once."""
    a = _run(tmp_path / "a", 0)
    shutil.copytree(a, tmp_path / "copy")
    df = collect.read([a, tmp_path / "copy"])
    assert list(df["seed"]) == [0, 0] and len(df) == 2  # one seed, not two replicates
    b = _run(tmp_path / "b", 0, model_key="model-0-retrained")
    with pytest.raises(AudioXaiError, match=(
            rf"^{re.escape(str(a))}, {re.escape(str(b))}: the records of digit · audionet "
            r"split 0, seed 0 come from 2 trained models")):
        collect.read([a, b])
    clips = [f"{i:02d}/0_{i:02d}_0.wav" for i in range(16)]
    c, d = _run(tmp_path / "c", 0, clips=clips), _run(tmp_path / "d", 0, clips=clips[:8])
    with pytest.raises(AudioXaiError, match=r"split 0, seed 0 were scored on 16 and 8 clips"):
        collect.read([c, d])


def test_a_field_an_older_record_does_not_state_is_not_compared(tmp_path):
    older = {k: v for k, v in TRAINING.items() if k != "width"}
    collect.read([_run(tmp_path / "a", 0), _run(tmp_path / "b", 1, info=older)])


def test_a_record_from_before_the_resampler_choice_pools_with_a_sinc_one(tmp_path):
    """Every record without a resampler was made with the sinc."""
    df = collect.read([_run(tmp_path / "a", 0), _run(tmp_path / "b", 1, resampler="sinc")])
    assert sorted(df["seed"].unique()) == [0, 1]


def _versioned(root: Path, seed: int, version: str, torch: str = "2.11.0") -> Path:
    """A run of one seed whose explainer plugin and torch have the given versions."""
    return _run(root, seed, version=version, versions={"torch": torch, "numpy": "2.0"})


def test_seeds_of_different_plugin_versions_are_refused_naming_the_way_to_pool_them(
        tmp_path, capsys):
    """A cell pooled seeds scored by two versions of its explainer into one interval, with exit
    status 0: the version was taken as provenance only."""
    a, b = _versioned(tmp_path / "a", 0, "0.1.0"), _versioned(tmp_path / "b", 1, "0.2.0")
    assert main(["leaderboard", str(a), str(b), "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {a}, {b}: the records of smoothgrad · faithfulness-gap on digit · "
                   "audionet split 0 differ between seed 0 and seed 1 in "
                   'plugins.explainer.version ("0.1.0" against "0.2.0"): a replicate changes '
                   "only the seed; run the other seeds again with one version, or pass "
                   "--mixed-versions to pool them\n")
    assert not (tmp_path / "board").exists()


def test_mixed_versions_pools_them_and_the_facts_say_which_run_had_which(tmp_path):
    a, b = _versioned(tmp_path / "a", 0, "0.1.0"), _versioned(tmp_path / "b", 1, "0.2.0")
    assert main(["leaderboard", str(a), str(b), "--out", str(tmp_path / "board"),
                 "--mixed-versions", "--quiet"]) == 0
    readme = (tmp_path / "board" / "README.md").read_text()
    assert ("- **Plugins:** builtin 0.1.0 (quickstart seed 0) / 0.2.0 (quickstart seed 1) / "
            "unstated (quickstart seed 0, quickstart seed 1)\n" in readme)  # the model's
    assert "builtin 0.1.0 (quickstart seed 0) / 0.2.0" in (
        tmp_path / "board" / "index.html").read_text()


def test_mixed_versions_still_refuses_other_params(tmp_path):
    a = _versioned(tmp_path / "a", 0, "0.1.0")
    b = _run(tmp_path / "b", 1, params=SMOOTHGRAD | {"n_samples": 16})
    with pytest.raises(AudioXaiError, match=r"params\.explainer\.n_samples \(8 against 16\)"):
        collect.read([a, b], mixed_versions=True)


def test_library_versions_may_differ_between_seeds_and_the_facts_say_whose(tmp_path):
    """Pooled (refusing would rerun every seed after any upgrade), but the facts named both
    versions without the runs that used them: one could not see the seeds were computed
    apart."""
    a = _versioned(tmp_path / "a", 0, "0.1.0")
    b = _versioned(tmp_path / "b", 1, "0.1.0", torch="2.12.0")
    build_leaderboard([a, b], tmp_path / "board", quiet=True)
    readme = (tmp_path / "board" / "README.md").read_text()
    assert ("- **Versions:** numpy 2.0, torch 2.11.0 (quickstart seed 0) / 2.12.0 (quickstart "
            "seed 1)\n") in readme


@pytest.mark.parametrize("mine, theirs, values", [
    ({"low": None}, {"low": 500}, "low (null against 500)"),
    ({}, {"seed": 1}, "seed (absent against 1)"),
], ids=["null-against-a-value", "a-setting-left-out"])
def test_a_setting_one_seed_leaves_unset_is_compared(tmp_path, mine, theirs, values):
    """A null setting (lrp's low and high) or one a record leaves out was taken as 'not
    stated' and not compared: seeds with low None and low 500 made one cell, exit status 0."""
    a = _run(tmp_path / "a", 0, params=SMOOTHGRAD | mine)
    b = _run(tmp_path / "b", 1, params=SMOOTHGRAD | theirs)
    with pytest.raises(AudioXaiError, match=rf"in params\.explainer\.{re.escape(values)}: a "
                                            "replicate changes only the seed; give the "
                                            "leaderboard runs of one definition$"):
        collect.read([a, b])


@pytest.mark.parametrize("field, mine, theirs", [
    ("higher_is_better", True, False),
    ("versus", "random order", "the amplitude map"),
    ("versus", None, "random order"),
], ids=["direction", "control", "a-control-one-seed-lacks"])
def test_mixed_versions_still_refuses_a_metric_whose_meaning_changed(tmp_path, field, mine,
                                                                    theirs):
    """The tables read a cell's direction and control from its first record: seeds of two
    metric versions that disagree on them were pooled and ranked by one seed's direction. The
    runner writes ``versus`` only where the metric has a control, and a seed without one was
    pooled with one that had it (every seed then tested against that control)."""
    a = _run(tmp_path / "a", 0, **({field: mine} if mine is not None else {}))
    b = _run(tmp_path / "b", 1, version="0.2.0", **{field: theirs})
    with pytest.raises(AudioXaiError, match=(
            rf"differ between seed 0 and seed 1 in {field} "
            rf"\({re.escape(json.dumps(mine))} against {re.escape(json.dumps(theirs))}\)")):
        collect.read([a, b], mixed_versions=True)
    c = _run(tmp_path / "c", 1, **{field: theirs})  # one version: refused too
    with pytest.raises(AudioXaiError, match=rf"in {field} "):
        collect.read([a, c])


def _scored(root: Path, seed: int, info: dict | None, status: str = "ok", fold: int = 0,
            **stated) -> Path:
    """A run of one seed: AudioNet's accuracy and a built-in metric's cell of split ``fold``
    whose record says ``info`` (None: states none), by the package's version whatever its
    code (``stated``: more fields of the metric's record)."""
    common = {"seed": seed, "data_fingerprint": "f", "model_key": f"model-{seed}", "fold": fold}
    store = run_store(root)
    store.append(record("audionet", "test-accuracy", 0.9, n=200, **common))
    store.append(record("audionet", "relevance-auc", 0.6 if status == "ok" else None,
                        explainer="gradient", status=status, ranked=True,
                        error=None if status == "ok" else "out of memory",
                        plugins={k: {"name": n, "plugin": "builtin", "version": "0.1.0"}
                                 for k, n in (("explainer", "gradient"),
                                              ("metric", "relevance-auc"))},
                        **({"info": info} if info is not None else {}), **common,
                        **stated))
    return root


SETTINGS = {"relevance": "absolute", "units": "every unit of the model input",
            "proportion": True, "controls": 4}


@pytest.mark.parametrize("mine, theirs, values", [
    (SETTINGS | {"relevance": "signed"}, SETTINGS, 'relevance ("signed" against "absolute")'),
    ({k: v for k, v in SETTINGS.items() if k != "relevance"}, SETTINGS,
     'relevance (absent against "absolute")'),
    (SETTINGS | {"controls": 2}, SETTINGS, "controls (2 against 4)"),
    (None, SETTINGS, 'controls (absent against 4)'),
    # scored against another ground-truth mask; a record from before records stated it
    (SETTINGS | {"ground_truth": "waveform v1: the burst's samples"},
     SETTINGS | {"ground_truth": "waveform v2: wider"},
     """ground_truth ("waveform v1: the burst's samples" against "waveform v2: wider")"""),
    (SETTINGS, SETTINGS | {"ground_truth": "waveform v1: the burst's samples"},
     """ground_truth (absent against "waveform v1: the burst's samples")"""),
], ids=["changed", "new", "number", "none-stated", "mask-rule", "mask-rule-unstated"])
def test_seeds_whose_metric_says_its_score_is_another_are_refused_under_one_version(
        tmp_path, capsys, mine, theirs, values):
    """Built-in plugins carry the package's version, which stayed 0.1.0 while localisation's
    relevance went from signed to absolute and sonification gained its unit score: seeds of
    the old and the new code made one cell, exit status 0 (review M1)."""
    a, b = _scored(tmp_path / "a", 0, mine), _scored(tmp_path / "b", 1, theirs)
    assert main(["leaderboard", str(a), str(b), "--out", str(tmp_path / "board")]) == 2
    assert capsys.readouterr().err == (
        f"error: {a}, {b}: the records of gradient · relevance-auc on digit · audionet split 0 "
        f"differ between seed 0 and seed 1 in info.{values}: a replicate changes only the "
        "seed; their metric computes its score otherwise (code changed under one version): "
        "run the other seeds again with one revision\n")
    with pytest.raises(AudioXaiError, match=re.escape(f"info.{values}")):
        collect.read([a, b], mixed_versions=True)


def test_what_a_run_measured_its_machine_and_a_failed_cell_are_not_compared(tmp_path):
    """Lists and objects hold what a metric measured (runtime's call_seconds), the device is
    the machine's (the facts list it), and a failed cell's record states no info."""
    a = _scored(tmp_path / "a", 0, SETTINGS | {"device": "cpu", "call_seconds": [0.1, 0.2],
                                               "spread": {"max": 0.3}})
    b = _scored(tmp_path / "b", 1, SETTINGS | {"device": "cuda", "call_seconds": [0.3, 0.1],
                                               "spread": {"max": 0.1}})
    c = _scored(tmp_path / "c", 2, None, status="error")
    assert set(collect.read([a, b, c])["seed"]) == {0, 1, 2}


@pytest.mark.parametrize("fold, seed", [(0, 1), (1, 0)], ids=["another-seed", "another-split"])
def test_a_cell_that_failed_on_one_model_pools_with_the_models_it_did_not_fail_on(tmp_path,
                                                                                 fold, seed):
    """The runner's record of a failed cell states no direction (``higher_is_better`` comes
    from the summary that never ran): read as null against the other model's true, a metric
    failing on one split or seed refused the whole leaderboard as runs of another definition,
    and the table's "1 of 2 models failed" was never reached."""
    a = _scored(tmp_path / "a", 0, SETTINGS)
    b = _scored(tmp_path / "b", seed, None, status="error", fold=fold, higher_is_better=None)
    build_leaderboard([a, b], tmp_path / "board", quiet=True)
    table = (tmp_path / "board" / "README.md").read_text()
    assert "| gradient | 0.600 [0.550, 0.650] (1 of 2 models failed) |" in table
    # one that states another direction is still refused
    c = _scored(tmp_path / "c", seed, None, status="error", fold=fold, higher_is_better=False)
    with pytest.raises(AudioXaiError, match=r"in higher_is_better \(true against false\)"):
        collect.read([a, c])


def test_records_that_state_no_version_are_listed_beside_those_that_do(tmp_path):
    """The facts skipped them: "builtin 0.1.0" hid that seed 1's records stated none, so one
    could not see those were computed by code the records do not name (review L4)."""
    from audioxai_bench.leaderboard.provenance import facts

    a = _run(tmp_path / "a", 0)
    b = _run(tmp_path / "b", 1, version=None)
    plugins = dict(facts(collect.read([a, b], mixed_versions=True)))["Plugins"]
    assert plugins == "builtin 0.1.0 (quickstart seed 0) / unstated (quickstart seed 0, " \
                      "quickstart seed 1)"
    only = dict(facts(collect.read([_run(tmp_path / "c", 0, version=None)])))["Plugins"]
    assert only == "builtin"  # none states one: nothing to tell apart


def _splits(root: Path, seed: int, **split1) -> Path:
    """A run of one seed with splits 0 and 1, ``split1`` changing split 1 as in :func:`_run`."""
    _run(root, seed)
    return _run(root, seed, fold=1, **split1)


def test_the_facts_say_which_seed_did_not_run_a_split(tmp_path):
    """A seed of fewer folds pooled with one of all: the facts said "the runs of each seed
    trained their own model of every split" while split 1 held one seed's model and split 0
    two."""
    from audioxai_bench.leaderboard.provenance import facts

    def aggregation(*runs: Path) -> str:
        return dict(facts(collect.read(list(runs))))["Aggregation"]

    a, b = _run(tmp_path / "a", 0), _run(tmp_path / "b", 1)
    store = run_store(tmp_path / "a")
    store.append(record("audionet", "test-accuracy", 0.86, n=200, fold=1, seed=0,
                        data_fingerprint="1fbf1fe31350b47a", model_key="model-0-1",
                        info=TRAINING, plugins={"model": {"name": "audionet",
                                                          "plugin": "builtin"}}))
    assert aggregation(a, b).endswith(
        "the runs of each seed trained their own model of every split they ran (digit/audionet "
        "seed 1 did not run split 1), and a split's clips pool its models'")
    assert aggregation(_run(tmp_path / "c", 0), b).endswith(
        "trained their own model of every split, and a split's clips pool its models'")


@pytest.mark.parametrize("change, field, values", [
    *DEFINITION_CHANGES,
    pytest.param({"higher_is_better": False}, "higher_is_better", "true against false",
                 id="direction"),
    pytest.param({"info": TRAINING | {"width": 0.25}}, "info.width", "0.125 against 0.25",
                 id="width"),
])
def test_splits_of_different_definitions_are_refused_naming_the_runs_the_cell_and_the_field(
        tmp_path, capsys, change, field, values):
    """Probe 6 #2: split 0 of one run and split 1 of another, whose faithfulness gap was
    scored on another grid (and whose models were trained wider and longer), made one cell,
    the mean of the two grids' values, with exit status 0: only the seeds of one split were
    compared."""
    a, b = _run(tmp_path / "a", 0), _run(tmp_path / "b", 0, fold=1, **change)
    with pytest.raises(AudioXaiError, match=(
            rf"^{re.escape(str(a))}, {re.escape(str(b))}: the records of "
            r"((smoothgrad · faithfulness-gap|test-accuracy) on )?digit · audionet differ "
            rf"between split 0 and split 1 in {re.escape(field)} \({re.escape(values)}\): "
            "a table pools its splits, which change only the speakers; give the leaderboard "
            "runs of one definition$")):
        collect.read([a, b])
    assert main(["leaderboard", str(a), str(b), "--out", str(tmp_path / "board")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "board").exists()
    # within one run too, and with seeds: split 1 of seed 1 against split 0 of seed 0
    with pytest.raises(AudioXaiError, match=re.escape(
            f"differ between split 0 (seed 0) and split 1 (seed 1) in {field} ({values})")):
        collect.read([_run(tmp_path / "c", 0), _run(tmp_path / "d", 1, fold=1, **change)])


def test_splits_scored_with_other_batch_sizes_are_refused(tmp_path):
    """Each batch seeds its metrics: a split scored in batches of 8 is another definition."""
    a, b = _run(tmp_path / "a", 0, batch_size=16), _run(tmp_path / "b", 0, fold=1, batch_size=8)
    with pytest.raises(AudioXaiError, match=re.escape(
            "differ between split 0 and split 1 in batch_size (16 against 8)")):
        collect.read([a, b])


def test_splits_of_one_definition_are_pooled_though_their_test_splits_differ_in_size(
        tmp_path):
    """A split's clips are at most the definition's samples: a smaller test split gives fewer
    (a split's mean is one value of the table's mean, whatever its clips)."""
    clips = [f"{i:02d}/0_{i:02d}_0.wav" for i in range(16)]
    a = _run(tmp_path / "a", 0, clips=clips)
    b = _run(tmp_path / "b", 0, fold=1, clips=clips[:12])
    assert sorted(collect.read([a, b])["fold"].unique()) == [0, 1]


def test_a_change_between_the_seeds_of_a_later_split_is_named_as_one(tmp_path):
    """Seed 1 changed only split 1: the records it disagrees with are split 1's of seed 0,
    not the table's first record (split 0's)."""
    a = _splits(tmp_path / "a", 0)
    b = _splits(tmp_path / "b", 1, params=SMOOTHGRAD | {"n_samples": 16})
    with pytest.raises(AudioXaiError, match=re.escape(
            f"{a}, {b}: the records of smoothgrad · faithfulness-gap on digit · audionet split "
            "1 differ between seed 0 and seed 1 in params.explainer.n_samples (8 against 16): "
            "a replicate changes only the seed")):
        collect.read([a, b])
    assert sorted(collect.read([a, _splits(tmp_path / "c", 1)])["fold"].unique()) == [0, 1]


def test_splits_of_different_plugin_versions_are_refused_unless_mixed_versions(tmp_path,
                                                                              capsys):
    a, b = _versioned(tmp_path / "a", 0, "0.1.0"), _run(tmp_path / "b", 0, fold=1,
                                                        version="0.2.0")
    assert main(["leaderboard", str(a), str(b), "--out", str(tmp_path / "board")]) == 2
    assert capsys.readouterr().err == (
        f"error: {a}, {b}: the records of smoothgrad · faithfulness-gap on digit · audionet "
        'differ between split 0 and split 1 in plugins.explainer.version ("0.1.0" against '
        '"0.2.0"): a table pools its splits, which change only the speakers; run the other '
        "splits again with one version, or pass --mixed-versions to pool them\n")
    assert sorted(collect.read([a, b], mixed_versions=True)["fold"].unique()) == [0, 1]


def test_splits_whose_metric_says_its_score_is_another_are_refused(tmp_path):
    a = _scored(tmp_path / "a", 0, SETTINGS)
    b = _scored(tmp_path / "b", 0, SETTINGS | {"relevance": "signed"}, fold=1)
    with pytest.raises(AudioXaiError, match=re.escape(
            f"{a}, {b}: the records of gradient · relevance-auc on digit · audionet differ "
            'between split 0 and split 1 in info.relevance ("absolute" against "signed"): a '
            "table pools its splits, which change only the speakers; their metric computes "
            "its score otherwise (code changed under one version): run the other splits again "
            "with one revision")):
        collect.read([a, b], mixed_versions=True)
