"""The relevance cache: an entry carries its key, shape and checksum; one that is damaged, of
the wrong shape, from another key or not finite is reported, set aside and recomputed (U6)."""

from __future__ import annotations

import logging
import shutil

import pytest
import torch

from audioxai_bench.models.checkpoint import state_sha256
from audioxai_bench.run.artifacts import load_relevance, relevance_path, store_relevance
from tests.run.helpers import N_CELLS, leftovers, outcome, run

SHAPE = (4, 1, 8000)


def stored(key: str = "k1") -> tuple[torch.Tensor, torch.Tensor]:
    relevance = torch.linspace(-1, 1, 4 * 8000).reshape(SHAPE)
    seconds = torch.tensor([0.5, 0.25], dtype=torch.float64)
    store_relevance(key, relevance, seconds)
    return relevance, seconds


def rewrite(change) -> None:
    path = relevance_path("k1")
    entry = torch.load(path, weights_only=True)
    change(entry)
    torch.save(entry, path)


def resign(entry):
    entry["sha256"] = state_sha256({k: entry[k] for k in ("relevance", "seconds")})


def wrong_shape(entry):  # well-formed: shape recorded and checksum valid
    entry["relevance"] = entry["relevance"][:3].clone()
    entry["made_from"]["shape"] = [3, 1, 8000]
    resign(entry)


def changed(entry):
    entry["relevance"][0, 0, 0] += 1


def not_finite(entry):
    entry["relevance"][0, 0, 0] = float("inf")
    resign(entry)


def older_format(entry):
    for k in ("made_from", "sha256"):
        entry.pop(k)


def other_key():
    shutil.copy(relevance_path("k2"), relevance_path("k1"))


def garbage():
    relevance_path("k1").write_bytes(b"PK\x03\x04 not a zip")


@pytest.mark.parametrize("damage, reason", [
    (lambda: rewrite(wrong_shape), "relevance has shape (3, 1, 8000)"),
    (lambda: rewrite(changed), "do not match their checksum"),
    (lambda: rewrite(not_finite), "NaN or Inf"),
    (lambda: rewrite(older_format), "written by an older version"),
    (other_key, "made from key 'k2', not 'k1'"),
    (garbage, "unreadable"),
])
def test_a_bad_entry_is_reported_set_aside_and_missing(damage, reason, private_cache, caplog):
    stored("k1")
    stored("k2")
    damage()
    with caplog.at_level(logging.WARNING):
        assert load_relevance("k1", SHAPE) is None
    [line] = caplog.messages
    path = relevance_path("k1")
    assert line.startswith(f"{path}: damaged cache entry (") and reason in line
    assert not path.exists() and len(list(path.parent.glob("k1.pt.bad-*"))) == 1
    assert load_relevance("k2", SHAPE) is not None  # the others are untouched


def test_an_entry_round_trips_and_is_checked_against_the_expected_shape(private_cache):
    relevance, seconds = stored()
    entry = load_relevance("k1", SHAPE)
    assert torch.equal(entry["relevance"], relevance) and torch.equal(entry["seconds"], seconds)
    assert load_relevance("k1", (2, 1, 8000)) is None  # e.g. another batch of samples


def test_an_entry_that_cannot_be_written_is_a_warning(private_cache, monkeypatch, caplog):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with caplog.at_level(logging.WARNING):
        stored()
    [line] = caplog.messages
    assert line.startswith(f"{relevance_path('k1')}: could not write (No space left on device")
    assert not relevance_path("k1").parent.exists() or leftovers(private_cache) == []


def test_a_run_recomputes_a_wrong_shaped_entry_instead_of_stopping(tree, cache, tmp_path,
                                                                   caplog):
    """U6 end to end: the entry is named, set aside and recomputed; the values are those of
    the first run; the run after that uses the repaired entry."""
    first = run(tree, tmp_path / "a")
    [victim, *_] = sorted((cache / "relevance").glob("*.pt"))
    entry = torch.load(victim, weights_only=True)
    wrong_shape(entry)
    torch.save(entry, victim)
    shutil.rmtree(cache / "scores")  # so the cells read the relevance, not their scores
    with caplog.at_level(logging.WARNING):
        second = run(tree, tmp_path / "b")
    assert first.failed == second.failed == 0 and second.records == N_CELLS
    assert second.cached["relevance"] == 1
    assert [m.split(" (")[0] for m in caplog.messages] == [f"{victim}: damaged cache entry"]
    assert outcome(tmp_path / "b") == outcome(tmp_path / "a")
    shutil.rmtree(cache / "scores")
    assert run(tree, tmp_path / "c").cached["relevance"] == 2
