"""How many inputs one forward pass of an engine takes: sized by the activations they make.

An input count fits one model and one device at most. On a CPU a pass whose activations
outgrow the caches is memory-bound: AudioNet at its CPU width (3.7 MiB of activations per
input) costs 2-3 times more per input at 256 inputs per pass than at 16-32, while the
AlexNet-style net (0.7 MiB) is fastest near 96 (``benchmarks/bench_metrics.py``). On a GPU the
passes should be as large as memory allows. So the runner and ``score_attributions`` cap
``chunk_size`` (the most inputs per pass that a definition allows; the engines keep to it) by a
byte budget, once per model: :data:`CPU_PASS_BYTES` on a CPU, a share of the free memory on a
GPU. Results do not depend on it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from audioxai_bench.api.explainer import explaining

#: Activation bytes of one forward pass on a CPU (measured best: 16-32 AudioNet inputs at
#: width 0.25, ~96 AlexNet inputs at width 0.125; see the module docstring).
CPU_PASS_BYTES = 64 << 20
#: Share of the free device memory the activations of one forward pass may take on a GPU.
DEVICE_PASS_SHARE = 0.25


def activation_bytes(model: nn.Module, example: Tensor) -> int:
    """Bytes of the outputs of every leaf module for one input ``example`` (batch of one): an
    upper bound of what a forward pass without gradients holds per input."""
    sizes: list[int] = []

    def count(_module: nn.Module, _inputs: object, output: object) -> None:
        if isinstance(output, Tensor):
            sizes.append(output.numel() * output.element_size())

    handles = [m.register_forward_hook(count) for m in model.modules()
               if next(m.children(), None) is None]
    try:
        with explaining(model), torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return max(sum(sizes), example.numel() * example.element_size())


def inputs_per_pass(model: nn.Module, x: Tensor, most: int) -> int:
    """Inputs per forward pass of ``model`` on inputs like ``x``: at most ``most``, and as many
    as the device's activation budget holds (at least one)."""
    if x.is_cuda:
        free, _ = torch.cuda.mem_get_info(x.device)
        budget = int(free * DEVICE_PASS_SHARE)
    else:
        budget = CPU_PASS_BYTES
    return max(1, min(most, budget // activation_bytes(model, x[:1])))
