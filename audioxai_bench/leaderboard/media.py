"""The example explanations and sonified sounds a run left beside its records.

Both are optional: a run may have written neither, and the page then says so. What is there is
read strictly (a broken examples file or sound is left out, and the page and a warning say so)
but only as much as the page shows: the first :data:`MAX_EXAMPLES` samples of the lowest fold
that has them.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import AudioXaiError
from ..run import folder as run_folder
from .aggregate import Section

MAX_EXAMPLES = 2
#: The sonifier heard first, and alone on the clips after the first (else the first by name).
PREFERRED_SONIFIER = "spectrogram-mask"


@dataclasses.dataclass(frozen=True, eq=False)
class Examples:
    """Example samples of one trained model (``model``: its fold, and its seed where the
    section pools several): 8 kHz signals, model inputs, targets, relevance maps and, for
    planted evidence, where it is (a bool mask like the inputs)."""

    model: str
    signals: np.ndarray
    inputs: np.ndarray
    target: np.ndarray
    relevance: dict[str, np.ndarray]
    ground_truth: np.ndarray | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Audio:
    """WAV bytes of one trained model (``model`` as in :class:`Examples`): the original of
    each sample, and per (explainer, sample) sounds as ``(sonifier, bytes)`` pairs,
    :data:`PREFERRED_SONIFIER` first: every sonifier's on the first sample, so that each one
    (a plugin's too) can be heard, one on the others, so that the page grows by one sound per
    sonifier and explainer, not by as many as it has samples."""

    model: str
    samples: tuple[str, ...]
    originals: dict[str, bytes]
    sonified: dict[tuple[str, str], tuple[tuple[str, bytes], ...]]
    #: the sounds that could not be read, each with its error: left out of the above
    broken: tuple[tuple[Path, AudioXaiError], ...] = ()


def run_folders(section: Section) -> list[Path]:
    """The run folders of a section's records, the one read last first (later files win)."""
    if "source" not in section.rows:
        return []
    return [Path(s) for s in reversed(list(dict.fromkeys(section.rows["source"])))]


def _stem(section: Section, fold: int) -> str:
    return run_folder.panel_stem(section.task, section.model, fold)


def _model(section: Section, folder: Path, fold: int) -> str:
    """The trained model whose files ``folder`` holds for ``fold``, as the tables name it."""
    seeds = section.rows.loc[section.rows["source"] == str(folder), "seed"]
    return section.model_label(fold, seeds.iloc[0] if len(seeds) else None)


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A media file left out of the page: its ``path``, its ``name`` within its run folder
    (what the page says: the page names no path of this machine) and why."""

    path: Path
    name: str
    reason: str

    @classmethod
    def of(cls, path: Path, folder: Path, exc: AudioXaiError) -> Skipped:
        """``path`` in the run folder ``folder``, left out because of ``exc``, an error that
        names it."""
        return cls(path, str(path.relative_to(folder)), str(exc).removeprefix(f"{path}: "))

    @property
    def note(self) -> str:
        return f"Left out {self.name}: {self.reason}."


def find_examples(section: Section, skipped: list[Skipped] | None = None) -> Examples | None:
    """The examples file of the lowest fold that has a readable one, or None. A file that
    cannot be read (cut short by a run killed while writing it, or by a full disk) is left
    out, and added to ``skipped``: the pictures are an aid, and no table reads them."""
    for fold in section.folds:
        for folder in run_folders(section):
            path = run_folder.examples_file(folder, _stem(section, fold))
            if not path.is_file():
                continue
            try:
                return load_examples(path, _model(section, folder, fold))
            except AudioXaiError as exc:
                if skipped is not None:
                    skipped.append(Skipped.of(path, folder, exc))
    return None


def load_examples(path: Path, model: str) -> Examples:
    """Read and check an examples file, keeping the first :data:`MAX_EXAMPLES` samples."""
    arrays = run_folder.read_examples(path)
    relevance = {name: r[:MAX_EXAMPLES] for name, r in run_folder.relevance_maps(arrays).items()}
    truth = arrays.get("ground_truth")
    return Examples(model, arrays["signals"][:MAX_EXAMPLES], arrays["inputs"][:MAX_EXAMPLES],
                    arrays["target"][:MAX_EXAMPLES], relevance,
                    None if truth is None else truth[:MAX_EXAMPLES])


def find_audio(section: Section, skipped: list[Skipped] | None = None) -> Audio | None:
    """The sonified examples of the lowest fold that has some, or None. A sound that cannot be
    read is left out and added to ``skipped``, as a broken examples file is
    (:func:`find_examples`)."""
    for fold in section.folds:
        for folder in run_folders(section):
            path = run_folder.audio_folder(folder, _stem(section, fold))
            audio = load_audio(path, _model(section, folder, fold)) if path.is_dir() else None
            if audio and audio.samples:
                if skipped is not None:
                    skipped += [Skipped.of(wav, folder, exc) for wav, exc in audio.broken]
                return audio
    return None


def _wav(path: Path) -> bytes:
    """The bytes of a WAV file; else an error naming it, whose reason names no path (the page
    shows it: libsndfile's message repeats the path, its ``error_string`` does not)."""
    try:
        info = sf.info(str(path))
        if info.format != "WAV":
            raise AudioXaiError(f"{path}: a {info.format} file, expected WAV")
        return path.read_bytes()
    except RuntimeError as exc:  # soundfile's errors derive from it
        why = getattr(exc, "error_string", None) or str(exc)
        raise AudioXaiError(f"{path}: not a readable WAV file ({why})") from None
    except OSError as exc:
        raise AudioXaiError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def load_audio(folder: Path, model: str) -> Audio:
    """The original and the sonified sounds (see :class:`Audio`) of the first samples by
    name; one that cannot be read is left out and listed in ``broken``."""
    files = run_folder.sonified_files(folder)
    samples = tuple(sorted({s for by_sample in files.values() for s in by_sample}))
    samples = samples[:MAX_EXAMPLES]
    broken: dict[Path, AudioXaiError] = {}

    def read(path: Path) -> bytes | None:
        try:
            return _wav(path)
        except AudioXaiError as exc:
            broken[path] = exc
            return None

    originals: dict[str, bytes] = {}
    sonified: dict[tuple[str, str], tuple[tuple[str, bytes], ...]] = {}
    for explainer, by_sample in sorted(files.items()):
        for sample in samples:
            kinds = by_sample.get(sample, {})
            if "original" in kinds and sample not in originals:
                original = read(kinds["original"])
                if original is not None:
                    originals[sample] = original
            chosen = _order([k for k in kinds if k != "original"])
            if sample != samples[0]:
                chosen = chosen[:1]
            sounds = tuple((k, wav) for k in chosen if (wav := read(kinds[k])) is not None)
            if sounds:
                sonified[explainer, sample] = sounds
    return Audio(model, samples, originals, sonified, tuple(broken.items()))


def _order(sonifiers: Sequence[str]) -> list[str]:
    """:data:`PREFERRED_SONIFIER` first, the others by name."""
    return sorted(sonifiers, key=lambda k: (k != PREFERRED_SONIFIER, k))


def levels(wav: bytes) -> tuple[float, float]:
    """RMS and peak of a WAV's samples in dBFS (-inf for silence)."""
    data, _ = sf.read(io.BytesIO(wav), dtype="float64", always_2d=True)
    rms = float(np.sqrt(np.mean(np.square(data)))) if data.size else 0.0
    peak = float(np.abs(data).max()) if data.size else 0.0
    return tuple(20 * math.log10(v) if v > 0 else -math.inf for v in (rms, peak))
