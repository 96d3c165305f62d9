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
from audioxai_bench.stats import (
    bootstrap_ci,
    clustered_wilson,
    rank_data,
    spearman,
    wilson_interval,
)


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
    for k, n in ((0, 7), (3, 7), (41, 48), (48, 48)):  # whole counts: scipy's own Wilson
        ci = sps.binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert wilson_interval(k / n, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


# --- verdicts over clustered, paired samples ---------------------------------------------------


def clustered(scores, speakers_per_model=(12, 12), clips_per_speaker=4):
    from audioxai_bench.stats import Clustered

    group = np.repeat(np.arange(len(speakers_per_model)),
                      [s * clips_per_speaker for s in speakers_per_model])
    cluster = np.concatenate([np.repeat(np.arange(s) + 100 * g, clips_per_speaker)
                              for g, s in enumerate(speakers_per_model)])
    return Clustered(np.asarray(scores, dtype=float), group, cluster)


def test_holm_adjusts_step_down_and_keeps_order():
    from audioxai_bench.stats import holm

    assert np.allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    assert np.allclose(holm([0.5]), [0.5]) and holm([0.9, 0.9]).max() == 1.0


def test_clustered_mean_is_the_mean_of_model_means():
    data = clustered(np.r_[np.zeros(48), np.ones(16)][None], speakers_per_model=(12, 4))
    assert data.means()[0] == pytest.approx(0.5)  # not 16/64: each model counts once


def test_clustered_interval_is_wider_than_an_iid_one_when_speakers_differ():
    from audioxai_bench.stats import clustered_interval

    rng = np.random.default_rng(1)
    speaker_effect = np.repeat(rng.normal(0, 1, 24), 4)
    data = clustered((speaker_effect + rng.normal(0, 0.1, 96))[None])
    low, high = clustered_interval(data)[0]
    iid = bootstrap_ci(data.scores[0])
    assert (high - low) > 1.5 * (iid.high - iid.low)
    assert low < data.means()[0] < high


def test_clustered_interval_keeps_its_coverage_with_few_speakers():
    """One model, 12 test speakers (a ground-truth panel): the plain percentile interval of a
    cluster bootstrap covers the true mean ~91 % of the time; the widened one ~95 %."""
    from audioxai_bench.stats import Clustered, clustered_interval, small_sample_factor

    rng = np.random.default_rng(0)
    group, cluster = np.zeros(48, int), np.repeat(np.arange(12), 4)
    covered = plain = 0
    trials = 800
    for trial in range(trials):
        data = Clustered(rng.standard_normal(48)[None], group, cluster)
        (low, high), = clustered_interval(data, n_resamples=1000, seed=trial)
        covered += low <= 0 <= high
        mean, k = data.means()[0], small_sample_factor(12, 1)
        plain += mean - (mean - low) / k <= 0 <= mean + (high - mean) / k
    assert covered / trials >= 0.925  # 0.934 (Monte Carlo SE 0.008)
    assert plain / trials <= covered / trials - 0.02  # 0.904: the same data, unwidened
    assert math.isnan(small_sample_factor(2, 2))  # one speaker per model: no interval


def sexes(n_speakers=12, clips_per_speaker=4):
    """One model's clips of ``n_speakers`` speakers, half of each class (the sex task's
    design: the class is the speaker's own)."""
    group = np.zeros(n_speakers * clips_per_speaker, int)
    cluster = np.repeat(np.arange(n_speakers), clips_per_speaker)
    return group, cluster, cluster % 2


def test_a_class_of_the_speakers_own_is_resampled_within_the_class():
    """The sex task's test speakers are half female, half male, and its mean is over that
    balanced sample: a resample of 5 men and 1 woman measures the mix, not the mean. Scores
    that differ only by class then leave no uncertainty at all."""
    from audioxai_bench.stats import Clustered, clustered_interval

    group, cluster, classes = sexes()
    by_class = np.where(classes == 0, 0.5, -0.3)[None]
    balanced = Clustered(by_class, group, cluster, classes)
    assert [c.tolist() for c in balanced.speaker_classes()] == [[0, 1] * 6]
    assert balanced.n_strata == 2 and balanced.unit_strata().tolist() == [0, 1] * 6
    assert np.allclose(balanced.bootstrap(200), 0.1)
    assert clustered_interval(balanced)[0] == pytest.approx([0.1, 0.1])
    mixed = Clustered(by_class, group, cluster)  # the same scores, classes not known
    low, high = clustered_interval(mixed)[0]
    assert mixed.n_strata == 1 and high - low > 0.3
    # a speaker explained for two classes (digits): speakers are resampled whole
    digits = classes.copy()
    digits[0] = 1
    assert Clustered(by_class, group, cluster, digits).speaker_classes() is None
    # a few digit clips of as many speakers: one speaker per class looks speaker-level by
    # chance; stratified, every class is one unresampleable speaker and the interval NaN
    few = Clustered(np.array([[0.3, 0.2, 0.4, 0.3, 0.25, 0.35]]), np.zeros(6, int),
                    np.arange(6), np.arange(6))
    assert few.speaker_classes() is None and few.n_strata == 1
    assert np.isfinite(clustered_interval(few)).all()


def test_the_interval_within_classes_keeps_its_coverage_where_the_pooled_one_overcovers():
    from audioxai_bench.stats import Clustered, clustered_interval

    rng = np.random.default_rng(0)
    group, cluster, classes = sexes()
    covered = pooled = 0
    trials = 300
    for trial in range(trials):
        speakers = np.where(np.arange(12) % 2 == 0, 1.0, -1.0) + 0.3 * rng.standard_normal(12)
        x = (np.repeat(speakers, 4) + 0.3 * rng.standard_normal(48))[None]
        (low, high), = clustered_interval(Clustered(x, group, cluster, classes), n_resamples=1000,
                                          seed=trial)
        covered += low <= 0 <= high
        (low, high), = clustered_interval(Clustered(x, group, cluster), n_resamples=1000,
                                          seed=trial)
        pooled += low <= 0 <= high
    assert covered / trials >= 0.9  # 0.927 (Monte Carlo SE 0.015)
    assert pooled / trials == 1.0  # about 3× wider: it measures how many of each sex were drawn


def test_the_test_within_classes_weighs_each_class_as_the_balanced_mean_does():
    from audioxai_bench.stats import paired_p

    rng = np.random.default_rng(3)
    strata = np.repeat([0, 1], 7)
    diff = np.r_[rng.normal(0.5, 0.3, 7), rng.normal(-0.1, 0.3, 7)]
    loud = diff * np.repeat([1.0, 1000.0], 7)  # one class on another scale
    assert paired_p(loud, strata) == pytest.approx(paired_p(diff, strata))
    assert paired_p(loud) != pytest.approx(paired_p(diff))  # pooled ranks: the loud class rules
    # one class: the usual signed-rank test; and it holds its level under the null
    assert paired_p(diff[:7], strata[:7]) == pytest.approx(paired_p(diff[:7]))
    rejected = sum(paired_p(np.r_[rng.normal(0, 0.01, 6), rng.normal(0, 10, 6)],
                            np.repeat([0, 1], 6)) < 0.05 for _ in range(300))
    assert rejected / 300 <= 0.07  # 0.047


def test_the_test_without_ties_is_exact_at_any_number_of_units():
    """As the docstring says; scipy's default turned to its normal approximation (without
    continuity correction) above 50 units: 0.0796 for an exact 0.0804 at 51."""
    from audioxai_bench.stats import paired_p

    diff = np.random.default_rng(1).normal(0.3, 1, 60)
    assert paired_p(diff) == pytest.approx(sps.wilcoxon(diff, method="exact").pvalue)
    assert paired_p(diff) != pytest.approx(sps.wilcoxon(diff, method="approx").pvalue)


def test_compare_ranks_only_what_the_data_separate():
    from audioxai_bench.stats import compare

    rng = np.random.default_rng(0)
    n = 96
    good = 0.5 + rng.normal(0, 0.1, n)
    same_a, same_b = rng.normal(0, 0.1, n), rng.normal(0, 0.1, n)
    verdict = compare(clustered([same_a, good, same_b]))
    assert verdict.ranks == [(2, 3), (1, 1), (2, 3)]
    assert verdict.better[1, 0] and verdict.better[1, 2] and not verdict.better[0, 2]
    assert verdict.p_adjusted[0, 2] > 0.05 > verdict.p_adjusted[1, 0]
    # the null method's interval holds 0; lower-is-better flips the order
    low, high = verdict.intervals[0]
    assert low < 0 < high
    assert compare(clustered([same_a, good, same_b]), higher_is_better=False).ranks[1] == (3, 3)


def test_compare_leaves_nan_methods_unranked_and_identical_methods_tied():
    from audioxai_bench.stats import compare

    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 96)
    verdict = compare(clustered([x, x.copy()]))
    assert verdict.ranks == [(1, 2), (1, 2)] and verdict.p_adjusted[0, 1] == 1.0


