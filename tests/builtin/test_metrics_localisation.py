"""The localisation metrics: formulas pinned on hand-computed maps, ties and empty maps, the
contract, and the skip where a batch has no ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from audioxai_bench.api.metric import EvalBatch
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.summary import summarize
from audioxai_bench.plugins import PluginManager
from audioxai_bench.stats import wilson_interval
from audioxai_bench.testing import check_metric, tiny_models, toy_batch, toy_ground_truth


@pytest.fixture(scope="module")
def pm() -> PluginManager:
    return PluginManager(entrypoints=False, strict=True)


NAMES = ("relevance-mass-accuracy", "relevance-rank-accuracy", "pointing-game", "relevance-auc")


def scores(pm, name: str, relevance: list[list[float]], mask: list[list[int]]) -> list[float]:
    """The metric's per-sample scores on ``(B, N)`` maps laid out as waveforms ``(B, 1, N)``."""
    rel = torch.tensor(relevance, dtype=torch.float32)[:, None]
    gt = torch.tensor(mask, dtype=torch.bool)[:, None]
    batch = EvalBatch(model=torch.nn.Identity(), x=torch.zeros_like(rel),
                      target=torch.zeros(len(rel), dtype=torch.long), relevance=rel,
                      representation="waveform", ground_truth=gt)
    return pm.metrics.get(name).score(batch).scores.tolist()


# map [3, -1, 2, 0, 1, 0] with the evidence on units 0 and 4; rank, pointing game and AUC read
# |R| = [3, 1, 2, 0, 1, 0], mass the positive part [3, 0, 2, 0, 1, 0]:
#  mass: positive relevance 3 + 2 + 1 = 6, inside 3 + 1 = 4            -> 2/3
#  rank: the 2 largest |R| are units 0 (3) and 2 (2); one is inside     -> 1/2
#  pointing: the maximum (3) is unit 0, inside                          -> hit
#  AUC: inside {3, 1} vs outside {1, 2, 0, 0}: 3 beats all 4, 1 beats the two 0s and ties
#       the 1 (a half)                                                  -> 6.5 / 8
MAP, MASK = [3, -1, 2, 0, 1, 0], [1, 0, 0, 0, 1, 0]
EXPECTED = {"relevance-mass-accuracy": 2 / 3, "relevance-rank-accuracy": 0.5,
            "pointing-game": 1.0, "relevance-auc": 6.5 / 8}
READS = {"relevance-mass-accuracy": "positive part", "relevance-rank-accuracy": "absolute",
         "pointing-game": "absolute", "relevance-auc": "absolute"}


@pytest.mark.parametrize("name", NAMES)
def test_formulas_on_a_hand_computed_map(pm, name):
    assert scores(pm, name, [MAP], [MASK]) == pytest.approx([EXPECTED[name]])


# the evidence on units 0-3 with relevance of alternating sign, as a waveform map's follows the
# oscillation of a tone burst, and silence (0) elsewhere: every unit with weight is inside
OSCILLATING, OSCILLATING_MASK = [2, -2, 1, -1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0]


@pytest.mark.parametrize("name", NAMES)
def test_evidence_of_alternating_sign_is_found_where_it_is(pm, name):
    # read signed, units 1 and 3 rank below the silent zeros: rank 1/2, AUC 1/2 (chance);
    # the positive part lies inside too, so mass is 1 either way
    assert scores(pm, name, [OSCILLATING], [OSCILLATING_MASK]) == [1.0]


@pytest.mark.parametrize("name", NAMES)
def test_each_record_says_what_its_score_reads(pm, name):
    rel = torch.tensor([MAP], dtype=torch.float32)[:, None]
    batch = EvalBatch(model=torch.nn.Identity(), x=torch.zeros_like(rel),
                      target=torch.zeros(1, dtype=torch.long), relevance=rel,
                      representation="waveform",
                      ground_truth=torch.tensor([MASK], dtype=torch.bool)[:, None])
    assert pm.metrics.get(name).score(batch).info["relevance"] == READS[name]


