"""The run folder: one owner for every file a run writes and the leaderboard reads.

Layout of ``<out>/``::

    results.jsonl                       one record per cell (:mod:`audioxai_bench.run.records`)
    run.json                            the resolved definition and the run's report
    examples/<task>-<model>-fold<k>.npz signals, inputs, targets, relevance__<explainer>
    audio/<task>-<model>-fold<k>/<explainer>/sample-NNN__<sonifier>[__complement].wav
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from torch import Tensor

from audioxai_bench.api.sonifier import RESERVED_SONIFIERS, sound_of
from audioxai_bench.atomic import atomic_write
from audioxai_bench.data.check import TARGET_RATE
from audioxai_bench.errors import AudioXaiError

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


def audio_folder(out: str | Path, stem: str, explainer: str | None = None) -> Path:
    """A panel's sonified examples (one explainer's, when named)."""
    folder = Path(out) / AUDIO_DIR / stem
    return folder / explainer if explainer else folder


def sample_names(n: int) -> list[str]:
    return [f"sample-{i:03d}" for i in range(n)]


def read_examples(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of an examples file, checked: ``signals`` (E, 8000), ``inputs`` and every
    ``relevance__<explainer>`` (and the optional ``ground_truth`` mask) in one model-input
    shape, ``target`` (E,); a broken file fails naming it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise AudioXaiError(f"{path}: not a readable .npz file ({exc})") from None
    for key in ("signals", "inputs", "target"):
        if key not in arrays:
            raise AudioXaiError(f"{path}: array {key!r} is missing")
    inputs = arrays["inputs"]
    if inputs.ndim not in (3, 4) or arrays["signals"].ndim != 2 or arrays["target"].shape != (
            len(inputs),) or len(arrays["signals"]) != len(inputs):
        raise AudioXaiError(f"{path}: arrays 'signals' (E, 8000), 'inputs' (E, 1, 8000) or "
                            f"(E, 1, 227, 227) and 'target' (E,) must hold the same E samples")
    for key in arrays:
        if (key.startswith(RELEVANCE_PREFIX) or key == "ground_truth") and (
                arrays[key].shape != inputs.shape):
            raise AudioXaiError(f"{path}: array {key!r} has shape {arrays[key].shape}, expected "
                                f"{inputs.shape} like 'inputs'")
    return arrays


def relevance_maps(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``explainer -> relevance`` from the arrays of an examples file."""
    return {k[len(RELEVANCE_PREFIX):]: v for k, v in sorted(arrays.items())
            if k.startswith(RELEVANCE_PREFIX)}


def sonified_files(folder: str | Path) -> dict[str, dict[str, dict[str, Path]]]:
    """``explainer -> sample -> kind -> path`` of a panel's audio folder, where kind is
    ``original`` or a sonifier's name (complements are left out)."""
    files: dict[str, dict[str, dict[str, Path]]] = {}
    for path in sorted(Path(folder).glob("*/*.wav")):
        parts = path.stem.split("__")
        if len(parts) == 2:
            files.setdefault(path.parent.name, {}).setdefault(parts[0], {})[parts[1]] = path
    return files


def earlier_maps(out: str | Path, stem: str, signals: np.ndarray, inputs: np.ndarray,
                 target: np.ndarray) -> dict[str, np.ndarray]:
    """``explainer -> relevance`` of the panel's examples file already in ``out`` when it holds
    the same samples (a resumed run adds its explainers to them); none when there is no such
    file or its samples are others (another ``examples`` count). A broken file fails naming it."""
    path = examples_file(out, stem)
    if not path.exists():
        return {}
    arrays = read_examples(path)
    same = all(np.array_equal(arrays[key], now) for key, now in
               (("signals", signals), ("inputs", inputs), ("target", target)))
    return relevance_maps(arrays) if same else {}


def write_examples(out: str | Path, stem: str, *, signals: np.ndarray, inputs: np.ndarray,
                   target: np.ndarray, relevance: Mapping[str, np.ndarray],
                   ground_truth: np.ndarray | None = None) -> Path:
    """Inputs and relevance maps of a panel's first samples, for the leaderboard's pictures,
    and where the evidence was planted (``ground_truth``, a bool mask like ``inputs``). Written
    aside and renamed into place: a failure (a full disk, a kill) leaves the earlier file as it
    was, and raises :class:`~audioxai_bench.atomic.WriteError` naming the file."""
    path = examples_file(out, stem)
    arrays = {"signals": signals, "inputs": inputs, "target": target}
    if ground_truth is not None:
        arrays["ground_truth"] = ground_truth.astype(bool)
    arrays |= {f"{RELEVANCE_PREFIX}{name}": r for name, r in relevance.items()}
    return atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


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
    tag = _safe(getattr(sonifier, "name", "sonified"))
    if tag in RESERVED_SONIFIERS:  # its sound would overwrite the original's file
        raise AudioXaiError(f"sonifier name {tag!r} is reserved for "
                            f"{RESERVED_SONIFIERS[tag]}; rename the sonifier")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sonified = sound_of(sonifier, signals, relevance, representation).detach().double().cpu()
    original = signals.detach().double().cpu()
    names = list(names) if names is not None else sample_names(len(signals))
    if len(names) != len(signals):
        raise ValueError(f"{len(names)} names for {len(signals)} signals")
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
            atomic_write(path, lambda f, data=data: sf.write(f, data, rate, subtype="PCM_16",
                                                              format="WAV"))
            paths.append(path)
    return paths
