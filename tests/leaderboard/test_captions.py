"""What the ranking table's cells and captions say beside the numbers."""

from __future__ import annotations

import json

import pytest

from audioxai_bench.leaderboard.tables import randomisation_passes


def _summary(signed: bool, absolute: bool, ssim: bool) -> dict:
    return {"verdict": "pass" if signed else "fail", "measures": {
        "spearman": {"passes": signed}, "abs-spearman": {"passes": absolute},
        "ssim": {"passes": ssim}}}


def test_the_randomisation_cell_counts_passes_on_every_similarity_not_one_verdict():
    """The signed drop fails only maps that ignore the model: a map that passes it and fails
    Adebayo et al.'s absolute Spearman on most models must not read as a plain "pass"."""
    summaries = [_summary(True, False, True)] * 5 + [_summary(True, True, True)]
    assert randomisation_passes(summaries) == "passes: signed 6/6 · absolute 1/6 · SSIM 6/6"
    assert randomisation_passes([{"verdict": "pass"}]) == "pass"  # a record without counts
    assert randomisation_passes([{"passed": False}]) == "False"  # an older one
    assert randomisation_passes([]) == ""


def test_the_randomisation_cell_is_the_pass_counts_not_a_grade_of_model_dependence():
    """Review 20, H2: the cell showed |rho|(randomised, randomised) - |rho|(trained,
    randomised), about 0 both for a model-blind map (amplitude: 1 - 1) and for a map unrelated
    to any model (SmoothGrad: about 0 - 0), and before that the signed drop, the explainer's
    rerun similarity (science audit 6, M1). Now only the pass counts, "–" without them (L5),
    and a failed model is still said."""
    import numpy as np
    import pandas as pd

    from audioxai_bench.leaderboard import aggregate, tables

    from .records import score_rows

    drops = {"amplitude": np.full(24, 0.0), "smoothgrad": np.full(24, 0.283),
             "gradient": np.full(24, 0.998), "old": np.full(24, 0.5)}
    rows = score_rows(drops, metric="model-randomisation-check", versus=None, ranked=False)
    # absolute Spearman per model: (randomised vs randomised, trained vs randomised)
    absolute = {"amplitude": (1.0, 1.0), "smoothgrad": (0.002, 0.006), "gradient": (0.054, 0.187)}
    for row in rows:
        name = row["explainer"]
        if name == "old":  # a record that kept neither counts nor a verdict
            row["record"] = row["record"] | {"summary": {"min_drop": 0.1}}
            continue
        null, trained = absolute[name]
        summary = _summary(name != "amplitude", name != "amplitude" and (
            name == "smoothgrad" or row["fold"] == 0), name != "amplitude") | {"min_drop": 0.1}
        summary["measures"]["abs-spearman"] |= {"randomised-vs-randomised": null,
                                                "trained-vs-randomised": trained}
        row["record"] = row["record"] | {"summary": summary}
    failed = next(r for r in rows if r["explainer"] == "gradient" and r["fold"] == 1)
    failed |= {"status": "error", "value": np.nan, "scores": []}
    failed["record"] = failed["record"] | {"status": "error", "value": np.nan, "scores": []}
    table = tables.ranking_table(aggregate.sections(pd.DataFrame(rows))[0])
    cells = {row[1]: row[2] for row in table.rows}
    assert cells == {
        "amplitude": "passes: signed 0/2 · absolute 0/2 · SSIM 0/2",
        "smoothgrad": "passes: signed 2/2 · absolute 2/2 · SSIM 2/2",
        "gradient": "passes: signed 1/1 · absolute 1/1 · SSIM 1/1 (1 of 2 models failed)",
        "old": tables.NONE}
    assert "is not shown" in table.caption and "magnitudes follow the input" in table.caption
    assert "by more than 0.1 (the lower end of the drop's 95 % interval)" in table.caption