@pytest.mark.parametrize("name", NAMES)
def test_a_map_scores_the_same_at_any_positive_scale_and_in_any_unit_order(pm, name):
    order = [5, 2, 0, 4, 1, 3]
    moved = [[2.5 * MAP[i] for i in order]], [[MASK[i] for i in order]]
    assert scores(pm, name, *moved) == pytest.approx([EXPECTED[name]])


@pytest.mark.parametrize("name", ["relevance-rank-accuracy", "pointing-game", "relevance-auc"])
def test_the_sign_of_a_unit_does_not_move_it(pm, name):
    flipped = [[-v if i % 2 else v for i, v in enumerate(MAP)]]  # units 1, 3, 5 negated
    assert scores(pm, name, flipped, [MASK]) == pytest.approx([EXPECTED[name]])
    assert scores(pm, name, [[-v for v in MAP]], [MASK]) == pytest.approx([EXPECTED[name]])


def test_auc_is_the_mann_whitney_u_of_the_magnitudes_over_units(pm):
    rng = np.random.default_rng(0)
    rel = np.round(rng.normal(size=(3, 200)), 1)  # rounding makes ties, also across signs
    mask = rng.random((3, 200)) < 0.2
    got = scores(pm, "relevance-auc", rel.tolist(), mask.astype(int).tolist())
    for row, m, auc in zip(np.abs(rel), mask, got):
        u = sps.mannwhitneyu(row[m], row[~m]).statistic
        assert auc == pytest.approx(u / (m.sum() * (~m).sum()))


# ties at the top: [1, 1, 0, 0] with the evidence on unit 0 only
TIED, TIED_MASK = [1, 1, 0, 0], [1, 0, 0, 0]


def test_tied_maxima_share_the_pointing_game_hit(pm):
    # two units tied at the top, one inside: half a hit; both inside: a hit; the top units
    # of a coarse map (a 2-unit tile) over a 1-unit mask score its share, not a miss
    assert scores(pm, "pointing-game", [TIED, [1, 1, 0, 0], [0, 2, 2, 0]],
                  [TIED_MASK, [1, 1, 0, 0], [0, 0, 0, 1]]) == [0.5, 1.0, 0.0]


def test_ties_at_the_kth_value_share_the_slots_in_proportion(pm):
    # K = 1 slot, two units tied for it, one inside: half a hit expected
    assert scores(pm, "relevance-rank-accuracy", [TIED], [TIED_MASK]) == [0.5]
    # K = 3: unit 0 (2) is above and inside; units 1, 2, 3 tie at 1 for the 2 other slots,
    # two of the three inside: 2 * 2/3 expected hits
    assert scores(pm, "relevance-rank-accuracy", [[2, 1, 1, 1, 0]],
                  [[1, 1, 0, 1, 0]]) == pytest.approx([(1 + 2 * 2 / 3) / 3])


def test_a_constant_map_places_nothing_and_orders_nothing(pm):
    zero, mask = [[0.0] * 8], [[1, 1, 0, 0, 0, 0, 0, 0]]
    assert scores(pm, "relevance-mass-accuracy", zero, mask) == [0.0]
    assert scores(pm, "pointing-game", zero, mask) == [0.25]  # every unit tied at the top
    assert scores(pm, "relevance-rank-accuracy", zero, mask) == [0.25]  # the mask fraction
    assert scores(pm, "relevance-auc", zero, mask) == [0.5]
    # only negative relevance: no mass anywhere either
    assert scores(pm, "relevance-mass-accuracy", [[-1.0] * 8], mask) == [0.0]
    # one magnitude of either sign (the sign of a gradient) orders nothing by |R| either
    signs = [[1.0, -1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0]]
    assert scores(pm, "pointing-game", signs, mask) == [0.25]
    assert scores(pm, "relevance-rank-accuracy", signs, mask) == [0.25]
    assert scores(pm, "relevance-auc", signs, mask) == [0.5]


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_or_full_mask_is_undefined(pm, name):
    got = scores(pm, name, [MAP, MAP, MAP], [[0] * 6, [1] * 6, MASK])
    assert math.isnan(got[0]) and math.isnan(got[1]) and got[2] == pytest.approx(EXPECTED[name])


