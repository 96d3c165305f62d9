"""Validating a dataset tree: every problem at once, and counts per speaker, sex and digit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import soundfile as sf

from .clipfile import (  # noqa: F401  (TARGET_RATE, WINDOW: re-exported, imported from here)
    DEFAULT_RESAMPLER,
    FLAT_BLOCK,
    TARGET_RATE,
    WINDOW,
    check_resampler,
    file_problem,
    first_line,
    flat_problem,
    header_problem,
    nonfinite_problem,
)
from .cue import cue_problem, is_cue_tree
from .layout import Clip, DatasetIndex, Problem, scan_dataset

ORIGINAL_RATE = 48_000
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # the only WAV encodings that can hold NaN or Inf


@dataclass
class CheckReport:
    index: DatasetIndex
    usable: list[Clip]
    problems: list[Problem]

    @property
    def fatal(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    def counts(self) -> pd.DataFrame:
        """One row per usable clip's speaker, sex and digit, for group-by counts."""
        return pd.DataFrame(
            {"speaker": [c.speaker for c in self.usable],
             "sex": [self.index.sex_of(c) or "unknown" for c in self.usable],
             "digit": [c.digit for c in self.usable]})


def clip_problem(clip: Clip, resampler: str = DEFAULT_RESAMPLER
                 ) -> tuple[Problem | None, int | None]:
    """Why a clip cannot be used (resampled by ``resampler``) or None, and its sample rate.

    The file is opened once: its header decides its format and length, its samples whether it
    holds a signal (:func:`samples_problem`).
    """
    problem = file_problem(clip.path)
    if problem:
        return Problem(str(clip.path), problem), None
    try:
        with sf.SoundFile(str(clip.path)) as f:
            problem = header_problem(f, resampler) or samples_problem(f)
            rate = f.samplerate
    except (RuntimeError, sf.LibsndfileError) as err:
        return Problem(str(clip.path), f"not a readable WAV file ({first_line(err)})"), None
    if problem:
        return Problem(str(clip.path), problem), None
    return None, rate


def samples_problem(f: sf.SoundFile) -> str | None:
    """Why an open clip's samples are unusable (NaN or Inf, silence, DC only, near-silence), or
    None. Float clips are read whole, as only they can hold NaN and Inf; others only until
    their range passes :data:`~.clipfile.MIN_LEVEL`, one block or two for a clip with sound."""
    if f.subtype in FLOAT_SUBTYPES:
        samples = f.read(dtype="float64")
        return nonfinite_problem(samples) or flat_problem([samples])
    return flat_problem(f.blocks(FLAT_BLOCK, dtype="float64"))


def check_dataset(root: Path | str, resampler: str = DEFAULT_RESAMPLER) -> CheckReport:
    """Scan ``root`` and read every clip (:func:`clip_problem`); a clip with a problem (one a
    clip resampled by ``resampler`` has) is not usable. In a cue tree
    (:mod:`audioxai_bench.data.cue`) a clip also needs valid ground truth. An unknown
    ``resampler`` is refused: :func:`~.clipfile.rate_problem` would check for fft's limits
    without a word."""
    check_resampler(resampler)
    index = scan_dataset(root)
    problems = list(index.problems)
    usable = []
    other_rates = 0
    cues = is_cue_tree(index.root)
    for clip in index.clips:
        problem, rate = clip_problem(clip, resampler)
        if problem is None and cues:
            problem = cue_problem(clip)
        if problem:
            problems.append(problem)
            continue
        usable.append(clip)
        other_rates += rate != ORIGINAL_RATE
    if other_rates:
        clips = "1 clip" if other_rates == 1 else f"{other_rates} clips"
        problems.append(Problem(str(index.root), f"{clips} not at {ORIGINAL_RATE} Hz, "
                                                 f"AudioMNIST's rate; resampled by {resampler}",
                                fatal=False))
    return CheckReport(index, usable, problems)
