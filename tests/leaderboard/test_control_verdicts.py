"""The test of each cell against the control its metric is a difference against (``versus``):
a paired Wilcoxon test over (model, speaker) units, Holm-adjusted over the column."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps

from audioxai_bench.leaderboard import aggregate, tables
from audioxai_bench.stats import Clustered, holm

from .records import score_rows, weak_model_rows


def _rows(scores: dict[str, np.ndarray], *, metric: str = "gap", versus: str | None = "random",
          model: str = "m", higher_is_better: bool = True) -> list[dict]:
    return score_rows(scores, metric=metric, versus=versus, model=model,
                      higher_is_better=higher_is_better)


def _unit_means(values: np.ndarray) -> np.ndarray:
    return values.reshape(12, 2).mean(axis=1)  # clips come in pairs per (fold, speaker)


@pytest.fixture(scope="module")
def scores() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {"above": 0.2 + 0.05 * rng.standard_normal(24),
            "below": -0.2 + 0.05 * rng.standard_normal(24),
            "around": 0.05 * rng.standard_normal(24),
            "amplitude": np.zeros(24),  # the control itself: every difference is 0
            "reference:oracle": 0.5 + 0.05 * rng.standard_normal(24)}


def test_each_cell_is_tested_against_its_control_and_holm_adjusted_over_the_column(scores):
    cells = aggregate.by_cell(pd.DataFrame(_rows(scores))).set_index("explainer")
    verdict = cells["versus_verdict"].to_dict()
    assert verdict == {"above": "better", "below": "worse", "around": "not separated",
                       "amplitude": "", "reference:oracle": ""}
    # no test where there is nothing to test, and reference maps are not in the family
    assert cells.loc[["amplitude", "reference:oracle"], "p_versus"].isna().all()
    tested = ["above", "below", "around"]
    raw = [sps.wilcoxon(_unit_means(scores[e])).pvalue for e in tested]
    assert cells.loc[tested, "p_versus"].to_numpy() == pytest.approx(holm(raw))
    assert (cells.loc[tested, "p_versus"] > raw).any()  # adjusted, not the raw p
    assert set(cells["versus"]) == {"random"}


def test_no_mark_where_the_test_leans_against_the_cell_s_mean():
    """11 of 12 units a little above the control, one far below: the mean is below 0 and the
    signed ranks above (p 0.034); the cell read ▼ worse, its interval holding 0."""
    units = np.r_[0.01 + 0.001 * np.arange(11), -1.0]
    cell = aggregate.by_cell(pd.DataFrame(_rows({"e": np.repeat(units, 2)}))).iloc[0]
    assert cell["value"] < 0 and sps.wilcoxon(units).pvalue < 0.05
    assert cell["p_versus"] == 1.0 and cell["versus_verdict"] == "not separated"


def test_a_metric_without_a_control_or_where_lower_is_better(scores):
    plain = aggregate.by_cell(pd.DataFrame(_rows(scores, versus=None)))
    assert plain["p_versus"].isna().all() and (plain["versus_verdict"] == "").all()
    lower = aggregate.by_cell(pd.DataFrame(_rows(scores, higher_is_better=False)))
    verdict = dict(zip(lower["explainer"], lower["versus_verdict"]))
    assert verdict["above"] == "worse" and verdict["below"] == "better"


def test_the_family_is_one_column_of_one_table(scores):
    """Another model's cells and another metric's do not change a cell's adjustment."""
    alone = aggregate.by_cell(pd.DataFrame(_rows(scores)))
    more = aggregate.by_cell(pd.DataFrame(
        _rows(scores) + _rows(scores, model="other") + _rows(scores, metric="other-gap")))
    mine = more[(more["model"] == "m") & (more["metric"] == "gap")]
    assert mine["p_versus"].to_numpy() == pytest.approx(alone["p_versus"].to_numpy(),
                                                         nan_ok=True)


def test_marks_and_the_caption_name_the_control(scores):
    df = pd.DataFrame(_rows({k: v for k, v in scores.items() if k != "reference:oracle"},
                            metric="faithfulness-gap", versus="random order"))
    section = aggregate.sections(df)[0]
    table = tables.ranking_table(section)
    text = {row[table.header.index("Explainer")]: row[-1] for row in table.rows}
    assert text["above"].endswith("▲") and text["below"].endswith("▼")
    assert not text["around"].endswith(("▲", "▼")) and not text["amplitude"].endswith("▲")
    assert "Faithfulness gap: random order" in table.caption


def test_no_verdict_on_the_explanations_of_a_model_below_the_accuracy_floor(scores):
    rows = _rows(scores) + weak_model_rows()
    cells = aggregate.by_cell(pd.DataFrame(rows))
    gaps = cells[cells["metric"] == "gap"]
    assert gaps["p_versus"].isna().all() and (gaps["versus_verdict"] == "").all()
    assert gaps["value"].notna().all()  # the values are still reported