def test_a_method_without_a_mean_is_neither_ranked_nor_in_the_family():
    """A method whose every score is NaN read rank 1–3 and widened the others' ranks (1–2 and
    2–3 for a pair the tests separate); its two untestable pairs tripled Holm's multiplier."""
    from audioxai_bench.stats import compare, paired_p

    rng = np.random.default_rng(0)
    good, bad = 0.5 + rng.normal(0, 0.1, 96), rng.normal(0, 0.1, 96)
    verdict = compare(clustered([good, bad, np.full(96, np.nan)]))
    assert verdict.ranks == [(1, 1), (2, 2), None]
    units = clustered([good - bad]).unit_means()[0]
    assert verdict.p_adjusted[0, 1] == pytest.approx(paired_p(units))  # a family of one pair
    assert np.isnan(verdict.p_adjusted[2, :2]).all()


def test_a_pair_is_separated_only_where_the_test_leans_the_way_the_means_differ():
    """b above a on 23 of 24 units by a little, far below on one: the means put a first, the
    signed ranks b (two-sided p 9e-5); a was ranked distinguishably better than b."""
    from audioxai_bench.stats import compare, directed_p, paired_p

    units = np.r_[0.01 + 0.001 * np.arange(23), -1.0]
    a = np.random.default_rng(0).normal(0, 0.1, 96)
    b = a + np.repeat(units, 4)
    verdict = compare(clustered([a, b]))
    assert verdict.means[0] > verdict.means[1] and paired_p(units) < 1e-3
    assert verdict.p_adjusted[0, 1] == 1.0 and verdict.ranks == [(1, 2), (1, 2)]
    # where the two agree, the usual two-sided p
    assert directed_p(units, -0.1) == 1.0 and directed_p(units, 0.0) == 1.0
    assert directed_p(units, 0.1) == pytest.approx(paired_p(units))
    tied = np.round(units, 2)  # tied magnitudes: the permutation test, the same rule
    assert directed_p(tied, 0.1) == pytest.approx(paired_p(tied))


