"""Tensor comparisons the guard makes around every plugin call (tensor_equality.py): the batched
one (one host sync per device, issue #12) must see every changed bit."""

from __future__ import annotations

import pytest
import torch

from audioxai_bench.tensor_equality import all_same, bits_differ


def mixed_pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Tensors of every element size, one of them non-contiguous, each with its copy."""
    g = torch.Generator().manual_seed(0)
    tensors = [torch.randn(3, 50, generator=g), torch.randint(0, 9, (7,), generator=g),
               torch.rand(5, generator=g) > 0.5, torch.randn(4, 6, generator=g).half(),
               torch.randn(6, 4, generator=g).t(), torch.zeros(0)]
    return [(t, t.clone()) for t in tensors]


def test_bits_differ_sees_one_changed_element_of_any_size():
    pairs = mixed_pairs()
    assert not bool(bits_differ(pairs))
    for i, (a, _) in enumerate(pairs):
        if a.numel() == 0:
            continue
        changed = [(x, y.clone()) for x, y in pairs]
        copy, last = changed[i][1], tuple(n - 1 for n in a.shape)
        copy[last] = ~copy[last] if copy.dtype == torch.bool else copy[last] + 1
        assert bool(bits_differ(changed)), f"pair {i} ({a.dtype}) changed unseen"


def test_bits_differ_compares_bits_not_values():
    nan = torch.tensor([float("nan"), 1.0])
    assert not bool(bits_differ([(nan, nan.clone())]))
    assert bool(bits_differ([(torch.tensor([0.0]), torch.tensor([-0.0]))]))


def test_all_same_compares_values_and_layout():
    assert all_same(mixed_pairs())
    assert all_same([(torch.tensor([float("nan")]), torch.tensor([float("nan")]))])
    assert all_same([(torch.tensor([0.0]), torch.tensor([-0.0]))])  # equal values
    assert not all_same([(torch.zeros(3), torch.zeros(1, 3))])
    assert not all_same([(torch.zeros(3), torch.zeros(3, dtype=torch.float64))])
    assert not all_same([*mixed_pairs(), (torch.ones(2), torch.tensor([1.0, 2.0]))])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_guard_waits_for_the_device_at_most_twice_per_explainer_call():
    """Around a gradient call the guard compares ~20 weights and 2 inputs and checks the
    result; per-tensor comparisons waited for the device ~25 times (1.2 ms a call on an H200)."""
    from audioxai_bench.guard import ModelKeeper, run_explainer
    from audioxai_bench.models import build_model
    from audioxai_bench.plugins import PluginManager
    from audioxai_bench.testing import host_syncs

    model = build_model("audionet", 10, 0.25).cuda().eval()
    x, target = torch.randn(8, 1, 8000, device="cuda"), torch.arange(8, device="cuda") % 10
    explainer = PluginManager(entrypoints=False).explainers.get("gradient")
    keeper = ModelKeeper(model)
    changed = [(p, p.detach().clone()) for p in model.parameters()]
    assert all_same(changed)
    changed[3][1].view(-1)[-1] += 1
    assert not all_same(changed)

    bare = host_syncs(lambda: explainer.explain(model, x, target))
    guarded = host_syncs(lambda: run_explainer(explainer, model, x, target, keeper=keeper))
    assert guarded <= bare + 2, (bare, guarded)


def test_counting_host_syncs_needs_a_cuda_device(monkeypatch):
    from audioxai_bench.testing import host_syncs

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="none is available"):
        host_syncs(lambda: None)
