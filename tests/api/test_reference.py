"""One "absent": silence as the reference of every explainer, exact by reparameterisation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from audioxai_bench.api.explainer import silence_of
from audioxai_bench.api.reference import relative_to
from audioxai_bench.builtin.explainers_lrp import ZennitLRP
from audioxai_bench.data.preprocess import (
    DB_TOP,
    pad_to_window,
    resample_batch,
    to_model_input,
)
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.models import build_model
from audioxai_bench.plugins import PluginManager
from tests.helpers import tone_clip

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
TARGET = torch.tensor([1, 4, 7])


@pytest.fixture(scope="module")
def pm() -> PluginManager:
    return PluginManager(entrypoints=False, strict=True)


@pytest.fixture(scope="module")
def signals() -> torch.Tensor:
    """Three preprocessed tone clips at 8 kHz, padded into the one-second window."""
    clips = resample_batch([tone_clip(int(d), 12, 0).astype(np.float32) for d in TARGET], 48_000)
    return torch.stack([torch.from_numpy(pad_to_window(c, 300 * i)) for i, c in
                        enumerate(clips)])


@pytest.fixture(scope="module")
def inputs(signals) -> dict[str, torch.Tensor]:
    return {"audionet": to_model_input(signals, "waveform"),
            "alexnet": to_model_input(signals, "spectrogram")}


def briefly_trained(net: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy after a few Adam steps: weights and biases no longer at their initialisation."""
    net = copy.deepcopy(net).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(net(x), TARGET).backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def nets(inputs) -> dict[tuple[str, str], nn.Module]:
    torch.manual_seed(0)
    out = {}
    for name in ("audionet", "alexnet"):
        net = build_model(name, n_classes=10, width=0.125).eval()
        out[name, "init"] = net
        out[name, "trained"] = briefly_trained(net, inputs[name])
    return out


def test_silence_is_the_floor_of_the_representation(inputs):
    """Real spectrograms reach the -80 dB floor, so the floor equals each sample's minimum
    there; a clip that fills the window with sound has no bin at the floor, and silence is
    still -80 dB, not its minimum."""
    spec, wave = inputs["alexnet"], inputs["audionet"]
    assert DB_TOP == 80.0
    assert torch.equal(silence_of(spec).flatten(), torch.full((3,), -80.0))
    assert torch.equal(spec.amin(dim=(1, 2, 3)), silence_of(spec).flatten())
    assert torch.equal(spec.amax(dim=(1, 2, 3)), torch.zeros(3))
    noise = torch.randn(1, 8000, generator=torch.Generator().manual_seed(0))
    loud = to_model_input(noise, "spectrogram")
    assert loud.amin() > -75 and silence_of(loud).item() == -80.0
    assert torch.equal(silence_of(wave), torch.zeros(3, 1, 1))


@pytest.mark.parametrize("state", ["init", "trained"])
@pytest.mark.parametrize("model, reference", [("alexnet", "silence"), ("audionet", 0.5)])
def test_the_reparameterised_model_computes_the_same_logits(nets, inputs, model, reference,
                                                              state):
    """model'(x - r) = model(x): AlexNet at -80 dB (conv1 unpadded: the shift folds into its
    bias), AudioNet at an artificial r = 0.5 (conv1 pads by 1: the padding moves into the
    input, padded with -r). Silence on waveforms is 0, where the model is returned as it is."""
    net, x = nets[model, state], inputs[model]
    r = silence_of(x) if reference == "silence" else reference
    before = {k: v.clone() for k, v in net.state_dict().items()}
    shifted = relative_to(net, x, r)
    assert shifted.model is not net
    with torch.no_grad():
        expected, got = net(x), shifted.model(shifted.x)
    assert (got - expected).abs().max() <= 1e-5
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    if model == "audionet":
        assert shifted.x.shape[-1] == 8002 and shifted.model.features[0].padding == (0,)
        assert torch.equal(shifted.x[..., 0], torch.full((3, 1), -0.5))
    assert torch.equal(shifted.relevance(shifted.x), x - r)
    assert relative_to(net, inputs["audionet"], 0.0).model is net  # nothing to shift


