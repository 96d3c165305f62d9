"""Fixtures: small AudioMNIST trees in the original layout, written by the tests themselves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audioxai_bench.data.splits import female_speakers


def tone_clip(digit: int, speaker: int, rep: int, rate: int = 48_000) -> np.ndarray:
    """A short int16 clip whose pitch depends on the digit; length varies with the rep."""
    seconds = 0.3 + 0.05 * ((digit + rep) % 8)
    t = np.arange(int(seconds * rate)) / rate
    freq = 200 + 60 * digit + (80 if speaker in female_speakers() else 0)
    envelope = np.sin(np.pi * t / seconds)
    return (8000 * envelope * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def meta_entry(speaker: int) -> dict:
    return {"accent": "german", "age": 30, "gender":
            "female" if speaker in female_speakers() else "male", "native speaker": "no",
            "origin": "Europe, Germany, Berlin", "recordingdate": "17-06-22-11-04-28",
            "recordingroom": "Kitchen"}


def write_tree(root: Path, speakers: list[int], digits=range(10), reps=range(2),
               rate: int = 48_000) -> Path:
    """An AudioMNIST-layout tree of tone clips with a meta file."""
    for speaker in speakers:
        folder = root / f"{speaker:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for digit in digits:
            for rep in reps:
                sf.write(folder / f"{digit}_{speaker:02d}_{rep}.wav",
                         tone_clip(digit, speaker, rep, rate), rate, subtype="PCM_16")
    meta = {f"{s:02d}": meta_entry(s) for s in speakers}
    (root / "audioMNIST_meta.txt").write_text(json.dumps(meta, indent=1))
    return root


def make_unreadable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Listing a folder called ``name`` fails as under chmod 000 (the tests run as root, whom
    permissions do not stop)."""
    iterdir = Path.iterdir

    def guarded(self: Path):
        if self.name == name:
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", guarded)


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