def test_a_model_whose_test_accuracy_record_holds_no_value_is_not_shown_above_the_floor(scores):
    """A test-accuracy record with a null value (and no per-clip hits) read NaN < floor as
    False: the models table said n/a, and its explanations were ranked and marked ▲ / ▼ as
    those of a model accurate enough."""
    from .records import _row

    accuracy = [_row(metric="test-accuracy", fold=0, value=0.95),
                _row(metric="test-accuracy", fold=1, value=np.nan, n=None)]
    section = aggregate.sections(pd.DataFrame(_rows(scores) + accuracy))[0]
    assert set(section.ranks.values()) == {"–"} and section.verdict is None
    assert section.unranked == (
        "not ranked: the model of fold 1 has a test accuracy record without a value, so is not "
        "shown above the floor of 55% (chance + half the way to 100 %)")
    assert (section.cells["versus_verdict"] == "").all()
    both = aggregate.below_floor(pd.DataFrame(accuracy + [_row(
        metric="test-accuracy", fold=2, value=0.10)]), "digit")
    assert both == ("not ranked: the model of fold 2 has test accuracy below the floor of 55% "
                    "(chance + half the way to 100 %); the model of fold 1 has a test accuracy "
                    "record without a value, so is not shown above that floor")


def control_row(fold: int, ok: bool, asked: bool = True, stored: bool | None = None,
                **fields) -> dict:
    """A cue control record of ``fold`` whose numbers pass the rule (or fail it: 90 % without
    the cue), asking each class (``asked``) and storing ``stored`` (default: ``ok``)."""
    from .records import _row

    per_class = {f"p-true-without-cue/{c}": {"value": 0.25 if ok else 0.9} for c in range(4)}
    extras = {"cue-swapped-accuracy": {"value": 0.95 if ok else 0.1}}
    return _row(metric="cue-control", fold=fold, value=0.25 if ok else 0.9, task="cue",
                info={"passed": ok if stored is None else stored, "chance": 0.25},
                extras=extras | (per_class if asked else {}), **fields)


def test_a_cue_model_that_failed_its_control_is_neither_ranked_nor_judged(scores):
    """Science audit 6, H1: the ground truth is the evidence only where the model needs the
    cue; a failed control left the cue tables ranked and the metric reliability checked."""
    from audioxai_bench.evaluation.meta import REFERENCES, reference_name

    rng = np.random.default_rng(4)
    known = {reference_name(r): 0.5 - 0.1 * i + 0.02 * rng.standard_normal(24)
             for i, r in enumerate(REFERENCES)}  # oracle > noisy ... > random > inverted

    def section(passed: list[bool]) -> aggregate.Section:
        rows = score_rows(scores | known, metric="faithfulness-gap", versus="random order",
                          task="cue")
        rows += [control_row(fold, ok, asked) for fold, (ok, asked) in enumerate(passed)]
        return aggregate.sections(pd.DataFrame(rows))[0]

    good = section([(True, True), (True, True)])
    assert good.unranked is None and good.ranks["above"] == "1"
    assert aggregate.reliabilities(good)  # the oracle and the other references are there
    assert aggregate.by_cell(good.rows).set_index("explainer").loc[
        "above", "versus_verdict"] == "better"
    bad = section([(True, True), (False, True)])
    assert bad.unranked.startswith("not ranked or judged: the model of fold 1 failed its cue "
                                   "control")
    assert set(bad.ranks.values()) == {"–"} and aggregate.reliabilities(bad) == []
    assert (aggregate.by_cell(bad.rows)["versus_verdict"] == "").all()
    assert "failed its cue control" in tables.ranking_table(bad).caption
    for lacking in ([(True, True)],  # no control record for fold 1
                    [(True, True), (True, False)]):  # a pass under the rule without classes
        assert section(lacking).unranked.startswith(
            "not ranked or judged: the model of fold 1 failed its cue control or has none")