@pytest.mark.parametrize("model, r", [("alexnet", -80.0), ("audionet", 0.5)])
def test_gradient_x_input_relative_to_r_is_gradient_times_x_minus_r(pm, nets, inputs, model, r):
    from captum.attr import InputXGradient, Saliency

    net, x = nets[model, "trained"], inputs[model]
    gradient = Saliency(net).attribute(x.clone().requires_grad_(), target=TARGET, abs=False)
    shifted = relative_to(net, x, r)
    got = shifted.relevance(InputXGradient(shifted.model).attribute(
        shifted.x.clone().requires_grad_(), target=TARGET))
    torch.testing.assert_close(got, gradient * (x - r), rtol=1e-4, atol=1e-7)
    if model == "alexnet":  # the registered explainer: silence by default, 0 dB as -0db
        torch.testing.assert_close(pm.explain("gradient-x-input", net, x, TARGET), got,
                                   rtol=0, atol=0)
        paper = pm.explain("gradient-x-input-0db", net, x, TARGET)
        torch.testing.assert_close(paper, gradient * x, rtol=0, atol=0)
        assert (paper - got).abs().mean() > 0.5 * got.abs().mean()  # the reference matters


def test_lrp_epsilon_with_silence_tends_to_gradient_times_x_minus_silence(pm, nets, inputs):
    """Ancona et al. (2018): LRP-ε → G × (x − reference) as ε → 0, here at -80 dB."""
    net, x = nets["alexnet", "trained"], inputs["alexnet"]
    lrp = pm.explainers.get("lrp-epsilon").with_params(epsilon=1e-12, stabilizer=1e-12)
    expected = pm.explain("gradient-x-input", net, x, TARGET)
    torch.testing.assert_close(lrp.explain(net, x, TARGET), expected, rtol=1e-3,
                               atol=1e-5 * float(expected.abs().max()))


def test_on_waveforms_silence_is_zero_and_nothing_changes(pm, nets, inputs):
    net, x = nets["audionet", "trained"], inputs["audionet"]
    for name in ("gradient-x-input", "lrp-epsilon", "lrp-epsilon-alpha2-beta1"):
        explainer = pm.explainers.get(name)
        assert explainer.reference == "silence"
        assert torch.equal(explainer.explain(net, x, TARGET),
                           explainer.with_params(reference="zero").explain(net, x, TARGET))


@pytest.mark.parametrize("name", ["lrp-epsilon-plus-flat", "lrp-epsilon-gamma-box"])
def test_input_rule_composites_do_not_depend_on_the_reference(pm, nets, inputs, name):
    """The flat and z^B input rules set their own reference: the same maps when the model is
    reparameterised to silence (the shifted box bounds are x's own minimum and maximum)."""
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat

    net, x = nets["alexnet", "trained"], inputs["alexnet"]
    explainer = pm.explainers.get(name)
    assert explainer.reference == "input-rule"
    shifted = relative_to(net, x, silence_of(x))
    xs = shifted.x
    dims = (1, 2, 3)
    composite = EpsilonPlusFlat() if name.endswith("flat") else EpsilonGammaBox(
        low=xs.amin(dim=dims, keepdim=True).expand_as(xs),
        high=xs.amax(dim=dims, keepdim=True).expand_as(xs))
    with Gradient(model=shifted.model, composite=composite) as attributor:
        out = shifted.model(xs)
        start = F.one_hot(TARGET, out.shape[1]).float() * out.detach()
        _, expected = attributor(xs.clone().requires_grad_(), start)
    got = explainer.explain(net, x, TARGET)
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-5 * float(got.abs().max()))


class ReadsInputTwice(nn.Module):
    """A skip connection from the input to the output: no first-layer bias can absorb a shift."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 2, 3)
        self.head = nn.Linear(2 * 98, 3)

    def forward(self, x):
        return self.head(self.conv(x).flatten(1)) + x.mean(dim=(1, 2))[:, None]


def test_a_model_whose_input_skips_the_first_layer_fails_with_the_reason():
    x = torch.randn(2, 1, 100)
    with pytest.raises(AudioXaiError, match=r"folding the shift into conv changes .*'zero'"):
        relative_to(ReadsInputTwice(), x, 0.5)
    with pytest.raises(AudioXaiError, match="one constant"):
        relative_to(ReadsInputTwice(), x, torch.tensor([[[0.0]], [[1.0]]]))


def test_reference_parameters_are_validated_and_recorded(pm):
    assert pm.explainers.get("lrp-epsilon-0db").params["reference"] == "zero"
    assert pm.explainers.get("lrp-epsilon-alpha2-beta1-0db").representations == {"spectrogram"}
    assert pm.explainers.get("gradient-x-input-0db").params == {"reference": "zero"}
    with pytest.raises(ValueError, match="takes reference 'input-rule'"):
        ZennitLRP(name="x", composite="epsilon-plus-flat", reference="silence")
    with pytest.raises(ValueError, match="takes reference 'silence' or 'zero'"):
        ZennitLRP(name="x", composite="epsilon", reference="input-rule")
    with pytest.raises(AudioXaiError, match="unknown reference"):
        pm.explainers.get("gradient-x-input").with_params(reference="loud")