def test_mask_fraction_is_the_chance_level_beside_the_score(pm):
    rel = torch.tensor([MAP], dtype=torch.float32)[:, None]
    batch = EvalBatch(model=torch.nn.Identity(), x=torch.zeros_like(rel),
                      target=torch.zeros(1, dtype=torch.long), relevance=rel,
                      representation="waveform",
                      ground_truth=torch.tensor([MASK], dtype=torch.bool)[:, None])
    out = pm.metrics.get("relevance-mass-accuracy").score(batch)
    assert out.extras["mask-fraction"].tolist() == [pytest.approx(2 / 6)]


def test_pointing_game_interval_is_wilsons_also_for_shared_hits(pm):
    metric = pm.metrics.get("pointing-game")

    def fields(maps):
        rel = torch.tensor(maps, dtype=torch.float32)[:, None]
        mask = torch.tensor([[1, 0, 0, 0]] * len(maps), dtype=torch.bool)[:, None]
        batch = EvalBatch(model=torch.nn.Identity(), x=torch.zeros_like(rel),
                          target=torch.zeros(len(maps), dtype=torch.long), relevance=rel,
                          representation="waveform", ground_truth=mask)
        return summarize(metric, metric.score(batch))

    hits = fields([[1, 0, 0, 0]] * 20)  # the maximum on the mask unit in 20 of 20
    assert hits["value"] == 1.0 and hits["info"]["proportion"]
    low, high = hits["ci"]
    assert high == pytest.approx(1.0) and 0.8 < low < 0.9  # Wilson 20/20: [0.839, 1]
    shared = fields([[1, 0, 0, 0]] * 20 + [[1, 1, 0, 0]] * 4)  # 4 half hits
    assert shared["value"] == pytest.approx(22 / 24)
    assert shared["ci"] == pytest.approx(list(wilson_interval(22 / 24, 24)))


@pytest.mark.parametrize("name", NAMES)
def test_localisation_metrics_keep_the_contract(pm, name):
    check_metric(pm.metrics.get(name), models=tiny_models())


@pytest.mark.parametrize("rep", ["waveform", "spectrogram"])
def test_the_ground_truth_itself_scores_perfectly_on_both_representations(pm, rep):
    toy = toy_batch(rep)
    gt = toy_ground_truth(toy.x)
    batch = EvalBatch(model=torch.nn.Identity(), x=toy.x, target=toy.target,
                      relevance=gt.float(), representation=rep, ground_truth=gt)
    for name in NAMES:
        assert pm.metrics.get(name).score(batch).scores.tolist() == [1.0, 1.0], name


def test_a_batch_without_ground_truth_is_refused_naming_the_field(pm):
    toy = toy_batch("waveform")
    batch = EvalBatch(model=torch.nn.Identity(), x=toy.x, target=toy.target,
                      relevance=toy.x, representation="waveform")
    with pytest.raises(AudioXaiError, match="needs EvalBatch.ground_truth"):
        pm.metrics.get("pointing-game").score(batch)


def test_score_attributions_takes_the_ground_truth_and_skips_without_it(pm):
    from audioxai_bench import score_attributions

    model, toy = tiny_models()["waveform"], toy_batch("waveform", size=4)
    gt = toy_ground_truth(toy.x)
    scores = score_attributions(model, toy.x, toy.target, gt.float(), plugins=pm,
                                metrics=["pointing-game", "relevance-auc"], ground_truth=gt)
    assert scores["value"].tolist() == [1.0, 1.0]
    every = score_attributions(model, toy.x, toy.target, gt.float(), plugins=pm, metrics="all")
    assert every.loc["pointing-game", "status"] == "skipped"
    assert "ground_truth=" in every.loc["pointing-game", "reason"]
    with pytest.raises(AudioXaiError, match="ground_truth must be a bool mask"):
        score_attributions(model, toy.x, toy.target, gt.float(), plugins=pm,
                           metrics=["pointing-game"], ground_truth=gt.float())
