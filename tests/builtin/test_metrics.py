"""Metrics measure what they claim: toy models whose right answer is known."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest
import torch
from torch import Tensor, nn

from audioxai_bench.api.metric import EvalBatch
from audioxai_bench.builtin.explainers_baseline import Amplitude
from audioxai_bench.builtin.explainers_captum import CaptumGradient
from audioxai_bench.builtin.metrics_bands import (
    FrequencyBands,
    band_of_rows,
    band_stop,
    relevance_per_band,
)
from audioxai_bench.builtin.metrics_complexity import active_units, gini
from audioxai_bench.builtin.metrics_manipulation import manipulation_metrics
from audioxai_bench.builtin.metrics_randomisation import (
    ModelRandomisation,
    cascade_depths,
    randomisable_layers,
)
from audioxai_bench.data.preprocess import power_to_db, spectrogram_input, to_model_input
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.perturbation import (
    DEFAULT_GRID,
    perturbation_curves,
    re_preprocess,
    trapezoid,
)
from audioxai_bench.evaluation.summary import merge_outputs, summarize
from audioxai_bench.guard import ExplainerError
from audioxai_bench.models import build_model
from audioxai_bench.plugins import PluginManager, validate

from .toys import tones

#: Samples 960-1920: 12 of the 100 blocks of 80 samples (10 ms) of an 8000-sample input.
REGION = slice(960, 1920)


class WindowNet(nn.Module):
    """Two classes from the sign of a fixed projection of samples 960-1920 only."""

    representation = "waveform"

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("pattern", torch.randn(960, generator=torch.Generator()
                                                    .manual_seed(1)))
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        s = (x[:, 0, REGION] * self.pattern).sum(-1) * 0.1
        return torch.stack([-s, s], dim=1)


class CountNet(nn.Module):
    """Class 1 while more than half of samples 960-1920 are intact (non-zero)."""

    def forward(self, x: Tensor) -> Tensor:
        intact = (x[:, 0, REGION] != 0).double().mean(-1)
        z = (10 * (intact - 0.5)).float()
        return torch.stack([-z / 2, z / 2], dim=1)


def window_batch(n: int = 16) -> tuple[WindowNet, Tensor, Tensor]:
    model = WindowNet()
    x = torch.randn(n, 1, 8000, generator=torch.Generator().manual_seed(0))
    return model, x, model(x).argmax(1)


def mask_relevance(x: Tensor) -> Tensor:
    r = torch.zeros_like(x)
    r[..., REGION] = 1.0
    return r


def contribution(model: WindowNet, x: Tensor, target: Tensor) -> Tensor:
    """The exact evidence for the target class of the linear toy (gradient × input)."""
    r = torch.zeros_like(x)
    sign = torch.where(target == 1, 1.0, -1.0)[:, None]
    r[:, 0, REGION] = x[:, 0, REGION] * model.pattern * sign
    return r


def make_batch(model, x, target, relevance, **kw) -> EvalBatch:
    rep = "waveform" if x.dim() == 3 else "spectrogram"
    return EvalBatch(model=model, x=x, target=target, relevance=relevance, representation=rep,
                     **kw)


def metric(name: str):
    return {m.name: m for m in manipulation_metrics()}[name]


class LowRowsNet(nn.Module):
    """Spectrogram toy: class 1 when rows 0-17 (0-300 Hz) are loud."""

    representation = "spectrogram"

    def forward(self, x: Tensor) -> Tensor:
        low = ((x[:, 0, :18] + 80) / 80).amax(dim=1).mean(dim=-1)
        z = 20 * (low - 0.2)
        return torch.stack([-z / 2, z / 2], dim=1)


def low_rows_relevance(x: Tensor, rows: slice = slice(0, 18)) -> Tensor:
    r = torch.zeros_like(x)
    r[:, :, rows] = 1.0
    return r


# --- input manipulation --------------------------------------------------------------------


def sigmoid_of_intact(intact: Tensor) -> Tensor:
    """CountNet's true-class (1) probability when a fraction ``intact`` of its region is left,
    computed in float32 as the model and the engine do."""
    z = (10 * (intact - 0.5)).float()
    return torch.softmax(torch.stack([-z / 2, z / 2], dim=-1), dim=-1)[..., 1].double()


def count_batch(n: int = 4) -> tuple[CountNet, Tensor, Tensor]:
    x = torch.randn(n, 1, 8000, generator=torch.Generator().manual_seed(3))
    return CountNet(), x, torch.ones(n, dtype=torch.long)


def test_the_true_region_gives_the_analytic_curves_and_the_largest_gaps():
    """CountNet reads only the 12 blocks of its region (of 100 10-ms blocks, all sounding).
    Most relevant first removes them by 20 % (10 at 10 %); least relevant first only after
    80 %. No map can do better: the curves are the lowest and highest possible."""
    model, x, target = count_batch()
    truth = mask_relevance(x)
    batch = make_batch(model, x, target, truth)
    gap, srg = metric("faithfulness-gap").score(batch), metric("srg").score(batch)
    k = torch.tensor([round(f * 100) for f in DEFAULT_GRID])
    most = sigmoid_of_intact((12 - k.clamp(max=12)) / 12)
    least = sigmoid_of_intact((12 - (k - 88).clamp(min=0)) / 12)
    torch.testing.assert_close(gap.curves["probability/most-relevant"], most.expand(4, -1))
    torch.testing.assert_close(srg.curves["probability/least-relevant"], least.expand(4, -1))
    grid = torch.tensor(DEFAULT_GRID, dtype=torch.float64)
    expected_srg = torch.trapezoid(least, grid) - torch.trapezoid(most, grid)
    torch.testing.assert_close(srg.scores, expected_srg.expand(4))
    torch.testing.assert_close(gap.scores, gap.extras["area/random"]
                               - torch.trapezoid(most, grid).expand(4))
    assert gap.info["unit"] == "block of 80 samples (10 ms at 8 kHz)" and gap.info["n_units"] == 100
    candidates = {
        "random": torch.rand(x.shape, generator=torch.Generator().manual_seed(4)),
        "amplitude": x.abs(),
        "shifted": torch.roll(truth, 500, dims=-1),
        "noisy": truth + 0.8 * torch.rand(x.shape, generator=torch.Generator().manual_seed(5)),
        "rescaled-truth": 3 * truth + 1,
    }
    for name, relevance in candidates.items():
        other = make_batch(model, x, target, relevance)
        for m, best in (("faithfulness-gap", gap), ("srg", srg)):
            assert bool((metric(m).score(other).scores <= best.scores + 1e-12).all()), (name, m)
    # the inverted map removes the region last: exactly the opposite symmetric gain
    inverted = make_batch(model, x, target, -truth)
    torch.testing.assert_close(metric("srg").score(inverted).scores, -srg.scores)
    assert bool((metric("faithfulness-gap").score(inverted).scores < -0.2).all())


def test_oracle_beats_amplitude_beats_random_beats_the_inverted_map():
    """WindowNet reads a signed projection of its region, whose first half is loud: the
    loudest-first order removes that half (evidence for and against alike), the exact
    contribution map removes the evidence for the class first."""
    model, x, _ = window_batch(16)
    x[:, :, 960:1440] *= 4
    target = model(x).argmax(1)
    maps = {"oracle": contribution(model, x, target), "amplitude": x.abs(),
            "random": torch.rand(x.shape, generator=torch.Generator().manual_seed(6)),
            "inverted": -contribution(model, x, target)}
    shared: dict = {}
    scores = {name: {m: metric(m).score(make_batch(model, x, target, r, shared=shared)).scores
                     for m in ("faithfulness-gap", "gap-vs-amplitude", "srg")}
              for name, r in maps.items()}
    mean = {name: {m: float(v.mean()) for m, v in s.items()} for name, s in scores.items()}
    gap = {name: mean[name]["faithfulness-gap"] for name in maps}
    assert gap["oracle"] > gap["amplitude"] + 0.3 and gap["amplitude"] > gap["random"] + 0.1
    assert abs(gap["random"]) < 0.1 and gap["inverted"] < -0.1  # one random map: SE ~0.04
    # the paper's claim: the faithful map beats loudest-first on every clip
    assert bool((scores["oracle"]["gap-vs-amplitude"] > 0).all())
    assert torch.equal(scores["amplitude"]["gap-vs-amplitude"], torch.zeros(16,
                                                                           dtype=torch.float64))
    assert mean["inverted"]["gap-vs-amplitude"] < 0
    torch.testing.assert_close(scores["inverted"]["srg"], -scores["oracle"]["srg"])


def test_a_random_map_is_not_distinguishable_from_random():
    """The scores are paired differences against the random control: a random map's interval
    contains 0 (while its AOPC, a descriptive number, does not)."""
    model, x, target = window_batch(24)
    relevance = torch.rand(x.shape, generator=torch.Generator().manual_seed(7))
    batch = make_batch(model, x, target, relevance)
    for name in ("faithfulness-gap", "srg", "insertion-gap"):
        m = metric(name)
        record = summarize(m, merge_outputs([m.score(batch)]))
        assert record["ci"][0] < 0 < record["ci"][1], (name, record["ci"])
        assert m.ranked
    aopc = summarize(metric("aopc"), metric("aopc").score(batch))
    assert aopc["ci"][0] > 0.1 and not metric("aopc").ranked


def test_insertion_restores_the_class_fastest_with_the_true_region():
    model, x, target = count_batch()
    batch = make_batch(model, x, target, mask_relevance(x))
    auc, gap = metric("insertion-auc").score(batch), metric("insertion-gap").score(batch)
    assert auc.info["mode"] == gap.info["mode"] == "insertion"
    assert bool((gap.scores > 0.3).all())
    assert bool((auc.scores > auc.extras["insertion-area/random"]).all())
    # all 12 region blocks are back by 20 %: kept = 100 - round(0.8 * 100)
    assert auc.curves["accuracy/most-relevant"][:, DEFAULT_GRID.index(0.2)].eq(1).all()
    # keeping the most relevant is removing the least relevant: SRG = deletion + insertion gap
    srg, deletion = metric("srg").score(batch), metric("faithfulness-gap").score(batch)
    torch.testing.assert_close(srg.scores, deletion.scores + gap.scores)


def test_one_computation_per_batch_and_the_reference_once_for_all_explainers():
    """The six unit metrics read one computation; the random (8 permutations) and amplitude
    curves are computed for the first explainer only, and every number equals a solo run."""
    model, x, target = window_batch(4)
    maps = [contribution(model, x, target), torch.rand(x.shape)]
    names = [m.name for m in manipulation_metrics()]
    solo = [{m.name: m.score(make_batch(model, x, target, r, chunk_size=512))
             for m in manipulation_metrics()} for r in maps]
    inputs: list[int] = []
    forward = model.forward
    model.forward = lambda x_in: inputs.append(len(x_in)) or forward(x_in)
    shared: dict = {}
    metrics = manipulation_metrics()
    together = []
    for r in maps:
        batch = make_batch(model, x, target, r, chunk_size=512, shared=shared)
        together.append({m.name: m.score(batch) for m in metrics})
        inputs.append(0)  # marks the next explainer
    # explainer 1: its two orders (2 + 2 × 9 inputs a sample), the reference (2 + 9 × 9), the
    # feature gap's own order (2 + 9) and its reference (2 + 8 × 9), the paper's test's own
    # order (2 + 9) and its reference (2 + 9 × 9, over the whole input); explainer 2: its own
    assert inputs == [4 * 20, 4 * 83, 4 * 11, 4 * 74, 4 * 11, 4 * 83, 0,
                      4 * 20, 4 * 11, 4 * 11, 0]
    for a, b in zip(solo, together):
        for name in names:
            assert torch.equal(a[name].scores, b[name].scores), name
            for key in a[name].curves:
                assert torch.equal(a[name].curves[key], b[name].curves[key]), (name, key)


def test_aopc_and_insertion_auc_are_the_gaps_plus_a_constant_every_explainer_shares():
    """M2: shown twice, the same ranking; so they are descriptive, not ranked."""
    model, x, target = window_batch(4)
    shared: dict = {}
    diffs = []
    for r in (contribution(model, x, target), x.abs()):
        batch = make_batch(model, x, target, r, shared=shared)
        out = {m.name: m.score(batch) for m in manipulation_metrics()}
        diffs.append((out["aopc"].scores - out["faithfulness-gap"].scores,
                      out["insertion-auc"].scores - out["insertion-gap"].scores))
    for first, second in zip(*diffs):
        torch.testing.assert_close(first, second)
    ranked = {m.name: m.ranked for m in manipulation_metrics()}
    assert ranked == {"faithfulness-gap": True, "gap-vs-amplitude": True, "srg": True,
                      "insertion-gap": True, "aopc": False, "insertion-auc": False,
                      "faithfulness-gap-feature": False, "paper-manipulation": False}


def test_the_tied_share_counts_ties_among_the_units_that_hold_sound():
    """Item 9: a map that is 0 off its region ties there; padding does not count; a tie block
    goes in random order, so a constant map scores like the random order."""
    model, x, target = window_batch(8)
    out = metric("faithfulness-gap").score(make_batch(model, x, target,
                                                      contribution(model, x, target)))
    assert out.extras["tied-share"].tolist() == [0.88] * 8  # 88 of 100 blocks sum to 0
    assert out.info["ties"].startswith("units whose relevance is equal")
    padded = x.clone()
    padded[..., 4000:] = 0  # silence: 50 of the 100 blocks
    out = metric("faithfulness-gap").score(make_batch(model, padded, target,
                                                      contribution(model, padded, target)))
    assert out.extras["active-share"].tolist() == [0.5] * 8
    torch.testing.assert_close(out.extras["tied-share"], torch.full((8,), 38 / 50,
                                                                    dtype=torch.float64))
    model, x, target = count_batch(16)
    constant = metric("faithfulness-gap").score(make_batch(model, x, target, torch.ones_like(x)))
    assert constant.extras["tied-share"].eq(1).all()
    # in position order the region (blocks 12-23) would be gone by 24 %: a gap near 0.35
    assert abs(float(constant.scores.mean())) < 0.06


def test_spectrograms_use_8x8_patches_and_the_feature_variant_single_bins():
    model, signals = LowRowsNet(), tones([150, 1500], 3)
    x = spectrogram_input(signals)
    target = torch.ones(3, dtype=torch.long)
    batch = make_batch(model, x, target, low_rows_relevance(x))
    out = metric("faithfulness-gap").score(batch)
    assert out.info["n_units"] == 29 * 29 and out.info["unit_shape"] == [8, 8]
    assert out.info["unit"] == "8 x 8 bins (frequency x time)"
    assert bool((out.scores > 0.3).all())
    wrong = make_batch(model, x, target, low_rows_relevance(x, slice(100, 150)))
    assert bool((metric("faithfulness-gap").score(wrong).scores < 0.05).all())
    feature = metric("faithfulness-gap-feature").score(batch)
    assert feature.info["n_units"] == 227 * 227 and feature.info["unit_shape"] is None
    assert bool((feature.scores > 0.3).all())
    assert feature.info["orders"] == ["most-relevant", "random"]


def test_paper_manipulation_removes_single_features_of_the_whole_input_in_three_orders():
    """The paper's test: k a share of all 8 000 samples (all 227 × 227 bins), silent ones
    ranked among them; most relevant first, random and loudest first; accuracy curves kept."""
    paper = metric("paper-manipulation")
    assert (paper.unit, paper.scope, paper.ranked, paper.baseline) == (
        "feature", "all", False, "silence")
    assert paper.orders == ("most-relevant", "random", "amplitude")
    model, x, target = count_batch(4)
    x[..., 4000:] = 0  # half the input silent: the default scope would count 4 000 samples
    out = paper.score(make_batch(model, x, target, mask_relevance(x)))
    assert out.info["n_units"] == 8000 and out.info["scope"] == "all"
    assert out.info["unit"] == "single feature (one sample or bin)"
    assert sorted(out.curves) == sorted(f"{kind}/{order}" for kind in ("probability", "accuracy")
                                        for order in paper.orders)
    # the 960 region samples (12 % of the input) go first, silent ones among the rest
    assert paper.grid[:6] == (0.0, 0.005, 0.01, 0.02, 0.05, 0.1) and paper.grid[-1] == 1.0
    removed = torch.tensor([min(960, round(k * 8000)) for k in paper.grid])
    torch.testing.assert_close(out.curves["probability/most-relevant"],
                               sigmoid_of_intact((960 - removed) / 960).expand(4, -1))
    assert out.curves["accuracy/most-relevant"][:, 5:].eq(0).all()  # half gone by 6 %
    model, signals = LowRowsNet(), tones([150, 1500], 3)
    spec = spectrogram_input(signals)
    out = paper.score(make_batch(model, spec, torch.ones(3, dtype=torch.long),
                                 low_rows_relevance(spec)))
    assert out.info["n_units"] == 227 * 227 and bool((out.scores > 0.3).all())


def test_noisy_linear_imputation_keeps_the_true_region_ahead():
    """ROAD-style removal: the removed blocks become the line between their kept neighbours
    plus noise, not silence; the exact evidence still goes first."""
    model, x, target = window_batch(8)
    noisy = dataclasses.replace(metric("faithfulness-gap"), baseline="noisy-linear")
    out = noisy.score(make_batch(model, x, target, contribution(model, x, target)))
    assert out.info["baseline"] == "noisy-linear" and "ROAD" in out.info["baseline_is"]
    assert bool((out.scores > 0.1).all()) and float(out.scores.mean()) > 0.4
    silence = metric("faithfulness-gap").score(make_batch(model, x, target,
                                                          contribution(model, x, target)))
    assert not torch.equal(out.curves["probability/random"],
                           silence.curves["probability/random"])


def test_info_states_the_grid_the_area_and_the_sign_convention():
    model, x, target = window_batch(2)
    info = metric("gap-vs-amplitude").score(make_batch(model, x, target, x)).info
    assert info["grid"] == [k / 10 for k in range(11)]
    assert info["area"] == "trapezoid over the grid divided by its x-range"
    assert "signed removal effect" in info["sign"] and info["unit_relevance"].startswith("sum")
    assert info["random"].startswith("mean of 8 seeded permutations")
    assert info["score"].startswith("area(loudest first) - area(most relevant first)")


def test_scope_all_ranks_every_unit_and_info_says_so():
    """Half the input silent: the default ranks and removes the 50 sounding blocks (k a share
    of those), ``scope="all"`` all 100 (k a share of the input), so the 12 region blocks,
    ranked first, are gone at k = 30 % against 20 %. A metric sharing the memo keeps its own
    curves."""
    model, x, target = count_batch(4)
    x[..., 4000:] = 0
    sounding = metric("faithfulness-gap")
    everything = dataclasses.replace(sounding, name="all-units", scope="all")
    batch = make_batch(model, x, target, mask_relevance(x))
    a, b = sounding.score(batch), everything.score(batch)
    for out, n in ((a, 50), (b, 100)):
        removed = torch.tensor([min(12, round(k / 10 * n)) for k in range(11)])
        expected = sigmoid_of_intact((12 - removed) / 12).expand(4, -1)
        torch.testing.assert_close(out.curves["probability/most-relevant"], expected)
    assert (a.info["scope"], b.info["scope"]) == ("sounding", "all")
    assert a.info["units_removed"].startswith("only units that hold sound")
    assert b.info["units_removed"].startswith("every unit of the input")
    assert b.info["grid_of"].startswith("fraction f of all n units of the input")
    assert a.extras["active-share"].tolist() == b.extras["active-share"].tolist() == [0.5] * 4
    with pytest.raises(ValueError, match="'all-units': scope must be one of sounding, all"):
        dataclasses.replace(everything, scope="everything")


def test_a_sample_without_sound_scores_nan_not_a_gap_of_0():
    """Silence throughout: nothing to remove, every order's curve is the intact input's. The
    unit metrics leave the sample out (NaN, not counted), as Gini does, rather than score it 0
    and pull the mean towards "no better than random"; with ``scope="all"`` it has units."""
    model, x, target = window_batch(3)
    x[2] = 0
    batch = make_batch(model, x, target, contribution(model, x, target))
    for name in ("faithfulness-gap", "gap-vs-amplitude", "srg", "insertion-gap", "aopc",
                 "insertion-auc"):
        scores = metric(name).score(batch).scores
        assert scores[:2].isfinite().all() and scores[2].isnan(), name
        assert summarize(metric(name), metric(name).score(batch))["n"] == 2
    everything = dataclasses.replace(metric("faithfulness-gap"), name="all-units", scope="all")
    assert everything.score(batch).scores.isfinite().all()


def test_the_record_curves_average_the_samples_the_value_counts():
    """A clip without sound scores NaN but keeps finite curves (flat at the intact input's
    probability): averaged in, half the batch silent halved the gap the figure's curves show
    (0.33 beside a value of 0.67). The mean curves rest on the same clips as the value, so
    the deletion gap of the mean curves is the value."""
    model, x, target = window_batch(4)
    x[2:] = 0
    batch = make_batch(model, x, target, contribution(model, x, target))
    m = metric("faithfulness-gap")
    out = m.score(batch)
    record = summarize(m, out)
    assert record["n"] == 2 and out.curves["probability/most-relevant"].isfinite().all()
    grid = torch.tensor(record["grid"], dtype=torch.float64)
    curves = {k: torch.tensor(v, dtype=torch.float64) for k, v in record["curves"].items()}
    shown = trapezoid(curves["probability/random"], grid) - trapezoid(
        curves["probability/most-relevant"], grid)
    assert float(shown) == pytest.approx(record["value"], abs=1e-12)
    assert curves["probability/most-relevant"][0] == pytest.approx(
        float(out.extras["original/probability"][:2].mean()), abs=1e-12)
    x[:] = 0  # no clip counted: no mean curve to show
    silent = m.score(make_batch(model, x, target, torch.zeros_like(x)))
    assert all(math.isnan(v) for c in summarize(m, silent)["curves"].values() for v in c)


def test_bad_settings_fail_with_the_metric_name():
    with pytest.raises(ValueError, match="'faithfulness-gap': unit must be one of patch"):
        dataclasses.replace(metric("faithfulness-gap"), unit="block")
    with pytest.raises(ValueError, match="'srg': orders must .* include"):
        dataclasses.replace(metric("srg"), orders=("most-relevant", "random"))
    with pytest.raises(ValueError, match="baseline must be one of"):
        dataclasses.replace(metric("srg"), baseline="white")
    model, x, target = window_batch(2)
    with pytest.raises(AudioXaiError, match="relevance has shape"):
        make_batch(model, x, target, x[:, :, :100])
    # settings that could only fail once scored fail where the metric is made (probe F10)
    for change, message in (({"grid": (0.0, 0.1, 0.5)}, "'insertion-gap': insertion needs a "
                                                         "grid symmetric about 0.5"),
                            ({"grid": (0.5, 0.1, 2.0)}, "grid fractions must rise strictly"),
                            ({"n_random": 0}, "n_random must be 1 to 62 permutations, got 0"),
                            ({"waveform_patch": (0,)}, "waveform_patch must be positive")):
        with pytest.raises(ValueError, match=message):
            dataclasses.replace(metric("insertion-gap"), **change)


# --- model randomisation --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Constant:
    name: str = "constant"

    def explain(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        return torch.ones_like(x)


def tiny_waveform_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(1, 4, 16, stride=16), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2000, 16), nn.ReLU(), nn.Linear(16, 3)).eval()


def test_randomisation_flags_a_method_that_ignores_the_model():
    model = tiny_waveform_net()
    x = torch.randn(3, 1, 8000, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 2])
    before = [p.clone() for p in model.parameters()]
    rng = torch.get_rng_state()
    metric = ModelRandomisation(name="model-randomisation", higher_is_better=False,
                                needs=frozenset({"explainer"}))
    results = {}
    for explainer in (Constant(), Amplitude(name="amplitude"), CaptumGradient(name="gradient")):
        relevance = explainer.explain(model, x, target)
        out = metric.score(make_batch(model, x, target, relevance, explainer=explainer))
        results[explainer.name] = (out, metric.summarize(merge_outputs([out])))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert torch.equal(rng, torch.get_rng_state())
    const, const_summary = results["constant"]
    assert torch.equal(const.scores, torch.ones(3, dtype=torch.float64))
    assert const_summary["insensitive"] and results["amplitude"][1]["insensitive"]
    grad, grad_summary = results["gradient"]
    assert not grad_summary["insensitive"]
    assert float(grad.scores.mean()) < 0.5
    assert grad.curves["spearman"].shape == (3, 3) and grad.grid.tolist() == [1, 2, 3]
    assert grad.info["layers"] == ["5", "3", "0"]  # top-down
    audionet = build_model("audionet", 10, width=0.0625)
    layers = randomisable_layers(audionet)
    assert len(layers) == 9 and layers[0] == "classifier.5" and layers[-1] == "features.0"
    with pytest.raises(AudioXaiError, match="needs EvalBatch.explainer"):
        metric.score(make_batch(model, x, target, relevance))


def test_randomisation_steps_explain_at_a_few_depths_of_the_full_cascade():
    assert cascade_depths(9, 3) == [1, 5, 9] and cascade_depths(9, None) == list(range(1, 10))
    assert cascade_depths(9, 1) == [9] and cascade_depths(2, 5) == [1, 2]
    model = tiny_waveform_net()
    x = torch.randn(3, 1, 8000, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 2])
    explainer = CaptumGradient(name="gradient")
    relevance = explainer.explain(model, x, target)
    every = ModelRandomisation(name="r", higher_is_better=False, needs=frozenset({"explainer"}))
    two = dataclasses.replace(every, steps=2)
    full = every.score(make_batch(model, x, target, relevance, explainer=explainer))
    few = two.score(make_batch(model, x, target, relevance, explainer=explainer))
    assert few.grid.tolist() == [1, 3]  # the cascade still reaches the last layer
    assert torch.allclose(few.curves["spearman"], full.curves["spearman"][:, [0, 2]])
    assert torch.equal(few.extras["spearman/all-randomised"],
                       full.extras["spearman/all-randomised"])


# --- complexity and runtime -----------------------------------------------------------------


def test_gini_of_one_hot_uniform_and_empty_maps():
    n = 8000
    one_hot = torch.zeros(3, 1, n)
    one_hot[0, 0, 17] = 5.0
    one_hot[1] = 1.0
    values = gini(one_hot)
    assert values[0].item() == pytest.approx(1 - 1 / n)
    assert values[1].item() == pytest.approx(0.0, abs=1e-12)
    assert values[2].item() == 0.0
    half = torch.zeros(1, 1, 10)
    half[..., :5] = -2.0  # sign does not matter; half the features carry equal mass
    assert gini(half).item() == pytest.approx(0.5)


def test_gini_counts_only_the_units_that_hold_sound():
    """M8: a map that is exactly zero on silence (any map times x − silence) is as sparse as
    its values on the sound, however much padding the input has."""
    gen = torch.Generator().manual_seed(0)
    values = torch.rand(2, 1, 4000, generator=gen)
    wave = torch.zeros(2, 1, 8000)
    wave[..., 2000:6000] = torch.randn(2, 1, 4000, generator=gen)
    relevance = torch.zeros_like(wave)
    relevance[..., 2000:6000] = values
    metric = PluginManager(entrypoints=False).metrics.get("gini")
    out = metric.score(make_batch(WindowNet(), wave, torch.zeros(2, dtype=torch.long),
                                  relevance))
    torch.testing.assert_close(out.scores, gini(values))
    assert bool((gini(relevance) > out.scores + 0.3).all())  # the padding confound
    assert out.extras["active-fraction"].tolist() == [0.5, 0.5]
    assert metric.ranked is False
    spec = torch.full((2, 1, 16, 16), -80.0)  # spectrograms: bins at the floor are silent
    spec[0, 0, :4] = -10.0
    rel = torch.zeros_like(spec)
    rel[0, 0, :4] = torch.arange(64.0).view(4, 16)
    got = gini(rel, active_units(spec))
    assert got[0].item() == pytest.approx(gini(torch.arange(64.0).view(1, 64)).item())
    assert math.isnan(got[1].item())  # nothing sounds: undefined, not "perfectly sparse"


class Sleepy:
    """An explainer whose first call is slow (a lazy import) and whose later calls are not."""

    name = "sleepy"
    representations = frozenset({"waveform"})

    def __init__(self) -> None:
        self.calls = 0

    def explain(self, model, x, target):
        self.calls += 1
        time.sleep(0.3 if self.calls == 1 else 0.01)
        return torch.zeros_like(x)


def test_runtime_is_the_median_of_warm_repeats_on_the_first_batch():
    runtime = PluginManager(entrypoints=False).metrics.get("runtime")
    assert runtime.needs == {"explainer"} and not runtime.higher_is_better
    model, x, target = window_batch(4)
    explainer = Sleepy()
    out = runtime.score(make_batch(model, x, target, x, explainer=explainer))
    assert explainer.calls == 1 + 5  # warm-up, then five timed calls
    assert len(out.info["call_seconds"]) == 5 and out.info["timed_batch_size"] == 4
    assert 0.01 / 4 <= out.scores[0].item() < 0.2 / 4  # the cold 0.3 s call is not counted
    assert len(set(out.scores.tolist())) == 1
    spread = out.info["per_sample_spread"]
    assert spread["min"] <= spread["q25"] <= spread["median"] <= spread["q75"] <= spread["max"]
    assert spread["median"] == out.scores[0].item()
    later = runtime.score(make_batch(model, x[:2], target[:2], x[:2], explainer=explainer))
    assert explainer.calls == 6 and later.scores.tolist() == [out.scores[0].item()] * 2
    record = summarize(runtime, merge_outputs([out, later]))
    assert record["ci"] is None and record["n"] == 6  # no bootstrap of one measurement
    with pytest.raises(AudioXaiError, match="explainer"):
        runtime.score(make_batch(model, x, target, x))
    with pytest.raises(ValueError, match="repeats must be at least 5"):
        dataclasses.replace(runtime, repeats=3)


def test_runtime_keeps_the_cpu_share_of_its_timed_calls():
    """The share tells a busy machine from a slow explainer (the leaderboard marks a low one):
    an explainer that computes has its CPU, one that sleeps does not."""
    class Spinning(Sleepy):
        def explain(self, model, x, target):
            end = time.perf_counter() + 0.02
            while time.perf_counter() < end:
                pass
            return torch.zeros_like(x)

    class Sleeping(Sleepy):  # 50 ms: the process's own CPU around a call (~1 ms) stays small
        def explain(self, model, x, target):
            time.sleep(0.05)
            return torch.zeros_like(x)

    runtime = PluginManager(entrypoints=False).metrics.get("runtime")
    model, x, target = window_batch(2)
    spinning = runtime.score(make_batch(model, x, target, x, explainer=Spinning())).info
    sleeping = runtime.score(make_batch(model, x, target, x, explainer=Sleeping())).info
    assert len(spinning["cpu_seconds"]) == 5 and spinning["threads"] == torch.get_num_threads()
    assert sleeping["cpu_share"] < 0.1 < 0.2 < spinning["cpu_share"] <= 1.05


def test_runtime_can_time_a_part_of_the_batch():
    class Counting(Sleepy):
        def explain(self, model, x, target):
            self.sizes = [*getattr(self, "sizes", []), len(x)]
            return torch.zeros_like(x)

    runtime = dataclasses.replace(PluginManager(entrypoints=False).metrics.get("runtime"),
                                  samples=2)
    model, x, target = window_batch(4)
    explainer = Counting()
    out = runtime.score(make_batch(model, x, target, x, explainer=explainer))
    assert explainer.sizes == [2] * 6 and out.info["timed_batch_size"] == 2
    assert out.scores.shape == (4,)  # every sample of the batch still gets the score
    with pytest.raises(ValueError, match="samples must be at least 1"):
        dataclasses.replace(runtime, samples=0)


def test_runtime_repeats_run_under_the_explainer_guard():
    class Meddling(Sleepy):
        def explain(self, model, x, target):
            model.pattern.add_(1.0)
            return torch.zeros_like(x)

    runtime = PluginManager(entrypoints=False).metrics.get("runtime")
    model, x, target = window_batch(2)
    before = model.pattern.clone()
    with pytest.raises(ExplainerError, match="modified pattern"):
        runtime.score(make_batch(model, x, target, x, explainer=Meddling()))
    assert torch.equal(model.pattern, before)


# --- re-preprocessing after removal (L2) ----------------------------------------------------


def test_re_preprocess_equals_preprocessing_the_perturbed_sound():
    """Waveforms: zeroing samples of the sound and preprocessing again equals re-levelling the
    perturbed input. Spectrograms: the removed bins' power set to zero and ``power_to_db`` run
    again (dB re the new maximum); bins at the floor stay at it."""
    gen = torch.Generator().manual_seed(0)
    signals = torch.zeros(2, 8000)
    signals[:, 1000:5000] = 3000 * torch.randn(2, 4000, generator=gen)
    removed = torch.rand(2, 8000, generator=gen) < 0.3
    wave = to_model_input(signals, "waveform")
    expected = to_model_input(signals.masked_fill(removed, 0.0), "waveform")
    got = re_preprocess(wave.masked_fill(removed[:, None], 0.0), wave)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)

    spec = spectrogram_input(signals)
    loud = spec > -20  # remove the loudest bins: the maximum drops below 0 dB
    perturbed = spec.masked_fill(loud, -80.0)
    # the input's power spectrogram (at a clip's scale: far above the amin clamp)
    power = torch.where(perturbed > -80, 1e6 * 10 ** (perturbed.double() / 10), 0.0)
    expected = power_to_db(power[:, 0]).float()[:, None]
    got = re_preprocess(perturbed, spec)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    assert got.amax(dim=(1, 2, 3)).eq(0).all() and perturbed.amax() < -19
    assert torch.equal(re_preprocess(spec, spec), spec)  # an intact input is already levelled


def test_re_preprocess_removal_changes_the_curves_not_the_intact_input():
    torch.manual_seed(0)
    model = build_model("alexnet", n_classes=10, width=0.0625).eval()
    gen = torch.Generator().manual_seed(1)
    x = spectrogram_input(1000 * torch.randn(2, 8000, generator=gen))
    target = torch.tensor([0, 1])
    relevance = x + 80  # loudest first: the maximum goes at once
    plain = perturbation_curves(model, x, relevance, target, grid=(0.0, 0.1, 0.3))
    again = perturbation_curves(model, x, relevance, target, grid=(0.0, 0.1, 0.3),
                                removal="re-preprocess")
    assert torch.equal(plain.original_probability, again.original_probability)
    assert not torch.allclose(plain.curve("most-relevant")[:, 1:],
                              again.curve("most-relevant")[:, 1:])
    gap = dataclasses.replace(metric("faithfulness-gap"), removal="re-preprocess")
    out = gap.score(make_batch(model, x, target, relevance))
    assert out.info["removal"] == "re-preprocess"
    with pytest.raises(AudioXaiError, match="unknown removal"):
        perturbation_curves(model, x, relevance, target, removal="renormalise")


# --- frequency bands ------------------------------------------------------------------------


def test_band_stop_removes_its_band_only_and_matches_torchaudio():
    edges = (0, 125, 250, 500, 1000, 2000, 4000)
    signals = tones([180], 1).double().repeat(2, 1) + tones([1500], 1).double().repeat(2, 1)
    band = torch.tensor([1, 4])  # 125-250 Hz, 1000-2000 Hz
    fast = band_stop(signals, band, edges)
    spec_in, spec_out = torch.fft.rfft(signals).abs(), torch.fft.rfft(fast).abs()
    at = {f: round(f * 8000 / 8000) for f in (180, 1500)}  # 1 Hz per rfft bin at 8000 samples
    low, high = slice(at[180] - 5, at[180] + 6), slice(at[1500] - 30, at[1500] + 31)
    assert spec_out[0, low].sum() < 1e-3 * spec_in[0, low].sum()  # 180 Hz removed
    kept = pytest.approx(spec_in[0, high].sum().item(), rel=0.01)
    assert spec_out[0, high].sum().item() == kept
    assert spec_out[1, high].sum() < 1e-3 * spec_in[1, high].sum()  # 1500 Hz removed
    kept = pytest.approx(spec_in[1, low].sum().item(), rel=0.01)
    assert spec_out[1, low].sum().item() == kept
    reference = band_stop(signals, band, edges, method="torchaudio")
    # The same filter as torchaudio's forward-backward lfilter, away from the window's edges
    # (where filtfilt's truncated start-up differs from a linear convolution).
    inner = slice(1500, 6500)
    tolerance = 1e-8 * float(signals.abs().max())
    assert torch.allclose(fast[:, inner], reference[:, inner], atol=tolerance)


def test_relevance_per_band_uses_the_row_frequencies():
    edges = (0, 125, 250, 4000)
    assert band_of_rows(227, edges)[[0, 7, 8, 14, 15, 226]].tolist() == [0, 0, 1, 1, 2, 2]
    r = torch.zeros(1, 1, 227, 227)
    r[0, 0, 8] = 1.0  # 140.7 Hz
    r[0, 0, 100] = 3.0
    r[0, 0, 3] = -5.0
    assert relevance_per_band(r, edges).tolist() == [[0.0, 0.25, 0.75]]
    assert relevance_per_band(r, edges, "absolute").tolist() == [[5 / 9, 1 / 9, 3 / 9]]


def test_band_test_finds_the_band_a_low_frequency_model_needs():
    model = LowRowsNet()
    signals = torch.cat([tones([150, 1500], 4), tones([1500, 3000], 2, seed=1)])
    x = spectrogram_input(signals)
    target = model(x).argmax(1)
    assert target.tolist() == [1, 1, 1, 1, 0, 0]
    metric = FrequencyBands(name="frequency-bands", higher_is_better=True,
                            representations=frozenset({"spectrogram"}),
                            needs=frozenset({"signals"}))
    right = metric.score(make_batch(model, x, target, low_rows_relevance(x), signals=signals,
                                    chunk_size=16))
    wrong = metric.score(make_batch(model, x, target, low_rows_relevance(x, slice(100, 150)),
                                    signals=signals, chunk_size=16))
    low_voice = slice(0, 4)
    assert bool((right.scores[low_voice] > 0.4).all())
    assert bool((right.scores[low_voice] > wrong.scores[low_voice] + 0.4).all())
    drop = right.curves["accuracy-drop"]
    assert drop[low_voice, 1].eq(1).all() and drop[low_voice, 4:].eq(0).all()
    # All the damage is in 125-250 Hz, where the right map is 227 / 18 times denser than uniform.
    assert torch.allclose(right.extras["density-where-it-hurts"][low_voice],
                          torch.full((4,), 227 / 18, dtype=torch.float64), rtol=0.05)
    assert bool((wrong.extras["density-where-it-hurts"][low_voice] < 0.1).all())
    # A uniform map has density 1 in every band, whatever the band's width.
    uniform = metric.score(make_batch(model, x[:1], target[:1], torch.ones_like(x[:1]),
                                      signals=signals[:1]))
    assert torch.allclose(uniform.curves["relevance-density"], torch.ones(1, 10,
                                                                           dtype=torch.float64))
    summary = summarize(metric, right)["summary"]
    assert summary["most_harmful_band_hz"] == [125, 250]
    assert summary["densest_band_hz"] in ([0, 125], [125, 250])
    assert summary["spearman_density_vs_accuracy_drop"] > 0.4
    assert summarize(metric, wrong)["summary"]["spearman_density_vs_accuracy_drop"] < 0
    with pytest.raises(AudioXaiError, match="does not apply to waveform"):
        metric.score(make_batch(*window_batch(2), torch.zeros(2, 1, 8000)))


def test_band_removal_passes_are_shared_between_explainers():
    model = LowRowsNet()
    signals = torch.cat([tones([150, 1500], 2), tones([1500, 3000], 2, seed=1)])
    x = spectrogram_input(signals)
    target = model(x).argmax(1)
    metric = FrequencyBands(name="frequency-bands", higher_is_better=True,
                            representations=frozenset({"spectrogram"}),
                            needs=frozenset({"signals"}))
    maps = [low_rows_relevance(x), low_rows_relevance(x, slice(100, 150))]
    solo = [metric.score(make_batch(model, x, target, r, signals=signals)) for r in maps]
    shared: dict = {}
    calls = []
    forward = model.forward
    model.forward = lambda inputs: calls.append(len(inputs)) or forward(inputs)
    together = [metric.score(make_batch(model, x, target, r, signals=signals, shared=shared))
                for r in maps]
    assert sum(calls) == 4 * (1 + 10)  # the input and ten band-stopped copies, once
    for a, b in zip(solo, together):
        assert torch.equal(a.scores, b.scores)
        assert torch.equal(a.curves["log-probability-drop"], b.curves["log-probability-drop"])


# --- registration ----------------------------------------------------------------------------


def test_builtin_metrics_register_and_declare_their_needs():
    pm = PluginManager(entrypoints=False)
    assert not [f for f in pm.failures if "metric" in f.where]
    expected = {"faithfulness-gap", "gap-vs-amplitude", "srg", "insertion-gap", "aopc",
                "insertion-auc", "faithfulness-gap-feature", "paper-manipulation",
                "model-randomisation", "gini",
                "frequency-bands", "runtime", "sonified-accuracy", "complement-accuracy",
                "kept-energy", "sonified-random-gap"}
    assert expected <= set(pm.metrics.names())
    for m in pm.metrics:
        assert validate("metric", m) == m.name
        assert m.needs <= {"signals", "explainer", "sonifier", "explain_seconds",
                           "ground_truth"}
    assert pm.metrics.get("frequency-bands").representations == {"spectrogram"}
