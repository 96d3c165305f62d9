"""What the ranking table's cells and captions say beside the numbers."""

from __future__ import annotations

import json

from audioxai_bench.leaderboard.tables import randomisation_passes


def _summary(signed: bool, absolute: bool, ssim: bool) -> dict:
    return {"verdict": "pass" if signed else "fail", "measures": {
        "spearman": {"passes": signed}, "abs-spearman": {"passes": absolute},
        "ssim": {"passes": ssim}}}


def test_the_randomisation_cell_counts_passes_on_every_similarity_not_one_verdict():
    """The signed drop fails only maps that ignore the model: a map that passes it and fails
    Adebayo et al.'s absolute Spearman on most models must not read as a plain "pass"."""
    summaries = [_summary(True, False, True)] * 5 + [_summary(True, True, True)]
    assert randomisation_passes(summaries) == " (passes: signed 6/6 · absolute 1/6 · SSIM 6/6)"
    assert randomisation_passes([{"verdict": "pass"}]) == " (pass)"  # a record without counts
    assert randomisation_passes([{"passed": False}]) == " (False)"  # an older one
    assert randomisation_passes([]) == ""


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
