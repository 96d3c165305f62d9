"""Preprocessing against independent NumPy/SciPy computations of PROTOCOL.md's recipe."""

import numpy as np
import pytest
import scipy.signal
import torch
import torchaudio.functional as AF

from audioxai_bench.data.preprocess import (
    clip_offset,
    pad_to_window,
    resample_batch,
    spectrogram_input,
    waveform_input,
)
from audioxai_bench.errors import ClipError


def scipy_spectrogram(signal: np.ndarray) -> np.ndarray:
    """The reference code's recipe: scipy STFT, crop, librosa-style amplitude_to_db."""
    _, _, z = scipy.signal.stft(signal, 8000, nperseg=455, noverlap=420, window="hann")
    assert z.shape == (228, 230)
    s = np.abs(z[0:227, 2:-1])
    ref = np.max(s)
    db = 20 * np.log10(np.maximum(1e-5, s)) - 20 * np.log10(max(1e-5, ref))
    return np.maximum(db, db.max() - 80.0)


@pytest.fixture
def padded_signals() -> np.ndarray:
    rng = np.random.default_rng(0)
    out = np.zeros((3, 8000), np.float32)
    for i, (start, length) in enumerate([(0, 2400), (1234, 5000), (100, 7900)]):
        t = np.arange(length) / 8000
        tone = 3000 * np.sin(2 * np.pi * (150 + 100 * i) * t) * np.hanning(length)
        out[i, start:start + length] = tone + 50 * rng.standard_normal(length)
    return out


def test_spectrogram_matches_scipy_recipe(padded_signals):
    ours = spectrogram_input(torch.from_numpy(padded_signals))
    assert ours.shape == (3, 1, 227, 227) and ours.dtype == torch.float32
    for i, signal in enumerate(padded_signals):
        expected = scipy_spectrogram(signal.astype(np.float64))
        np.testing.assert_allclose(ours[i, 0].numpy(), expected, atol=1e-4, rtol=0)


def test_spectrogram_row_zero_is_zero_hz_and_low_tone_lands_low():
    t = np.arange(8000) / 8000
    low = torch.tensor(1000 * np.sin(2 * np.pi * 176.0 * t), dtype=torch.float32)[None]
    spec = spectrogram_input(low)[0, 0]
    peak_row = spec.mean(dim=1).argmax().item()
    assert peak_row == round(176.0 / (8000 / 455))  # 17.6 Hz per row


def test_waveform_divides_by_signed_95th_percentile(padded_signals):
    ours = waveform_input(torch.from_numpy(padded_signals))
    assert ours.shape == (3, 1, 8000)
    for i, signal in enumerate(padded_signals):
        expected = signal / (np.percentile(signal, 95) + 0.001)
        np.testing.assert_allclose(ours[i, 0].numpy(), expected, rtol=1e-5)


def test_batched_resampling_equals_one_clip_at_a_time():
    rng = np.random.default_rng(1)
    clips = [rng.standard_normal(n).astype(np.float32) * 1000 for n in (14_400, 30_001, 47_999)]
    batched = resample_batch(clips, 48_000)
    for clip, out in zip(clips, batched):
        single = AF.resample(torch.from_numpy(clip)[None], 48_000, 8_000)[0].numpy()
        assert out.shape == single.shape
        np.testing.assert_allclose(out, single, atol=1e-3)


def test_offsets_are_seeded_per_clip_and_fit_the_window():
    offsets = {clip_offset(f"01/0_01_{r}.wav", 5000, seed=0) for r in range(50)}
    assert all(0 <= o <= 3000 for o in offsets) and len(offsets) > 30
    assert clip_offset("01/0_01_0.wav", 5000, 0) == clip_offset("01/0_01_0.wav", 5000, 0)
    assert [clip_offset(f"k{i}", 5000, 0) for i in range(5)] != \
        [clip_offset(f"k{i}", 5000, 1) for i in range(5)]
    assert clip_offset("full", 8000, 3) == 0
    with pytest.raises(ClipError, match="1.00 s after resampling"):
        clip_offset("too-long", 8001, 0)


def test_pad_to_window_places_clip():
    padded = pad_to_window(np.ones(10, np.float32), 7990)
    assert padded.shape == (8000,) and padded[7990:].sum() == 10 and padded[:7990].sum() == 0
