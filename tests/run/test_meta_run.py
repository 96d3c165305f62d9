"""The runner's meta-evaluation: where a panel has ground truth, reference maps are scored by
every checkable metric and stored as ``reference:<map>`` records; elsewhere nothing changes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from audioxai_bench.evaluation.meta import REFERENCES, SIGNED, reference_name
from audioxai_bench.leaderboard import build_leaderboard
from audioxai_bench.run.records import read_records
from audioxai_bench.run.units import Units
from audioxai_bench.testing import toy_ground_truth
from tests.run.helpers import run

METRICS = ["faithfulness-gap", "pointing-game", "runtime", "gini"]
CHANGES = {"explainers": ["random"], "metrics": METRICS}


@pytest.fixture
def with_ground_truth(monkeypatch):
    """Panels carry a stand-in ground truth (what the cue task's data give)."""
    panel = Units._panel

    def planted(self, *args, **kwargs):
        p = panel(self, *args, **kwargs)
        p.ground_truth = toy_ground_truth(p.x)
        return p

    monkeypatch.setattr(Units, "_panel", planted)


def cells(out: Path) -> Counter:
    records = list(read_records([out]))
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records]
    return Counter((r["explainer"], r["metric"]) for r in records)


def test_references_are_scored_where_the_panel_has_ground_truth(tree, tmp_path, cache,
                                                                 with_ground_truth):
    out = tmp_path / "out"
    run(tree, out, changes=CHANGES)
    got = cells(out)
    for name in REFERENCES:  # every checkable metric once; runtime times a method, not a map
        ref = reference_name(name)
        assert got[ref, "faithfulness-gap"] == got[ref, "pointing-game"] == 1
        assert got[ref, "runtime"] == got[ref, "gini"] == 0  # descriptive: not checked
    # the signed oracle only for the metric that reads the ground truth (localisation)
    signed = reference_name(SIGNED)
    assert got[signed, "pointing-game"] == 1 and got[signed, "faithfulness-gap"] == 0
    assert got["random", "pointing-game"] == got["random", "runtime"] == 1
    oracle = next(r for r in read_records([out]) if r["explainer"] == "reference:oracle"
                  and r["metric"] == "pointing-game")
    assert oracle["value"] == 1.0 and len(oracle["scores"]) == len(oracle["speakers"]) == 4
    assert oracle["plugins"]["explainer"]["plugin"] == "audioxai-bench"
    # the leaderboard ranks explainers only, and shows how each metric orders the references
    board = tmp_path / "board"
    build_leaderboard([out], board)
    readme = (board / "README.md").read_text()
    assert "Metric reliability" in readme
    row = next(line for line in readme.splitlines() if line.startswith("| Pointing game |"))
    assert "| 1.000 · " in row  # the oracle always hits
    # 4 clips (4 speakers) cannot resolve any step: the verdict says so rather than pass
    assert "| no |" in row and "oracle → random tied" in row
    ranking = readme[readme.index("| # |"):readme.index("Metric reliability")]
    assert "reference:" not in ranking


def test_without_ground_truth_nothing_changes(tree, tmp_path, cache):
    out = tmp_path / "out"
    run(tree, out, changes=CHANGES)
    records = list(read_records([out]))
    assert not any((r["explainer"] or "").startswith("reference:") for r in records)
    # nothing to localise: recorded as skipped with the reason, not a failure and not silent
    skipped = [r for r in records if r["status"] == "skipped"]
    assert [r["metric"] for r in skipped] == ["pointing-game"]
    assert "needs the ground truth" in skipped[0]["reason"]
    assert all(r["status"] == "ok" for r in records if r["status"] != "skipped")
