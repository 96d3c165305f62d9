"""Built-in explainers: equal to zennit/captum called directly, LRP theory, and the contract."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from audioxai_bench.errors import AudioXaiError
from audioxai_bench.models import build_model
from audioxai_bench.plugins import PluginManager, run_explainer

MODELS = ("audionet", "alexnet")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")



@pytest.fixture(scope="module")
def pm() -> PluginManager:
    return PluginManager(entrypoints=False, strict=True)


@pytest.fixture(scope="module")
def nets() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {name: build_model(name, n_classes=10, width=0.125).eval() for name in MODELS}


@pytest.fixture(scope="module")
def batches() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    wave = torch.randn(2, 1, 8000, generator=gen) * 2
    # dB spectrogram: at most 0 (the maximum), floor -80
    spec = (-80 * torch.rand(2, 1, 227, 227, generator=gen)).clamp(-80, 0)
    spec[:, :, 0, 0] = 0.0
    target = torch.tensor([3, 7])
    return {"audionet": (wave, target), "alexnet": (spec, target)}


def cheap(pm: PluginManager, name: str, model: str):
    """The registered explainer, with occlusion on spectrograms coarsened to stay fast."""
    explainer = pm.explainers.get(name)
    if name == "occlusion" and model == "alexnet":
        explainer = explainer.with_params(spectrogram_window=[32, 32], spectrogram_stride=[32, 32])
    return explainer


def bias_free(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model)
    with torch.no_grad():
        for module in model.modules():
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
    return model


def target_logit(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).gather(1, target[:, None]).squeeze(1)


# --- the contract, for every built-in on both models ------------------------------------------

ALL = sorted({
    "lrp-epsilon", "lrp-epsilon-plus-flat", "lrp-epsilon-alpha2-beta1", "lrp-epsilon-gamma-box",
    "gradient", "gradient-x-input", "integrated-gradients", "smoothgrad", "occlusion",
    "random", "amplitude",
})
#: The 0 dB reference variants: registered for spectrograms only (on waveforms zero is silence).
ZERO_DB = ("gradient-x-input-0db", "lrp-epsilon-0db", "lrp-epsilon-alpha2-beta1-0db")


@pytest.mark.parametrize("model, name", [(m, n) for m in MODELS for n in ALL]
                         + [("alexnet", n) for n in ZERO_DB])
def test_contract_on_both_models(pm, nets, batches, model, name):
    """Shape, finiteness, unchanged model (checked by the harness), eval-mode explanation."""
    net, (x, target) = nets[model], batches[model]
    explainer = cheap(pm, name, model)
    assert model.replace("audionet", "waveform").replace("alexnet", "spectrogram") in (
        explainer.representations)
    net.train()  # a model in training mode, with gradients lying around
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    try:
        first = run_explainer(explainer, net, x, target, plugin="builtin")
        assert net.training and all(torch.equal(p.grad, torch.ones_like(p))
                                    for p in net.parameters())
        net.eval()
        second = run_explainer(explainer, net, x, target, plugin="builtin")
    finally:
        net.eval()
        for p in net.parameters():
            p.grad = None
    assert first.shape == x.shape and first.device == x.device and not first.requires_grad
    # identical on repeated calls, and dropout was off in training mode too
    assert torch.equal(first, second)
    if name not in ("random", "amplitude"):
        assert first.abs().sum() > 0


def test_explain_works_under_no_grad(pm, nets, batches):
    x, target = batches["audionet"]
    with torch.no_grad():
        relevance = pm.explain("gradient", nets["audionet"], x, target)
    assert relevance.abs().sum() > 0


# --- equal to calling zennit directly ---------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_lrp_equals_direct_zennit(pm, nets, batches, model):
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonAlpha2Beta1, EpsilonGammaBox, EpsilonPlusFlat

    net, (x, target) = nets[model], batches[model]
    dims = tuple(range(1, x.dim()))
    low = x.amin(dim=dims, keepdim=True).expand_as(x)
    high = x.amax(dim=dims, keepdim=True).expand_as(x)
    direct = {
        "lrp-epsilon-plus-flat": EpsilonPlusFlat(),
        "lrp-epsilon-alpha2-beta1" + ("-0db" if model == "alexnet" else ""): EpsilonAlpha2Beta1(),
        "lrp-epsilon-gamma-box": EpsilonGammaBox(low=low, high=high),
    }
    for name, composite in direct.items():
        with Gradient(model=net, composite=composite) as attributor:
            out = net(x)
            start = F.one_hot(target, out.shape[1]).float() * out.detach()
            _, expected = attributor(x.clone().requires_grad_(), start)
        torch.testing.assert_close(pm.explain(name, net, x, target), expected, rtol=0, atol=0)


def test_lrp_epsilon_to_zero_equals_gradient_x_input(pm, nets, batches):
    """LRP-ε with ε → 0 is gradient × (x − reference) on ReLU nets (Ancona et al. 2018), for
    the silence reference (-80 dB on spectrograms) and the paper's zero alike."""
    for model in MODELS:
        net, (x, target) = nets[model], batches[model]
        for reference in ("silence", "zero"):
            lrp = pm.explainers.get("lrp-epsilon").with_params(epsilon=1e-12, stabilizer=1e-12,
                                                               reference=reference)
            gxi = pm.explainers.get("gradient-x-input").with_params(reference=reference)
            expected = gxi.explain(net, x, target)
            torch.testing.assert_close(lrp.explain(net, x, target), expected, rtol=1e-3,
                                       atol=1e-6 * float(expected.abs().max()))


