"""Progress where no bar is drawn: a line a minute in logs and pipes, nothing when quiet."""

from __future__ import annotations

from audioxai_bench import progress
from audioxai_bench.progress import Progress


def test_a_log_gets_a_progress_line_a_minute_and_a_quiet_run_none(capsys, monkeypatch):
    """stderr under capsys is no terminal, as in CI or ``| tee``: a warm cache that no longer
    matched left such a run silent for 11 minutes between the model lines and its table."""
    monkeypatch.setattr(progress, "HEARTBEAT_S", 0.0)
    monkeypatch.delenv(progress.FORCE_ENV, raising=False)  # bars asked for: no lines
    logged = Progress("explain digit-audionet-fold0", unit=" cells")
    logged(3, 10)
    logged(10, 10)  # the end: the step's own status line says it
    Progress("train", quiet=True)(3, 10)
    assert capsys.readouterr().err == "explain digit-audionet-fold0: 3 of 10 cells\n"
    monkeypatch.setattr(progress, "HEARTBEAT_S", 3600.0)
    Progress("train", unit=" it")(3, 10)  # within the minute: nothing yet
    assert capsys.readouterr().err == ""
