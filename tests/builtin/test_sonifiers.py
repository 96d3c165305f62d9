"""Sonifiers keep what relevance points at, and the sonification scores reward exactly that."""

from __future__ import annotations

import math

import pytest
import soundfile as sf
import torch
from torch import Tensor, nn

from audioxai_bench.api.metric import EvalBatch
from audioxai_bench.builtin.sonifiers import (
    HeatmapTimesSignal,
    KeepPositive,
    KeepTop,
    SpectrogramMask,
)
from audioxai_bench.data.preprocess import (
    HOP,
    N_FFT,
    istft,
    model_grid_to_stft,
    power_to_db,
    spectrogram_input,
    stft,
)
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.sonification import (
    energy_matched_random_mask,
    evaluate_sonifier,
    kept_energy,
    random_control,
)
from audioxai_bench.plugins import PluginManager, validate
from audioxai_bench.run.folder import write_sonified

WAVEFORM_SONIFIERS = [HeatmapTimesSignal(name="h"), KeepPositive(name="p"),
                      KeepTop(name="t", percent=100.0)]
STFT_SONIFIERS = [SpectrogramMask(name="s"), SpectrogramMask(name="st", mode="top",
                                                             percent=100.0)]


def voice(n: int = 3, seed: int = 0) -> Tensor:
    """Padded signals: two tones (200 Hz, 2000 Hz) under an envelope, plus a little noise."""
    t = torch.arange(8000) / 8000
    env = torch.zeros(8000)
    env[1500:6500] = torch.hann_window(5000)
    g = torch.Generator().manual_seed(seed)
    tone = torch.sin(2 * math.pi * 200 * t) + 0.5 * torch.sin(2 * math.pi * 2000 * t)
    return torch.stack([3000 * env * tone * (1 + 0.1 * i) + torch.randn(8000, generator=g)
                        for i in range(n)])


