"""Matched-size sonification scores: the explainer's top units against random units of the same
number, through the sonifier, on the explained class (review H1, M5)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from audioxai_bench.api.explainer import null_relevance
from audioxai_bench.api.metric import EvalBatch
from audioxai_bench.builtin.explainers_baseline import Amplitude, RandomRelevance
from audioxai_bench.builtin.metrics_sonification import matched_metrics
from audioxai_bench.builtin.sonifiers import KeepPositive, SpectrogramMask
from audioxai_bench.data.preprocess import spectrogram_input, waveform_input
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.randomness import hashed_uniform
from audioxai_bench.evaluation.sonification import (
    _TIES,
    INPUT,
    Units,
    active_units,
    kept_counts,
    lmac_quantities,
    score_matched_masks,
    unit_ranks,
)
from audioxai_bench.plugins import PluginManager
from audioxai_bench.stats import bootstrap_ci

from .toys import LowRowsNet, WindowNet, occlusion_effect, speech_like, tones


def test_units_are_10ms_blocks_and_8x8_patches():
    blocks = Units.of((1, 8000))
    assert blocks.count == 100 and blocks.label == "block 80"
    assert blocks.index[[0, 79, 80, 7999]].tolist() == [0, 0, 1, 99]
    patches = Units.of((1, 227, 227))
    assert patches.count == 29 * 29 and patches.label == "patch 8x8"
    grid = patches.index.view(227, 227)
    assert grid[0, 0] == 0 and grid[7, 7] == 0 and grid[0, 8] == 1 and grid[8, 0] == 29
    assert (grid == 29 * 29 - 1).sum() == 3 * 3  # the corner patch is 3 x 3 bins
    values = torch.arange(8000.0)[None, None]
    assert blocks.mean(values)[0, :2].tolist() == [39.5, 119.5]
    spread = blocks.spread(torch.arange(100.0)[None], (1, 8000))
    assert spread[0, 0, 79] == 0 and spread[0, 0, 80] == 1


def test_ranks_put_silent_units_last_and_break_ties_by_the_given_order():
    scores = torch.tensor([[3.0, 1.0, 3.0, 9.0, float("nan")]])
    active = torch.tensor([[True, True, True, False, True]])
    ties = torch.tensor([[0.9, 0.5, 0.1, 0.0, 0.3]])
    assert unit_ranks(scores, active, ties).tolist() == [[1, 2, 0, 4, 3]]
    assert kept_counts(torch.tensor([100, 0, 10]), (0.05, 0.4)).tolist() == [
        [5, 40], [0, 0], [1, 4]]


@pytest.mark.parametrize("law", ["noise", "constant", "positive noise", "noise about 5"])
def test_a_map_without_information_keeps_the_small_edge_patches_as_often_as_the_control(law):
    # the controls draw active units uniformly, so a map without information must too: by
    # mean relevance a noise map put the 3-bin edge patches in 20 % of its top 5 % (6.8 % of
    # the units), by sum in 0.6 %; by sum over the root of the size without the mean taken
    # off, a constant or positive map never picked one
    units = Units.of((1, 227, 227))
    edge = torch.bincount(units.index, minlength=units.count) < 64
    noise = null_relevance((300, 1, 227, 227), torch.Generator().manual_seed(0))
    maps = {"noise": noise, "constant": torch.full_like(noise, 0.3),
            "positive noise": noise.abs(), "noise about 5": noise + 5}
    everywhere = torch.ones(300, units.count, dtype=torch.bool)
    ties = torch.rand(300, units.count, generator=torch.Generator().manual_seed(1))
    top = unit_ranks(units.evidence(maps[law], everywhere), everywhere, ties) < round(
        0.05 * units.count)
    share = float((top & edge).sum() / top.sum())
    assert abs(share - float(edge.double().mean())) < 0.015


def test_the_unit_score_orders_units_of_one_size_as_their_mean_and_ignores_silent_ones():
    blocks = Units.of((1, 8000))
    wave = torch.randn(4, 1, 8000, generator=torch.Generator().manual_seed(2))
    everywhere = torch.ones(4, blocks.count, dtype=torch.bool)
    assert torch.equal(blocks.evidence(wave, everywhere).argsort(dim=1),
                       blocks.mean(wave).argsort(dim=1))
    # the level taken off is the active units': silent units' values do not move it
    active = everywhere.clone()
    active[:, 50:] = False
    loud = wave.clone()
    loud[..., 4000:] += 100.0
    assert torch.allclose(blocks.evidence(loud, active)[:, :50],
                          blocks.evidence(wave, active)[:, :50])


def test_lmac_quantities_follow_speechbrain():
    p = torch.tensor([0.8, 0.8, 0.5], dtype=torch.float64)
    o = torch.tensor([0.6, 0.9, 0.5], dtype=torch.float64)
    q = lmac_quantities(p, o, torch.tensor([1.0, 1.0, 0.0]), torch.tensor([0.1, 0.7, 0.5]))
    assert q["ai"].tolist() == [0.0, 100.0, 0.0]
    assert q["ad"].tolist() == pytest.approx([25.0, 0.0, 0.0])
    assert q["ag"].tolist() == pytest.approx([0.0, 50.0, 0.0])
    assert q["fid-in"].tolist() == [1.0, 1.0, 0.0]
    assert q["ff"].tolist() == pytest.approx([0.7, 0.1, 0.0])


def waveform_batch(relevance_of, n: int = 24, **kw) -> EvalBatch:
    model, signals = WindowNet(), speech_like(n)
    x = waveform_input(signals)
    return EvalBatch(model=model, x=x, target=model(x).argmax(1), relevance=relevance_of(model, x),
                     representation="waveform", signals=signals,
                     sonifier=KeepPositive(name="keep-positive"), chunk_size=128, **kw)


def random_map(model, x):
    return RandomRelevance(name="random").explain(model, x, torch.zeros(len(x), dtype=torch.long))


def test_random_gains_contain_zero_and_the_occlusion_oracle_beats_them_clearly():
    # two of the four default fractions keep the test fast
    metrics = {m.name: dataclasses.replace(m, fractions=(0.05, 0.2)) for m in matched_metrics()}
    shared: dict = {}
    results = {}
    for name, relevance_of in (("random", random_map), ("oracle", occlusion_effect)):
        batch = waveform_batch(relevance_of, shared=shared)
        results[name] = {m: metrics[m].score(batch) for m in metrics}
    for metric in ("sonified-sufficiency-gain", "sonified-comprehensiveness-gain"):
        random = bootstrap_ci(results["random"][metric].scores)
        oracle = bootstrap_ci(results["oracle"][metric].scores)
        assert random.low <= 0 <= random.high, metric
        assert oracle.low > random.high + 0.1 and oracle.mean > 0.25, metric
    out = results["oracle"]["sonified-sufficiency-gain"]
    assert out.grid.tolist() == [0.05, 0.2]
    assert out.curves["probability/masked-in"].shape == (24, 2)
    # More units keep more of the sound, for the explainer and the controls alike.
    for kept in (out.curves["kept-energy/masked-in"], out.curves["kept-energy/random-in"]):
        assert bool((kept.diff(dim=1) > 0).all()) and bool((kept < 1).all())
    assert out.info["units"] == "block 80" and out.info["class"] == "explained"
    assert out.info["ranked"] and not results["oracle"]["sonified-lmac"].info["ranked"]
    # Padding is never kept: samples 600-6599 hold sound, blocks 7-82 are active.
    assert out.extras["active-units"].eq(76).all()
    lmac = results["oracle"]["sonified-lmac"]
    assert lmac.extras["fid-in"].mean() > lmac.extras["random/fid-in"].mean() + 0.2
    assert lmac.extras["ff"].mean() > lmac.extras["random/ff"].mean() + 0.2
    assert torch.equal(lmac.scores, lmac.extras["fid-in"])
    assert lmac.info["proportion"] and not out.info.get("proportion")  # Fid-In: hits


def test_amplitude_map_equals_the_amplitude_control_and_controls_are_shared():
    calls = []

    class Counting(KeepPositive):
        def render(self, waveform, relevance, representation):
            calls.append(len(waveform))
            return super().render(waveform, relevance, representation)

    sonifier = Counting(name="counting")
    shared: dict = {}
    metric = matched_metrics()[0]
    amplitude = lambda model, x: Amplitude(name="amplitude").explain(model, x, None)  # noqa: E731
    first = metric.score(dataclasses.replace(waveform_batch(amplitude, 8, shared=shared),
                                             sonifier=sonifier))
    assert sum(calls) == 8 * 4 * (1 + 4 + 1)  # explainer, 4 random controls, amplitude
    assert torch.equal(first.curves["gain/amplitude"], torch.zeros(8, 4, dtype=torch.float64))
    calls.clear()
    second = metric.score(dataclasses.replace(waveform_batch(random_map, 8, shared=shared),
                                              sonifier=sonifier))
    assert sum(calls) == 8 * 4  # the controls come from the shared dict
    assert torch.equal(first.curves["probability/random-in"],
                       second.curves["probability/random-in"])
    # the extras against loudness: the amplitude map gains nothing over itself, its gain over
    # random is the control's, and any map's gain over loudness is its gain over random minus
    # loudness' gain over random
    assert torch.equal(first.extras["gain/amplitude"], torch.zeros(8, dtype=torch.float64))
    assert torch.allclose(first.scores, first.extras["amplitude/gain"])
    assert torch.equal(second.extras["amplitude/gain"], first.extras["amplitude/gain"])
    assert torch.allclose(second.extras["gain/amplitude"],
                          second.scores - second.extras["amplitude/gain"])


def test_scores_are_on_the_explained_class_and_do_not_depend_on_chunking():
    # review M5: the map explains batch.target; where the model predicts another class, the
    # sounds are still scored on the explained one (L-MAC's clean prediction would score a map
    # of y against y-hat).
    batch = waveform_batch(occlusion_effect, 6)
    metric = dataclasses.replace(matched_metrics()[0], fractions=(0.2,), controls=2)
    a = metric.score(batch)
    assert torch.allclose(a.scores, metric.score(dataclasses.replace(batch, chunk_size=6)).scores,
                          atol=1e-6)
    other = dataclasses.replace(batch, target=1 - batch.target)
    b = metric.score(other)
    with torch.no_grad():
        prob = torch.softmax(batch.model(batch.x), dim=1).double()
    assert torch.allclose(b.extras["probability/original"],
                          prob.gather(1, other.target[:, None])[:, 0])
    # two classes: every sound's probability of the other class is 1 - that of the prediction
    for curve in ("probability/masked-in", "probability/random-in", "probability/amplitude-in"):
        assert torch.allclose(b.curves[curve], 1 - a.curves[curve], atol=1e-6), curve
    assert a.extras["explains-predicted-class"].eq(1).all()
    assert b.extras["explains-predicted-class"].eq(0).all()
    assert a.info["class"] == "explained"


def test_spectrogram_patches_through_the_stft_mask_find_the_low_band():
    model = LowRowsNet()
    signals = torch.cat([tones([150, 1500], 2), tones([150, 2500], 2, seed=1)])
    x = spectrogram_input(signals)
    assert model(x).argmax(1).eq(1).all()
    right = torch.zeros_like(x)
    right[:, :, :18] = 1.0
    shared: dict = {}

    def reuse(key, compute):
        if key not in shared:
            shared[key] = compute()
        return shared[key]

    scores = {}
    for name, relevance in (("right", right), ("wrong", right.flip(2))):
        s = score_matched_masks(SpectrogramMask(name="spectrogram-mask"), model, signals, x,
                                torch.ones(len(x), dtype=torch.long), relevance, "spectrogram",
                                fractions=(0.1, 0.4), controls=2, chunk_size=64, seed=3,
                                reuse=reuse)
        scores[name] = (s.sufficiency_gain(), s.comprehensiveness_gain())
        assert s.units == "patch 8x8"
    for gain in scores["right"]:
        assert bool((gain > 0.1).all()) and gain.mean() > 0.25
    assert scores["wrong"][0].mean() < 0.05 and scores["wrong"][1].mean() < 0.05


def test_bad_settings_fail_naming_the_metric():
    metric = matched_metrics()[0]
    with pytest.raises(AudioXaiError, match="sonified-sufficiency-gain.*fractions must rise"):
        dataclasses.replace(metric, fractions=(0.4, 0.2))
    with pytest.raises(AudioXaiError, match="lmac_fraction 0.3 must be one of"):
        dataclasses.replace(metric, lmac_fraction=0.3)
    with pytest.raises(AudioXaiError, match="needs EvalBatch.sonifier"):
        metric.score(dataclasses.replace(waveform_batch(random_map, 2), sonifier=None))


def test_matched_metrics_register_ranked_and_old_ones_are_descriptive():
    pm = PluginManager(entrypoints=False)
    for name in ("sonified-sufficiency-gain", "sonified-comprehensiveness-gain"):
        m = pm.metrics.get(name)
        assert m.ranked and m.higher_is_better and m.needs == {"signals", "sonifier"}
    for name in ("sonified-lmac", "sonified-accuracy", "complement-accuracy", "kept-energy",
                 "sonified-random-gap"):
        assert pm.metrics.get(name).ranked is False


def _by_name(**changes) -> dict:
    return {m.name: dataclasses.replace(m, **changes) for m in matched_metrics()}


def test_the_model_input_reference_masks_the_input_itself():
    """sonifier=None: the kept units as they are, the rest at silence, no sound made."""
    model, signals = WindowNet(), speech_like(4)
    x = waveform_input(signals)
    target = model(x).argmax(1)
    s = score_matched_masks(None, model, None, x, target, occlusion_effect(model, x),
                            "waveform", fractions=(0.2,), controls=1, seed=2)
    units = Units.of((1, 8000))
    ties = hashed_uniform(2, torch.arange(4), units.count, stream=_TIES)
    active = active_units(units.mean(x.abs()))
    ranks = unit_ranks(units.mean(occlusion_effect(model, x)), active, ties)
    keep = units.spread((ranks < kept_counts(active.sum(1), (0.2,))).double(), (1, 8000)) > 0
    with torch.no_grad():
        p = torch.softmax(model(torch.cat([x * keep, x * ~keep])), dim=1).double()
    rows = torch.arange(4)
    assert torch.allclose(s.explainer.p_in[:, 0], p[rows, target])
    assert torch.allclose(s.explainer.p_out[:, 0], p[rows + 4, target])
    assert torch.allclose(s.explainer.kept_in[:, 0],
                          (x.abs() * keep).sum((1, 2)).double() / x.abs().sum((1, 2)))
    spectrogram = spectrogram_input(signals)
    model = LowRowsNet()
    s = score_matched_masks(None, model, None, spectrogram, torch.ones(4, dtype=torch.long),
                            torch.rand_like(spectrogram), "spectrogram", fractions=(0.05,),
                            controls=1)
    assert s.units == "patch 8x8" and bool(((s.explainer.kept_in > 0)
                                            & (s.explainer.kept_in < 0.5)).all())


def test_an_exact_gate_as_sound_scores_as_the_same_units_in_the_input():
    """Sounds are heard at their clip's level, so a sonifier that multiplies the signal by the
    0/1 map, no fades, gives the model exactly the masked input: any difference between a
    sonifier and the input reference is the sonifier's own doing. At a sound's own level the
    few kept blocks would be divided by 0.001 (their 95th percentile is 0)."""

    class Gate(KeepPositive):
        def render(self, waveform, relevance, representation):
            return waveform * (relevance[:, 0] > 0)

    model, signals = WindowNet(), speech_like(6)
    x = waveform_input(signals)
    target = model(x).argmax(1)
    relevance = occlusion_effect(model, x)
    args = (model, signals, x, target, relevance, "waveform")
    settings = dict(fractions=(0.05, 0.2), controls=2, seed=3)
    sound = score_matched_masks(Gate(name="gate"), *args, **settings)
    masked = score_matched_masks(None, *args, **settings)
    for scores in ("explainer", "random", "amplitude"):
        a, b = getattr(sound, scores), getattr(masked, scores)
        assert torch.allclose(a.p_in, b.p_in, atol=1e-6)
        assert torch.allclose(a.p_out, b.p_out, atol=1e-6)
    assert torch.allclose(sound.sufficiency_gain(), masked.sufficiency_gain(), atol=1e-6)


def test_versus_input_is_the_sonified_gain_minus_the_same_units_in_the_input():
    metrics = _by_name(fractions=(0.05, 0.2), controls=2)
    shared: dict = {}
    batch = waveform_batch(occlusion_effect, 12, shared=shared)
    for quantity in ("sufficiency", "comprehensiveness"):
        gain = metrics[f"sonified-{quantity}-gain"].score(batch)
        versus = metrics[f"sonified-{quantity}-vs-input"].score(batch)
        assert torch.allclose(versus.extras["gain/sonified"], gain.scores)
        assert torch.allclose(versus.scores,
                              versus.extras["gain/sonified"] - versus.extras["gain/input"])
        assert versus.extras["gain/input"].mean() > 0.25  # the oracle's units carry the class
        assert versus.curves["gain/input"].shape == (12, 2)
        assert versus.info["reference"] == "model input" and not versus.info["ranked"]
    assert metrics["sonified-sufficiency-vs-input"].versus.startswith("the same units in the")

    class PlaysEverything(KeepPositive):
        """A sonifier that ignores the map: every sound is the signal, so it keeps nothing of
        what the units carry."""

        def render(self, waveform, relevance, representation):
            return waveform.clone()

    deaf = dataclasses.replace(batch, sonifier=PlaysEverything(name="plays-everything"))
    versus = metrics["sonified-sufficiency-vs-input"].score(deaf)
    assert versus.extras["gain/sonified"].abs().max() < 1e-12
    assert torch.allclose(versus.scores, -versus.extras["gain/input"])
    assert versus.scores.mean() < -0.25


def test_the_input_reference_is_computed_once_for_every_sonifier():
    """Its controls go through the shared dict under the model input's name, so a second
    sonifier on the same samples reuses them."""
    shared: dict = {}
    metric = _by_name(fractions=(0.2,), controls=2)["sonified-sufficiency-vs-input"]
    batch = waveform_batch(occlusion_effect, 6, shared=shared)
    a = metric.score(batch)
    keys = [k for k in shared if k[0] == "sonified-controls" and k[1] == INPUT]
    assert len(keys) == 1
    b = metric.score(dataclasses.replace(batch, sonifier=SpectrogramMask(name="spectrogram-mask")))
    assert [k for k in shared if k[0] == "sonified-controls" and k[1] == INPUT] == keys
    assert torch.equal(a.extras["gain/input"], b.extras["gain/input"])
    assert not torch.equal(a.extras["gain/sonified"], b.extras["gain/sonified"])
    # the explainer's own input scores too: once per relevance, for every sonifier
    other = dataclasses.replace(batch, sonifier=SpectrogramMask(name="spectrogram-mask"))
    assert metric.scores(other, in_input=True) is metric.scores(batch, in_input=True)
    changed = dataclasses.replace(batch, relevance=-batch.relevance)  # another explainer's map
    assert metric.scores(changed, in_input=True) is not metric.scores(batch, in_input=True)
    assert not torch.equal(metric.score(changed).extras["gain/input"], a.extras["gain/input"])
