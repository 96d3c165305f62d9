"""Architecture of the reference models (Becker et al., arXiv 1807.03418) and their
registry."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from audioxai_bench.errors import AudioXaiError
from audioxai_bench.models import (
    MODEL_NAMES,
    AlexNetSpectrogram,
    AudioNet,
    build_model,
    get_model_class,
)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("n_classes", [10, 2])
def test_audionet_lengths_and_output(n_classes: int) -> None:
    model = AudioNet(n_classes).eval()
    x = torch.randn(2, 1, 8000)
    lengths, channels = [], []
    with torch.no_grad():
        h = x
        for layer in model.features:
            h = layer(h)
            if isinstance(layer, nn.MaxPool1d):
                lengths.append(h.shape[-1])
                channels.append(h.shape[1])
        assert lengths == [4000, 2000, 1000, 500, 250, 125]
        assert channels == [100, 64, 128, 128, 128, 128]
        assert h.flatten(1).shape[1] == 16000
        assert model.classifier[1].in_features == 16000
        assert model(x).shape == (2, n_classes)


@pytest.mark.parametrize("n_classes", [10, 2])
def test_alexnet_feature_map_and_output(n_classes: int) -> None:
    model = AlexNetSpectrogram(n_classes).eval()
    x = torch.randn(2, 1, 227, 227)
    with torch.no_grad():
        assert model.features(x).shape == (2, 256, 6, 6)
        assert model(x).shape == (2, n_classes)


@pytest.mark.parametrize("width", [0.125, 0.1, 0.03])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_narrow_models_run(name: str, width: float) -> None:
    model = build_model(name, 2, width).eval()
    x = torch.randn(3, *get_model_class(name).input_shape)
    with torch.no_grad():
        assert model(x).shape == (3, 2)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):  # two-group convolutions need even channel counts
            assert m.in_channels % m.groups == 0 and m.out_channels % 2 == 0


def test_audionet_parameter_count_by_hand() -> None:
    convs = [(1, 100), (100, 64), (64, 128), (128, 128), (128, 128), (128, 128)]
    conv = sum(i * o * 3 + o for i, o in convs)
    dense = (16000 * 1024 + 1024) + (1024 * 512 + 512) + (512 * 10 + 10)
    assert n_params(AudioNet(10)) == conv + dense == 17_107_162
    assert n_params(AudioNet(10, hidden_activation=True)) == 17_107_162


def test_alexnet_parameter_count_by_hand() -> None:
    conv = (
        (1 * 96 * 11 * 11 + 96)
        + (96 // 2 * 256 * 5 * 5 + 256)  # two groups: each filter sees half the inputs
        + (256 * 384 * 9 + 384)
        + (384 // 2 * 384 * 9 + 384)
        + (384 // 2 * 256 * 9 + 256)
    )
    dense = (256 * 6 * 6 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 10 + 10)
    assert n_params(AlexNetSpectrogram(10)) == conv + dense == 12_808_906


def test_audionet_width_scaling() -> None:
    model = AudioNet(10, width=0.25)
    convs = [m for m in model.features if isinstance(m, nn.Conv1d)]
    assert [c.out_channels for c in convs] == [25, 16, 32, 32, 32, 32]
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (32 * 125, 256),
        (256, 128),
        (128, 10),
    ]


def test_hidden_activation_switch() -> None:
    def relus(model: nn.Module) -> int:
        return sum(isinstance(m, nn.ReLU) for m in model.classifier)

    assert relus(AudioNet(10)) == 0  # the Caffe net: no activation after the dense layers
    assert relus(AudioNet(10, hidden_activation=True)) == 2
    assert relus(AlexNetSpectrogram(10)) == 2


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_layers_are_hookable_modules(name: str) -> None:
    """LRP and captum attach to module types: nothing in-place, pools and flatten as modules."""
    model = build_model(name, 10, 0.125)
    assert set(dict(model.named_children())) == {"features", "classifier"}
    kinds = {type(m) for m in model.modules()}
    assert nn.Flatten in kinds and nn.ReLU in kinds and nn.Dropout in kinds
    assert all(not getattr(m, "inplace", False) for m in model.modules())


def test_registry_attributes() -> None:
    assert MODEL_NAMES == ("audionet", "alexnet")
    assert get_model_class("audionet").representation == "waveform"
    assert get_model_class("audionet").input_shape == (1, 8000)
    assert get_model_class("alexnet").representation == "spectrogram"
    assert get_model_class("alexnet").input_shape == (1, 227, 227)
    model = build_model("audionet", 2, 0.5, hidden_activation=True)
    assert isinstance(model, AudioNet) and model.hidden_activation and model.n_classes == 2
    assert model.build_args() == {"n_classes": 2, "width": 0.5, "hidden_activation": True}


def test_unknown_model_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet'.*audionet, alexnet") as err:
        build_model("resnet", 10)
    assert isinstance(err.value, AudioXaiError)  # the CLI shows it as one line


def test_bad_options_and_width() -> None:
    with pytest.raises(ValueError, match="bad options for model 'alexnet'"):
        build_model("alexnet", 10, hidden_activation=True)
    with pytest.raises(ValueError, match="width must be positive"):
        build_model("audionet", 10, width=0.0)


def test_zennit_lrp_keeps_input_shape() -> None:
    """The models are LRP-ready: a zennit composite attaches and relevance has x's shape."""
    zennit_attr = pytest.importorskip("zennit.attribution")
    composites = pytest.importorskip("zennit.composites")
    for name in MODEL_NAMES:
        torch.manual_seed(0)
        model = build_model(name, 10, 0.125).eval()
        x = torch.randn(2, *get_model_class(name).input_shape)
        with zennit_attr.Gradient(model, composites.EpsilonPlusFlat()) as attributor:
            out, relevance = attributor(x, torch.eye(10)[[3, 7]])
        assert out.shape == (2, 10) and relevance.shape == x.shape
        assert torch.isfinite(relevance).all()