# --- LRP conservation where theory says it holds ----------------------------------------------


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", ["lrp-epsilon", "lrp-epsilon-plus-flat", "lrp-epsilon-gamma-box"])
def test_lrp_conserves_the_logit_without_biases(pm, nets, batches, model, name):
    """Bias-free ReLU nets: ε-, z+-, flat-, γ- and z^B-rules pass all relevance down (Bach et
    al. 2015; Montavon et al. 2017) when ε is tiny; relevance sums to the target logit. (For
    ε relative to zero: the silence reference is a bias of the reparameterised first layer.)"""
    net = bias_free(nets[model])
    x, target = batches[model]
    explainer = pm.explainers.get(name).with_params(epsilon=1e-9, stabilizer=1e-9)
    if name == "lrp-epsilon":
        explainer = explainer.with_params(reference="zero")
    relevance = explainer.explain(net, x, target)
    logit = target_logit(net, x, target)
    assert logit.abs().min() > 1e-5  # the check is not trivially 0 == 0
    torch.testing.assert_close(relevance.flatten(1).sum(1), logit, rtol=1e-3, atol=1e-7)


def test_epsilon_absorbs_relevance(pm, nets, batches):
    """A large ε absorbs relevance, so conservation fails: the test above could fail."""
    net = bias_free(nets["audionet"])
    x, target = batches["audionet"]
    relevance = pm.explainers.get("lrp-epsilon").with_params(epsilon=10.0).explain(net, x, target)
    logit = target_logit(net, x, target)
    assert (relevance.flatten(1).sum(1).abs() < 0.5 * logit.abs()).all()


# --- equal to calling captum directly ---------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_gradient_methods_equal_direct_captum(pm, nets, batches, model):
    from captum.attr import InputXGradient, IntegratedGradients, Saliency

    net, (x, target) = nets[model], batches[model]
    xg = x.clone().requires_grad_()
    exact = dict(rtol=0, atol=0)
    torch.testing.assert_close(pm.explain("gradient", net, x, target),
                               Saliency(net).attribute(xg, target=target, abs=False), **exact)
    zero = pm.explainers.get("gradient-x-input").with_params(reference="zero")
    torch.testing.assert_close(zero.explain(net, x, target),
                               InputXGradient(net).attribute(xg, target=target), **exact)

    baseline = torch.zeros_like(x) if model == "audionet" else torch.full_like(x, -80.0)
    ig = IntegratedGradients(net).attribute(xg, baselines=baseline, target=target, n_steps=50,
                                            internal_batch_size=256)
    torch.testing.assert_close(pm.explain("integrated-gradients", net, x, target), ig, **exact)


def test_occlusion_equals_direct_captum(pm, nets, batches):
    from captum.attr import Occlusion

    net, (x, target) = nets["audionet"], batches["audionet"]
    expected = Occlusion(net).attribute(x, sliding_window_shapes=(1, 80), strides=(1, 40),
                                        baselines=torch.zeros_like(x), target=target,
                                        perturbations_per_eval=128)
    torch.testing.assert_close(pm.explain("occlusion", net, x, target), expected, rtol=0, atol=0)


