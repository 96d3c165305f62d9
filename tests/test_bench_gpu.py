"""benchmarks/bench_gpu.py's projection, issue #12's wall-time estimate of the paper
definitions: a run computes the random and amplitude curves once per batch for all its
explainers, so the projection must not charge them to every explainer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))  # bench_gpu imports its sibling scripts by name
    try:
        import bench_gpu
    finally:
        sys.path.remove(str(BENCHMARKS))
    return bench_gpu


@pytest.fixture(scope="module")
def pm(bench):
    return bench.PluginManager(entrypoints=False, strict=True)


def test_a_further_explainer_reuses_the_first_ones_reference_curves(bench, pm):
    first, further = bench.metric_inputs_per_sample(pm, "audionet", 0.0625,
                                                    torch.device("cpu"))
    # the shared part (8 random orders and the amplitude order of the deletion curves) is
    # most of the first explainer's forward passes
    assert 0 < further < first / 2


def test_projection_charges_the_shared_inputs_once_per_sample(bench, pm):
    rates = {"audionet": {"train": 1e4, "bare_fwd_bwd": 1e4, "score": 1e4}}
    _, every = bench.projection(pm, "paper-digit", rates, {"audionet": (800.0, 800.0)})
    _, shared = bench.projection(pm, "paper-digit", rates, {"audionet": (800.0, 300.0)})
    explainers = [e for e in pm.explainers.names()
                  if "waveform" in pm.explainers.get(e).representations]
    folds, samples = 5, 500  # paper-digit: all five digit splits, 500 scored samples
    assert every - shared == pytest.approx(
        folds * samples * (len(explainers) - 1) * 500.0 / 1e4)


@pytest.mark.parametrize("name", ["audionet", "alexnet"])
def test_pooling_before_the_relu_gives_the_same_numbers(bench, name):
    """The bench times each model with its max-pools moved before their ReLUs, as a faster
    candidate: only worth timing if the outputs and every gradient stay bit for bit the same."""
    model = bench.build_model(name, 10, 0.0625).eval()
    swapped = bench.pooled_first(model)
    assert [type(m) for m in swapped.modules()] != [type(m) for m in model.modules()]
    x = torch.randn(3, *model.input_shape, generator=torch.Generator().manual_seed(0))
    outputs, grads = [], []
    for net in (model, swapped):
        xi = x.clone().requires_grad_()
        out = net(xi)
        out[:, 1].sum().backward()
        outputs.append(out.detach())
        grads.append([xi.grad, *(p.grad for p in net.parameters())])
    assert torch.equal(*outputs)
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_the_step_profile_names_the_ops_that_take_the_time(bench):
    ops = bench.step_profile("audionet", 0.0625, torch.device("cpu"), batch=4, top=5)
    shares = [share for _, share in ops]
    assert 0 < len(ops) <= 5 and shares == sorted(shares, reverse=True)
    assert 0 < sum(shares) <= 1 + 1e-9
    assert any("conv" in name for name, _ in ops)


def test_layer_times_cover_every_layer_in_forward_order(bench):
    """Each leaf layer alone on the input it gets in the model: one entry per layer, in the
    order the model calls them, each named with that input's shape."""
    times = bench.layer_times("audionet", 0.0625, torch.device("cpu"), 4, 1)
    model = bench.build_model("audionet", 10, 0.0625)
    leaves = [n for n, m in model.named_modules() if not list(m.children())]
    assert [label.split()[0] for label, _ in times] == leaves
    assert times[0][0] == "features.0 Conv1d(1x8000)" and times[3][0].endswith("(6x4000)")
    assert all(t > 0 for _, t in times)