def test_the_input_convolution_trains_like_nn_conv2d():
    """AlexNet's first layer computes its weight gradient as a dilated convolution in training
    (models/layers.py): the same values as nn.Conv2d's, to float32 rounding; the same module
    type and the stock path wherever the input needs a gradient (explanations)."""
    from audioxai_bench.models.layers import InputConv2d

    torch.manual_seed(0)
    fast = InputConv2d(1, 6, kernel_size=11, stride=4)
    stock = nn.Conv2d(1, 6, kernel_size=11, stride=4)
    stock.load_state_dict(fast.state_dict())
    x = torch.randn(5, 1, 227, 227)
    out_fast, out_stock = fast(x), stock(x)
    assert torch.equal(out_fast, out_stock)
    assert out_fast.grad_fn is not None and "WeightGradByConvolution" in out_fast.grad_fn.name()
    g = torch.randn_like(out_fast)
    fast_grads = torch.autograd.grad(out_fast, (fast.weight, fast.bias), g)
    stock_grads = torch.autograd.grad(out_stock, (stock.weight, stock.bias), g)
    for mine, theirs in zip(fast_grads, stock_grads):
        assert torch.allclose(mine, theirs, rtol=1e-4, atol=1e-4 * theirs.abs().max())
    xg = x.clone().requires_grad_()
    assert "WeightGradByConvolution" not in fast(xg).grad_fn.name()  # explaining: the stock path
    assert isinstance(AlexNetSpectrogram(10).features[0], nn.Conv2d)


def test_a_model_revision_keys_its_cache_apart():
    from audioxai_bench.builtin.models import BUILTIN_MODELS
    from audioxai_bench.run.artifacts import make_recipe

    specs = {s.name: s for s in BUILTIN_MODELS}
    alexnet = make_recipe(specs["alexnet"], "builtin 0.1.0", "digit", 0, "cpu")
    assert specs["alexnet"].revision == 1
    before = make_recipe(dataclasses.replace(specs["alexnet"], revision=0), "builtin 0.1.0",
                         "digit", 0, "cpu")
    assert alexnet.key != before.key


@pytest.mark.parametrize("layer", [nn.Linear(7, 3), nn.Conv2d(2, 4, kernel_size=3, stride=2),
                                   nn.Conv2d(2, 4, kernel_size=3, bias=False)])
def test_an_input_affine_folds_into_the_first_layer_exactly(layer: nn.Module) -> None:
    """The folded layer computes on x what the layer computed on (x - centre) / scale."""
    from audioxai_bench.models.layers import Standardise, fold_input_affine

    torch.manual_seed(0)
    x = -80 * torch.rand(4, 7) if isinstance(layer, nn.Linear) else -80 * torch.rand(4, 2, 9, 9)
    with torch.no_grad():
        expected = layer(Standardise(-40.0, 40.0)(x))
        fold_input_affine(layer, -40.0, 40.0)
        assert torch.allclose(layer(x), expected, atol=1e-5 * float(expected.abs().max()))
        assert not torch.allclose(layer(x), layer(Standardise(-40.0, 40.0)(x)))


def test_a_padded_or_unknown_layer_does_not_fold() -> None:
    from audioxai_bench.models.layers import fold_input_affine

    with pytest.raises(ValueError, match="padded"):
        fold_input_affine(nn.Conv2d(1, 2, 3, padding=1), -40.0, 40.0)
    with pytest.raises(ValueError, match="Conv1d"):
        fold_input_affine(nn.Conv1d(1, 2, 3), -40.0, 40.0)
