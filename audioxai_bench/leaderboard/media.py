"""The example explanations and sonified sounds a run left beside its records.

Both are optional: a run may have written neither, and the page then says so. What is there is
read strictly (a broken file fails naming it) but only as much as the page shows: the first
:data:`MAX_EXAMPLES` samples of the lowest fold that has them.
"""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import AudioXaiError
from .aggregate import Section

MAX_EXAMPLES = 2
#: The sonifier whose sound is embedded when an explainer has several (else the first by name).
PREFERRED_SONIFIER = "spectrogram-mask"
RELEVANCE_PREFIX = "relevance__"


@dataclasses.dataclass(frozen=True, eq=False)
class Examples:
    """Example samples of one fold: 8 kHz signals, model inputs, targets, relevance maps."""

    fold: int
    signals: np.ndarray
    inputs: np.ndarray
    target: np.ndarray
    relevance: dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True, eq=False)
class Audio:
    """WAV bytes of one fold: the original of each sample, and per (explainer, sample) the
    sound of one sonifier as ``(sonifier, bytes)``."""

    fold: int
    samples: tuple[str, ...]
    originals: dict[str, bytes]
    sonified: dict[tuple[str, str], tuple[str, bytes]]


def run_folders(section: Section) -> list[Path]:
    """The run folders of a section's records, the one read last first (later files win)."""
    if "source" not in section.rows:
        return []
    return [Path(s) for s in reversed(list(dict.fromkeys(section.rows["source"])))]


def _stem(section: Section, fold: int) -> str:
    return f"{section.task}-{section.model}-fold{fold}"


def find_examples(section: Section) -> Examples | None:
    """The examples file of the lowest fold that has one, or None."""
    for fold in section.folds:
        for folder in run_folders(section):
            path = folder / "examples" / f"{_stem(section, fold)}.npz"
            if path.is_file():
                return load_examples(path, fold)
    return None


def load_examples(path: Path, fold: int) -> Examples:
    """Read and check an examples file, keeping the first :data:`MAX_EXAMPLES` samples."""
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
    relevance = {}
    for key in sorted(k for k in arrays if k.startswith(RELEVANCE_PREFIX)):
        if arrays[key].shape != inputs.shape:
            raise AudioXaiError(f"{path}: array {key!r} has shape {arrays[key].shape}, expected "
                                f"{inputs.shape} like 'inputs'")
        relevance[key[len(RELEVANCE_PREFIX):]] = arrays[key][:MAX_EXAMPLES]
    return Examples(fold, arrays["signals"][:MAX_EXAMPLES], inputs[:MAX_EXAMPLES],
                    arrays["target"][:MAX_EXAMPLES], relevance)


def find_audio(section: Section) -> Audio | None:
    """The sonified examples of the lowest fold that has some, or None."""
    for fold in section.folds:
        for folder in run_folders(section):
            path = folder / "audio" / _stem(section, fold)
            audio = load_audio(path, fold) if path.is_dir() else None
            if audio and audio.samples:
                return audio
    return None


def _wav(path: Path) -> bytes:
    try:
        info = sf.info(str(path))
    except RuntimeError as exc:  # soundfile's errors derive from it
        raise AudioXaiError(f"{path}: not a readable WAV file ({exc})") from None
    if info.format != "WAV":
        raise AudioXaiError(f"{path}: a {info.format} file, expected WAV")
    return path.read_bytes()


def load_audio(folder: Path, fold: int) -> Audio:
    """The original and one sonified sound per explainer for the first samples by name."""
    files: dict[str, dict[str, dict[str, Path]]] = {}  # explainer -> sample -> kind -> path
    for path in sorted(folder.glob("*/*.wav")):
        parts = path.stem.split("__")
        if len(parts) == 2:  # <name>__original or <name>__<sonifier>; not complements
            files.setdefault(path.parent.name, {}).setdefault(parts[0], {})[parts[1]] = path
    samples = tuple(sorted({s for by_sample in files.values() for s in by_sample}))
    samples = samples[:MAX_EXAMPLES]
    originals: dict[str, bytes] = {}
    sonified: dict[tuple[str, str], tuple[str, bytes]] = {}
    for explainer, by_sample in sorted(files.items()):
        for sample in samples:
            kinds = by_sample.get(sample, {})
            if "original" in kinds and sample not in originals:
                originals[sample] = _wav(kinds["original"])
            choice = _choose([k for k in kinds if k != "original"])
            if choice:
                sonified[explainer, sample] = (choice, _wav(kinds[choice]))
    return Audio(fold, samples, originals, sonified)


def _choose(sonifiers: Sequence[str]) -> str | None:
    if PREFERRED_SONIFIER in sonifiers:
        return PREFERRED_SONIFIER
    return min(sonifiers, default=None)
