"""AudioMNIST as tensors: check, decode (or read the cache), and serve the paper's folds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import AudioXaiError, ClipError
from ..progress import ProgressFn
from . import cache
from .check import WINDOW, check_dataset
from .clipfile import check_resampler, read_clip, resampler_key
from .cue import is_cue_tree, read_cue
from .ground_truth import MASK_READS_SIGNALS, CueTable, burst_signals, cue_table, ground_truth_mask
from .layout import META_FILE, Clip, Problem
from .preprocess import (
    DEFAULT_RESAMPLER,
    SPEC_BINS,
    SPEC_FRAMES,
    clip_offset,
    pad_to_window,
    resample_batch,
    to_model_input,
)
from .splits import SEX_LABELS, check_task, speaker_split

DECODE_CHUNK = 200
PRECOMPUTE_BYTES = 2 << 30  # model inputs of a fold are kept in memory up to this size
PRECOMPUTE_BATCH = 256
_log = logging.getLogger(__name__)


@dataclass
class AudioMNIST:
    """Padded 8 kHz signals of every usable clip with their labels (sex -1 = unknown)."""

    root: Path
    signals: np.ndarray  # (N, 8000) float32, possibly memory-mapped
    speaker: np.ndarray
    digit: np.ndarray
    sex: np.ndarray
    relpaths: list[str]
    fingerprint: str
    problems: list[Problem] = field(default_factory=list)
    #: the planted bursts of a cue tree (:mod:`audioxai_bench.data.cue`), else None
    cues: CueTable | None = None
    #: how the clips were resampled to 8 kHz (:data:`~.preprocess.RESAMPLERS`)
    resampler: str = DEFAULT_RESAMPLER

    @property
    def preprocessing(self) -> dict[str, str]:
        """The preprocessing as it enters the keys of what is made from these signals (trained
        models, records' config hashes) beside the data's fingerprint and the seed: the
        resampler, left out for ``sinc`` (:func:`~.preprocess.resampler_key`)."""
        return resampler_key(self.resampler)

    @property
    def skipped(self) -> int:
        """Clips left out because they are unusable (fatal problems that name a file)."""
        return sum(1 for p in self.problems if p.fatal and p.where.endswith(".wav"))

    def labels(self, task: str) -> np.ndarray:
        check_task(task)
        if task == "cue":
            if self.cues is None:
                raise AudioXaiError(f"{self.root}: task 'cue' needs a cue tree (clips with "
                                    "planted cues and their ground truth, data/cue.py); these "
                                    "data have none")
            return self.cues.label
        return self.digit if task == "digit" else self.sex

    def ground_truth(self, task: str, rows: np.ndarray, representation: str) -> torch.Tensor | None:
        """The bool mask of where the label's evidence is in the model input of ``rows``, or
        None when nobody knows it (every task but ``cue``)."""
        if task != "cue":
            return None
        self.labels(task)  # a clear error on data without cues
        signals = (torch.from_numpy(np.asarray(self.signals[rows]))
                   if representation in MASK_READS_SIGNALS else None)
        return ground_truth_mask(self.cues.take(rows), representation, signals, self.resampler)

    def bursts(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), 8000)`` float32: the planted burst of each of ``rows`` alone, resampled
        and placed as its clip (:func:`~.ground_truth.burst_signals`)."""
        self.labels("cue")  # a clear error on data without cues
        return burst_signals(self.cues.take(rows), self.resampler).numpy()

    def split_rows(self, task: str, fold: int) -> dict[str, np.ndarray]:
        """The labelled clips of the train, validate and test speakers of the paper's split
        ``fold`` for ``task``: what :meth:`fold` serves, counted without making any input.
        A speaker of the sex task's split whose clips are here but whose sex the meta file
        does not give is an error: left out, it would change the split unseen."""
        split = speaker_split(task, fold)
        labels = self.labels(task)
        unknown = sorted(set(self.speaker[np.isin(self.speaker, split.speakers)
                                          & (labels < 0)].tolist()))
        if task == "sex" and unknown:
            raise AudioXaiError(
                f"{self.root / META_FILE}: no 'gender' (male or female) for speaker(s) "
                f"{', '.join(f'{s:02d}' for s in unknown)} of sex fold {fold}, whose clips it "
                "needs; give it there ('audioxai-bench data check' lists the meta problems)")
        return {part: np.flatnonzero(np.isin(self.speaker, speakers) & (labels >= 0))
                for part, speakers in (("train", split.train), ("validate", split.validate),
                                       ("test", split.test))}

    def fold(self, task: str, fold: int, representation: str) -> tuple[ClipDataset, ...]:
        """Train, validation and test sets of the paper's split ``fold`` for ``task``."""
        split = speaker_split(task, fold)
        labels = self.labels(task)
        sets = []
        for part, rows in self.split_rows(task, fold).items():
            speakers = list(getattr(split, part))
            if len(rows) == 0:
                raise AudioXaiError(f"{self.root}: no usable clips for the {part} speakers of "
                                    f"{task} fold {fold} ({speakers})")
            missing = sorted(set(speakers) - set(self.speaker[rows].tolist()))
            if missing:  # the fold runs, on fewer speakers than the paper's split: say so
                _log.warning("%s: %s fold %d: no usable clips of %s speaker(s) %s; it runs on "
                             "%d of its %d", self.root, task, fold, part,
                             ", ".join(f"{s:02d}" for s in missing),
                             len(speakers) - len(missing), len(speakers))
            sets.append(ClipDataset(self.signals, labels, rows, representation))
        return tuple(sets)


class ClipDataset(Dataset):
    """Model inputs of some clips, made from the cached signals.

    Inputs are computed once, in batches, when they fit ``precompute_bytes`` (a spectrogram is
    206 kB, so 3 000 of them take 620 MB); otherwise they are made batch by batch from the
    signals. :meth:`batch` serves a whole batch on a device: what it needs (the inputs, or on a
    GPU the signals, 32 kB a clip) is copied there once and batches are cut and transformed
    there, so training and scoring do no per-batch work on the host. ``__getitems__`` serves
    a ``DataLoader`` on the host.
    """

    def __init__(self, signals: np.ndarray, labels: np.ndarray, rows: np.ndarray,
                 representation: str, precompute_bytes: int = PRECOMPUTE_BYTES):
        self.signals, self.labels, self.rows = signals, labels, rows
        self.representation = representation
        self.inputs: torch.Tensor | None = None
        self._held: dict[tuple[str, torch.device], torch.Tensor] = {}
        if len(rows) * _input_bytes(representation) <= precompute_bytes:
            self.inputs = self._joined(self._make)

    def signals_at(self, positions: np.ndarray) -> np.ndarray:
        """``(len(positions), 8000)`` float32: the padded signals of the set's clips at
        ``positions``, read from the (memory-mapped) signals alone."""
        return np.asarray(self.signals[self.rows[positions]])

    def _make(self, positions: np.ndarray) -> torch.Tensor:
        return to_model_input(torch.from_numpy(self.signals_at(positions)), self.representation)

    def _joined(self, make: Callable[[np.ndarray], torch.Tensor]) -> torch.Tensor:
        """``make(positions)`` of every position, :data:`PRECOMPUTE_BATCH` at a time, written
        into one tensor (joining the parts would hold them twice)."""
        first = make(np.arange(min(PRECOMPUTE_BATCH, len(self))))
        whole = first.new_empty((len(self), *first.shape[1:]))
        whole[:len(first)] = first
        for start in range(len(first), len(self), PRECOMPUTE_BATCH):
            positions = np.arange(start, min(start + PRECOMPUTE_BATCH, len(self)))
            whole[start:start + len(positions)] = make(positions)
        return whole

    def _on(self, what: str, device: torch.device) -> torch.Tensor:
        """The inputs, signals or labels of every row, held on ``device`` (copied once; the
        signals part by part, so they are never all on the host)."""
        key = (what, device)
        if key not in self._held:
            whole = {"inputs": lambda: self.inputs.to(device),
                     "signals": lambda: self._joined(
                         lambda p: torch.from_numpy(self.signals_at(p)).to(device)),
                     "labels": lambda: torch.from_numpy(
                         self.labels[self.rows].astype(np.int64)).to(device)}
            self._held[key] = whole[what]()
        return self._held[key]

    def batch(self, index: torch.Tensor, device: torch.device
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and labels of positions ``index`` (a 1-d integer tensor) on ``device``.

        On the CPU, inputs that are not precomputed are made from the (memory-mapped) signals
        of the batch alone, so the signals of a large set are never all in memory.
        """
        device = torch.device(device)
        on_device = index.to(device, non_blocking=True)
        if self.inputs is not None:
            x = self._on("inputs", device)[on_device]
        elif device.type == "cpu":
            x = self._make(index.numpy())
        else:
            x = to_model_input(self._on("signals", device)[on_device], self.representation)
        return x, self._on("labels", device)[on_device]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        x, y = self.batch(torch.as_tensor(indices), torch.device("cpu"))
        return list(zip(x, y.tolist()))


def _input_bytes(representation: str) -> int:
    """float32 bytes of one model input."""
    return 4 * (WINDOW if representation == "waveform" else SPEC_BINS * SPEC_FRAMES)


def load_audiomnist(root: Path | str, seed: int = 0, use_cache: bool = True,
                    progress: ProgressFn | None = None, workers: int = 2,
                    resampler: str = DEFAULT_RESAMPLER) -> AudioMNIST:
    """Check ``root``, then decode every usable clip (or read it from the cache), resampled to
    8 kHz by ``resampler`` (:data:`~.preprocess.RESAMPLERS`).

    Unusable clips are skipped and recorded in ``problems`` (a speaker folder that cannot be
    listed is also logged, as its clips are not counted); a dataset with no usable clip is an
    error.
    """
    check_resampler(resampler)
    report = check_dataset(root, resampler)
    for folder in report.index.unlisted:
        _log.warning("%s: cannot list this speaker folder; its clips are left out", folder)
    for folder in report.index.strays:
        _log.warning("%s: holds .wav files but is not a speaker folder (NN); its clips are "
                     "left out", folder)
    clips = sorted(report.usable, key=lambda c: c.relpath)
    if not clips:
        raise AudioXaiError(f"{root}: no usable clips ({len(report.problems)} problems; "
                            "run 'audioxai-bench data check' for the list)")
    fingerprint = cache.data_fingerprint(report.index.root, clips)
    cached = cache.load_signals(fingerprint, seed, resampler) if use_cache else None
    problems = list(report.problems)
    if cached is None:
        signals, failed = decode_clips(clips, seed, progress, workers, resampler)
        problems += failed
        bad = {p.where for p in failed}
        keep = [i for i, c in enumerate(clips) if str(c.path) not in bad]
        signals, relpaths = signals[keep], [clips[i].relpath for i in keep]
        if use_cache:
            cache.store_signals(fingerprint, seed, signals,
                                {"relpaths": relpaths, "problems": [vars(p) for p in failed]},
                                resampler)
    else:
        signals, index = cached
        relpaths = index["relpaths"]
        problems += [Problem(**p) for p in index["problems"]]
    by_path = {c.relpath: c for c in clips}
    kept = [by_path[r] for r in relpaths]
    sex_index = {s: i for i, s in enumerate(SEX_LABELS)}
    cues = None
    if is_cue_tree(report.index.root):  # check_dataset has validated every usable sidecar
        cues = cue_table([read_cue(c.path) for c in kept], relpaths, seed)
    return AudioMNIST(
        root=report.index.root, signals=signals,
        speaker=np.array([c.speaker for c in kept]), digit=np.array([c.digit for c in kept]),
        sex=np.array([sex_index.get(report.index.sex_of(c), -1) for c in kept]),
        relpaths=relpaths, fingerprint=fingerprint, problems=problems, cues=cues,
        resampler=resampler)


def decode_clips(clips: list[Clip], seed: int, progress: ProgressFn | None = None,
                 workers: int = 2, resampler: str = DEFAULT_RESAMPLER
                 ) -> tuple[np.ndarray, list[Problem]]:
    """Read, resample (by ``resampler``) and pad every clip; a clip that fails is recorded, not
    raised."""
    signals = np.zeros((len(clips), WINDOW), dtype=np.float32)
    chunks = [range(i, min(i + DECODE_CHUNK, len(clips)))
              for i in range(0, len(clips), DECODE_CHUNK)]
    failed: list[Problem] = []
    done = 0

    def work(rows: range) -> list[Problem]:
        return _decode_into(signals, clips, rows, seed, resampler)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for chunk, problems in zip(chunks, pool.map(work, chunks)):
            failed += problems
            done += len(chunk)
            if progress:
                progress(done, len(clips))
    return signals, failed


def _decode_into(out: np.ndarray, clips: list[Clip], rows: range, seed: int,
                 resampler: str) -> list[Problem]:
    loaded, failed = {}, []
    for i in rows:
        try:
            loaded[i] = read_clip(str(clips[i].path), resampler)
        except ClipError as err:
            failed.append(Problem(err.where, err.reason))
    by_rate = sorted(loaded, key=lambda i: loaded[i][1])
    for rate, group in groupby(by_rate, key=lambda i: loaded[i][1]):
        group = list(group)
        resampled = resample_batch([loaded[i][0] for i in group], rate, resampler)
        for i, clip in zip(group, resampled):
            try:
                out[i] = pad_to_window(clip, clip_offset(clips[i].relpath, len(clip), seed))
            except ClipError as err:
                failed.append(Problem(str(clips[i].path), err.reason))
    return failed
