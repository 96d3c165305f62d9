"""Deterministic torch for training and scoring: the same definition and seed give the same
records on the same device.

On a CPU torch's kernels give the same bits run after run once the machine and the number of
threads are fixed (:func:`torch_threads`, :func:`numerics`). On CUDA, cuDNN's autotuner picks
kernels by timing, and several kernels (convolution backward, cuBLAS with its default
workspaces) accumulate in a varying order; two cold runs then differ. :func:`torch_mode`
switches torch to deterministic algorithms (cuDNN deterministic, no autotuning,
``CUBLAS_WORKSPACE_CONFIG``) for a block and puts the previous switches back afterwards. The
switch holds on every device, CPU included: an operation torch has no deterministic kernel for
raises there too (``max_unpool2d``, which captum's DeepLift runs through a max pooling layer,
raises on a CPU). ``deterministic=False`` (``--nondeterministic``) is the faster mode that lets
cuDNN autotune and allows those operations; it is an explicit choice that every record carries.

The suite's own code was read for operations that raise in this mode on CUDA (torch's list in
``torch.use_deterministic_algorithms``): floating-point ``cumsum`` was the only one (the
random energy mask and the sonifiers' moving average, now :func:`cumsum` and ``avg_pool1d``).
``index_add_``, ``scatter_``/``gather``, ``index_put_`` and ``bincount`` without weights, which
the engines and statistics use, switch to deterministic kernels by themselves (some slower).

``CUBLAS_WORKSPACE_CONFIG`` is read when cuBLAS first runs, so it is set (unless the user set it)
before any CUDA work; torch raises at the first matrix product when it is missing.
"""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

#: cuBLAS's deterministic workspace setting (torch's reproducibility notes).
CUBLAS_WORKSPACE = ":4096:8"


def _switches() -> tuple[bool, bool, bool, bool, bool, bool]:
    return (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)


def _set(deterministic: bool, warn_only: bool, cudnn_deterministic: bool,
         benchmark: bool, conv_tf32: bool, matmul_tf32: bool) -> None:
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.backends.cudnn.deterministic = cudnn_deterministic
    torch.backends.cudnn.benchmark = benchmark
    torch.backends.cudnn.allow_tf32 = conv_tf32
    torch.backends.cuda.matmul.allow_tf32 = matmul_tf32


#: What float32 arithmetic means on a GPU inside :func:`torch_mode` (records' ``numerics``).
FP32_MATH = "ieee"


@contextmanager
def torch_mode(deterministic: bool = True) -> Iterator[None]:
    """Deterministic algorithms (``True``) or cuDNN autotuning (``False``) inside the block,
    and float32 as IEEE float32 in both.

    Deterministic mode raises, naming the operation, where torch has only a non-deterministic
    kernel (on CUDA: e.g. floating-point ``cumsum``, histc, interpolate backward); the suite's
    own code avoids those. TF32 is off: torch lets cuDNN run float32 convolutions on TF32
    tensor cores by default (a 10-bit mantissa), which is not the paper's fp32; bf16 autocast
    stays an explicit training option.
    """
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    before = _switches()
    _set(deterministic, False, deterministic, not deterministic, False, False)
    try:
        yield
    finally:
        _set(*before)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` inside the block (restored after): on a CPU
    their number changes the last bits of reductions, so a run fixes it."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


#: what torch's error says when deterministic mode meets an operation without such a kernel
NO_DETERMINISTIC_KERNEL = "does not have a deterministic implementation"


RUN_ANYWAY = "`audioxai-bench run --nondeterministic` allows it, and the records say so"


def with_nondeterministic_hint(error: str, how: str = RUN_ANYWAY) -> str:
    """``error``, and when torch raised it for an operation without a deterministic kernel,
    ``how`` to go on (one line, for a failed cell's record and log line, or a contract check's
    failure)."""
    if NO_DETERMINISTIC_KERNEL not in error or "--nondeterministic" in error:
        return error
    return f"{error} [torch has no deterministic kernel for an operation here: {how}]"


def numerics(device: torch.device, threads: int) -> dict[str, object]:
    """Where numbers are computed, as far as it changes their last bits: the device, on a CPU
    the torch threads, on a GPU what float32 means there (``fp32_math``: IEEE, no TF32, see
    :func:`torch_mode`), and the machine (:func:`machine`). Records, the relevance key and a
    trained model's key hold it."""
    if device.type == "cpu":
        return {"device": "cpu", "threads": threads, **machine(str(device))}
    return {"device": device.type, "fp32_math": FP32_MATH, **machine(str(device))}


@functools.cache
def machine(device: str) -> dict[str, str]:
    """The torch build and the processor (or accelerator) that compute on ``device``. Kernels
    are picked by build and instruction set (MKL and oneDNN dispatch by CPU), so their last
    bits can differ between machines, and training turns last bits into other weights, as it
    does for the thread count (:func:`~audioxai_bench.run.artifacts.model_key`)."""
    out = {"torch_build": str(torch.__version__)}
    if device.startswith("cuda"):
        return out | {"accelerator": torch.cuda.get_device_name(torch.device(device))}
    return out | {"cpu": _cpu_name(), "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def _cpu_name() -> str:
    """The processor's model name (Linux's /proc/cpuinfo; elsewhere what platform reports)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux: platform's names below
        pass
    return platform.processor() or platform.machine() or "unknown"


def cumsum(values: torch.Tensor, dim: int) -> torch.Tensor:
    """``values.cumsum(dim)``, also in deterministic mode on CUDA, where torch has no
    deterministic floating-point scan and raises: there it runs on the CPU (one copy each way
    per call; the engines call it once per batch, not per sample)."""
    if (values.is_cuda and values.is_floating_point()
            and torch.are_deterministic_algorithms_enabled()):
        return values.cpu().cumsum(dim).to(values.device)
    return values.cumsum(dim)
