"""The run folder: one owner for every file a run writes and the leaderboard reads.

Layout of ``<out>/``::

    results.jsonl                       one record per cell (:mod:`audioxai_bench.results`)
    run.json                            the resolved definition and the run's report
    examples/<task>-<model>-fold<k>.npz signals, inputs, targets, relevance__<explainer>
    audio/<task>-<model>-fold<k>/<explainer>/sample-NNN__<sonifier>[__complement].wav
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from torch import Tensor

from audioxai_bench.data.check import TARGET_RATE

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"
EXAMPLES_DIR = "examples"
AUDIO_DIR = "audio"
#: Key prefix of the relevance maps inside an examples file.
RELEVANCE_PREFIX = "relevance__"


def panel_stem(task: str, model: str, fold: int) -> str:
    """The file stem of one (task, model, fold) panel."""
    return f"{task}-{model}-fold{fold}"


def examples_file(out: str | Path, stem: str) -> Path:
    return Path(out) / EXAMPLES_DIR / f"{stem}.npz"


def audio_folder(out: str | Path, stem: str, explainer: str) -> Path:
    return Path(out) / AUDIO_DIR / stem / explainer


def sample_names(n: int) -> list[str]:
    return [f"sample-{i:03d}" for i in range(n)]


def write_examples(out: str | Path, stem: str, *, signals: np.ndarray, inputs: np.ndarray,
                   target: np.ndarray, relevance: Mapping[str, np.ndarray]) -> Path:
    """Inputs and relevance maps of a panel's first samples, for the leaderboard's pictures."""
    path = examples_file(out, stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"signals": signals, "inputs": inputs, "target": target}
    arrays |= {f"{RELEVANCE_PREFIX}{name}": r for name, r in relevance.items()}
    np.savez_compressed(path, **arrays)
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "sample"


def write_sonified(
    sonifier: Any,
    signals: Tensor,
    relevance: Tensor,
    representation: str,
    out_dir: str | Path,
    *,
    names: Sequence[str] | None = None,
    complement: bool = True,
    rate: int = TARGET_RATE,
) -> list[Path]:
    """Write sonified examples as 16-bit WAV files for people to listen to; return the paths.

    Per sample: ``<name>__original.wav``, ``<name>__<sonifier>.wav`` and, with ``complement``,
    ``<name>__<sonifier>__complement.wav``. The files of a sample share one gain (the loudest
    peaks at -1 dBFS), so their loudness can be compared by ear.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sonified = sonifier.sonify(signals, relevance, representation).detach().double().cpu()
    original = signals.detach().double().cpu()
    names = list(names) if names is not None else sample_names(len(signals))
    if len(names) != len(signals):
        raise ValueError(f"{len(names)} names for {len(signals)} signals")
    tag = _safe(getattr(sonifier, "name", "sonified"))
    paths = []
    for i, name in enumerate(names):
        sounds = {"original": original[i], tag: sonified[i]}
        if complement:
            sounds[f"{tag}__complement"] = original[i] - sonified[i]
        peak = max(float(sound.abs().max()) for sound in sounds.values())
        gain = 10 ** (-1 / 20) / peak if peak > 0 else 1.0
        for suffix, sound in sounds.items():
            path = out / f"{_safe(name)}__{suffix}.wav"
            data = np.clip(sound.numpy() * gain, -1.0, 1.0)
            sf.write(path, data, rate, subtype="PCM_16")
            paths.append(path)
    return paths
