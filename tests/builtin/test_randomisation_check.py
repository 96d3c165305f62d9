"""The model randomisation sanity check: a drop beyond the explainer's own rerun noise, against
a null of two randomised models, with SSIM checked against hand-computed values."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import Tensor, nn

from audioxai_bench.api.metric import EvalBatch
from audioxai_bench.builtin.metrics_randomisation import (
    RandomisationCheck,
    randomised_copy,
    ssim,
)
from audioxai_bench.data.preprocess import waveform_input
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.summary import merge_outputs, summarize
from audioxai_bench.plugins import PluginManager

from .toys import speech_like


def test_ssim_of_a_map_with_itself_is_one_in_1d_and_2d():
    g = torch.Generator().manual_seed(0)
    for shape in ((3, 1, 500), (2, 2, 40, 30)):
        x = torch.rand(shape, generator=g)
        assert torch.allclose(ssim(x, x), torch.ones(shape[0], dtype=torch.float64))
        y = torch.rand(shape, generator=g)
        assert bool((ssim(x, y) < 0.2).all())
        assert torch.allclose(ssim(x, y), ssim(y, x))


def test_ssim_matches_hand_computed_values():
    # Constant maps: no variance, so SSIM = (2 a b + C1) / (a^2 + b^2 + C1), C1 = (0.01 L)^2.
    a, b = torch.full((1, 1, 50), 0.2), torch.full((1, 1, 50), 0.6)
    assert ssim(a, b).item() == pytest.approx((2 * 0.2 * 0.6 + 1e-4) / (0.04 + 0.36 + 1e-4))
    # A zero-mean pattern against its negative: luminance 1, structure (C2 - 2 s^2)/(2 s^2 + C2)
    # with s^2 the windowed variance, which is 1 for a +-1 alternation.
    alternating = torch.tensor([1.0, -1.0]).repeat(200).view(1, 1, 400)
    s2 = 1.0  # a symmetric window over +-1 samples: mean ~0, mean square 1
    c2 = (0.03 * 2) ** 2
    expected = (c2 - 2 * s2) / (2 * s2 + c2)
    assert ssim(alternating, -alternating, data_range=2.0).item() == pytest.approx(expected,
                                                                                   abs=2e-3)
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.zeros(1, 1, 5), torch.zeros(1, 1, 5))


def reference_ssim(a: Tensor, b: Tensor, data_range: float) -> Tensor:
    """SSIM of ``(B, 1, T)`` maps in float64, window by window (Wang et al. 2004, eq. 13)."""
    taps = torch.arange(11, dtype=torch.float64) - 5
    w = torch.exp(-taps.square() / (2 * 1.5**2))
    w = w / w.sum()
    wa, wb = a.double()[:, 0].unfold(1, 11, 1), b.double()[:, 0].unfold(1, 11, 1)
    mu_a, mu_b = (wa * w).sum(-1), (wb * w).sum(-1)
    var_a = (w * (wa - mu_a[..., None]).square()).sum(-1)
    var_b = (w * (wb - mu_b[..., None]).square()).sum(-1)
    cov = (w * (wa - mu_a[..., None]) * (wb - mu_b[..., None])).sum(-1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
            / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))).mean(dim=1)


def test_ssim_agrees_with_a_float64_window_by_window_computation():
    # the blurs run in float32 on centred maps: far from zero the centring keeps them exact
    g = torch.Generator().manual_seed(1)
    a = torch.rand(4, 1, 3000, generator=g)
    b = a + 0.5 * torch.rand(4, 1, 3000, generator=g)
    for shift, scale in ((0.0, 1.0), (1000.0, 5.0)):
        x, y = a * scale + shift, b * scale + shift
        assert torch.allclose(ssim(x, y, data_range=2 * scale),
                              reference_ssim(x, y, 2 * scale), rtol=0, atol=1e-6)


def tiny_waveform_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(1, 4, 16, stride=16), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2000, 16), nn.ReLU(), nn.Linear(16, 3)).eval()


@dataclasses.dataclass(frozen=True)
class Constant:
    name: str = "constant"
    representations: frozenset = frozenset({"waveform"})

    def explain(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        return torch.ones_like(x)


def check(explainer, n: int = 8):
    model = tiny_waveform_net()
    x = waveform_input(speech_like(n))
    target = torch.arange(n) % 3
    relevance = explainer.explain(model, x, target)
    batch = EvalBatch(model=model, x=x, target=target, relevance=relevance,
                      representation="waveform", explainer=explainer)
    metric = RandomisationCheck(name="model-randomisation-check", higher_is_better=True,
                                needs=frozenset({"explainer"}))
    out = metric.score(batch)
    return out, summarize(metric, merge_outputs([out]))["summary"]


def test_model_blind_explainers_fail_and_gradients_pass():
    model = tiny_waveform_net()
    before = [p.clone() for p in model.parameters()]
    rng = torch.get_rng_state()
    verdicts = {}
    pm = PluginManager(entrypoints=False)
    builtins = [pm.explainers.get(name) for name in ("amplitude", "random", "gradient",
                                                     "gradient-x-input")]
    for explainer in (Constant(), *builtins):
        out, summary = check(explainer)
        verdicts[explainer.name] = summary
        assert summary["verdict"] == ("pass" if summary["passes"] else "fail")
    assert torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    for blind in ("constant", "amplitude", "random"):
        assert verdicts[blind]["verdict"] == "fail", blind
        assert verdicts[blind]["margin"] < 0, blind
    for sensitive in ("gradient", "gradient-x-input"):
        assert verdicts[sensitive]["verdict"] == "pass", sensitive
        assert verdicts[sensitive]["margin"] > 0.2, sensitive
    amplitude = verdicts["amplitude"]["measures"]["spearman"]
    assert amplitude["rerun"] == amplitude["trained-vs-randomised"] == 1.0
    # The random explainer is its own noise: rerun, randomised and null all near 0.
    random = verdicts["random"]["measures"]["spearman"]
    assert max(abs(random[k]) for k in ("rerun", "trained-vs-randomised",
                                        "randomised-vs-randomised")) < 0.05
    # G x I's absolute ranks follow |x| on every model: the null is high, the drop is small.
    gxi = verdicts["gradient-x-input"]["measures"]["abs-spearman"]
    assert gxi["randomised-vs-randomised"] > 0.5 and gxi["drop"] < 0.5
    # Padding is exact silence: |x N1| and |x N2| share it, so input-multiplied maps of any
    # two models correlate for free.
    assert verdicts["gradient"]["input_times_noise_spearman"] > 0.5


def test_check_outputs_and_bad_settings():
    out, summary = check(PluginManager(entrypoints=False).explainers.get("gradient"), n=3)
    for measure in ("spearman", "abs-spearman", "ssim"):
        for what in ("rerun", "trained-vs-randomised", "randomised-vs-randomised", "drop"):
            assert out.extras[f"{measure}/{what}"].shape == (3,)
    assert torch.equal(out.scores, out.extras["spearman/drop"])
    assert torch.allclose(out.extras["spearman/rerun"], torch.ones(3, dtype=torch.float64))
    assert out.info["rerun"] == "the relevance itself: a deterministic explainer"
    seeded, _ = check(PluginManager(entrypoints=False).explainers.get("random"), n=3)
    assert seeded.info["rerun"] == "explained again with a fresh seed"
    assert out.info["ranked"] is False
    with pytest.raises(AudioXaiError, match="verdict_on must name some of"):
        RandomisationCheck(name="c", higher_is_better=True, verdict_on=("hog",))
    with pytest.raises(AudioXaiError, match="no layer to re-initialise"):
        randomised_copy(nn.ReLU(), 0, torch.device("cpu"))


def test_a_subset_check_scores_only_its_samples():
    gradient = PluginManager(entrypoints=False).explainers.get("gradient")
    model = tiny_waveform_net()
    x = waveform_input(speech_like(8))
    target = torch.arange(8) % 3
    batch = EvalBatch(model=model, x=x, target=target, relevance=gradient.explain(model, x, target),
                      representation="waveform", explainer=gradient)
    full = RandomisationCheck(name="c", higher_is_better=True).score(batch)
    part = RandomisationCheck(name="c", higher_is_better=True, samples=3).score(batch)
    checked = torch.isfinite(part.scores)
    assert int(checked.sum()) == 3 and checked[0] and checked[-1]  # spread over the batch
    assert part.info["samples_checked"] == "3 of 8"
    # the checked samples score what the whole batch gives them: samples are independent
    assert torch.allclose(part.scores[checked], full.scores[checked])
    assert torch.isnan(part.extras["ssim/drop"][~checked]).all()
    with pytest.raises(AudioXaiError, match="samples must be at least 2"):
        RandomisationCheck(name="c", higher_is_better=True, samples=1)


def test_randomisation_metrics_register_as_descriptive():
    pm = PluginManager(entrypoints=False)
    for name in ("model-randomisation-check", "model-randomisation"):
        metric = pm.metrics.get(name)
        assert metric.ranked is False and metric.needs == {"explainer"}
