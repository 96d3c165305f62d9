"""The paper preset starts from the original Caffe nets' weight fillers (science audit 7, H1):
the paper's SGD learning rates were tuned on them, not on PyTorch's initialisation."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from audioxai_bench.builtin.models import BUILTIN_MODELS
from audioxai_bench.models import AlexNetSpectrogram, AudioNet, ModelError, TrainConfig
from audioxai_bench.models.train import initialise
from audioxai_bench.run.artifacts import make_recipe

# soerenab/AudioMNIST models/*/*_train.prototxt: (weight_filler std, bias_filler value) of each
# weight layer in order
PROTOTXT = {
    "audionet": [(0.1, 0.0)] * 9,  # conv1-conv6, fc7-fc9
    "alexnet": [(0.01, 0.0), (0.01, 0.1), (0.01, 0.0), (0.01, 0.1), (0.01, 0.1),  # conv1-5
                (0.005, 0.1), (0.005, 0.1), (0.01, 0.0)],  # fc6-fc8
}
NETS = {"audionet": AudioNet, "alexnet": AlexNetSpectrogram}


@pytest.mark.parametrize("name", sorted(NETS))
def test_caffe_init_draws_every_weight_layer_from_its_prototxt_fillers(name: str) -> None:
    torch.manual_seed(0)
    model = NETS[name](n_classes=10)
    initialise(model, "caffe")
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    assert len(layers) == len(PROTOTXT[name])
    for layer, (std, bias) in zip(layers, PROTOTXT[name], strict=True):
        weight = layer.weight.detach().double()
        n = weight.numel()
        assert abs(weight.mean().item()) < 5 * std / math.sqrt(n)
        # the sample std of n Gaussian draws lies within 5 standard errors of sigma
        assert abs(weight.std().item() - std) < 5 * std / math.sqrt(2 * n)
        assert torch.equal(layer.bias.detach(), torch.full_like(layer.bias, bias))


def test_default_init_keeps_the_layers_own_weights() -> None:
    torch.manual_seed(0)
    model = AudioNet(n_classes=2, width=0.125)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    initialise(model, "default")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_caffe_init_of_a_model_without_fillers_fails_naming_it() -> None:
    with pytest.raises(ModelError, match="Sequential lists no Caffe fillers"):
        initialise(nn.Sequential(nn.Linear(2, 2)), "caffe")
    with pytest.raises(ValueError, match="TrainConfig.init must be one of default, caffe"):
        TrainConfig(init="xavier")


def test_the_paper_presets_start_from_the_caffe_fillers_and_key_apart() -> None:
    for spec in BUILTIN_MODELS:
        assert spec.presets["paper"].init == "caffe" and spec.presets["cpu"].init == "default"
        paper = make_recipe(spec, "builtin 0.1.0", "digit", 0, "paper")
        assert paper.key != dataclasses.replace(
            paper, config=dataclasses.replace(paper.config, init="default")).key

    @dataclasses.dataclass(frozen=True)
    class Before(TrainConfig):  # the settings as they were before ``init`` existed
        def to_dict(self) -> dict:
            return {k: v for k, v in super().to_dict().items() if k != "init"}

    cpu = make_recipe(BUILTIN_MODELS[0], "builtin 0.1.0", "digit", 0, "cpu")
    # models cached before keep their keys
    assert cpu.key == dataclasses.replace(cpu, config=Before(**cpu.config.to_dict())).key
