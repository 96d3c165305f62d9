"""The cue models' second-stage training set: each training clip, then each again without its
burst, made batch by batch.

The copies are not stored. A batch reads its clips' signals (memory-mapped, as the first
stage's set does) and subtracts their bursts, which are kept as the samples each burst spans
(0.1 s and the resampling filter's tails: about a tenth of the window). Stored whole, the
copies took a second copy of the training signals and, while they were made, three (about
1.5 GB on AudioMNIST's cue split; review L4). The values are those stored copies had: the same
bursts (:func:`~audioxai_bench.data.ground_truth.burst_chunks`) subtracted in float32.
"""

from __future__ import annotations

import numpy as np

from .check import WINDOW
from .dataset import PRECOMPUTE_BYTES, ClipDataset
from .ground_truth import CueTable, burst_chunks
from .preprocess import DEFAULT_RESAMPLER


class BurstSpans:
    """Each clip's burst (:func:`~audioxai_bench.data.ground_truth.burst_signals`), kept from
    its first to its last sample that is not +0.0 (a -0.0 is kept: subtracting it is not a
    no-op), so that :meth:`dense` gives the bursts back bit for bit."""

    def __init__(self, table: CueTable, resampler: str = DEFAULT_RESAMPLER):
        self.start = np.zeros(len(table), dtype=np.int64)
        self.stop = np.zeros(len(table), dtype=np.int64)
        kept: list[np.ndarray | None] = [None] * len(table)
        for rows, bursts in burst_chunks(table, resampler):
            marked = bursts.view(np.int32) != 0  # every bit pattern but +0.0
            first = marked.argmax(axis=1)
            last = WINDOW - marked[:, ::-1].argmax(axis=1)
            stop = np.where(marked.any(axis=1), last, first)  # an empty span for no burst
            for row, burst, a, b in zip(rows, bursts, first, stop):
                self.start[row], self.stop[row], kept[row] = a, b, burst[a:b].copy()
        self.at = np.concatenate([[0], np.cumsum(self.stop - self.start)])
        self.values = np.concatenate(kept) if kept else np.zeros(0, dtype=np.float32)

    @property
    def nbytes(self) -> int:
        return self.values.nbytes + self.start.nbytes + self.stop.nbytes + self.at.nbytes

    def dense(self, clips: np.ndarray) -> np.ndarray:
        """``(len(clips), 8000)`` float32: the bursts of ``clips`` (positions in the table)."""
        out = np.zeros((len(clips), WINDOW), dtype=np.float32)
        for row, clip in zip(out, clips):
            row[self.start[clip]:self.stop[clip]] = self.values[self.at[clip]:self.at[clip + 1]]
        return out


class CueFreeClips(ClipDataset):
    """The clips ``rows`` of ``signals``, then each again with its burst (``cues``, one per
    row, resampled by ``resampler`` as the clips were) subtracted; ``labels`` has one label per
    position, the clips' then the copies'.

    Inputs are precomputed or made per batch as for any :class:`ClipDataset`, from the
    signals of the positions asked for alone.
    """

    def __init__(self, signals: np.ndarray, rows: np.ndarray, cues: CueTable,
                 labels: np.ndarray, representation: str,
                 precompute_bytes: int = PRECOMPUTE_BYTES, resampler: str = DEFAULT_RESAMPLER):
        if not len(cues) == len(rows) == len(labels) // 2 or len(labels) % 2:
            raise ValueError(f"CueFreeClips: {len(rows)} clips need as many cues "
                             f"({len(cues)}) and twice as many labels ({len(labels)})")
        self.clips = rows
        self.bursts = BurstSpans(cues, resampler)
        super().__init__(signals, labels, np.arange(2 * len(rows)), representation,
                         precompute_bytes)

    def signals_at(self, positions: np.ndarray) -> np.ndarray:
        clip = positions % len(self.clips)
        out = np.asarray(self.signals[self.clips[clip]], dtype=np.float32)  # a copy
        free = positions >= len(self.clips)
        if free.any():
            out[free] -= self.bursts.dense(clip[free])
        return out
