"""The cue task's ground truth in the model input, through the suite's own preprocessing.

A sidecar (:mod:`audioxai_bench.data.cue`) places the burst in its clip file's samples; the
preprocessing resamples the clip to 8 kHz (sample 0 stays at time 0) and puts it at the seeded
:func:`~audioxai_bench.data.preprocess.clip_offset` inside the one-second window. The same
offset places the burst in the window here, so the mask and the burst's waveform line up with
the model input of the same run seed.

Masks: on the waveform, the burst's samples; on the spectrogram, the bins within
:data:`HALF_BAND_BINS` of the burst's frequency (the Hann window's main lobe is 2 bins each
side) in the frames whose centre lies within a quarter window (:data:`HALF_FRAME_SAMPLES`) of
the burst, which holds over 95 % of the burst's energy on the model's grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch

from .check import TARGET_RATE, WINDOW
from .cue import Cue, burst_wave
from .preprocess import HOP, N_FFT, SPEC_BINS, SPEC_FIRST_FRAME, SPEC_FRAMES, clip_offset

HALF_BAND_BINS = 2.5
HALF_FRAME_SAMPLES = N_FFT // 4
_ROUNDING = 1e-6  # samples: an onset on the grid must not round to the next sample


@dataclass(frozen=True)
class CueTable:
    """The bursts of some clips, placed in the one-second window (one entry per clip)."""

    label: np.ndarray  # int64
    freq_hz: np.ndarray
    onset: np.ndarray  # seconds from the window's first sample to the burst's start
    seconds: np.ndarray
    amplitude: np.ndarray  # int16 scale
    phase: np.ndarray

    def take(self, rows: np.ndarray) -> CueTable:
        return CueTable(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def __len__(self) -> int:
        return len(self.label)


def cue_table(cues: list[Cue], relpaths: list[str], seed: int) -> CueTable:
    """The bursts of clips ``relpaths`` in the window, with the offsets of run seed ``seed``."""
    onsets = []
    for cue, relpath in zip(cues, relpaths):
        length = math.ceil(cue.frames * TARGET_RATE / cue.rate)  # as resample_batch cuts it
        onsets.append(clip_offset(relpath, length, seed) / TARGET_RATE + cue.start / cue.rate)
    return CueTable(label=np.array([c.label for c in cues], dtype=np.int64),
                    freq_hz=np.array([c.freq_hz for c in cues], dtype=np.float64),
                    onset=np.array(onsets, dtype=np.float64),
                    seconds=np.array([(c.stop - c.start) / c.rate for c in cues]),
                    amplitude=np.array([c.amplitude for c in cues], dtype=np.float64),
                    phase=np.array([c.phase for c in cues], dtype=np.float64))


def burst_signals(table: CueTable) -> torch.Tensor:
    """``(B, 8000)`` float32: each burst alone in its window, as the 8 kHz clip carries it."""
    times = np.arange(WINDOW)[None, :] / TARGET_RATE - table.onset[:, None]
    wave = burst_wave(times, table.seconds[:, None], table.amplitude[:, None],
                      table.freq_hz[:, None], table.phase[:, None])
    return torch.from_numpy(wave.astype(np.float32))


def sample_span(table: CueTable) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last window sample of each burst."""
    start = np.floor(table.onset * TARGET_RATE + _ROUNDING).astype(np.int64)
    stop = np.ceil((table.onset + table.seconds) * TARGET_RATE - _ROUNDING).astype(np.int64)
    return np.clip(start, 0, WINDOW), np.clip(stop, 0, WINDOW)


def ground_truth_mask(table: CueTable, representation: str) -> torch.Tensor:
    """Bool mask in the model input's shape: True where the burst is (module docstring)."""
    start, stop = (torch.from_numpy(a)[:, None] for a in sample_span(table))
    if representation == "waveform":
        t = torch.arange(WINDOW)[None, :]
        return ((t >= start) & (t < stop))[:, None]
    if representation != "spectrogram":
        raise ValueError(f"unknown representation {representation!r}")
    centre = (torch.arange(SPEC_FRAMES)[None, :] + SPEC_FIRST_FRAME) * HOP
    frames = (centre >= start - HALF_FRAME_SAMPLES) & (centre < stop + HALF_FRAME_SAMPLES)
    bin_hz = TARGET_RATE / N_FFT
    freq = torch.from_numpy(table.freq_hz)[:, None]
    rows = (torch.arange(SPEC_BINS)[None, :] * bin_hz - freq).abs() <= HALF_BAND_BINS * bin_hz
    return (rows[:, :, None] & frames[:, None, :])[:, None]
