"""Tests of the example plugin; they also show what a plugin's own tests should check."""

import importlib.metadata

import audioxai_bench_example
import pytest
import torch

from audioxai_bench.models import build_model
from audioxai_bench.plugins import PluginManager, load_plugins, run_explainer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("audionet", n_classes=10, width=0.125)


def test_registers_without_failures():
    pm = PluginManager(entrypoints=False, strict=True)  # strict: any failure raises
    pm.register(audioxai_bench_example, "example")
    assert "gradient-squared" in pm.explainers


def test_keeps_the_contract_on_both_models():
    for name in ("audionet", "alexnet"):
        torch.manual_seed(0)
        net = build_model(name, n_classes=10, width=0.125).train()
        x = torch.randn(2, *net.input_shape)
        target = torch.tensor([0, 3])
        # run_explainer raises if shape, device, finiteness or the model's state is wrong
        relevance = run_explainer(audioxai_bench_example.GradientSquared(), net, x, target)
        assert relevance.shape == x.shape and (relevance >= 0).all()
        assert net.training  # mode given back


def test_equals_square_of_builtin_gradient(model):
    pm = PluginManager(entrypoints=False)
    pm.register(audioxai_bench_example, "example")
    x, target = torch.randn(2, 1, 8000), torch.tensor([1, 2])
    squared = pm.explain("gradient-squared", model, x, target)
    gradient = pm.explain("gradient", model, x, target)
    torch.testing.assert_close(squared, gradient**2)


def test_found_through_its_entry_point():
    try:
        importlib.metadata.distribution("audioxai-bench-example")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("not installed: pip install -e plugins/audioxai-bench-example")
    pm = load_plugins()
    source = pm.source("explainer", "gradient-squared")
    assert (source.plugin, source.version, source.origin) == (
        "audioxai-bench-example", "0.1.0", "entry point")
    assert not [f for f in pm.failures if f.plugin == "audioxai-bench-example"]
