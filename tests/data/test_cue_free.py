"""The cue models' second-stage set: the training clips, then each without its burst, made
batch by batch from the memory-mapped signals with the values stored copies had (review L4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audioxai_bench.data.check import WINDOW
from audioxai_bench.data.cue import plant_cues
from audioxai_bench.data.cue_free import BurstSpans, CueFreeClips
from audioxai_bench.data.dataset import AudioMNIST, ClipDataset, load_audiomnist
from audioxai_bench.data.ground_truth import burst_signals
from audioxai_bench.data.preprocess import to_model_input
from tests.helpers import write_tree


@pytest.fixture(scope="module")
def cue_tree(tmp_path_factory) -> Path:
    plain = write_tree(tmp_path_factory.mktemp("plain") / "data", [1, 2, 3, 28],
                       digits=range(4), reps=range(4))
    return plant_cues(plain, tmp_path_factory.mktemp("cue") / "data", seed=3).out


def _mapped(root: Path) -> AudioMNIST:
    """The data as a run reads them once decoded: the signals memory-mapped from the cache."""
    load_audiomnist(root, seed=0)
    data = load_audiomnist(root, seed=0)
    assert isinstance(data.signals, np.memmap)
    return data


def _cue_free(data: AudioMNIST, representation: str, **kwargs) -> CueFreeClips:
    rows = np.arange(1, len(data.relpaths), 2)  # every other clip
    labels = np.concatenate([data.cues.label[rows], np.full(len(rows), -1)])
    return CueFreeClips(data.signals, rows, data.cues.take(rows), labels, representation,
                        **kwargs)


def _stored(data: AudioMNIST, rows: np.ndarray) -> np.ndarray:
    """The signals the set stored before it made its copies batch by batch."""
    clips = np.asarray(data.signals[rows], dtype=np.float32)
    return np.concatenate([clips, clips - burst_signals(data.cues.take(rows)).numpy()])


def test_the_set_keeps_the_memory_map_and_only_the_bursts_spans(cue_tree):
    data = _mapped(cue_tree)
    both = _cue_free(data, "spectrogram", precompute_bytes=0)
    assert both.signals is data.signals and both.inputs is None
    held = sum(v.nbytes for k, v in vars(both).items()
               if isinstance(v, np.ndarray) and k != "signals") + both.bursts.nbytes
    one_copy = len(both.clips) * WINDOW * 4  # what the stored copies took
    assert held < one_copy / 4


@pytest.mark.parametrize("representation", ["waveform", "spectrogram"])
def test_batches_are_what_the_stored_copies_gave_bit_for_bit(cue_tree, representation):
    data = _mapped(cue_tree)
    both = _cue_free(data, representation, precompute_bytes=0)
    n = len(both.clips)
    stored = _stored(data, both.clips)
    assert np.array_equal(both.signals_at(np.arange(2 * n)), stored)
    index = torch.tensor([5, 0, n + 3, 2 * n - 1, n, 1])
    x, y = both.batch(index, torch.device("cpu"))
    assert torch.equal(x, to_model_input(torch.from_numpy(stored[index.numpy()]),
                                         representation))
    assert y.tolist() == both.labels[index.numpy()].tolist()
    assert torch.equal(both._on("signals", torch.device("cpu")), torch.from_numpy(stored))
    # precomputed, the inputs are those of a set of the stored signals
    ahead = _cue_free(data, representation)
    assert ahead.inputs is not None
    assert torch.equal(ahead.inputs, ClipDataset(stored, both.labels, np.arange(2 * n),
                                                 representation).inputs)


def test_the_bursts_spans_give_the_bursts_back_bit_for_bit(cue_tree):
    data = _mapped(cue_tree)
    spans = BurstSpans(data.cues)
    whole = burst_signals(data.cues).numpy()
    order = np.array([3, 0, len(whole) - 1, 3])
    assert np.array_equal(spans.dense(order).view(np.int32), whole[order].view(np.int32))
    assert (spans.stop - spans.start).max() < WINDOW / 5


def test_a_set_of_clips_without_as_many_cues_and_labels_is_refused(cue_tree):
    data = _mapped(cue_tree)
    rows = np.arange(4)
    with pytest.raises(ValueError, match="4 clips need as many cues"):
        CueFreeClips(data.signals, rows, data.cues.take(rows), np.zeros(6, dtype=int),
                     "waveform")


def test_the_copies_lose_the_bursts_as_resampled_for_their_clips(cue_tree):
    """Data resampled with the paper's fft have their bursts subtracted as fft made them."""
    from audioxai_bench.run.artifacts import with_cue_free

    data = load_audiomnist(cue_tree, seed=0, resampler="fft")
    rows = np.arange(len(data.relpaths))
    train = ClipDataset(data.signals, data.cues.label, rows, "waveform")
    both = with_cue_free(data, train)
    free = both.signals_at(np.arange(len(rows), 2 * len(rows)))
    expected = np.asarray(data.signals, dtype=np.float32) - burst_signals(
        data.cues.take(rows), "fft").numpy()
    assert np.array_equal(free, expected)
    assert not np.array_equal(burst_signals(data.cues.take(rows), "fft"),
                              burst_signals(data.cues.take(rows), "sinc"))
