"""benchmarks/bench_gpu.py's projection, issue #12's wall-time estimate of the paper
definitions: a run computes the random and amplitude curves once per batch for all its
explainers, so the projection must not charge them to every explainer; the metrics that
explain again (randomisation, runtime) cost the explainer's own passes each time."""

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


@pytest.fixture(scope="module")
def counts(bench, pm):
    return bench.explainer_inputs(pm, "audionet", 0.0625, torch.device("cpu"),
                                  explainers=["gradient", "smoothgrad"])


def test_a_further_explainer_reuses_the_first_ones_reference_curves(counts):
    # the shared part (8 random orders and the amplitude order of the deletion curves) is
    # most of the first explainer's forward passes
    assert 0 < counts["smoothgrad"].forward < counts["gradient"].forward / 2


def test_the_metrics_that_explain_again_are_counted(bench, pm, counts):
    """The randomisation check explains each sample on two re-initialised models (and once
    more with a fresh seed for a seeded explainer's rerun ceiling), the cascade once per layer:
    an explainer
    costs (1 + layers + 2 (+1)) of its own passes per sample, not one."""
    from audioxai_bench.builtin.metrics_randomisation import randomisable_layers

    layers = len(randomisable_layers(bench.build_model("audionet", 10, 0.0625)))
    assert layers == 9
    smoothgrad = pm.explainers.get("smoothgrad").passes((1, 8000))
    assert counts["gradient"].fwd_bwd == 1 + layers + 2
    assert counts["smoothgrad"].fwd_bwd == smoothgrad * (1 + layers + 3)
    # runtime's timed calls on the first batch only, the repeatability check once a panel
    assert counts["gradient"].timed_fwd_bwd > 1 and counts["gradient"].once_fwd_bwd == 4
    assert counts["smoothgrad"].once_fwd_bwd == 4 * smoothgrad  # seeded: repeats are checked


def test_a_definition_is_counted_with_its_own_settings(bench, pm):
    """The quickstart cuts integrated gradients to 16 steps, checks randomisation on 16 of each
    batch of 48 and leaves the cascade out, and times runtime on 4 samples: counted with the
    registered defaults, integrated gradients cost 600 passes a sample, not 16 × (1 + 2/3)."""
    counts = bench.explainer_inputs(pm, "audionet", 0.0625, torch.device("cpu"), "quickstart",
                                    explainers=["integrated-gradients"])
    ig = counts["integrated-gradients"]
    assert ig.fwd_bwd == pytest.approx(16 * (1 + 2 * 16 / 48))
    assert ig.timed_samples == 4 and ig.timed_fwd_bwd > 0
    rates = {"bare_fwd_bwd": 1.0, "score": 1e12}
    assert ig.seconds(96, 48, rates) == pytest.approx(
        96 * ig.fwd_bwd + 4 * ig.timed_fwd_bwd + ig.once_fwd_bwd)


def test_projection_charges_runtime_per_first_batch_and_the_rest_per_sample(bench, pm):
    rates = {"audionet": {"train": 1e4, "bare_fwd_bwd": 1e4, "score": 1e4}}
    names = [e for e in pm.explainers.names()
             if "waveform" in pm.explainers.get(e).representations]
    plain = {"audionet": {e: bench.Inputs(300.0, 500.0) for e in names}}
    timed = {"audionet": {e: bench.Inputs(300.0, 500.0, timed_fwd_bwd=100.0) for e in names}}
    training, base = bench.projection(pm, "paper-digit", rates, plain)
    _, more = bench.projection(pm, "paper-digit", rates, timed)
    folds, samples, batch = 5, 500, 50  # paper-digit: five digit splits, batches of 50
    assert training == pytest.approx(folds * 50_000 * 100 / 1e4)
    assert base == pytest.approx(folds * samples * len(names) * 800 / 1e4)
    assert more - base == pytest.approx(folds * batch * len(names) * 100 / 1e4)


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