def test_compare_pairs_the_clips_both_methods_scored():
    """b equals a on every clip it scored and is undefined on the two hard clips of each
    speaker: the difference of unit means read b better on every unit (Holm p 1e-7)."""
    from audioxai_bench.stats import compare

    a = np.random.default_rng(0).normal(0.2, 0.1, 96)
    hard = np.tile([False, False, True, True], 24)
    a[hard] -= 0.3
    b = np.where(hard, np.nan, a)
    verdict = compare(clustered([a, b]))
    assert verdict.means[1] > verdict.means[0] + 0.1  # each mean over its own clips
    assert verdict.p_adjusted[0, 1] == 1.0 and verdict.ranks == [(1, 2), (1, 2)]


def test_clustered_wilson_counts_speakers_not_clips_where_errors_cluster():
    speakers = np.repeat(np.arange(6), 50)
    # independent clips (one per cluster): the plain Wilson interval
    hits = np.random.default_rng(0).random(300) < 0.9
    low, high, n_eff = clustered_wilson(hits, np.arange(300))
    # (the t quantile of 299 degrees of freedom widens it by a hair)
    assert n_eff == 300 and (low, high) == pytest.approx(wilson_interval(hits.mean(), 300),
                                                         abs=1e-3)
    # every clip right: between the 6 speakers and the 300 clips, k^(4/5) n^(1/5)
    low, high, n_eff = clustered_wilson(np.ones(300), speakers)
    assert n_eff == pytest.approx(6 * 50**0.2) and (low, high) == pytest.approx(
        wilson_interval(1.0, 6 * 50**0.2))
    assert 0.75 < low < wilson_interval(1.0, 300)[0] - 0.15
    # the errors all in one speaker: wider than 300 independent clips would give
    hits = np.ones(300)
    hits[:10] = 0
    low, high, n_eff = clustered_wilson(hits, speakers)
    plain = wilson_interval(hits.mean(), 300)
    assert 6 <= n_eff < 60 and low < plain[0] - 0.05 and low < hits.mean() < high
    assert np.isnan(clustered_wilson([], [])[0])