@pytest.mark.parametrize("per_fold, said", [
    (6, "With 12 (split, speaker) units, a pair on which d of them disagree in sign has an "
        "exact p of at least 2^(d+1)/2^12 (0.00049 where none does, 0.00098 where one does), "
        "and Holm's threshold for each pair separated here and for the next is at most 0.05/55 "
        "= 0.00091: a pair is separated only where all of them agree; more seeds add no units"),
    (3, "With 6 (split, speaker) units no pair can be separated, whatever the data: the exact "
        "test's p is at least 2/2^6 = 0.031, above Holm's first threshold, 0.05/55 = 0.00091"),
    (12, None)])
def test_the_ranking_caption_says_where_too_few_units_limit_what_the_tests_separate(per_fold,
                                                                                   said):
    """Science audit 6, L1: with 12 units and 55 pairs a pair is separated only where every
    unit agrees in sign, whatever the seeds; the caption's count did not say so. 24 units can
    separate pairs on which several disagree: nothing to say there."""
    import numpy as np
    import pandas as pd

    from audioxai_bench.leaderboard import aggregate, tables

    from .records import score_rows

    rng = np.random.default_rng(0)
    clips = 2 * 2 * per_fold  # two clips of each speaker, two folds
    gaps = {f"e{i:02d}": 0.1 * i + rng.standard_normal(clips) for i in range(11)}
    speakers = [s for s in range(per_fold) for _ in range(2)]
    rows = score_rows(gaps, metric="faithfulness-gap", versus=None, speakers=speakers)
    caption = tables.ranking_table(aggregate.sections(pd.DataFrame(rows))[0]).caption
    assert "neighbouring pairs of this order; the rest is not supported" in caption
    assert (said in caption) if said else "(split, speaker) units" not in caption


def test_wall_time_counts_only_what_the_runs_computed(tmp_path):
    """A cached model's accuracy record carries its original training time: summed in, a 12 s
    run read "64 s of wall time in all"."""
    from audioxai_bench.leaderboard.provenance import facts
    from audioxai_bench.run.records import load_results
    from tests.helpers import record

    rows = [record("audionet", "test-accuracy", 0.9, wall_seconds=62.5, cached=True),
            record("audionet", "gini", 0.4, explainer="gradient", wall_seconds=2.0),
            record("audionet", "gini", 0.5, explainer="random", wall_seconds=3.0)]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cells = dict(facts(load_results(tmp_path)))["Cells"]
    assert cells == ("3 ok, 0 failed; 5 s of wall time spent on the cells these runs computed "
                     "(1 came from caches and are not counted)")


def _band_rows(with_bands: bool) -> list[dict]:
    """Low-band records of two explainers on two folds' models (sex · a spectrogram model), and
    optionally the frequency-band test's."""
    import numpy as np

    from .records import score_rows

    rng = np.random.default_rng(0)
    scores = {"random": -0.04 + 0.01 * rng.standard_normal(24),
              "gradient": 0.05 + 0.01 * rng.standard_normal(24)}
    common = {"task": "sex", "representation": "spectrogram",
              "targets": [1] * 6 + [0] * 6}
    rows = score_rows(scores, metric="low-band-relevance", versus="amplitude (its share)",
                      info={"rows_share": 0.1278, "split_hz": 500.0}, **common)
    for row in rows:
        damage = {0: (0.5, [0.2, 0.8]), 1: (1.5, [-0.1, 3.0])}[row["fold"]]
        row["record"] = row["record"] | {"extras": {
            "amplitude-share": {"value": 0.17}, "relevance-share": {"value": 0.13},
            "damage-low-minus-high": {"value": damage[0], "ci": damage[1]}}}
    if with_bands:
        rows += score_rows(scores, metric="frequency-bands", versus=None, **common)
    return rows


