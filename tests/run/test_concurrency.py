"""Two runs at once: on one results folder the second is refused by the lock; on separate
folders sharing one cache both finish with the values of a run on its own (R5)."""

from __future__ import annotations

import time

from tests.run.helpers import finish, fresh_cache, leftovers, outcome, run_cli, start_cli


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_finishes(
        spec, signals_cache, tmp_path, reference):
    cache, out = fresh_cache(signals_cache, tmp_path / "cache"), tmp_path / "out"
    first = start_cli(["run", spec, "--out", out, "--resume"], cache, tmp_path / "first.log")
    deadline = time.monotonic() + 60
    while f'"pid": {first.pid},' not in _read(out / ".lock") and time.monotonic() < deadline:
        time.sleep(0.01)  # until the first run holds the folder
    second = run_cli(["run", spec, "--out", out, "--resume"], cache, tmp_path / "second.log")
    assert finish(first) == 0, (tmp_path / "first.log").read_text()
    assert second == 2
    assert (tmp_path / "second.log").read_text().strip() == (
        f"error: {out} is being written by another run (pid {first.pid} on host "
        f"{_host()}); wait for it or use another --out")
    assert outcome(out) == reference[0]  # every cell exactly once, the reference's values
    assert leftovers(cache, out) == []


def test_two_runs_sharing_one_empty_cache_give_the_same_values(spec, signals_cache, tmp_path,
                                                                reference):
    """Both train the same model and compute the same relevance at the same time: the cache
    entries are renamed into place whole, so neither run reads a mixed one."""
    cache = fresh_cache(signals_cache, tmp_path / "cache")
    runs = [start_cli(["run", spec, "--out", tmp_path / name], cache, tmp_path / f"{name}.log")
            for name in ("a", "b")]
    assert [finish(run) for run in runs] == [0, 0], (tmp_path / "a.log").read_text()
    assert outcome(tmp_path / "a") == outcome(tmp_path / "b") == reference[0]
    assert leftovers(cache) == []


def _read(path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _host() -> str:
    import socket

    return socket.gethostname()