def test_clustered_wilson_more_hits_spread_alike_never_lower_the_lower_bound():
    """At fixed speakers, turning a miss into a hit, the misses one per speaker in turn or all
    in one speaker, never lowers the lower bound (nor the upper one; a hit that leaves the
    other misses more concentrated can: the design effect rises), and the size it reports is
    the one that gave the bound: the perfect score was [75.8 %, 100 %] for 480 clips of 12
    speakers, one miss [98.6 %, 100 %] (science audit 5, L1); errors one per speaker read
    narrower than one fewer (no Student's shrink where every speaker had the same
    proportion)."""
    for k, size in ((6, 50), (12, 40), (24, 12), (3, 10)):
        speakers = np.repeat(np.arange(k), size)
        spread = [(j % k) * size + j // k for j in range(min(3 * k + 1, k * size // 2))]
        for order in (spread, list(range(size))):  # one per speaker in turn; all in one
            bounds = []
            for misses in range(len(order) + 1):
                hits = np.ones(k * size)
                hits[order[:misses]] = 0
                bounds.append(clustered_wilson(hits, speakers)[:2])
                flipped = clustered_wilson(1 - hits, speakers)[:2]  # as many hits as misses
                assert flipped == pytest.approx((1 - bounds[-1][1], 1 - bounds[-1][0]))
            low, high = np.array(bounds).T  # by the number of misses, from none
            assert (np.diff(low) <= 1e-12).all() and (np.diff(high) <= 1e-12).all(), (k, size)
    speakers = np.repeat(np.arange(12), 40)
    perfect = clustered_wilson(np.ones(480), speakers)
    one_miss = clustered_wilson(np.r_[0.0, np.ones(479)], speakers)
    assert one_miss[2] == pytest.approx(perfect[2])  # both bounds are the boundary's
    assert one_miss[0] <= perfect[0] == pytest.approx(0.867, abs=1e-3)
    # from anywhere, every miss made a hit: never a lower lower bound
    rng = np.random.default_rng(3)
    for _ in range(50):
        hits = (rng.random(480) < rng.beta(3, 0.2, 12)[speakers]).astype(float)
        assert clustered_wilson(hits, speakers)[0] <= perfect[0] + 1e-12


def test_clustered_wilson_of_a_weighted_proportion():
    """Equal weights change nothing; unequal ones give the interval of the weighted mean."""
    rng = np.random.default_rng(0)
    hits, speakers = (rng.uniform(size=60) < 0.7).astype(float), np.repeat(np.arange(12), 5)
    assert clustered_wilson(hits, speakers, weights=np.full(60, 3.0)) == pytest.approx(
        clustered_wilson(hits, speakers))
    weights = np.where(speakers < 6, 1.0, 0.1)
    low, high, _ = clustered_wilson(hits, speakers, weights=weights)
    weighted = np.average(hits, weights=weights)
    assert low < weighted < high and (low, high) != pytest.approx(
        clustered_wilson(hits, speakers)[:2])
    assert clustered_wilson(np.ones(60), speakers, weights=weights) == pytest.approx(
        clustered_wilson(np.ones(60), speakers))  # the boundary: the weights do not move it


def test_clustered_wilson_covers_with_few_speakers():
    """Six speakers whose accuracies scatter (Beta around 85 %), 50 clips each: the variance
    from six clusters is noisy, so the interval takes Student's quantile (Korn & Graubard).
    With the normal one it covered 87 % (science audit 4, F2)."""
    rng = np.random.default_rng(0)
    speakers, truth, reps = np.repeat(np.arange(6), 50), 0.85, 400
    covered = 0
    for _ in range(reps):
        accuracy = rng.beta(truth * 5, (1 - truth) * 5, size=6)
        hits = rng.random(300) < accuracy[speakers]
        low, high, _ = clustered_wilson(hits, speakers)
        covered += low <= truth <= high
    assert covered / reps >= 0.91
