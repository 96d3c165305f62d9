"""Kill a run at chosen or seeded points (SIGKILL, via the test hook in audioxai_bench.faults),
resume it each time, and check that every cell is recorded exactly once with the values of an
uninterrupted run, and that no temporary or damaged entry is left behind."""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from tests.run.helpers import fresh_cache, leftovers, outcome, run_cli

KILLED = -signal.SIGKILL


def kill_and_resume(spec: Path, out: Path, cache: Path, kills: list, logs: Path) -> list[int]:
    """Run into ``out``, killed at each of ``kills`` in turn (``--resume`` from the second
    run on), then resume once more without a fault; return every exit status."""
    statuses = []
    for i, at in enumerate([*kills, None]):
        args = ["run", spec, "--out", out, *(["--resume"] if i else [])]
        statuses.append(run_cli(args, cache, logs / f"attempt-{i}.log", fault_at=at))
        if statuses[-1] == 0:
            break
    return statuses


def test_a_run_killed_at_every_stage_resumes_to_the_same_results(spec, signals_cache, tmp_path,
                                                                 reference):
    """One chain of kills: after loading data (before any record: then --resume must simply
    start), while the trained model is written, after the first relevance entry, after the
    third record of a resumed run."""
    expected, points = reference
    assert {"data", "train", "save", "relevance", "record"} <= set(points)
    cache, out = fresh_cache(signals_cache, tmp_path / "cache"), tmp_path / "out"
    statuses = kill_and_resume(spec, out, cache, ["data:1", "save:1", "relevance:1", "record:3"],
                               tmp_path)
    assert statuses == [KILLED] * 4 + [0], (tmp_path / f"attempt-{len(statuses) - 1}.log"
                                            ).read_text()
    assert "no results in" in (tmp_path / "attempt-1.log").read_text()  # R2: it just starts
    assert outcome(out) == expected
    assert leftovers(cache, out) == []


@pytest.mark.slow
def test_twenty_seeded_kills_resume_to_the_same_results(spec, signals_cache, tmp_path,
                                                         reference):
    """20 seeded kill points anywhere in a run from nothing (data, training, saving, scoring,
    writing), each resumed with a further seeded kill until a run finishes."""
    expected, points = reference
    rng = random.Random(14)
    for scenario in range(20):
        where = tmp_path / f"s{scenario}"
        where.mkdir()
        cache = fresh_cache(signals_cache, where / "cache")
        kills = [rng.randint(1, len(points)) for _ in range(3)]
        statuses = kill_and_resume(spec, where / "out", cache, kills, where)
        assert statuses[0] == KILLED and statuses[-1] == 0, (scenario, kills, statuses)
        assert set(statuses[:-1]) == {KILLED}
        assert outcome(where / "out") == expected, (scenario, kills)
        assert leftovers(cache, where / "out") == [], (scenario, kills)
