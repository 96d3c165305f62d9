"""Validating a dataset tree: every problem at once, and counts per speaker, sex and digit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import soundfile as sf

from .clipfile import (
    DEFAULT_RESAMPLER,
    TARGET_RATE,
    WINDOW,
    file_problem,
    first_line,
    nonfinite_problem,
    rate_problem,
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

    The header decides, except for float clips, whose samples are read to find NaN and Inf.
    """
    problem = file_problem(clip.path)
    if problem:
        return Problem(str(clip.path), problem), None
    try:
        info = sf.info(str(clip.path))
    except (RuntimeError, sf.LibsndfileError) as err:
        return Problem(str(clip.path), f"not a readable WAV file ({first_line(err)})"), None
    if info.format != "WAV":
        return Problem(str(clip.path), f"format {info.format}, expected WAV"), None
    if info.frames == 0:
        return Problem(str(clip.path), "empty file (no samples)"), None
    if info.channels != 1:
        return Problem(str(clip.path), f"{info.channels} channels; AudioMNIST clips are mono"), None
    problem = rate_problem(info.samplerate, resampler)
    if problem:
        return Problem(str(clip.path), problem), None
    resampled = math.ceil(info.frames * TARGET_RATE / info.samplerate)
    if resampled > WINDOW:
        return Problem(str(clip.path), f"clip lasts {info.frames / info.samplerate:.2f} s; "
                                       f"at most 1 s fits the model input"), None
    if info.subtype in FLOAT_SUBTYPES:
        try:
            samples, _ = sf.read(str(clip.path), dtype="float64")
        except (RuntimeError, sf.LibsndfileError) as err:
            return Problem(str(clip.path), f"not a readable WAV file ({first_line(err)})"), None
        problem = nonfinite_problem(samples)
        if problem:
            return Problem(str(clip.path), problem), None
    return None, info.samplerate


def check_dataset(root: Path | str, resampler: str = DEFAULT_RESAMPLER) -> CheckReport:
    """Scan ``root`` and read every clip's header; a clip with a problem (one a clip resampled
    by ``resampler`` has) is not usable. In a cue tree (:mod:`audioxai_bench.data.cue`) a clip
    also needs valid ground truth."""
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
        problems.append(Problem(str(index.root), f"{other_rates} clips not at {ORIGINAL_RATE} "
                                                 "Hz; they are resampled", fatal=False))
    return CheckReport(index, usable, problems)
