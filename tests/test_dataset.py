"""Decoding, caching, skipping bad files and serving the paper's folds."""

import numpy as np
import pytest
import torch

import audioxai_bench.data.dataset as dataset_module
from audioxai_bench.data.dataset import ClipDataset, load_audiomnist
from audioxai_bench.data.splits import speaker_split
from audioxai_bench.errors import AudioXaiError

from .conftest import write_tree


def test_signals_are_resampled_and_padded(small_tree):
    data = load_audiomnist(small_tree)
    assert data.signals.shape == (80, 8000)
    row = data.relpaths.index("12/3_12_1.wav")
    nonzero = np.flatnonzero(data.signals[row])
    expected_len = int((0.3 + 0.05 * 4) * 8000)  # tone_clip length at 8 kHz
    assert abs((nonzero[-1] - nonzero[0] + 1) - expected_len) <= 2
    assert data.sex[row] == 1 and data.digit[row] == 3 and data.speaker[row] == 12


def test_second_load_reads_cache_and_decodes_nothing(small_tree, monkeypatch):
    first = load_audiomnist(small_tree)

    def fail(*args, **kwargs):
        raise AssertionError("decoded a clip although the cache holds it")

    monkeypatch.setattr(dataset_module, "read_clip", fail)
    second = load_audiomnist(small_tree)
    np.testing.assert_array_equal(first.signals, second.signals)
    assert first.relpaths == second.relpaths and first.fingerprint == second.fingerprint


def test_seed_and_changed_data_change_the_cache_entry(small_tree):
    a = load_audiomnist(small_tree, seed=0)
    b = load_audiomnist(small_tree, seed=1)
    assert not np.array_equal(a.signals, b.signals)
    write_tree(small_tree, [14], digits=range(1), reps=range(1))
    c = load_audiomnist(small_tree, seed=0)
    assert len(c.relpaths) == 81 and c.fingerprint != a.fingerprint


def test_bad_files_are_skipped_and_counted(small_tree):
    (small_tree / "12" / "0_12_0.wav").write_bytes(b"garbage")
    data = load_audiomnist(small_tree)
    assert data.skipped == 1 and len(data.relpaths) == 79
    assert "12/0_12_0.wav" not in data.relpaths


def test_folds_follow_the_paper_splits(tmp_path):
    split = speaker_split("sex", 0)
    speakers = [split.train[0], split.train[-1], split.validate[0], split.test[0]]
    tree = write_tree(tmp_path / "d", speakers, digits=range(2), reps=range(1))
    data = load_audiomnist(tree)
    train, val, test = data.fold("sex", 0, "spectrogram")
    assert (len(train), len(val), len(test)) == (4, 2, 2)
    x, y = train[0]
    assert x.shape == (1, 227, 227) and y in (0, 1)
    batch = val.__getitems__([0, 1])
    assert [b[0].shape for b in batch] == [(1, 227, 227)] * 2
    train_w, _, _ = data.fold("sex", 0, "waveform")
    assert train_w[0][0].shape == (1, 8000)


def test_fold_without_speakers_of_a_part_is_an_error(tmp_path):
    split = speaker_split("digit", 2)
    tree = write_tree(tmp_path / "d", [split.train[0], split.test[0]], digits=range(1),
                      reps=range(1))
    with pytest.raises(AudioXaiError, match="no usable clips for the validate speakers"):
        load_audiomnist(tree).fold("digit", 2, "waveform")


def test_precomputed_and_on_the_fly_inputs_agree(small_tree):
    data = load_audiomnist(small_tree)
    rows = np.arange(10)
    eager = ClipDataset(data.signals, data.digit, rows, "spectrogram")
    lazy = ClipDataset(data.signals, data.digit, rows, "spectrogram", precompute_bytes=0)
    assert eager.inputs is not None and lazy.inputs is None
    for (xe, ye), (xl, yl) in zip(eager.__getitems__([3, 7]), lazy.__getitems__([3, 7])):
        assert torch.equal(xe, xl) and ye == yl