@pytest.mark.parametrize("stored", [True, False])
def test_a_control_whose_stored_verdict_its_numbers_contradict_is_not_judged(scores, stored):
    """Probe 5 #4: the leaderboard printed a control's stored pass beside numbers that fail
    every criterion (90 % without the cue) and ranked the section. The verdict is judged from
    the numbers under the current rule; where the stored one disagrees the control is not
    judged, and the table says why in one line."""
    rows = score_rows(scores, metric="faithfulness-gap", versus="random order", task="cue")
    rows += [control_row(0, True), control_row(1, not stored, stored=stored)]
    section = aggregate.sections(pd.DataFrame(rows))[0]
    assert section.unranked == (
        "not ranked or judged: the cue control of fold 1 states a verdict its numbers do not "
        "bear out under the current rule (see the control table), so the planted region is not "
        "shown to be the evidence it uses; the metric reliability check, which rests on it, is "
        "not shown")
    assert set(section.ranks.values()) == {"–"}
    table = tables.control_table(section)
    assert [row[-1] for row in table.rows] == ["pass", "not judged"]
    said, numbers = ("pass", "fail") if stored else ("fail", "pass")
    assert (f" Not judged: fold 1 (its record says {said}, its numbers {numbers} the current "
            "rule (edited, or recorded under another rule)).") in table.caption
    # a record lacking a number the rule reads is not judged either, and says so
    lacking = control_row(1, True)
    del lacking["record"]["info"]["chance"]
    assert aggregate.control_verdict(lacking["record"])[0] == "not judged"
    # a failed control and a contradicted one in one section: both named
    rows[-2:] = [control_row(0, False), control_row(1, not stored, stored=stored)]
    assert aggregate.sections(pd.DataFrame(rows))[0].unranked.startswith(
        "not ranked or judged: the model of fold 0 failed its cue control or has none that asks "
        "every class; the cue control of fold 1 states a verdict its numbers do not bear out")


def test_a_cell_whose_classes_disagree_is_marked_with_each_class_in_the_csv():
    """Sex · AlexNet: removing to silence pushed the model towards male, so the amplitude order
    gained on female clips (+0.44) and lost on male ones (-0.39); the mean hid both."""
    rng = np.random.default_rng(5)
    female = np.array([1] * 6 + [0] * 6)  # speakers 0-2 female, 3-5 male (two clips each)
    split = {"loud-first": np.where(np.tile(female, 2) == 1, 0.4, -0.4)
                           + 0.05 * rng.standard_normal(24),
             "both": 0.2 + 0.05 * rng.standard_normal(24)}
    rows = score_rows(split, metric="faithfulness-gap", versus="random order",
                      targets=female.tolist(), task="sex")
    cells = aggregate.by_cell(pd.DataFrame(rows)).set_index("explainer")
    assert cells.loc["both", "classes"] == ""
    text = cells.loc["loud-first", "classes"]
    assert re.fullmatch(r"male -0\.4\d\d \[-\S+, -\S+\] / female 0\.3\d\d \[\S+, \S+\]", text)
    section = aggregate.sections(pd.DataFrame(rows))[0]
    table = tables.ranking_table(section)
    shown = {row[table.header.index("Explainer")]: row[-1] for row in table.rows}
    assert shown["loud-first"].endswith("⇅") and shown["both"].endswith("▲")
    assert "⇅: the classes disagree" in table.caption
    # the pairwise tests rank within each sex too, so the two share ranks, said where shown
    assert section.ranks["both"] == section.ranks["loud-first"] == "1–2"
    within = "The pairwise tests too rank the differences within each class"
    assert within in table.caption
    # digit classes are not the speakers' own: no stratified test, no such sentence
    digits = aggregate.sections(pd.DataFrame(score_rows(
        split, metric="faithfulness-gap", versus="random order", targets=list(range(12)))))[0]
    assert not digits.verdict.stratified and within not in tables.ranking_table(digits).caption
    summary = tables.summary_table([section, digits], "b").caption  # each rule said once
    assert summary.count("A ranks above B only where") == 1 and summary.count(within) == 1
    # without the classes (older records) there is nothing to split
    plain = aggregate.by_cell(pd.DataFrame(score_rows(split, metric="faithfulness-gap",
                                                      versus="random order", task="sex")))
    assert (plain["classes"] == "").all()


def test_a_class_whose_speakers_kept_unequal_clips_is_read_by_its_interval():
    """A metric left out on most clips of half the female speakers: the female mean over units
    is 0 (t = 0) while her clip-weighted mean and its interval lie well above 0, the male one
    below. A pre-filter on the unit means' t skipped the intervals and hid the disagreement."""
    rng = np.random.default_rng(0)
    scores, speakers, sexes = [], [], []
    for speaker in range(12):  # female: six speakers of 20 clips at +1, six of 1 clip at -1
        clips = 20 if speaker < 6 else 1
        scores += list((1.0 if speaker < 6 else -1.0) + 0.05 * rng.standard_normal(clips))
        speakers += [speaker] * clips
        sexes += [1] * clips
    for speaker in range(12, 24):  # male: every speaker at -1
        scores += list(-1.0 + 0.05 * rng.standard_normal(4))
        speakers += [speaker] * 4
        sexes += [0] * 4
    data = Clustered(np.array([scores]), np.zeros(len(scores), dtype=int), np.array(speakers),
                     np.array(sexes))
    classes = aggregate.by_class(data)
    female = dict(classes)[1]
    assert abs(female.unit_means()[0].mean()) < 0.01 and female.means()[0] > 0.5
    assert re.fullmatch(r"male -1\.0\d\d \[-\S+, -\S+\] / female 0\.9\d\d \[0\.\d+, \S+\]",
                        aggregate.class_disagreement(classes, "sex"))
