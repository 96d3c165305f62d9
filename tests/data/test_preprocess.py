"""Preprocessing against independent NumPy/SciPy computations of the paper's recipe
(:mod:`audioxai_bench.data.preprocess` states it)."""

import math
import os

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch
import torchaudio.functional as AF

from audioxai_bench.data.clipfile import rate_problem, read_clip, resample_kernel_size
from audioxai_bench.data.dataset import load_audiomnist
from audioxai_bench.data.preprocess import (
    FLOAT32_DB_TOLERANCE,
    RESAMPLERS,
    clip_level,
    clip_offset,
    pad_to_window,
    resample_batch,
    spectrogram_input,
    to_model_input,
    waveform_input,
)
from audioxai_bench.errors import AudioXaiError, ClipError
from tests.helpers import tone_clip


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


def test_float32_fft_stays_within_its_stated_tolerance(padded_signals):
    """The cheaper device path: float32 FFT against SciPy's float64 recipe."""
    ours = spectrogram_input(torch.from_numpy(padded_signals), fft_dtype=torch.float32)
    worst = max(np.abs(ours[i, 0].numpy() - scipy_spectrogram(s.astype(np.float64))).max()
                for i, s in enumerate(padded_signals))
    assert 1e-4 < worst <= FLOAT32_DB_TOLERANCE  # coarser than float64, within its bound


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


def test_a_sound_made_from_a_clip_is_heard_at_the_clips_level(padded_signals):
    """A few kept blocks have a 95th percentile of 0: at their own level they would be divided
    by 0.001; at the clip's they are exactly the clip's input there, silence elsewhere. In dB
    the clip's peak stays the reference: half the amplitude is 6 dB down, not 0 dB."""
    clips = torch.from_numpy(padded_signals)
    keep = torch.zeros_like(clips, dtype=torch.bool)
    keep[:, 1400:1640] = True  # three 10 ms blocks, 3 % of the window
    part = clips * keep
    heard = to_model_input(part, "waveform", clip_level(clips, "waveform"))
    assert torch.equal(heard, waveform_input(clips).where(keep[:, None], torch.zeros(())))
    own = to_model_input(part, "waveform")
    assert own.abs().amax() > 1000 * heard.abs().amax()  # the blow-up the level avoids
    level = clip_level(clips, "spectrogram")
    assert torch.equal(to_model_input(clips, "spectrogram", level), spectrogram_input(clips))
    quieter = to_model_input(clips / 2, "spectrogram", level)
    loud = spectrogram_input(clips) > -60
    assert torch.allclose((spectrogram_input(clips) - quieter)[loud],
                          torch.tensor(20 * np.log10(2.0), dtype=torch.float32), atol=1e-4)
    assert quieter.min() == -80.0 and torch.equal(spectrogram_input(clips / 2),
                                                  spectrogram_input(clips))
    with pytest.raises(AudioXaiError, match="unknown representation 'mel'; valid: waveform"):
        clip_level(clips, "mel")


def test_batched_resampling_equals_one_clip_at_a_time():
    rng = np.random.default_rng(1)
    clips = [rng.standard_normal(n).astype(np.float32) * 1000 for n in (14_400, 30_001, 47_999)]
    batched = resample_batch(clips, 48_000)
    for clip, out in zip(clips, batched):
        single = AF.resample(torch.from_numpy(clip)[None], 48_000, 8_000)[0].numpy()
        assert out.shape == single.shape
        np.testing.assert_allclose(out, single, atol=1e-3)


@pytest.mark.parametrize("rate", [48_000, 44_100, 22_050])
def test_fft_resampling_is_the_reference_codes_scipy_resample(rate):
    """soerenab/AudioMNIST: librosa.core.resample(y=data.astype(np.float32), orig_sr=fs,
    target_sr=8000, res_type="scipy"), which is scipy.signal.resample of the float32 clip to
    int(np.ceil(n * (8000 / fs))) samples, returned as float32."""
    rng = np.random.default_rng(2)
    int16 = [rng.integers(-20_000, 20_000, n).astype(np.int16) for n in (14_400, 30_001, 47_999)]
    clips = [c.astype(np.float32) for c in int16]  # read_clip's int16 scale
    for clip, out in zip(clips, resample_batch(clips, rate, "fft")):
        n_samples = int(np.ceil(len(clip) * (float(8_000) / rate)))  # librosa's length
        expected = scipy.signal.resample(clip, n_samples, axis=-1)
        assert out.dtype == np.float32 and out.shape == (n_samples,)
        np.testing.assert_array_equal(out, expected.astype(np.float32))


