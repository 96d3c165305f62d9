"""The cue task's ground truth in the model input, through the suite's own preprocessing.

A sidecar (:mod:`audioxai_bench.data.cue`) places the burst in its clip file's samples; the
preprocessing resamples the clip to 8 kHz (sample 0 stays at time 0) and puts it at the seeded
:func:`~audioxai_bench.data.preprocess.clip_offset` inside the one-second window. The same
offset places the burst in the window here, so the mask and the burst's waveform line up with
the model input of the same run seed.

Masks: on the waveform, the burst's samples; on the spectrogram, the bins within
:data:`HALF_BAND_BINS` of the burst's frequency (the Hann window's main lobe is 2 bins each
side) in the frames whose centre lies within a quarter window (:data:`HALF_FRAME_SAMPLES`) of
the burst, which holds over 95 % of the burst's energy on the model's grid, and every other bin
where the burst shows in the model's dB input (:func:`audible_footprint`): energy is not what
a model of dB values reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np
import torch

from .check import TARGET_RATE, WINDOW
from .cue import Cue, burst_wave
from .preprocess import (
    DB_TOP,
    DEFAULT_RESAMPLER,
    HOP,
    N_FFT,
    SPEC_BINS,
    SPEC_FIRST_FRAME,
    SPEC_FRAMES,
    clip_offset,
    pad_to_window,
    resample_batch,
    spectrogram_input,
    spectrogram_level,
)

HALF_BAND_BINS = 2.5
HALF_FRAME_SAMPLES = N_FFT // 4
_CHUNK = 256  # clips resampled at once (256 one-second clips at 48 kHz: 50 MB)
_ROUNDING = 1e-6  # samples: an onset on the grid must not round to the next sample
#: Each input's mask rule (:func:`ground_truth_mask`), named and versioned: the records of
#: scores against it state it (``info.ground_truth``), and the leaderboard pools seeds only
#: where their records agree, so a changed rule needs a new text (its version up by one).
#: Spectrogram v1 was the main lobe alone (before science audit 6, M2).
MASK_RULES = {
    "waveform": "waveform v1: the burst's samples",
    "spectrogram": (f"spectrogram v2: main lobe (bins within {HALF_BAND_BINS:g} of the "
                    f"burst's frequency, frames centred within {HALF_FRAME_SAMPLES} samples "
                    "of it) + audible footprint (bins where the burst alone is louder than "
                    f"the rest of the clip and above -{DB_TOP:g} dB)"),
}


@dataclass(frozen=True)
class CueTable:
    """The bursts of some clips (one entry per clip): the sidecars' fields, and each clip's
    offset in the window."""

    label: np.ndarray  # int64
    freq_hz: np.ndarray
    start: np.ndarray  # in the clip file's samples
    stop: np.ndarray
    rate: np.ndarray
    frames: np.ndarray
    amplitude: np.ndarray  # int16 scale
    phase: np.ndarray
    offset: np.ndarray  # the clip's first sample in the window (8 kHz samples)

    def take(self, rows: np.ndarray) -> CueTable:
        return CueTable(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def __len__(self) -> int:
        return len(self.label)

    @property
    def onset(self) -> np.ndarray:
        """Seconds from the window's first sample to the burst's start."""
        return self.offset / TARGET_RATE + self.start / self.rate

    @property
    def seconds(self) -> np.ndarray:
        return (self.stop - self.start) / self.rate


def cue_table(cues: list[Cue], relpaths: list[str], seed: int) -> CueTable:
    """The bursts of clips ``relpaths`` with the window offsets of run seed ``seed``."""
    columns = {f.name: np.array([getattr(c, f.name) for c in cues])
               for f in fields(CueTable) if f.name != "offset"}
    offsets = [clip_offset(relpath, math.ceil(c.frames * TARGET_RATE / c.rate), seed)
               for c, relpath in zip(cues, relpaths)]  # the length resample_batch cuts to
    return CueTable(**columns, offset=np.array(offsets, dtype=np.int64))


def burst_signals(table: CueTable, resampler: str = DEFAULT_RESAMPLER) -> torch.Tensor:
    """``(B, 8000)`` float32: each burst alone, made at its file's rate and put through the
    same resampling (``resampler``, the clips') and offset as its clip, so subtracting it from
    the clip's signal removes the cue up to the int16 rounding of the planted file (both
    resamplers are linear)."""
    out = np.zeros((len(table), WINDOW), dtype=np.float32)
    for rows, bursts in burst_chunks(table, resampler):
        out[rows] = bursts
    return torch.from_numpy(out)


def burst_chunks(table: CueTable, resampler: str = DEFAULT_RESAMPLER
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`burst_signals` a few hundred clips at a time (those of one rate resampled at
    once): ``(rows, bursts)``, the rows of ``table`` and their ``(len(rows), 8000)`` bursts,
    so a caller that keeps only part of each burst never holds all of them."""
    for rate in np.unique(table.rate):
        for chunk in np.array_split(np.flatnonzero(table.rate == rate),
                                    max(1, int(np.sum(table.rate == rate)) // _CHUNK)):
            part = table.take(chunk)
            times = (np.arange(part.frames.max())[None, :] - part.start[:, None]) / rate
            waves = burst_wave(times, part.seconds[:, None], part.amplitude[:, None],
                               part.freq_hz[:, None], part.phase[:, None]).astype(np.float32)
            clips = resample_batch([w[:n] for w, n in zip(waves, part.frames)], int(rate),
                                   resampler)
            yield chunk, np.stack([pad_to_window(clip, int(offset))
                                   for clip, offset in zip(clips, part.offset)])


def sample_span(table: CueTable) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last window sample of each burst."""
    start = np.floor(table.onset * TARGET_RATE + _ROUNDING).astype(np.int64)
    stop = np.ceil((table.onset + table.seconds) * TARGET_RATE - _ROUNDING).astype(np.int64)
    return np.clip(start, 0, WINDOW), np.clip(stop, 0, WINDOW)


def audible_footprint(signals: torch.Tensor, bursts: torch.Tensor) -> torch.Tensor:
    """``(B, 1, 227, 227)`` bool: the bins of the model's dB spectrogram where the burst alone,
    at its clip's level, is louder than the rest of the clip and above the input's floor.

    The model reads dB relative to the clip's peak, where the Hann window's side lobes and the
    burst's onset and offset stand far above silence and quiet speech: of the bins where the
    burst was louder than the rest, 70 % lay outside the main-lobe mask, and silencing that
    mask alone left the cue models 43.8 % accuracy against 29.2 % without the burst (science
    audit 6, M2)."""
    level = spectrogram_level(signals)
    burst = spectrogram_input(bursts, level=level)
    rest = spectrogram_input(signals - bursts, level=level)
    return (burst > rest) & (burst > -DB_TOP)


#: The inputs whose mask depends on the clips' signals (where the burst shows in dB).
MASK_READS_SIGNALS = frozenset({"spectrogram"})


def ground_truth_mask(table: CueTable, representation: str,
                      signals: torch.Tensor | None = None,
                      resampler: str = DEFAULT_RESAMPLER) -> torch.Tensor:
    """Bool mask in the model input's shape: True where the burst is (module docstring,
    :data:`MASK_RULES`); ``signals`` are the clips' ``(B, 8000)`` padded signals, which decide
    where the burst shows in a dB spectrogram (:data:`MASK_READS_SIGNALS`; the waveform mask
    ignores them), resampled by ``resampler``."""
    start, stop = (torch.from_numpy(a)[:, None] for a in sample_span(table))
    if representation == "waveform":
        t = torch.arange(WINDOW)[None, :]
        return ((t >= start) & (t < stop))[:, None]
    if representation != "spectrogram":
        raise ValueError(f"unknown representation {representation!r}")
    if signals is None:
        raise ValueError("the spectrogram mask needs the clips' signals")
    centre = (torch.arange(SPEC_FRAMES)[None, :] + SPEC_FIRST_FRAME) * HOP
    frames = (centre >= start - HALF_FRAME_SAMPLES) & (centre < stop + HALF_FRAME_SAMPLES)
    bin_hz = TARGET_RATE / N_FFT
    freq = torch.from_numpy(table.freq_hz)[:, None]
    rows = (torch.arange(SPEC_BINS)[None, :] * bin_hz - freq).abs() <= HALF_BAND_BINS * bin_hz
    main_lobe = (rows[:, :, None] & frames[:, None, :])[:, None]
    return main_lobe | audible_footprint(signals, burst_signals(table, resampler))
