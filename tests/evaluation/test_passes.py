import torch
from torch import nn

from audioxai_bench.evaluation.passes import CPU_TENSOR_BYTES, activation_bytes, inputs_per_pass


def test_cpu_passes_keep_their_largest_tensor_under_the_budget():
    wide = nn.Sequential(nn.Conv1d(1, 64, 3, padding=1), nn.ReLU(), nn.AvgPool1d(8))
    x = torch.zeros(5, 1, 8000)
    total, largest = activation_bytes(wide, x[:1])
    assert largest == 64 * 8000 * 4  # the convolution's output, not the input or the sum
    assert total == 2 * 64 * 8000 * 4 + 64 * 1000 * 4
    n = inputs_per_pass(wide, x, 10_000)
    assert n == CPU_TENSOR_BYTES // largest and n * largest <= CPU_TENSOR_BYTES
    assert inputs_per_pass(wide, x, 3) == 3  # the definition's cap holds


def test_the_input_counts_when_it_is_the_largest_tensor():
    shrink = nn.Sequential(nn.AvgPool1d(100))
    x = torch.zeros(1, 1, 8000)
    assert activation_bytes(shrink, x)[1] == 8000 * 4
    huge = torch.zeros(1, 1, CPU_TENSOR_BYTES // 4 + 1)
    assert inputs_per_pass(shrink, huge, 64) == 1  # at least one input per pass