def test_default_resampling_is_todays_torchaudio_call_bit_for_bit():
    """``sinc``, the default, is what the package computed before the choice existed."""
    rng = np.random.default_rng(1)
    clips = [rng.standard_normal(n).astype(np.float32) * 1000 for n in (14_400, 30_001, 47_999)]
    batch = torch.zeros(len(clips), 47_999)  # the code before the choice, restated
    for row, clip in zip(batch, clips):
        row[: len(clip)] = torch.from_numpy(clip)
    before = AF.resample(batch, 48_000, 8_000).numpy()
    for got in (resample_batch(clips, 48_000), resample_batch(clips, 48_000, "sinc")):
        for i, (clip, out) in enumerate(zip(clips, got)):
            np.testing.assert_array_equal(out, before[i, : math.ceil(len(clip) / 6)])


def _level_db(freq_hz: float, resampler: str) -> float:
    """The level in dB of a 48 kHz tone after resampling, away from the clip's ends (0.5 s: a
    whole number of periods, so the FFT resampler sees no edge)."""
    t = np.arange(24_000) / 48_000
    tone = (10_000 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    out = resample_batch([tone], 48_000, resampler)[0][1000:-1000].astype(np.float64)
    return float(10 * np.log10(np.mean(out**2) / (10_000**2 / 2)))


def test_fft_keeps_the_band_below_4_khz_and_removes_what_lies_above():
    """The sinc's roll-off (-4.2 dB at 3.8 kHz) and aliasing (4.3 kHz folds to 3.7 kHz at
    -12 dB) are what the top spectrogram rows differed by from the reference's input."""
    assert abs(_level_db(3_800, "fft")) < 0.1
    assert _level_db(3_800, "sinc") < -3.0
    assert _level_db(4_300, "fft") < -100.0
    assert _level_db(4_300, "sinc") > -20.0


def test_an_unknown_resampler_is_refused_naming_the_valid_ones():
    clip = np.ones(480, np.float32)
    with pytest.raises(AudioXaiError, match=f"^unknown resampler 'linear'; valid: "
                                            f"{', '.join(RESAMPLERS)}$"):
        resample_batch([clip], 48_000, "linear")


def test_offsets_are_seeded_per_clip_and_fit_the_window():
    offsets = {clip_offset(f"01/0_01_{r}.wav", 5000, seed=0) for r in range(50)}
    assert all(0 <= o <= 3000 for o in offsets) and len(offsets) > 30
    assert clip_offset("01/0_01_0.wav", 5000, 0) == clip_offset("01/0_01_0.wav", 5000, 0)
    assert [clip_offset(f"k{i}", 5000, 0) for i in range(5)] != \
        [clip_offset(f"k{i}", 5000, 1) for i in range(5)]
    assert clip_offset("full", 8000, 3) == 0
    # not "1.00 s; at most 1 s fits": the samples say why it does not
    with pytest.raises(ClipError, match=r"8001 samples after resampling \(1\.00012 s\); at most "
                                        "8000"):
        clip_offset("too-long", 8001, 0)


def test_pad_to_window_places_clip():
    padded = pad_to_window(np.ones(10, np.float32), 7990)
    assert padded.shape == (8000,) and padded[7990:].sum() == 10 and padded[:7990].sum() == 0


@pytest.mark.parametrize("subtype, tolerance", [("PCM_16", 0), ("FLOAT", 1e-3), ("DOUBLE", 1e-6),
                                                ("PCM_24", 0), ("PCM_U8", 0)])
@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
def test_every_encoding_decodes_on_the_int16_scale(tmp_path, subtype, tolerance, container):
    """Float WAVs read as int16 used to come out as silence (libsndfile truncates |x| < 1).
    WAVE_FORMAT_EXTENSIBLE (what ffmpeg writes for 24 bits) was refused as 'format WAVEX'."""
    clip = tone_clip(4, 12, 0)
    path = tmp_path / "clip.wav"
    if subtype == "PCM_U8":
        clip = (clip // 256 * 256).astype(np.int16)  # 8 bits keep only the high byte
    sf.write(path, clip.astype(np.float64) / 32768 if subtype in ("FLOAT", "DOUBLE") else clip,
             48_000, subtype=subtype, format=container)
    samples, rate = read_clip(str(path))
    assert rate == 48_000 and samples.dtype == np.float32
    np.testing.assert_allclose(samples, clip.astype(np.float32), atol=tolerance, rtol=0)


def test_nan_and_inf_samples_reject_the_clip(tmp_path):
    samples = tone_clip(1, 12, 0).astype(np.float32) / 32768
    samples[10:20] = np.nan
    samples[30] = np.inf
    sf.write(tmp_path / "nan.wav", samples, 48_000, subtype="FLOAT")
    with pytest.raises(ClipError, match=r"nan\.wav: 11 NaN/Inf samples of"):
        read_clip(str(tmp_path / "nan.wav"))


@pytest.mark.parametrize("samples, message", [
    (np.zeros(4_800, np.int16), r"flat\.wav: silent \(every sample 0\)"),
    (np.full(4_800, -7, np.int16), r"flat\.wav: constant \(DC only, no signal\)"),
    (np.arange(4_800).astype(np.int16) % 3 - 7, r"flat\.wav: near-silent \(.* -90 dBFS"),
    (np.array([5, 9], np.int16), r"flat\.wav: 2 samples long \(0\.000 s\)")])
def test_flat_and_too_short_clips_are_refused_by_every_reader(tmp_path, samples, message):
    """The cue planter reads clips with read_clip alone; it took clips data check refuses."""
    sf.write(tmp_path / "flat.wav", samples, 48_000, subtype="PCM_16")
    with pytest.raises(ClipError, match=message):
        read_clip(str(tmp_path / "flat.wav"))


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_a_clip_cut_short_is_refused_not_read_as_a_shorter_clip(tmp_path, subtype):
    """libsndfile reads the half that is left of a clip cut in two without a word: it was
    taken as a whole clip, half of its digit missing."""
    path = tmp_path / "cut.wav"
    sf.write(path, tone_clip(4, 12, 0) / 32768, 48_000, subtype=subtype)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ClipError, match=r"cut\.wav: cut short: its data chunk declares \d+ bytes"):
        read_clip(str(path))
    whole = tmp_path / "whole.wav"
    whole.write_bytes(raw + b"LIST\x04\x00\x00\x00abcd")  # a chunk after the data is no problem
    assert len(read_clip(str(whole))[0]) == len(tone_clip(4, 12, 0))


@pytest.mark.parametrize("rate, message", [(192_007, "shares too small a factor"),
                                           (47_999, "ratio 47999/8000"),
                                           (1_000, "outside 4000..384000 Hz"),
                                           (400_000, "outside 4000..384000 Hz")])
def test_absurd_rates_are_refused_before_any_allocation(tmp_path, rate, message, monkeypatch):
    """192 007 Hz → 8 kHz shares no factor: torchaudio's kernel would take 6 GB."""
    sf.write(tmp_path / "odd.wav", np.full(max(rate // 10, 1), 100, np.int16), rate)
    monkeypatch.setattr(AF, "resample", lambda *a, **k: pytest.fail("resampled"))
    assert rate_problem(rate) is not None
    with pytest.raises(ClipError, match=message):
        read_clip(str(tmp_path / "odd.wav"))


def test_only_the_sinc_resampler_refuses_a_rate_its_kernel_cannot_take(small_tree):
    """fft (scipy.signal.resample) takes any rate in range; a 47 999 Hz clip was refused by the
    check on torchaudio's sinc kernel under fft too, and left out of its run."""
    clip = small_tree / "12" / "0_12_0.wav"
    samples = tone_clip(0, 12, 0, rate=47_999)
    sf.write(clip, samples, 47_999, subtype="PCM_16")
    assert rate_problem(47_999, "fft") is None
    assert read_clip(str(clip), "fft")[1] == 47_999
    fft = load_audiomnist(small_tree, use_cache=False, resampler="fft")
    row = fft.relpaths.index("12/0_12_0.wav")
    assert not [p for p in fft.problems if "0_12_0.wav" in p.where]
    resampled = scipy.signal.resample(samples.astype(np.float32),
                                      math.ceil(len(samples) * 8_000 / 47_999))
    at = clip_offset("12/0_12_0.wav", len(resampled), 0)
    np.testing.assert_allclose(fft.signals[row][at:at + len(resampled)], resampled, atol=1e-2)
    sinc = load_audiomnist(small_tree, use_cache=False)
    assert "12/0_12_0.wav" not in sinc.relpaths
    [problem] = [p for p in sinc.problems if "0_12_0.wav" in p.where]
    assert problem.message.endswith("to resample by sinc (ratio 47999/8000); convert it to a "
                                    "common rate such as 48000 Hz, or resample by fft "
                                    "(data.resampler: fft, --resampler fft)")


def test_kernel_size_estimate_is_torchaudios():
    import math

    from torchaudio.functional.functional import _get_sinc_resample_kernel

    for rate in (44_100, 22_050, 11_025, 96_000, 12_345, 8_000, 4_000, 384_000):
        kernel, _ = _get_sinc_resample_kernel(rate, 8_000, math.gcd(rate, 8_000))
        assert resample_kernel_size(rate) == kernel.numel()
        assert rate_problem(rate) is None  # common rates are all accepted
    assert resample_kernel_size(192_007) > 1e9


def test_a_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "0_01_0.wav"
    os.mkfifo(fifo)
    # hold the FIFO open with some bytes in it, so that a reader that wrongly opens it fails
    # on the bytes instead of hanging the tests
    held = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    os.write(held, b"not a wav header" * 4)
    try:
        with pytest.raises(ClipError, match="not a regular file \\(a FIFO\\)"):
            read_clip(str(fifo))
    finally:
        os.close(held)