def relative_error(a: Tensor, b: Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def test_istft_round_trip_reproduces_the_signal():
    signals = voice()
    assert relative_error(istft(stft(signals), 8000), signals) < 1e-4
    assert stft(signals).shape == (3, N_FFT // 2 + 1, 1 + 8000 // HOP)


def test_the_model_grid_sits_at_bins_0_226_and_frames_2_228_of_the_full_stft():
    signals = voice(2)
    window_sum = torch.hann_window(N_FFT, dtype=torch.float64).sum()
    power = (stft(signals) / window_sum).abs().square()[:, :227, 2:229]
    assert torch.allclose(power_to_db(power.float()), spectrogram_input(signals)[:, 0],
                          atol=1e-3)
    marker = torch.zeros(1, 227, 227)
    marker[0, 10, 0] = 1.0
    marker[0, 226, 226] = 2.0
    full = model_grid_to_stft(marker, 229)
    assert full.shape == (1, 228, 229)
    assert full[0, 10, 2] == 1 and full[0, 10, :2].eq(1).all()  # frames 0, 1 copy frame 2
    assert full[0, 227, 228] == 2 and full[0, 226, 228] == 2  # the Nyquist bin copies bin 226
    assert full.sum() == 1 * 3 + 2 * 2


@pytest.mark.parametrize("sonifier", WAVEFORM_SONIFIERS + STFT_SONIFIERS,
                         ids=lambda s: type(s).__name__ + "-" + s.name)
def test_keep_all_returns_the_input_and_keep_none_silence(sonifier):
    signals = voice(2)
    reps = ["waveform"] + (["spectrogram"] if sonifier.representations != {"waveform"} else [])
    for rep in reps:
        shape = (2, 1, 8000) if rep == "waveform" else (2, 1, 227, 227)
        out = sonifier.sonify(signals, torch.ones(shape), rep)
        expected = signals.clamp_min(0) if isinstance(sonifier, HeatmapTimesSignal) else signals
        assert out.shape == signals.shape and out.dtype == signals.dtype
        assert relative_error(out, expected) < 1e-4, rep
        for nothing in (torch.zeros(shape), -torch.ones(shape)):
            if isinstance(sonifier, HeatmapTimesSignal) and nothing.min() < 0:
                continue  # negative relevance gives a negative weight, not silence
            assert sonifier.sonify(signals, nothing, rep).abs().max() == 0, rep
    if isinstance(sonifier, KeepTop):
        assert KeepTop(name="t0", percent=0.0).sonify(signals, torch.ones(2, 1, 8000),
                                                      "waveform").abs().max() == 0


def test_heatmap_x_signal_is_the_rectified_signal_times_normalised_relevance():
    signals = voice(1)
    relevance = torch.linspace(-2, 4, 8000)[None, None]
    out = HeatmapTimesSignal(name="h").sonify(signals, relevance, "waveform")
    assert torch.allclose(out, signals.clamp_min(0) * relevance[:, 0] / 4, atol=1e-3)


def test_keep_top_keeps_that_share_of_samples_around_the_relevant_part():
    signals = voice(1)
    relevance = torch.zeros(1, 1, 8000)
    relevance[..., 3000:4000] = 1.0
    out = KeepTop(name="t", percent=12.5).sonify(signals, relevance, "waveform")  # 1000 samples
    assert torch.equal(out[:, 3100:3900], signals[:, 3100:3900])
    assert out[:, :2900].abs().max() == 0 and out[:, 4100:].abs().max() == 0


def test_spectrogram_mask_keeps_the_relevant_band():
    """Relevance on the rows below 500 Hz keeps the 200 Hz tone and drops the 2000 Hz one."""
    signals = voice(1)
    relevance = torch.zeros(1, 1, 227, 227)
    relevance[:, :, :28] = 1.0  # rows 0..27: 0-475 Hz
    for sonifier in (SpectrogramMask(name="s"), SpectrogramMask(name="t", mode="top",
                                                                percent=12.0)):
        out = sonifier.sonify(signals, relevance, "spectrogram")
        spectrum, original = torch.fft.rfft(out).abs(), torch.fft.rfft(signals).abs()
        assert spectrum[0, 190:211].sum() > 0.95 * original[0, 190:211].sum()
        assert spectrum[0, 1950:2051].sum() < 0.02 * original[0, 1950:2051].sum()


def test_waveform_relevance_renders_through_the_spectrogram():
    """Relevance on the first half of the voice keeps (mostly) that half, via the STFT."""
    signals = voice(1)
    relevance = torch.zeros(1, 1, 8000)
    relevance[..., :4000] = 1.0
    out = SpectrogramMask(name="s").sonify(signals, relevance, "waveform")
    first, second = out[:, 1500:3800].square().sum(), out[:, 4200:6500].square().sum()
    assert first > 0.95 * signals[:, 1500:3800].square().sum()
    assert second < 0.01 * signals[:, 4200:6500].square().sum()


def test_wrong_representation_and_shapes_fail_naming_the_sonifier():
    with pytest.raises(AudioXaiError, match="sonifier 'keep-positive' does not take spectrogram"):
        KeepPositive(name="keep-positive").sonify(voice(1), torch.ones(1, 1, 227, 227),
                                                  "spectrogram")
    with pytest.raises(AudioXaiError, match="waveform relevance must be"):
        KeepPositive(name="p").sonify(voice(1), torch.ones(1, 1, 4000), "waveform")


# --- scores ----------------------------------------------------------------------------------


class WindowNet(nn.Module):
    """Waveform toy: the sign of a projection of samples 1000-2000 decides between 2 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("pattern", torch.randn(1000, generator=torch.Generator()
                                                    .manual_seed(1)))

    def forward(self, x: Tensor) -> Tensor:
        s = (x[:, 0, 1000:2000] * self.pattern).sum(-1)
        return torch.stack([-s, s], dim=1)


def window_signals(n: int) -> Tensor:
    return 1000 * torch.randn(n, 8000, generator=torch.Generator().manual_seed(0))


def test_energy_matched_random_mask_keeps_the_requested_share():
    energy = torch.rand(4, 8000, generator=torch.Generator().manual_seed(0)).double()
    fraction = torch.tensor([0.0, 0.1, 0.5, 1.0])
    mask = energy_matched_random_mask(energy, fraction, seed=3)
    kept = (mask * energy).sum(1) / energy.sum(1)
    assert torch.allclose(kept, fraction.double(), atol=1e-3)
    assert torch.equal(mask, energy_matched_random_mask(energy, fraction, seed=3))
    signals = voice(2)
    for domain in ("time", "stft"):
        control = random_control(signals, torch.tensor([0.2, 0.6]), domain, seed=0)
        assert torch.allclose(kept_energy(control, signals),
                              torch.tensor([0.2, 0.6], dtype=torch.float64), atol=0.03), domain


def test_sonification_scores_reward_the_true_region():
    model, signals = WindowNet(), window_signals(16)
    from audioxai_bench.data.preprocess import waveform_input

    target = model(waveform_input(signals)).argmax(1)
    relevance = torch.zeros(16, 1, 8000)
    relevance[..., 1000:2000] = 1.0
    scores = evaluate_sonifier(KeepPositive(name="p"), model, signals, relevance, target,
                               "waveform", seed=0, chunk_size=8)
    assert scores.correct.mean() == 1.0
    assert scores.complement_correct.mean() <= 0.75
    assert torch.allclose(scores.kept_energy, torch.full((16,), 1000 / 8000, dtype=torch.float64),
                          atol=0.02)
    assert torch.allclose(scores.random_kept_energy, scores.kept_energy, atol=0.01)
    assert scores.random_correct.mean() < 0.9
    assert (scores.probability - scores.random_probability).mean() > 0.1
    again = evaluate_sonifier(KeepPositive(name="p"), model, signals, relevance, target,
                              "waveform", seed=0, chunk_size=5)
    assert torch.equal(scores.random_probability, again.random_probability)


def test_sonification_metrics_share_one_evaluation_per_batch():
    pm = PluginManager(entrypoints=False)
    names = ["sonified-accuracy", "complement-accuracy", "kept-energy", "sonified-random-gap"]
    metrics = [pm.metrics.get(n) for n in names]
    calls = []

    class Counting(KeepPositive):
        def render(self, waveform, relevance, representation):
            calls.append(1)
            return super().render(waveform, relevance, representation)

    model, signals = WindowNet(), window_signals(4)
    from audioxai_bench.data.preprocess import waveform_input

    x = waveform_input(signals)
    relevance = torch.ones_like(x)
    batch = EvalBatch(model=model, x=x, target=model(x).argmax(1), relevance=relevance,
                      representation="waveform", signals=signals, sonifier=Counting(name="c"))
    outs = {m.name: m.score(batch) for m in metrics}
    assert len(calls) == 1
    assert outs["kept-energy"].scores.tolist() == pytest.approx([1.0] * 4)
    assert outs["sonified-accuracy"].scores.tolist() == [1.0] * 4
    assert outs["complement-accuracy"].extras["kept-energy"].tolist() == pytest.approx([1.0] * 4)
    assert [pm.metrics.get(n).higher_is_better for n in names] == [True, False, False, True]
    # the accuracies are hits: their intervals are Wilson's (the summary reads this flag)
    assert [bool(outs[n].info.get("proportion")) for n in names] == [True, True, False, False]
    with pytest.raises(AudioXaiError, match="needs EvalBatch.sonifier"):
        metrics[0].score(EvalBatch(model=model, x=x, target=batch.target, relevance=relevance,
                                   representation="waveform", signals=signals))


def test_kept_energy_of_silence_is_zero():
    assert kept_energy(torch.zeros(2, 10), torch.zeros(2, 10)).tolist() == [0.0, 0.0]


def test_write_examples_writes_8khz_wavs_with_a_shared_gain(tmp_path):
    signals = voice(2)
    relevance = torch.zeros(2, 1, 8000)
    relevance[..., :4000] = 1.0
    paths = write_sonified(KeepPositive(name="keep-positive"), signals, relevance, "waveform",
                           tmp_path / "wav", names=["3_01_0", "a/b"])
    assert [p.name for p in paths] == [
        "3_01_0__original.wav", "3_01_0__keep-positive.wav",
        "3_01_0__keep-positive__complement.wav", "a-b__original.wav",
        "a-b__keep-positive.wav", "a-b__keep-positive__complement.wav"]
    original, rate = sf.read(paths[0])
    kept, _ = sf.read(paths[1])
    assert rate == 8000 and len(original) == 8000
    assert abs(abs(original).max() - 10 ** (-1 / 20)) < 1e-3
    assert abs(kept[1500:3900] - original[1500:3900]).max() < 1e-3  # same gain for both files


def test_builtin_sonifiers_register():
    pm = PluginManager(entrypoints=False)
    assert set(pm.sonifiers.names()) >= {"heatmap-x-signal", "keep-positive", "keep-top",
                                         "spectrogram-mask", "spectrogram-keep-top"}
    for s in pm.sonifiers:
        assert validate("sonifier", s) == s.name
    assert pm.sonifiers.get("spectrogram-mask").representations == {"waveform", "spectrogram"}
