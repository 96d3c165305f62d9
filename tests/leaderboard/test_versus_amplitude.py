"""A ranked sonified gain is also paired against the amplitude map under the same sonifier:
loudness alone can beat random units, so a mark against random does not show more than where the
sound is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps

from audioxai_bench.leaderboard import aggregate, tables
from audioxai_bench.stats import holm

from .records import score_rows, weak_model_rows

GAIN = "sonified-sufficiency-gain"
VERSUS = f"{GAIN}-vs-amplitude"


def _rows(scores: dict[str, np.ndarray], *, metric: str = GAIN, sonifier: str = "mask",
          ranked: bool = True, model: str = "m") -> list[dict]:
    return score_rows(scores, metric=metric, versus="random units of the same number",
                      sonifier=sonifier, ranked=ranked, model=model)


@pytest.fixture(scope="module")
def scores() -> dict[str, np.ndarray]:
    """Gains over random: ``loud`` is the amplitude map; ``beyond`` beats it, ``like`` is
    loudness plus noise, and both beat random."""
    rng = np.random.default_rng(5)
    loud = 0.3 + 0.05 * rng.standard_normal(24)
    return {"amplitude": loud, "beyond": loud + 0.1 + 0.02 * rng.standard_normal(24),
            "like": loud + 0.02 * rng.standard_normal(24),
            "random": 0.05 * rng.standard_normal(24)}


def _unit_means(values: np.ndarray) -> np.ndarray:
    return values.reshape(12, 2).mean(axis=1)  # clips come in pairs per (fold, speaker)


def test_each_gain_is_paired_with_the_amplitude_maps_on_the_same_clips(scores):
    cells = aggregate.by_cell(pd.DataFrame(_rows(scores)))
    gain = cells[cells["metric"] == GAIN].set_index("explainer")
    versus = cells[cells["metric"] == VERSUS].set_index("explainer")
    assert set(versus.index) == set(scores)
    # against random, loudness and the map that only copies it are both better
    assert gain.loc[["amplitude", "beyond", "like"], "versus_verdict"].eq("better").all()
    assert versus["versus_verdict"].to_dict() == {
        "amplitude": "", "beyond": "better", "like": "not separated", "random": "worse"}
    for name in ("beyond", "like", "random"):
        difference = scores[name] - scores["amplitude"]
        # both folds have the same speakers and clip counts: the mean of fold means is the mean
        assert versus.loc[name, "value"] == pytest.approx(difference.mean())
        low, high = versus.loc[name, ["ci_low", "ci_high"]]
        assert low < difference.mean() < high
    tested = ["beyond", "like", "random"]
    raw = [sps.wilcoxon(_unit_means(scores[e] - scores["amplitude"])).pvalue for e in tested]
    assert versus.loc[tested, "p_versus"].to_numpy() == pytest.approx(holm(raw))
    assert versus.loc["amplitude", ["value", "ci_low", "ci_high"]].tolist() == [0, 0, 0]
    assert pd.isna(versus.loc["amplitude", "p_versus"])
    assert versus["versus"].eq(aggregate.AMPLITUDE_VERSUS).all()
    assert versus["sonifier"].eq("mask").all() and versus["models"].eq(2).all()


def test_paired_within_one_sonifier_and_only_for_ranked_sonified_gains(scores):
    two = aggregate.by_cell(pd.DataFrame(
        _rows(scores) + _rows({k: v + 1 for k, v in scores.items()}, sonifier="other")))
    versus = two[two["metric"] == VERSUS]
    # the other sonifier's gains are all shifted by 1: paired within it, nothing changes
    mine = versus.groupby("sonifier")["value"].apply(lambda v: v.sort_index().to_numpy())
    assert mine["mask"] == pytest.approx(mine["other"])
    descriptive = aggregate.by_cell(pd.DataFrame(_rows(scores, ranked=False)))
    per_explainer = aggregate.by_cell(pd.DataFrame(_rows(scores, sonifier="")))
    no_loudness = aggregate.by_cell(pd.DataFrame(
        _rows({k: v for k, v in scores.items() if k != "amplitude"})))
    for cells in (descriptive, per_explainer, no_loudness):
        assert not cells["metric"].str.endswith("-vs-amplitude").any()


def test_clips_that_cannot_be_paired_read_n_a_not_a_number(scores):
    """A model missing (the cell failed there), or other clips with the same speakers: no
    pairing, so no number rather than a wrong one."""
    missing = [r for r in _rows(scores) if not (r["explainer"] == "like" and r["fold"] == 1)]
    other_clips = _rows(scores)
    for row in other_clips:
        if row["explainer"] == "like":
            row["record"] = row["record"] | {"clips": [f"d{i}" for i in range(12)]}
    for rows in (missing, other_clips):
        versus = aggregate.by_cell(pd.DataFrame(rows)).set_index("explainer")
        versus = versus[versus["metric"] == VERSUS]
        assert pd.isna(versus.loc["like", "value"]) and versus.loc["like", "versus_verdict"] == ""
        assert versus.loc["beyond", "versus_verdict"] == "better"


def test_no_verdict_below_the_accuracy_floor(scores):
    rows = _rows(scores) + weak_model_rows()
    cells = aggregate.by_cell(pd.DataFrame(rows))
    versus = cells[cells["metric"] == VERSUS]
    assert versus["value"].notna().all() and (versus["versus_verdict"] == "").all()


def test_the_sonification_table_shows_the_column_beside_its_gain(scores):
    rows = (_rows(scores) + _rows(scores, metric="plugin-sonified", ranked=False)
            + _rows(scores, metric="sonified-sufficiency-vs-input", ranked=False)
            + _rows(scores, metric="sonified-comprehensiveness-gain"))
    section = aggregate.sections(pd.DataFrame(rows))[0]
    table = tables.sonification_table(section)
    assert list(table.header) == ["Explainer", "Sonifier", "Sufficiency gain ↑",
                                  "Sufficiency vs amplitude ↑",
                                  "Sufficiency vs model input ↑ †", "Comprehensiveness gain ↑",
                                  "Comprehensiveness vs amplitude ↑", "plugin-sonified ↑ †"]
    # columns with one control are named together
    assert ("(Sufficiency gain, Sufficiency vs model input, Comprehensiveness gain, "
            "plugin-sonified: random units of the same number; Sufficiency vs amplitude, "
            f"Comprehensiveness vs amplitude: {aggregate.AMPLITUDE_VERSUS})") in table.caption
    assert "Vs model input (†, it judges the sonifier, not the map)" in table.caption
    text = {row[0]: row[3] for row in table.rows}
    assert text["beyond"].endswith("▲") and text["random"].endswith("▼")
    assert not text["like"].endswith(("▲", "▼")) and text["amplitude"].startswith("0.000")
    assert "Vs amplitude: the gain minus the amplitude row's" in table.caption
    # a per-explainer metric's table never shows the sonified columns
    assert not any("amplitude" in h for h in tables.ranking_table(section).header)
