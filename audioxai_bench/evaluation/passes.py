"""How many inputs one forward pass of an engine takes: sized by the tensors they make.

An input count fits one model and one device at most. On a CPU the cost per input is flat over
pass sizes until one tensor of the pass (the input batch, or a layer's output) outgrows glibc's
ceiling for reusing freed heap memory (``malloc``'s mmap threshold, at most 32 MiB on 64-bit
Linux): from there every pass maps that tensor afresh and pays a page fault per 4 KiB of it.
Deletion engine, one thread on 2 cores (``benchmarks/bench_metrics.py --pass-sizes``):
AudioNet at width 0.25 (its first convolution writes 0.8 MB per input) cost 2.0 ms per input
at 33 inputs per pass and 5.2 ms at 65, 3.2 of them system time; the AlexNet-style net (0.2 MB
inputs) 1.9-2.1 ms up to 129 inputs and 2.3 ms at 257. So on a CPU the largest tensor of a
pass stays under :data:`CPU_TENSOR_BYTES`; on a GPU the passes are as large as a share of the
free memory holds. The runner and ``score_attributions`` cap ``chunk_size`` (the most inputs
per pass that a definition allows; the engines keep to it) so, once per model. Results depend
on it only in their last digits (a batched convolution sums in another order: a faithfulness
gap of -8.778146e-05 at one input per pass read -8.778244e-05 at 256), so the score cache keys
scores by it and the config hash, which names what a value means, does not: a run resumed with
another chunk size keeps its finished cells' values.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from audioxai_bench.api.explainer import explaining

#: The largest tensor one forward pass may make on a CPU: under glibc's 32 MiB mmap-threshold
#: ceiling, with room for the allocator's own rounding.
CPU_TENSOR_BYTES = 24 << 20
#: Share of the free device memory the activations of one forward pass may take on a GPU.
DEVICE_PASS_SHARE = 0.25


def activation_bytes(model: nn.Module, example: Tensor) -> tuple[int, int]:
    """``(total, largest)`` bytes per input of the outputs of every leaf module for one input
    ``example`` (batch of one): their sum, an upper bound of what a forward pass without
    gradients holds, and the largest tensor among them and the input."""
    sizes: list[int] = [example.numel() * example.element_size()]

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
    return max(sum(sizes[1:]), sizes[0]), max(sizes)


def inputs_per_pass(model: nn.Module, x: Tensor, most: int) -> int:
    """Inputs per forward pass of ``model`` on inputs like ``x``: at most ``most``, and as many
    as the device's budget allows (at least one)."""
    total, largest = activation_bytes(model, x[:1])
    if x.is_cuda:
        free, _ = torch.cuda.mem_get_info(x.device)
        return max(1, min(most, int(free * DEVICE_PASS_SHARE) // total))
    return max(1, min(most, CPU_TENSOR_BYTES // largest))
