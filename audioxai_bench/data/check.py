"""Validating a dataset tree: every problem at once, and counts per speaker, sex and digit."""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from .cue import cue_problem, is_cue_tree
from .layout import Clip, DatasetIndex, Problem, scan_dataset

ORIGINAL_RATE = 48_000
TARGET_RATE = 8_000
WINDOW = 8_000  # samples at TARGET_RATE: every clip is placed inside one second
MIN_RATE, MAX_RATE = 4_000, 384_000  # sample rates a recording can plausibly have
# torchaudio's sinc kernel has new × (orig + 2 × width) values for the rates divided by their
# gcd: 44.1 kHz needs 4e4, while 192 007 Hz (no common factor with 8 kHz) needs 1.5e9 (6 GB)
MAX_RESAMPLE_KERNEL = 1 << 22
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


def file_problem(path: Path | str) -> str | None:
    """Why ``path`` is not a regular file (a FIFO would block the reader forever), or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        return f"cannot be read ({err.strerror or _first_line(err)})"
    if not stat.S_ISREG(mode):
        kind = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
                stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket",
                stat.S_IFDIR: "a folder"}.get(stat.S_IFMT(mode), "not a file")
        return f"not a regular file ({kind})"
    return None


def resample_kernel_size(rate: int, target: int = TARGET_RATE) -> int:
    """Values in torchaudio's resampling kernel (default filter width 6, rolloff 0.99)."""
    gcd = math.gcd(rate, target)
    orig, new = rate // gcd, target // gcd
    width = math.ceil(6 * orig / (min(orig, new) * 0.99))
    return new * (orig + 2 * width)


def rate_problem(rate: int) -> str | None:
    """Why a clip at ``rate`` Hz cannot be resampled to 8 kHz, or None."""
    if not MIN_RATE <= rate <= MAX_RATE:
        return f"sample rate {rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz"
    if rate != TARGET_RATE and resample_kernel_size(rate) > MAX_RESAMPLE_KERNEL:
        gcd = math.gcd(rate, TARGET_RATE)
        return (f"sample rate {rate} Hz shares too small a factor with {TARGET_RATE} Hz to "
                f"resample (ratio {rate // gcd}/{TARGET_RATE // gcd}); convert it to a common "
                "rate such as 48000 Hz")
    return None


def nonfinite_problem(samples: np.ndarray) -> str | None:
    """Why decoded samples are unusable (NaN or Inf), or None."""
    bad = samples.size - int(np.isfinite(samples).sum())
    return f"{bad} NaN/Inf samples of {samples.size}" if bad else None


def clip_problem(clip: Clip) -> tuple[Problem | None, int | None]:
    """Why a clip cannot be used or None, and its sample rate.

    The header decides, except for float clips, whose samples are read to find NaN and Inf.
    """
    problem = file_problem(clip.path)
    if problem:
        return Problem(str(clip.path), problem), None
    try:
        info = sf.info(str(clip.path))
    except (RuntimeError, sf.LibsndfileError) as err:
        return Problem(str(clip.path), f"not a readable WAV file ({_first_line(err)})"), None
    if info.format != "WAV":
        return Problem(str(clip.path), f"format {info.format}, expected WAV"), None
    if info.frames == 0:
        return Problem(str(clip.path), "empty file (no samples)"), None
    if info.channels != 1:
        return Problem(str(clip.path), f"{info.channels} channels; AudioMNIST clips are mono"), None
    problem = rate_problem(info.samplerate)
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
            return Problem(str(clip.path), f"not a readable WAV file ({_first_line(err)})"), None
        problem = nonfinite_problem(samples)
        if problem:
            return Problem(str(clip.path), problem), None
    return None, info.samplerate


def check_dataset(root: Path | str) -> CheckReport:
    """Scan ``root`` and read every clip's header; a clip with a problem is not usable. In a
    cue tree (:mod:`audioxai_bench.data.cue`) a clip also needs valid ground truth."""
    index = scan_dataset(root)
    problems = list(index.problems)
    usable = []
    other_rates = 0
    cues = is_cue_tree(index.root)
    for clip in index.clips:
        problem, rate = clip_problem(clip)
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


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
