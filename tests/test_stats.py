"""Uncertainty helpers, rank correlation, and how metric outputs merge and summarise."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from audioxai_bench.api.metric import MetricOutput
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.summary import merge_outputs, summarize
from audioxai_bench.stats import bootstrap_ci, paired_test, rank_data, spearman, wilson_interval


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_more_samples():
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 30), rng.normal(1.0, 1.0, 3000)
    a, b = bootstrap_ci(small), bootstrap_ci(large)
    assert a.low < a.mean < a.high and b.low < b.mean < b.high
    assert (b.high - b.low) < (a.high - a.low) / 5
    assert b.low < 1.0 < b.high
    # about 1.96 standard errors each side
    assert (b.high - b.low) / 2 == pytest.approx(1.96 * large.std() / np.sqrt(3000), rel=0.1)
    assert bootstrap_ci(small, seed=3) == bootstrap_ci(small, seed=3)


def test_bootstrap_skips_nan_and_handles_degenerate_input():
    est = bootstrap_ci(torch.tensor([1.0, float("nan"), 3.0, 2.0]))
    assert est.n == 3 and est.mean == pytest.approx(2.0)
    constant = bootstrap_ci([0.5] * 10)
    assert constant.low == constant.high == constant.mean == 0.5
    empty = bootstrap_ci([float("nan")])
    assert empty.n == 0 and np.isnan(empty.mean)


@pytest.mark.parametrize("test", ["wilcoxon", "bootstrap"])
def test_paired_test_detects_a_shift_and_not_noise(test):
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, 200)
    better = base + 0.3 + rng.normal(0, 0.1, 200)
    result = paired_test(better, base, test=test)
    assert result.p_value < 0.01 and result.low > 0 and result.n == 200
    assert result.mean_diff == pytest.approx(0.3, abs=0.03)
    same = paired_test(base, base.copy(), test=test)
    assert same.p_value == 1.0 and same.mean_diff == 0.0
    noise = paired_test(base + rng.normal(0, 0.1, 200), base, test=test)
    assert noise.p_value > 0.01 and noise.low < 0 < noise.high


def test_paired_test_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="one shape"):
        paired_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="valid: wilcoxon, bootstrap"):
        paired_test([1.0], [2.0], test="t")


def test_rank_data_and_spearman_match_scipy():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (4, 50), generator=g).float()  # many ties
    b = a + torch.randn(4, 50, generator=g)
    expected_ranks = np.stack([sps.rankdata(row) - 1 for row in a.numpy()])
    assert np.allclose(rank_data(a).numpy(), expected_ranks)
    expected = [sps.spearmanr(x, y).statistic for x, y in zip(a.numpy(), b.numpy())]
    assert np.allclose(spearman(a, b).numpy(), expected)
    assert spearman(a[:, None, :], (-a)[:, None, :]).tolist() == pytest.approx([-1.0] * 4)


def test_spearman_of_constant_maps():
    ones, varying = torch.ones(2, 10), torch.arange(20.0).view(2, 10)
    assert spearman(ones, ones).tolist() == [1.0, 1.0]
    assert spearman(ones, varying).tolist() == [0.0, 0.0]


def test_merge_and_summarize_outputs():
    grid = torch.tensor([0.0, 0.5])
    first = MetricOutput(scores=torch.tensor([1.0, 2.0]), curves={"c": torch.ones(2, 2)},
                         grid=grid, extras={"e": torch.zeros(2)}, info={"unit": "x"})
    second = MetricOutput(scores=torch.tensor([3.0]), curves={"c": torch.zeros(1, 2)},
                          grid=grid, extras={"e": torch.ones(1)}, info={"unit": "x"})
    merged = merge_outputs([first, second])
    assert merged.scores.tolist() == [1.0, 2.0, 3.0] and len(merged) == 3
    assert merged.scores.dtype == torch.float64

    class Metric:
        name, higher_is_better = "m", True

        def summarize(self, output):
            return {"max": float(output.scores.max())}

    record = summarize(Metric(), merged)
    assert record["value"] == pytest.approx(2.0) and record["n"] == 3
    assert record["ci"][0] <= 2.0 <= record["ci"][1]
    assert record["grid"] == [0.0, 0.5] and record["curves"]["c"] == pytest.approx([2 / 3] * 2)
    assert record["extras"]["e"]["value"] == pytest.approx(1 / 3)
    assert record["summary"] == {"max": 3.0} and record["info"] == {"unit": "x"}
    with pytest.raises(AudioXaiError, match="different grids"):
        merge_outputs([first, MetricOutput(scores=torch.tensor([3.0]),
                                           curves={"c": torch.zeros(1, 3)},
                                           grid=torch.zeros(3), extras={"e": torch.ones(1)})])
    with pytest.raises(AudioXaiError, match="curves have"):
        MetricOutput(scores=torch.zeros(2), curves={"c": torch.zeros(2, 3)}, grid=grid)


def test_wilson_interval_matches_the_textbook_value_and_stays_in_range():
    low, high = wilson_interval(0.9, 100)
    assert (round(low, 4), round(high, 4)) == (0.8256, 0.9448)  # Wilson 1927, z = 1.96
    assert wilson_interval(1.0, 20)[1] == 1.0 and wilson_interval(0.0, 20)[0] == 0.0
    assert wilson_interval(1.0, 20)[0] > 0.8
    assert all(math.isnan(v) for v in wilson_interval(0.5, 0))