def test_integrated_gradients_completeness(pm, nets, batches):
    """Sum of IG = f(x) - f(baseline) (Sundararajan et al. 2017), on both baselines' models."""
    ig = pm.explainers.get("integrated-gradients").with_params(n_steps=128)
    for model in MODELS:
        net, (x, target) = nets[model], batches[model]
        baseline = torch.zeros_like(x) if model == "audionet" else torch.full_like(x, -80.0)
        gap = target_logit(net, x, target) - target_logit(net, baseline, target)
        total = ig.explain(net, x, target).flatten(1).sum(1)
        torch.testing.assert_close(total, gap, rtol=0.05, atol=1e-4)


# --- passes, baselines, variants --------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_passes_match_forward_calls(pm, nets, batches, model):
    net, (x, target) = nets[model], batches[model]
    x, target = x[:2], target[:2]
    rows = []
    handle = net.register_forward_pre_hook(lambda m, inp: rows.append(inp[0].shape[0]))
    try:
        for name in ("occlusion", "integrated-gradients", "smoothgrad", "gradient"):
            rows.clear()
            explainer = pm.explainers.get(name)
            explainer.explain(net, x, target)
            assert sum(rows) // len(x) == explainer.passes(tuple(x.shape[1:])), name
    finally:
        handle.remove()
    assert pm.explainers.get("occlusion").passes((1, 227, 227)) == 1 + 14 * 14


def test_random_is_seeded_and_amplitude_ranks_loudness(pm, nets, batches):
    wave, target = batches["audionet"]
    spec, _ = batches["alexnet"]
    rand = pm.explainers.get("random")
    one = rand.explain(nets["audionet"], wave, target)
    assert torch.equal(one, rand.explain(nets["audionet"], wave, target))
    assert not torch.equal(one, rand.with_params(seed=1).explain(nets["audionet"], wave, target))
    alone = rand.explain(nets["audionet"], wave[1:2], target[1:2])
    assert torch.equal(alone[0], one[1])  # a sample's map does not depend on its batch
    again = rand.explain(nets["audionet"], torch.cat([wave[1:2], wave[1:2]]), target[:2])
    assert torch.equal(again[0], again[1]) and not torch.equal(one[0], one[1])
    assert -1 <= one.min() < 0 < one.max() < 1
    # signed: summed over AlexNet's 8 x 8 tiles, the 3-bin edge tiles fall mid-order, not last
    # (drawn from [0, 1) every one of them ranked below every whole tile)
    tiles = F.pad(rand.explain(nets["alexnet"], spec, target), (0, 5, 0, 5))
    sums = F.avg_pool2d(tiles, 8, divisor_override=1).flatten(1)  # (B, 29 * 29)
    edge = torch.zeros(29, 29, dtype=torch.bool)
    edge[-1], edge[:, -1] = True, True
    rank = sums.argsort(dim=1, descending=True).argsort(dim=1).float() / (29 * 29 - 1)
    assert 0.35 < rank[:, edge.flatten()].mean() < 0.65
    amp = pm.explainers.get("amplitude")
    assert torch.equal(amp.explain(nets["audionet"], wave, target), wave.abs())
    level = amp.explain(nets["alexnet"], spec, target)  # dB above the floor: loudest largest
    assert torch.equal(level, spec + 80)
    assert level.amin() >= 0 and level.amax(dim=(1, 2, 3)).eq(80).all()


def test_with_params_converts_yaml_values(pm):
    occ = pm.explainers.get("occlusion").with_params(spectrogram_window=[8, 4])
    assert occ.spectrogram_window == (8, 4)
    assert pm.explainers.get("smoothgrad").with_params(noise_level=1).noise_level == 1.0
    assert pm.explainers.get("lrp-epsilon").params == {
        "composite": "epsilon", "epsilon": 0.25, "gamma": 0.25, "stabilizer": 1e-6,
        "low": None, "high": None, "reference": "silence"}


