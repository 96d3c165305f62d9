"""The leaderboard's files are written all or none: a full disk leaves the project README whole."""

from __future__ import annotations

import re
import signal

import pytest

from audioxai_bench.cli import main
from audioxai_bench.leaderboard import build_leaderboard
from tests.helpers import fake_run

resource = pytest.importorskip("resource")

NOTES = "Hand-written notes after the results block.\n" * 8000  # about 350 kB
README = f"# My project\n\n<!-- results quickstart -->\nold\n<!-- /results -->\n\n{NOTES}"


def test_a_write_that_fails_leaves_the_readme_and_the_board_as_they_were(tmp_path, capsys):
    """Probe F9: on a full disk the README was truncated before the write failed (its
    results block's end and the notes after it gone) and the error named no file. A file-size
    limit between the leaderboard's files and the README makes the README's write fail
    as a full disk would."""
    run = fake_run(tmp_path / "run", media=False)
    out = tmp_path / "board"
    build_leaderboard([run], out, quiet=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    project = tmp_path / "README.md"
    project.write_text(README)
    limit = max(map(len, before.values())) + 1000
    assert limit < len(README)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, not the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        rc = main(["leaderboard", str(run), "--out", str(out), "--readme", str(project)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert rc == 2
    err = capsys.readouterr().err
    assert re.match(rf"error: {re.escape(str(project))}: could not write \(.+\)", err)
    assert err.count("\n") == 1
    assert project.read_text() == README  # whole, with its notes after the block
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temporaries either
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