def test_the_low_band_column_says_where_a_map_without_information_lands():
    """Its 0 is the amplitude map's share (0.17 below 500 Hz), so a uniform or random map
    (0.128) scored -0.041 ▼ on digits, as SmoothGrad did (science audit 5, M3); the paper's
    hypothesis, the damage of the low bands minus the others', was shown nowhere."""
    import pandas as pd

    from audioxai_bench.leaderboard import aggregate, tables

    section = aggregate.sections(pd.DataFrame(_band_rows(with_bands=False)))[0]
    caption = tables.ranking_table(section).caption
    assert "a uniform map puts 0.128 of its relevance there" in caption
    assert "a map without information scores about -0.042 here" in caption
    damage = ("minus that of removing one of the others, +1.000 (the mean over the 2 trained "
              "models of each one's mean over its clips; per model +0.500 to +1.500), without "
              "an interval: one speaker's clips are not independent, and these records keep each "
              "model's mean damage but not its clips', so no interval that resamples speakers "
              "can be drawn.")
    assert caption.endswith(damage)
    assert "bootstrap" not in caption  # the records' intervals resample clips: not shown
    # with the frequency-band table, the damage is said there, once
    section = aggregate.sections(pd.DataFrame(_band_rows(with_bands=True)))[0]
    assert damage not in tables.ranking_table(section).caption
    bands = tables.bands_table(section).caption
    assert bands.endswith(damage) and "are left out" in bands


def test_the_damage_gets_an_interval_over_speakers_and_each_sexs_mean_from_per_clip_values():
    """The records kept each model's mean damage only, so the caption gave sex · AlexNet's
    +1.109 (per model -1.572 to +3.363) without an interval or the sexes' parts; with every
    clip's damage it resamples splits, then speakers, as a cell does."""
    import numpy as np
    import pandas as pd

    from audioxai_bench.leaderboard import aggregate, tables
    from audioxai_bench.stats import Clustered, clustered_interval

    from .records import SPEAKERS

    def caption(female: float, male: float) -> str:
        rows = _band_rows(with_bands=False)
        for row in rows:  # targets [1] * 6 + [0] * 6: speakers 0-2 female, 3-5 male
            rng = np.random.default_rng(row["fold"])  # a model's damage: any explainer's
            clips = [female if t == 1 else male for t in row["record"]["targets"]]
            noisy = [round(v + 0.1 * rng.standard_normal(), 6) for v in clips]
            extras = row["record"]["extras"]
            extras["damage-low-minus-high"] = {"value": float(np.mean(noisy)), "ci": [0, 1],
                                               "scores": noisy}
        section = aggregate.sections(pd.DataFrame(rows))[0]
        first = [r["record"] for r in rows if r["explainer"] == "random"]
        values = np.concatenate([r["extras"]["damage-low-minus-high"]["scores"] for r in first])
        by_hand = Clustered(values[None], np.repeat([0, 1], 12),
                            np.array([f * 1000 + s for f in (0, 1) for s in SPEAKERS]),
                            np.array([t for r in first for t in r["targets"]]))
        (low, high), = clustered_interval(by_hand)
        text = tables.ranking_table(section).caption
        assert f"{by_hand.means()[0]:+.3f} [{low:+.3f}, {high:+.3f}] (the mean over splits" in text
        return text

    supported = caption(female=2.0, male=0.5)
    assert "; male +0.5" in supported and "; female +2.0" in supported
    assert supported.endswith("the models need the bands below 500 Hz more than the others.")
    assert "without an interval" not in supported
    assert caption(female=-1.0, male=-0.5).endswith("against the hypothesis at 500 Hz.")
    assert caption(female=1.0, male=-1.0).endswith("these models show it neither way at 500 Hz.")


def test_the_hypothesis_verdict_names_its_cut_off_as_this_projects_not_the_papers():
    """500 Hz is this project's operationalisation of the paper's "low frequencies"
    (fundamental frequency and lowest formants), but the captions called it "the paper's
    hypothesis" and gave a verdict on it (audit C); the cut-off comes from the records."""
    import pandas as pd

    from audioxai_bench.leaderboard import aggregate, tables

    reading = ("Our reading of the paper's hypothesis (sex is read in the bands below 750 Hz: "
               "the cut-off is this project's, the paper speaks of the fundamental frequency "
               "and the lowest formants)")
    for with_bands in (False, True):
        rows = _band_rows(with_bands=with_bands)
        for row in rows:
            if row["metric"] == "low-band-relevance":
                row["record"] = row["record"] | {"info": {"rows_share": 0.2, "split_hz": 750.0}}
        section = aggregate.sections(pd.DataFrame(rows))[0]
        captions = tables.ranking_table(section).caption + (
            tables.bands_table(section).caption if with_bands else "")
        assert "The paper's hypothesis" not in captions
        assert f"{reading}, read off the model" in captions
        assert "a band below 750 Hz" in captions and "500 Hz" not in captions
        if with_bands:
            assert f"{reading} is about what the model needs" in captions


