"""Frequency-band tests beyond amplitude, and the paper's low-band hypothesis as a directional
test (review M6)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from audioxai_bench.api.explainer import amplitude_of
from audioxai_bench.api.metric import EvalBatch
from audioxai_bench.builtin.metrics_bands import band_means, partial_spearman
from audioxai_bench.data.preprocess import spectrogram_input
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.summary import summarize
from audioxai_bench.plugins import PluginManager

from .toys import LowRowsNet, tones


def residual_partial(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Partial rank correlation the long way: Pearson of the residuals of ranks regressed on z."""
    rx, ry, rz = (np.argsort(np.argsort(v)).astype(float) for v in (x, y, z))
    design = np.stack([np.ones_like(rz), rz], axis=1)
    res = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in (rx, ry)]
    return float(np.corrcoef(*res)[0, 1])


def test_partial_spearman_equals_the_residual_computation_and_is_0_for_a_copy_of_z():
    g = np.random.default_rng(0)
    x, y, z = g.normal(size=(3, 4, 10))
    y = y + x + z  # related to both
    got = partial_spearman(*(torch.from_numpy(v) for v in (x, y, z)))
    expected = [residual_partial(x[i], y[i], z[i]) for i in range(4)]
    assert got.tolist() == pytest.approx(expected, abs=1e-9)
    same = partial_spearman(torch.from_numpy(z), torch.from_numpy(y), torch.from_numpy(z) * 3)
    assert same.tolist() == [0.0] * 4


def test_band_means_average_the_rows_of_each_band():
    values = torch.zeros(1, 1, 227, 5)
    values[0, 0, :8] = 2.0  # rows 0-7: 0-123 Hz, the whole first band of (0, 125, 250, 4000)
    assert band_means(values, (0, 125, 250, 4000)).tolist() == [[2.0, 0.0, 0.0]]


def metrics():
    pm = PluginManager(entrypoints=False)
    return {n: pm.metrics.get(n) for n in ("frequency-bands-beyond-amplitude",
                                           "low-band-relevance", "frequency-bands")}


def batch_of(relevance_of, shared=None):
    model = LowRowsNet()
    # The band the toy needs (150 Hz) is quieter than another (1500 or 2500 Hz), so that
    # loudness alone does not say where the damage is.
    signals = 0.3 * tones([150], 8) + torch.cat([tones([1500], 4, seed=1),
                                                 tones([2500], 4, seed=2)])
    x = spectrogram_input(signals)
    target = model(x).argmax(1)
    return EvalBatch(model=model, x=x, target=target, relevance=relevance_of(x),
                     representation="spectrogram", signals=signals, chunk_size=40,
                     shared=shared)


def low_rows(x, rows=slice(0, 18)):
    r = torch.zeros_like(x)
    r[:, :, rows] = 1.0
    return r


def test_the_right_band_beats_loudness_and_a_loudness_map_scores_zero():
    m = metrics()
    beyond, low = m["frequency-bands-beyond-amplitude"], m["low-band-relevance"]
    right = beyond.score(batch_of(low_rows))
    loud = beyond.score(batch_of(amplitude_of))
    wrong = beyond.score(batch_of(lambda x: low_rows(x, slice(100, 150))))
    assert bool((right.scores > 0.3).all())
    assert loud.scores.eq(0).all()  # ranks bands exactly as their level does
    assert bool((wrong.scores < right.scores - 0.3).all())
    assert bool((right.extras["gain-over-amplitude"] > 0).all())
    assert torch.equal(loud.extras["spearman"], loud.extras["amplitude/spearman"])
    summary = summarize(beyond, right)["summary"]
    assert summary["partial_spearman"]["supported"]
    assert summary["gain_over_amplitude"]["ci"][0] > 0
    run = summary["run_level_spearman"]
    assert run["ci"][0] <= run["value"] <= run["ci"][1]
    # The directional hypothesis: all of the right map's relevance is below 500 Hz.
    hyp = low.score(batch_of(low_rows))
    assert torch.allclose(hyp.extras["relevance-share"], torch.ones(8, dtype=torch.float64))
    assert bool((hyp.scores > 0.3).all())
    record = summarize(low, hyp)
    verdict = record["summary"]
    # the record keeps each clip's damage (the leaderboard resamples speakers of it), and
    # only that extra's
    damage = hyp.extras["damage-low-minus-high"]
    assert record["extras"]["damage-low-minus-high"]["scores"] == pytest.approx(
        damage.tolist(), rel=1e-6)
    assert "scores" not in record["extras"]["relevance-share"]
    assert verdict["relevance_beyond_amplitude"]["supported"]
    assert verdict["damage_low_minus_high"]["supported"]  # the toy needs 0-300 Hz
    against = summarize(low, low.score(batch_of(lambda x: low_rows(x, slice(100, 150)))))
    assert not against["summary"]["relevance_beyond_amplitude"]["supported"]
    assert hyp.info["rows_share"] == pytest.approx(29 / 227)  # rows 0-28 lie below 500 Hz


def test_a_clip_no_band_removal_moves_scores_nan_not_zero():
    """A saturated model: no removal changes the log-probability, so the correlations are
    undefined; as 0 they pulled the sex · AlexNet means halfway to 0."""

    class Deaf(LowRowsNet):
        def forward(self, x):
            return super().forward(x) * 0 + torch.tensor([0.0, 30.0])

    m = metrics()
    batch = dataclasses.replace(batch_of(low_rows), model=Deaf())
    for name in ("frequency-bands-beyond-amplitude", "frequency-bands"):
        out = m[name].score(batch)
        assert out.scores.isnan().all(), name
    beyond = m["frequency-bands-beyond-amplitude"].score(batch)
    assert beyond.extras["gain-over-amplitude"].isnan().all()
    assert summarize(m["frequency-bands-beyond-amplitude"], beyond)["n"] == 0
    assert not m["frequency-bands"].score(batch_of(low_rows)).scores.isnan().any()


def test_the_three_band_metrics_share_one_set_of_removals():
    shared: dict = {}
    calls = []
    batch = batch_of(low_rows, shared=shared)
    forward = batch.model.forward
    batch.model.forward = lambda inputs: calls.append(len(inputs)) or forward(inputs)
    for metric in metrics().values():
        metric.score(batch)
    assert sum(calls) == 8 * (1 + 10)


def test_band_metrics_register_with_their_rank_status_and_check_the_split():
    m = metrics()
    assert m["frequency-bands-beyond-amplitude"].ranked is True
    assert m["low-band-relevance"].ranked is False and m["frequency-bands"].ranked is False
    for metric in m.values():
        assert metric.representations == {"spectrogram"} and metric.needs == {"signals"}
    with pytest.raises(AudioXaiError, match="split_hz 600 must be an inner band edge"):
        dataclasses.replace(m["low-band-relevance"], split_hz=600.0)
