"""The metric reliability table: one row per metric scored on the reference maps, its verdict,
margin and the steps out of order; the references never enter the ranking."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audioxai_bench.evaluation.meta import REFERENCES, reference_name
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
    for explainer, gap in (("gradient", 0.3), ("random", 0.0), ("artefact", 1.6)):
        store.append(scored(explainer, "faithfulness-gap", gap, offsets))
    build_leaderboard([tmp_path / "run"], tmp_path / "board", quiet=True)
    readme = (tmp_path / "board" / "README.md").read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in readme.splitlines()
            if line.startswith(("| Faithfulness gap |", "| Pointing game |"))}
    # ranked by faithfulness gap, the metric that orders the references: every step resolved
    good = rows["Faithfulness gap"].split(" | ")
    assert good[2:4] == ["yes", "1.500 · 0.500 · -0.500"]
    assert good[4].endswith(": +0.200 [+0.200, +0.200]") and good[5] == "–"  # every step 0.2
    # an explainer above the planted evidence's own map: the metric rewards more than finding it
    assert good[6] == "1 of 3 (best 1.600) |"
    # a metric that prefers the inverted map: "no", its reversed steps named first
    bad = rows["Pointing game"].split(" | ")
    assert bad[2] == "no" and bad[5].startswith("oracle → noisy-0.25 reversed (p = ")
    assert bad[6] == "– |"  # no explainer scored on it
    assert "random → inverted reversed" in bad[5]
    ranking = readme[readme.index("| # |"):readme.index("Metric reliability")]
    assert "| gradient |" in ranking and "reference:" not in ranking
    assert "reference:oracle" in (tmp_path / "board" / "leaderboard.csv").read_text()