@pytest.mark.parametrize("metric, versus", [
    ("frequency-bands-beyond-amplitude", "the band level (amplitude)"),
    ("frequency-bands", None),  # no control: its cells are never ◇
])
def test_the_damage_says_which_clips_its_mean_comes_from_where_the_band_metrics_left_some_out(
        metric, versus):
    """On sex · AlexNet the band metrics left out 116 of 144 female clips but 10 male ones; the
    damage counts those at about 0, so its +1.109 was mostly the male clips', unsaid, beside
    a count of per-clip bootstrap intervals above 0 (review H1)."""
    import numpy as np
    import pandas as pd

    from audioxai_bench.leaderboard import aggregate, tables

    from .records import score_rows

    rng = np.random.default_rng(1)
    female = np.tile([1] * 6 + [0] * 6, 2) == 1  # the targets of _band_rows, both folds
    common = {"task": "sex", "representation": "spectrogram", "targets": [1] * 6 + [0] * 6}

    def section(lost: np.ndarray) -> aggregate.Section:
        scores = {e: np.where(lost, np.nan, 0.2 + 0.05 * rng.standard_normal(24))
                  for e in ("random", "gradient")}
        bands = score_rows(scores, metric=metric, versus=versus, **common)
        return aggregate.sections(pd.DataFrame(_band_rows(with_bands=False) + bands))[0]

    def damage(section: aggregate.Section) -> str:
        table = (tables.bands_table(section) if section.has("frequency-bands") else
                 tables.ranking_table(section))
        return table.caption

    lost = female & (np.arange(24) % 6 != 5)  # 5 of each fold's 6 female clips
    caption = damage(section(lost))
    assert (
        "It counts the 10 of 24 clips the band metrics leave out (no band's removal moves "
        "the log-probability) with a damage of about 0, so it comes from the other 14 (female "
        "2 of 12, male 12 of 12), pulled towards 0." in caption)
    even = np.arange(24) % 4 == 0  # each class keeps a like share: female 8, male 10 of 12
    caption = damage(section(even))
    assert caption.endswith("It counts the 6 of 24 clips the band metrics leave out (no band's "
                            "removal moves the log-probability) with a damage of about 0, so "
                            "it comes from the other 18, pulled towards 0.")
    assert damage(section(np.zeros(24, bool))).endswith("can be drawn.")


def test_the_low_band_caption_reads_an_explainers_record_not_a_reference_maps():
    """The first record in frame order can be a reference map's (``reference:oracle`` sorts
    before ``smoothgrad``), which may be scored on other clips: its damage was the caption's."""
    import pandas as pd

    from audioxai_bench.leaderboard import aggregate, tables

    rows = [r for r in _band_rows(with_bands=False) if r["explainer"] == "gradient"]
    for row in rows:
        row["explainer"] = row["record"]["explainer"] = "smoothgrad"
    reference = [r | {"explainer": "reference:oracle"} for r in rows]
    for row in reference:
        extras = row["record"]["extras"] | {"damage-low-minus-high": {"value": 9.0,
                                                                      "ci": [8.0, 10.0]}}
        row["record"] = row["record"] | {"explainer": "reference:oracle", "extras": extras}
    section = aggregate.sections(pd.DataFrame(reference + rows))[0]
    caption = tables.ranking_table(section).caption
    assert "+1.000 (the mean over the 2 trained models" in caption and "+9.000" not in caption
