"""Fixtures only; the code they share with the tests lives in :mod:`tests.helpers`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.helpers import write_tree


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    """Four speakers (two female), every digit, two repetitions."""
    return write_tree(tmp_path / "data", [12, 13, 26, 27])


@pytest.fixture(autouse=True, scope="session")
def one_thread() -> Iterator[None]:
    """The tests' models and batches are tiny: threads gain nothing, and on a busy 2-core
    machine an OpenMP thread waiting for a core makes each op up to ~100× slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own preprocessing cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(cache))
    return cache
