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
    assert out.info["ranked"] is False
    with pytest.raises(AudioXaiError, match="verdict_on must name some of"):
        RandomisationCheck(name="c", higher_is_better=True, verdict_on=("hog",))
    with pytest.raises(AudioXaiError, match="no layer to re-initialise"):
        randomised_copy(nn.ReLU(), 0, torch.device("cpu"))


def test_randomisation_metrics_register_as_descriptive():
    pm = PluginManager(entrypoints=False)
    for name in ("model-randomisation-check", "model-randomisation"):
        metric = pm.metrics.get(name)
        assert metric.ranked is False and metric.needs == {"explainer"}
