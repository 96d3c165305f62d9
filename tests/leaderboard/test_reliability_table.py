"""The metric reliability table: one row per metric scored on the reference maps, its verdict,
margin and the steps out of order; the references never enter the ranking."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audioxai_bench.evaluation.meta import REFERENCES, SIGNED, reference_name
from audioxai_bench.leaderboard import build_leaderboard
from tests.helpers import record, run_store

QUALITY = np.array([1.5, 1.3, 1.1, 0.9, 0.7, 0.5, -0.5])  # one per reference, best first
CLIPS, SPEAKERS = 24, 12


def scored(explainer: str, metric: str, mean: float, offsets: np.ndarray) -> dict:
    scores = (mean + offsets).round(6).tolist()
    return record("audionet", metric, float(np.mean(scores)), explainer=explainer,
                  scores=scores, clips=[f"c{i:02d}.wav" for i in range(CLIPS)],
                  speakers=[1 + i % SPEAKERS for i in range(CLIPS)], n=CLIPS)


def test_the_table_says_which_metric_orders_the_references(tmp_path: Path):
    store = run_store(tmp_path / "run")
    store.append(record("audionet", "test-accuracy", 0.95, n=200))
    offsets = 0.01 * np.random.default_rng(0).normal(size=CLIPS)
    offsets -= offsets.mean()
    for name, quality in zip(REFERENCES, QUALITY):
        store.append(scored(reference_name(name), "faithfulness-gap", quality, offsets))
        store.append(scored(reference_name(name), "pointing-game", -quality, offsets))
        store.append(scored(reference_name(name), "relevance-auc", quality, offsets))
    # a localisation metric that orders the chain but scores the signed oracle as random
    store.append(scored(reference_name(SIGNED), "relevance-auc", QUALITY[-2], offsets))
    for explainer, gap in (("gradient", 0.3), ("random", 0.0), ("artefact", 1.6)):
        store.append(scored(explainer, "faithfulness-gap", gap, offsets))
    build_leaderboard([tmp_path / "run"], tmp_path / "board", quiet=True)
    readme = (tmp_path / "board" / "README.md").read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in readme.splitlines()
            if line.startswith(("| Faithfulness gap |", "| Pointing game |",
                                "| Relevance AUC |"))}
    # ranked by faithfulness gap, the metric that orders the references: every step resolved
    good = rows["Faithfulness gap"].split(" | ")
    assert good[2:5] == ["yes", "1.500 · 0.500 · -0.500", "–"]  # no signed oracle: deletion
    assert good[5].endswith(": +0.200 [+0.200, +0.200]") and good[6] == "–"  # every step 0.2
    # an explainer above the planted evidence's own map: the metric rewards more than finding it
    assert good[7] == "1 of 3 (best 1.600) |"
    # a metric that prefers the inverted map: "no", its reversed steps named first
    bad = rows["Pointing game"].split(" | ")
    assert bad[2] == "no" and bad[6].startswith("oracle → noisy-0.25 reversed (p = ")
    assert bad[7] == "– |"  # no explainer scored on it
    assert "random → inverted reversed" in bad[6]
    # a metric that reads the sign: the signed oracle shown, its step reversed, "no"
    signed = rows["Relevance AUC"].split(" | ")
    assert signed[2:5] == ["no", "1.500 · 0.500 · -0.500", "0.500"]
    assert signed[6].startswith("oracle-signed → noisy-0.25 reversed (p = ")
    assert "signed oracle, oracle-signed" in readme
    ranking = readme[readme.index("| # |"):readme.index("Metric reliability")]
    assert "| gradient |" in ranking and "reference:" not in ranking
    assert "reference:oracle" in (tmp_path / "board" / "leaderboard.csv").read_text()


def test_a_signed_oracle_of_only_some_models_is_left_out_not_the_metric(tmp_path: Path):
    # e.g. a split run before the signed oracle beside a newer one: the chain is still checked
    store = run_store(tmp_path / "run")
    offsets = 0.01 * np.random.default_rng(0).normal(size=CLIPS)
    offsets -= offsets.mean()
    for fold in (0, 1):
        store.append(record("audionet", "test-accuracy", 0.95, n=200, fold=fold))
        for name, quality in zip(REFERENCES, QUALITY):
            store.append(scored(reference_name(name), "relevance-auc", quality, offsets)
                         | {"fold": fold})
        store.append(scored("gradient", "relevance-auc", 0.3, offsets) | {"fold": fold})
    store.append(scored(reference_name(SIGNED), "relevance-auc", QUALITY[0], offsets))
    build_leaderboard([tmp_path / "run"], tmp_path / "board", quiet=True)
    readme = (tmp_path / "board" / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| Relevance AUC |"))
    assert row.split(" | ")[2:5] == ["yes", "1.500 · 0.500 · -0.500", "–"]


def test_the_smallest_step_shown_is_a_difference_not_nan(tmp_path: Path):
    """A reference undefined on every clip (n 0) has steps without a difference: the table
    showed one of them, "+nan [+nan, +nan]", as the smallest step beside a reversed step."""
    store = run_store(tmp_path / "run")
    store.append(record("audionet", "test-accuracy", 0.95, n=200))
    offsets = 0.01 * np.random.default_rng(0).normal(size=CLIPS)
    offsets -= offsets.mean()
    quality = QUALITY.copy()
    quality[3] = quality[2] + 0.3  # noisy-1 above noisy-0.5: a reversed step
    for name, mean in zip(REFERENCES, quality):
        r = scored(reference_name(name), "faithfulness-gap", mean, offsets)
        if name == "noisy-0.25":
            r |= {"value": float("nan"), "scores": [float("nan")] * CLIPS, "n": 0}
        store.append(r)
    build_leaderboard([tmp_path / "run"], tmp_path / "board", quiet=True)
    readme = (tmp_path / "board" / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| Faithfulness gap |"))
    cells = row.split(" | ")
    assert cells[2] == "no" and cells[5] == "noisy-0.5 → noisy-1: -0.300 [-0.300, -0.300]"
    assert "nan" not in row.lower()