@pytest.mark.parametrize(("params", "message"), [
    ({"epsilon": -0.25}, "epsilon must be positive, got -0.25"),
    ({"epsilon": 0}, "epsilon must be positive, got 0.0"),
    ({"stabilizer": -1e-6}, "stabilizer must be positive"),
    ({"gamma": -0.25}, "gamma must be non-negative"),
    ({"low": 1.0, "high": -1.0}, "low must be below high, got low=1.0, high=-1.0"),
])
def test_lrp_refuses_parameters_that_are_no_longer_its_rule(pm, params, message):
    """A negative ε flips small contributions' sign instead of damping them: the map would be
    scored under LRP-ε's name while being something else."""
    with pytest.raises(AudioXaiError, match=rf"^explainer 'lrp-epsilon': {re.escape(message)}"):
        pm.explainers.get("lrp-epsilon").with_params(**params)


def _first_pool_field(net: nn.Module) -> int:
    """Input bins one unit after the first max-pool reads (receptive field along one axis)."""
    field, jump = 1, 1
    for layer in net.features:
        if not hasattr(layer, "kernel_size"):
            continue
        kernel, stride = (v if isinstance(v, int) else v[0]
                          for v in (layer.kernel_size, layer.stride))
        field, jump = field + (kernel - 1) * jump, jump * stride
        if isinstance(layer, nn.MaxPool2d):
            return field
    raise AssertionError("no max-pool in the feature stack")


def test_default_occlusion_patches_are_wider_than_a_first_pool_unit_reads(pm, nets, batches):
    """A patch narrower than what one of AlexNet's first max-pooled units reads leaves the
    pool's other maxima in place (8 × 8 and 16 × 16 patches ranked no better than random on the
    quickstart's AlexNets); the default overlaps by half and still reaches the last bin and
    frame (captum rounds window positions up)."""
    occlusion = pm.explainers.get("occlusion")
    (_, *window), (_, *stride) = occlusion.window((1, 227, 227))
    field = _first_pool_field(nets["alexnet"])
    assert field == 19 and min(window) > field and [2 * s for s in stride] == window
    x, target = batches["alexnet"]
    relevance = occlusion.explain(nets["alexnet"], x[:1], target[:1])[0, 0]
    assert relevance[-1, :].abs().sum() > 0 and relevance[:, -1].abs().sum() > 0
    assert relevance[0, 0] != relevance[0, 20]  # overlapping patches: not constant on a patch


# --- SmoothGrad: noise relative to each sample's own range ------------------------------------


def test_smoothgrad_map_does_not_depend_on_batch_mates(pm, nets, batches):
    """A clip's map is the same alone and beside a louder clip (the noise scale used to be the
    batch's range, so a loud batch-mate blurred every other map)."""
    net, (x, target) = nets["audionet"], batches["audionet"]
    smoothgrad = pm.explainers.get("smoothgrad").with_params(n_samples=4)
    alone = smoothgrad.explain(net, x[1:], target[1:])
    loud = torch.cat([x[:1] * 50, x[1:]])
    together = smoothgrad.explain(net, loud, target)
    torch.testing.assert_close(together[1:], alone, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(together[:1], smoothgrad.explain(net, x[:1], target[:1]))


def test_smoothgrad_noise_follows_each_sample_and_zero_noise_is_the_gradient(pm, nets, batches):
    net, (x, target) = nets["alexnet"], batches["alexnet"]
    x = torch.cat([x[:1], x[1:] / 4])  # ranges 80 and 20 dB
    smoothgrad = pm.explainers.get("smoothgrad").with_params(n_samples=64)
    noise = smoothgrad.noise(x)
    assert noise.shape == (64, *x.shape)
    spread = x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3))
    torch.testing.assert_close(noise.std(dim=(0, 2, 3, 4)), 0.15 * spread, rtol=0.01, atol=0)
    quiet = smoothgrad.with_params(noise_level=0.0, n_samples=2)
    torch.testing.assert_close(quiet.explain(net, x, target),
                               pm.explain("gradient", net, x, target), rtol=1e-6, atol=1e-9)
    few_rows = smoothgrad.with_params(n_samples=4, internal_batch_size=2)
    torch.testing.assert_close(few_rows.explain(net, x, target),
                               smoothgrad.with_params(n_samples=4).explain(net, x, target),
                               rtol=1e-5, atol=1e-9)
