"""The meta-evaluation: reference maps, the pass/fail logic on metrics built to pass and to
fail, and the references ordered on a toy model whose decision depends only on a known region."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from audioxai_bench.api.metric import BaseMetric, EvalBatch, MetricOutput
from audioxai_bench.builtin.metrics_localisation import roc_auc
from audioxai_bench.evaluation.meta import (
    REFERENCES,
    SIGNED,
    check_metrics,
    reference_maps,
    references_of,
    reliability,
    uncheckable,
)
from audioxai_bench.plugins import PluginManager
from audioxai_bench.stats import (
    Clustered,
    clustered_interval,
    directed_p,
    holm,
    unit_differences,
)


@pytest.fixture(scope="module")
def pm() -> PluginManager:
    return PluginManager(entrypoints=False, strict=True)


def test_reference_maps_are_built_from_the_mask_and_seeded():
    mask = torch.zeros(3, 1, 50, dtype=torch.bool)
    mask[:, :, 10:20] = True
    maps = reference_maps(mask, seed=4)
    assert list(maps) == [*REFERENCES, SIGNED]
    assert torch.equal(maps["oracle"], mask.float())
    assert torch.equal(maps["inverted"], 1 - mask.float())
    assert ((maps["random"] >= -1) & (maps["random"] < 1)).all() and maps["random"].min() < 0
    # one noise field per sample, scaled: neighbouring levels differ only in sigma
    torch.testing.assert_close(maps["noisy-2"] - maps["oracle"],
                               8 * (maps["noisy-0.25"] - maps["oracle"]))
    again = reference_maps(mask, seed=4)
    assert all(torch.equal(maps[k], again[k]) for k in maps)
    assert not torch.equal(reference_maps(mask, seed=5)["noisy-1"], maps["noisy-1"])
    # the signed oracle: the oracle's weight, a random sign per unit, about half negative
    assert torch.equal(maps[SIGNED].abs(), maps["oracle"])
    assert 0.3 < (maps[SIGNED] < 0).sum() / mask.sum() < 0.7


# --- the verdict on constructed scores --------------------------------------------------------

QUALITY = np.array([1.0, 0.8, 0.6, 0.4, 0.2, 0.0, -1.0])  # best to worst, one per reference


def clustered(scores: np.ndarray) -> Clustered:
    n = scores.shape[1]
    return Clustered(scores, np.zeros(n, dtype=int), np.arange(n))


def noisy_scores(means: np.ndarray, n: int = 30, spread: float = 0.02) -> np.ndarray:
    rng = np.random.default_rng(0)
    return means[:, None] + spread * rng.normal(size=(len(means), n))


def test_a_metric_that_orders_every_step_passes():
    verdict = reliability(clustered(noisy_scores(QUALITY)))
    assert verdict.verdict == "pass" and not verdict.failing
    assert [s.verdict for s in verdict.steps] == ["ordered"] * 7
    assert verdict.margin.difference == pytest.approx(0.2, abs=0.02)
    assert verdict.margin.interval[0] > 0


def test_a_metric_that_prefers_the_inverted_map_fails_naming_the_reversed_steps():
    verdict = reliability(clustered(noisy_scores(-QUALITY)))
    assert verdict.verdict == "fail"
    assert verdict.failing[0].verdict == "reversed"
    assert {(s.better, s.worse) for s in verdict.failing} >= {("random", "inverted"),
                                                               ("oracle", "random")}
    assert verdict.margin.difference < 0


def test_the_smallest_step_is_one_with_a_difference_not_an_undefined_one():
    """noisy-0.25 undefined on every clip: its steps have no difference, and NaN, read as
    -inf, was "the smallest step" ("+nan [+nan, +nan]" in the table) over a reversed one."""
    scores = noisy_scores(QUALITY)
    scores[1] = np.nan
    scores[3] = scores[2] + 0.3  # noisy-1 above noisy-0.5
    verdict = reliability(clustered(scores))
    assert np.isnan(verdict.steps[0].difference) and verdict.verdict == "fail"
    assert (verdict.margin.better, verdict.margin.worse) == ("noisy-0.5", "noisy-1")
    assert verdict.margin.difference == pytest.approx(-0.3)
    assert reliability(clustered(np.full((7, 30), np.nan))).margin is None


def test_lower_is_better_flips_the_direction():
    assert reliability(clustered(noisy_scores(-QUALITY)), higher_is_better=False).verdict == \
        "pass"


def test_a_metric_blind_to_the_map_fails_with_every_step_tied():
    verdict = reliability(clustered(noisy_scores(np.zeros(7))))
    assert verdict.verdict == "fail"
    assert {s.verdict for s in verdict.steps} == {"tied"}


def test_a_reference_scored_on_fewer_clips_is_compared_on_the_clips_both_scored():
    """The oracle undefined on the low clip of each speaker, every reference scoring alike on
    every clip: its unit means lay 1 above the others' on every speaker, and the step read
    ordered."""
    x = np.repeat(np.random.default_rng(0).normal(0, 0.1, 15), 2) + np.tile([1.0, -1.0], 15)
    scores = np.tile(x, (len(REFERENCES), 1))
    scores[0, 1::2] = np.nan
    verdict = reliability(Clustered(scores, np.zeros(30, dtype=int), np.arange(30) // 2))
    assert verdict.steps[0].verdict == "tied" and verdict.steps[0].p == 1.0


def test_a_step_is_ordered_or_reversed_only_where_the_test_leans_that_way():
    """Oracle above noisy-0.25 on 29 of 30 speakers by a little, far below on one: the means
    read it reversed at a two-sided p of 4e-6."""
    scores = noisy_scores(QUALITY)
    scores[1] = scores[0] - np.r_[0.01 + 0.001 * np.arange(29), -1.0]
    step = reliability(clustered(scores)).steps[0]
    assert step.difference < 0 and step.verdict == "tied" and step.p == 1.0


def test_random_and_inverted_tied_is_partial_not_fail():
    means = QUALITY.copy()
    means[-1] = means[-2]  # a metric that cannot tell a random map from an anti-localised one
    scores = noisy_scores(means)
    scores[-1] = scores[-2]
    verdict = reliability(clustered(scores))
    assert verdict.verdict == "partial"
    assert [(s.better, s.worse) for s in verdict.failing] == [("random", "inverted")]


def test_a_saturated_top_is_partial_and_names_the_unresolved_step():
    means = QUALITY.copy()
    means[1] = means[0]  # oracle and the least noisy oracle score alike
    scores = noisy_scores(means)
    scores[1] = scores[0]
    verdict = reliability(clustered(scores))
    assert verdict.verdict == "partial"
    assert [(s.better, s.worse, s.verdict) for s in verdict.failing] == [
        ("oracle", "noisy-0.25", "tied")]


def test_one_step_reversed_fails_even_when_the_ends_are_in_order():
    means = QUALITY.copy()
    means[2], means[3] = means[3], means[2]  # noisier scores better than less noisy
    verdict = reliability(clustered(noisy_scores(means)))
    assert verdict.verdict == "fail"
    assert [(s.better, s.worse) for s in verdict.failing if s.verdict == "reversed"] == [
        ("noisy-0.5", "noisy-1")]


def test_speakers_are_the_units_of_the_tests():
    scores = noisy_scores(QUALITY, n=30)
    by_clip = reliability(Clustered(scores, np.zeros(30, dtype=int), np.arange(30)))
    by_speaker = reliability(Clustered(scores, np.zeros(30, dtype=int), np.arange(30) // 10))
    assert by_clip.units == 30 and by_speaker.units == 3
    # 3 speakers cannot reach p < 0.05 with Wilcoxon (the smallest p is 0.25): nothing ordered
    assert by_speaker.verdict == "fail" and by_clip.verdict == "pass"


def test_on_speaker_level_classes_steps_are_resampled_and_tested_within_each_class():
    """On the sex task the leaderboard resamples speakers within their class and ranks the
    differences within each (van Elteren): a step's interval and test do the same, not those
    of an unstratified sample (its interval was widened for one stratum, not two)."""
    n = 24
    scores = noisy_scores(QUALITY, n=n, spread=0.2)
    speakers = np.arange(n) // 2
    data = Clustered(scores, np.zeros(n, dtype=int), speakers, speakers % 2)
    assert data.n_strata == 2 and data.n_groups == 1
    verdict = reliability(data)
    oracle_minus_noisy = Clustered(scores[:1] - scores[1:2], data.group, speakers, speakers % 2)
    (low, high), = clustered_interval(oracle_minus_noisy)
    assert verdict.steps[0].interval == pytest.approx((low, high))
    pairs = [(s.better, s.worse) for s in verdict.steps]
    names = list(REFERENCES)

    def raw_p(strata):
        return [directed_p(unit_differences(data, names.index(a), names.index(b)),
                           data.means()[names.index(a)] - data.means()[names.index(b)], strata)
                for a, b in pairs]

    assert holm(raw_p(None))[0] != holm(raw_p(data.unit_strata()))[0]
    assert [s.p for s in verdict.steps] == pytest.approx(list(holm(raw_p(data.unit_strata()))))


def with_signed(scores: np.ndarray, signed: float) -> np.ndarray:
    """``scores`` of :data:`REFERENCES` and a last row of the signed oracle at mean ``signed``."""
    return np.vstack([scores, noisy_scores(np.array([signed]))])


def test_the_signed_oracle_must_score_above_the_least_noisy_oracle():
    scores = noisy_scores(QUALITY)
    where = reliability(clustered(with_signed(scores, QUALITY[0])))  # scored as the oracle
    assert where.verdict == "pass" and where.means[SIGNED] == pytest.approx(1.0, abs=0.01)
    assert (where.steps[-1].better, where.steps[-1].worse) == (SIGNED, "noisy-0.25")
    # a metric that reads the sign: the half of the evidence with negative relevance ranks
    # below the rest, the signed oracle scores at chance (0 here, with random)
    sign = reliability(clustered(with_signed(scores, QUALITY[-2])))
    assert sign.verdict == "fail"
    assert [(s.better, s.worse) for s in sign.failing] == [(SIGNED, "noisy-0.25")]
    assert reliability(clustered(scores)).verdict == "pass"  # without it: as before


def test_reliability_needs_one_row_per_reference():
    with pytest.raises(ValueError, match="7 references"):
        reliability(clustered(np.zeros((3, 10))))


# --- metrics on a toy model that reads only a known region -----------------------------------

REGION = slice(2000, 3000)


class RegionNet(nn.Module):
    """Linear in samples 2000-2999 of a waveform and blind to the rest: the evidence is there."""

    def __init__(self) -> None:
        super().__init__()
        weight = torch.randn(2, 1000, generator=torch.Generator().manual_seed(3))
        self.register_buffer("weight", weight / 10)

    def forward(self, x: Tensor) -> Tensor:
        return x[:, 0, REGION] @ self.weight.T


def region_batch(n: int = 32) -> EvalBatch:
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(n, 1, 8000)
    x[:, 0, 500:7500] = torch.randn(n, 7000, generator=g) * (1 + torch.rand(n, 1, generator=g))
    model = RegionNet().eval()
    gt = torch.zeros_like(x, dtype=torch.bool)
    gt[:, :, REGION] = True
    with torch.no_grad():
        target = model(x).argmax(dim=1)
    return EvalBatch(model=model, x=x, target=target, relevance=torch.zeros_like(x),
                     representation="waveform", ground_truth=gt, seed=1)


def test_on_a_model_that_reads_only_the_region_the_references_are_ordered(pm):
    names = ["faithfulness-gap", "relevance-mass-accuracy", "relevance-rank-accuracy",
             "pointing-game", "relevance-auc", "runtime"]
    verdicts = check_metrics([pm.metrics.get(n) for n in names], region_batch())
    assert "runtime" not in verdicts  # it times the method: not checkable on maps
    for name in ("relevance-mass-accuracy", "relevance-rank-accuracy", "relevance-auc"):
        assert verdicts[name].verdict == "pass", (name, [str(s) for s in verdicts[name].steps])
        # the evidence with a random sign per unit scores as the evidence itself
        assert verdicts[name].means[SIGNED] == verdicts[name].means["oracle"] == 1.0
    assert SIGNED not in verdicts["faithfulness-gap"].means
    # deletion ranks 10 ms blocks by their mean relevance: the oracle and its noisy copies
    # order them alike, so the noise steps stay unresolved, but the coarse order holds
    gap = verdicts["faithfulness-gap"]
    steps = {(s.better, s.worse): s.verdict for s in gap.steps}
    assert steps["oracle", "random"] == steps["random", "inverted"] == "ordered"
    assert gap.verdict in ("pass", "partial"), [str(s) for s in gap.failing]
    # the pointing game saturates: the least noisy oracle hits as surely as the oracle
    pointing = verdicts["pointing-game"]
    assert pointing.means["oracle"] == pointing.means["noisy-0.25"] == 1.0
    assert pointing.verdict == "partial"
    assert ("oracle", "noisy-0.25", "tied") in [(s.better, s.worse, s.verdict)
                                                for s in pointing.failing]


@dataclasses.dataclass(frozen=True, kw_only=True)
class SignedAuc(BaseMetric):
    """ROC-AUC of the signed relevance against the evidence, as relevance-auc read it before."""

    needs: frozenset[str] = frozenset({"ground_truth"})

    def score(self, batch: EvalBatch) -> MetricOutput:
        return MetricOutput(scores=roc_auc(batch.relevance.flatten(1).double(),
                                           batch.ground_truth.flatten(1)))


def test_a_localisation_metric_that_reads_the_sign_fails_on_the_signed_oracle(pm):
    verdict = check_metrics([SignedAuc(name="signed-auc", higher_is_better=True)],
                            region_batch())["signed-auc"]
    # it orders every reference of the chain, as the metrics that read |R| do ...
    assert all(s.verdict == "ordered" for s in verdict.steps[:-1]), [str(s) for s in
                                                                       verdict.steps]
    # ... but the evidence with half its units negative scores chance
    assert verdict.means[SIGNED] == pytest.approx(0.5, abs=0.02)
    assert verdict.verdict == "fail"
    assert [(s.better, s.worse, s.verdict) for s in verdict.failing] == [
        (SIGNED, "noisy-0.25", "reversed")]


def test_only_the_metrics_that_read_the_ground_truth_score_the_signed_oracle(pm):
    assert references_of(pm.metrics.get("pointing-game")) == (*REFERENCES, SIGNED)
    # deletion reads the sign by design (a negative unit speaks against the class)
    assert references_of(pm.metrics.get("faithfulness-gap")) == REFERENCES


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrefersInverted(BaseMetric):
    """A broken metric: relevance mass *outside* the evidence."""

    needs: frozenset[str] = frozenset({"ground_truth"})

    def score(self, batch: EvalBatch) -> MetricOutput:
        rel = batch.relevance.flatten(1).clamp_min(0)
        outside = (rel * ~batch.ground_truth.flatten(1)).sum(1)
        return MetricOutput(scores=outside / rel.sum(1).clamp_min(1e-12))


def test_a_metric_built_to_prefer_the_inverted_map_fails(pm):
    verdicts = check_metrics([PrefersInverted(name="prefers-inverted", higher_is_better=True)],
                             region_batch())
    verdict = verdicts["prefers-inverted"]
    assert verdict.verdict == "fail"
    assert ("random", "inverted") in {(s.better, s.worse) for s in verdict.failing
                                      if s.verdict == "reversed"}


def test_method_and_descriptive_metrics_are_not_checkable(pm):
    assert uncheckable(pm.metrics.get("runtime")) and uncheckable(
        pm.metrics.get("model-randomisation"))
    assert "ranked: false" in uncheckable(pm.metrics.get("gini"))
    assert uncheckable(pm.metrics.get("faithfulness-gap")) is None
    assert uncheckable(pm.metrics.get("pointing-game")) is None
