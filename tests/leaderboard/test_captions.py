"""What the ranking table's cells and captions say beside the numbers."""

from __future__ import annotations

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
    assert randomisation_passes([]) == ""
