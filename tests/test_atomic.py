"""Atomic files and folders, named write errors, and removal of temporaries of killed writers."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audioxai_bench import atomic
from audioxai_bench.atomic import (
    WriteError,
    atomic_dir,
    atomic_write,
    clean_stale_temps,
    temp_name,
)
from audioxai_bench.errors import AudioXaiError

REPO = Path(__file__).resolve().parents[1]


def test_atomic_write_replaces_the_whole_file_or_nothing(tmp_path):
    target = tmp_path / "sub" / "values.npy"
    atomic_write(target, lambda f: np.save(f, np.arange(5)))
    np.testing.assert_array_equal(np.load(target), np.arange(5))  # no ".npy" appended

    def half_then_fail(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_fail)
    np.testing.assert_array_equal(np.load(target), np.arange(5))
    assert sorted(p.name for p in target.parent.iterdir()) == ["values.npy"]


def test_a_failed_write_names_the_file(tmp_path):
    def disk_full(f):
        raise OSError("1600000 requested and 262112 written")  # NumPy's message names no file

    target = tmp_path / "signals.npy"
    with pytest.raises(WriteError, match=r"signals\.npy: could not write \(1600000 requested"
                       ) as caught:
        atomic_write(target, disk_full)
    assert isinstance(caught.value, AudioXaiError) and isinstance(caught.value, OSError)
    assert str(tmp_path) in str(caught.value) and "\n" not in str(caught.value)
    assert not target.exists() and not list(tmp_path.iterdir())


def test_atomic_dir_appears_complete_or_not_at_all(tmp_path):
    target = tmp_path / "entry"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text("partial")
            raise RuntimeError("killed halfway")
    assert not list(tmp_path.iterdir())

    with atomic_dir(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".entry.tmp-")
        (tmp / "a.txt").write_text("first")
    assert (target / "a.txt").read_text() == "first"

    with atomic_dir(target) as tmp:  # another writer finished first: its copy is kept
        (tmp / "a.txt").write_text("second")
    assert (target / "a.txt").read_text() == "first"
    with atomic_dir(target, replace=True) as tmp:
        (tmp / "a.txt").write_text("third")
    assert (target / "a.txt").read_text() == "third"
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_atomic_dir_names_the_file_inside_that_failed(tmp_path):
    target = tmp_path / "entry"
    with pytest.raises(WriteError, match=r"entry/x\.bin: could not write \(No space"):
        with atomic_dir(target) as tmp:
            raise OSError(28, "No space left on device", str(tmp / "x.bin"))
    assert not list(tmp_path.iterdir())


def test_temporaries_of_a_killed_writer_are_removed_later(tmp_path):
    """SIGKILL skips every cleanup; the next run removes what the dead process left."""
    script = ("import os, signal, sys\n"
              "from audioxai_bench.atomic import atomic_dir\n"
              "with atomic_dir(sys.argv[1]) as tmp:\n"
              "    (tmp / 'big.bin').write_bytes(b'x' * 1000)\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "entry")],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    [left] = list(tmp_path.iterdir())
    assert left.name.startswith(".entry.tmp-")
    assert clean_stale_temps(tmp_path) == [left]
    assert not list(tmp_path.iterdir())


def test_live_fresh_and_foreign_entries_are_kept(tmp_path):
    live = tmp_path / temp_name(tmp_path / "mine")  # this process: still writing
    live.mkdir()
    legacy = tmp_path / ".entry.u4tsp122"  # a mkdtemp name: no owner recorded
    legacy.mkdir()
    visible = tmp_path / "entry.tmp-host-1-ab"
    visible.mkdir()
    assert clean_stale_temps(tmp_path) == []
    assert clean_stale_temps(tmp_path, unowned=True) == []  # unowned, but fresh

    day_old = time.time() - 2 * 86400
    for path in (live, legacy, visible):
        os.utime(path, (day_old, day_old))
    assert clean_stale_temps(tmp_path) == [live]  # too old, whoever owns it
    assert clean_stale_temps(tmp_path, unowned=True) == [legacy]
    assert [p.name for p in tmp_path.iterdir()] == ["entry.tmp-host-1-ab"]
    assert clean_stale_temps(tmp_path / "missing") == []


def test_a_parent_that_is_a_file_is_a_named_error(tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(WriteError, match=r"blocker/x\.json: could not write"):
        atomic_write(tmp_path / "blocker" / "x.json", lambda f: f.write(b"{}"))
    with pytest.raises(WriteError, match=r"blocker/entry: could not write"):
        with atomic_dir(tmp_path / "blocker" / "entry"):
            pass


def test_atomic_dir_survives_a_writer_committing_between_its_renames(tmp_path, monkeypatch):
    """Two processes that cache one tree: the other commits its copy just after this one moved
    the old copy aside. This writer starts over instead of failing (the last writer wins)."""
    target = tmp_path / "entry"
    target.mkdir()
    (target / "a.txt").write_text("old")
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("other")
    rename = os.rename
    moved_aside = []

    def racing_rename(src, dst):
        rename(src, dst)
        if Path(src) == target and not moved_aside:  # the old copy was just moved aside
            moved_aside.append(dst)
            rename(other, target)  # the other writer commits in between

    monkeypatch.setattr(atomic.os, "rename", racing_rename)
    with atomic_dir(target, replace=True) as tmp:
        (tmp / "a.txt").write_text("mine")
    assert (target / "a.txt").read_text() == "mine"
    assert moved_aside and [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_atomic_dir_keeps_the_old_copy_when_the_new_one_cannot_move_in(tmp_path, monkeypatch):
    """A failure that is no race (permissions, I/O) after the old copy was moved aside: the
    old copy goes back, so the folder is not lost with the new tree."""
    target = tmp_path / "entry"
    target.mkdir()
    (target / "a.txt").write_text("old")
    rename = os.rename
    tried: list[Path] = []  # the new tree's moves into place

    def failing_rename(src, dst):
        if Path(dst) == target and (not tried or Path(src) == tried[0]):
            tried.append(Path(src))
            if len(tried) > 1:  # the old copy is aside now: the new one fails to move in
                raise OSError(13, "Permission denied", str(src))
        rename(src, dst)

    monkeypatch.setattr(atomic.os, "rename", failing_rename)
    with pytest.raises(WriteError, match="Permission denied"):
        with atomic_dir(target, replace=True) as tmp:
            (tmp / "a.txt").write_text("new")
    assert (target / "a.txt").read_text() == "old"
