"""Fixtures of the run tests; the code they share lives in :mod:`tests.run.helpers`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers import write_tree
from tests.run.helpers import (
    N_CELLS,
    definition,
    fresh_cache,
    outcome,
    run_cli,
)


@pytest.fixture(scope="session")
def tree(tmp_path_factory) -> Path:
    """Every speaker of the paper (every split has test speakers), one clip of digits 0-2."""
    return write_tree(tmp_path_factory.mktemp("tree") / "data", list(range(1, 61)), digits=range(3),
                      reps=range(1))


@pytest.fixture(scope="session")
def spec(tree: Path, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "store.yaml"
    path.write_text(yaml.safe_dump(definition(tree)))
    return path


@pytest.fixture(scope="session")
def signals_cache(tree: Path, tmp_path_factory) -> Path:
    """A cache holding only the tree's decoded signals, for tests to copy: decoding is not
    what they test."""
    from audioxai_bench.data.dataset import load_audiomnist

    cache = tmp_path_factory.mktemp("signals-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIOXAI_BENCH_CACHE", str(cache))
        load_audiomnist(tree)
    return cache


@pytest.fixture
def cache(signals_cache: Path, private_cache: Path) -> Path:
    """This test's private cache, holding the decoded signals."""
    return fresh_cache(signals_cache, private_cache)


@pytest.fixture(scope="session")
def reference(spec, signals_cache, tmp_path_factory) -> tuple[dict, list[str]]:
    """An uninterrupted run from an empty model and relevance cache: its :func:`outcome` and
    the fault points it passes, in order."""
    where = tmp_path_factory.mktemp("reference")
    points, out = where / "points.txt", where / "out"
    rc = run_cli(["run", spec, "--out", out], fresh_cache(signals_cache, where / "cache"),
                 where / "run.log", fault_log=points)
    assert rc == 0, (where / "run.log").read_text()
    got = outcome(out)
    assert len(got) == N_CELLS
    return got, [line.split()[1] for line in points.read_text().splitlines()]
