"""The test-accuracy record: per-clip hits and speakers, so its interval counts speakers, not
clips; the same hits from the training's record or (older cached models) by classifying again."""

from __future__ import annotations

import pandas as pd
import pytest

from audioxai_bench.leaderboard import collect
from audioxai_bench.leaderboard.aggregate import by_cell
from audioxai_bench.run import artifacts
from audioxai_bench.run.records import read_records
from audioxai_bench.stats import clustered_wilson
from tests.run.helpers import run


def accuracy(out):
    [record] = [r for r in read_records([out]) if r["metric"] == "test-accuracy"]
    return record


def test_accuracy_keeps_its_hits_and_a_speaker_clustered_interval(tree, cache, tmp_path,
                                                                  monkeypatch):
    run(tree, tmp_path / "a", changes={"metrics": ["gini"], "explainers": ["gradient"]})
    record = accuracy(tmp_path / "a")
    hits, speakers = record["scores"], record["speakers"]
    assert len(hits) == len(speakers) == record["n"] and set(hits) <= {0, 1}
    assert record["value"] == pytest.approx(sum(hits) / len(hits))
    low, high, n_eff = clustered_wilson(hits, speakers)
    assert record["ci"] == [low, high] and record["info"]["n_effective"] == n_eff
    assert record["info"]["test_speakers"] == len(set(speakers)) < len(hits)
    # every training setting a replicate seed must share, for the leaderboard to compare
    training = record["info"]["training"]
    assert {"lr", "batch_size", "optimizer", "iterations"} <= set(training)
    assert not {"seed", "device"} & set(training)

    def without_hits(*args):  # a model cached before its hits were recorded
        model, meta = original(*args)
        return model, {k: v for k, v in meta.items() if k != "test_correct"}

    original = artifacts.verify_model
    monkeypatch.setattr(artifacts, "verify_model", without_hits)
    run(tree, tmp_path / "b", changes={"metrics": ["gini"], "explainers": ["gradient"]})
    again = accuracy(tmp_path / "b")
    assert (again["scores"], again["ci"]) == (hits, record["ci"])


def test_the_leaderboard_pools_the_folds_clips_for_accuracy(tree, cache, tmp_path):
    run(tree, tmp_path / "a", changes={"metrics": ["gini"], "explainers": ["gradient"],
                                       "folds": [0, 1]})
    records = [r for r in read_records([tmp_path / "a"]) if r["metric"] == "test-accuracy"]
    hits = [h for r in records for h in r["scores"]]
    clusters = [r["fold"] * 1000 + s for r in records for s in r["speakers"]]
    cells = by_cell(collect.read([tmp_path / "a"]))
    row = cells[cells.metric == "test-accuracy"].iloc[0]
    assert row["models"] == 2 and row["value"] == pytest.approx(sum(hits) / len(hits))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(clustered_wilson(hits, clusters)[:2])
    assert not pd.isna(row["ci_low"])
