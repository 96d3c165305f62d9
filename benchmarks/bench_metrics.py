"""Cost of the input-manipulation curve against the forward passes it needs, side by side.

For each model (at its CPU width): seconds per 100 samples for the full manipulation curve (4
orders × the default 8-step grid: 1 + 4 × 7 = 29 model inputs per sample), and the ratio to the
bare cost of exactly those forward passes (the same pass sizes, on inputs built beforehand; goal
<= 1.1), in wall time and in this process's CPU time (steadier on a shared machine). Runs
alternate engine and bare passes and keep each one's fastest repeat, so load from other
processes hits both alike. Then the peak memory growth (RSS high-water mark, reset through
/proc/self/clear_refs) of one call on two batch sizes: it should follow the chunk size, not the
batch size.

    python benchmarks/bench_metrics.py                      # 100 samples, 2 repeats
    python benchmarks/bench_metrics.py --samples 50 --chunk 128 --threads 1
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch import Tensor, nn

from audioxai_bench.builtin.models import BUILTIN_MODELS
from audioxai_bench.evaluation.perturbation import DEFAULT_GRID, ORDERS, perturbation_curves
from audioxai_bench.models import build_model

CPU_WIDTH = {spec.name: spec.cpu_width for spec in BUILTIN_MODELS}


def make_batch(model_name: str, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """Inputs shaped and scaled like real ones, random relevance, random targets."""
    gen = torch.Generator().manual_seed(0)
    if model_name == "audionet":
        x = torch.randn(n, 1, 8000, generator=gen)
    else:
        x = -80 * torch.rand(n, 1, 227, 227, generator=gen)
    relevance = torch.rand(x.shape, generator=gen)
    return x, relevance, torch.randint(0, 10, (n,), generator=gen)


def pass_sizes(n: int, chunk: int, per_sample: int) -> list[int]:
    """The forward-pass sizes the engine uses for ``n`` samples (see perturbation_curves)."""
    per_block = max(1, chunk // per_sample)
    sizes = []
    for start in range(0, n, per_block):
        jobs = (min(n, start + per_block) - start) * per_sample
        sizes += [min(chunk, jobs - s) for s in range(0, jobs, chunk)]
    return sizes


def bare_forwards(model: nn.Module, x: Tensor, sizes: list[int]) -> None:
    """The same forward passes on inputs that already exist (no masks, no sorting)."""
    buffer = x[torch.arange(max(sizes)) % len(x)].contiguous()
    with torch.no_grad():
        for size in sizes:
            model(buffer[:size])


def time_model(name: str, samples: int, chunk: int, repeats: int) -> dict[str, float]:
    model = build_model(name, 10, CPU_WIDTH[name]).eval()
    x, relevance, target = make_batch(name, samples)
    per_sample = 1 + len(ORDERS) * (len(DEFAULT_GRID) - 1)
    sizes = pass_sizes(samples, chunk, per_sample)
    bare_forwards(model, x, sizes[:1])  # warm-up
    engine, bare, engine_cpu, bare_cpu = [], [], [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        perturbation_curves(model, x, relevance, target, chunk_size=chunk)
        engine.append(time.perf_counter() - wall)
        engine_cpu.append(time.process_time() - cpu)
        wall, cpu = time.perf_counter(), time.process_time()
        bare_forwards(model, x, sizes)
        bare.append(time.perf_counter() - wall)
        bare_cpu.append(time.process_time() - cpu)
    scale = 100 / samples
    return {"engine_s_per_100": min(engine) * scale, "bare_s_per_100": min(bare) * scale,
            "ratio": min(engine) / min(bare), "cpu_ratio": min(engine_cpu) / min(bare_cpu),
            "inputs_per_sample": per_sample, "passes": len(sizes)}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_growth_mb(name: str, samples: int, chunk: int) -> float:
    """Growth of the RSS high-water mark during one curve computation (inputs made before)."""
    model = build_model(name, 10, CPU_WIDTH[name]).eval()
    x, relevance, target = make_batch(name, samples)
    perturbation_curves(model, x[:1], relevance[:1], target[:1], chunk_size=chunk)  # warm-up
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset VmHWM to the current RSS
    before = _status_kb("VmHWM")
    perturbation_curves(model, x, relevance, target, chunk_size=chunk)
    return (_status_kb("VmHWM") - before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["audionet", "alexnet"])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--memory-sizes", type=int, nargs=2, default=[32, 128])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"{os.cpu_count()} CPU(s), chunk {args.chunk}, {args.samples} samples, "
          f"best of {args.repeats}")
    print(f"{'model':10} {'width':>5} {'curve s/100':>12} {'bare s/100':>11} {'ratio':>6} "
          f"{'CPU-time ratio':>14} {'inputs/sample':>13} {'passes':>6}")
    for name in args.models:
        r = time_model(name, args.samples, args.chunk, args.repeats)
        print(f"{name:10} {CPU_WIDTH[name]:5g} {r['engine_s_per_100']:12.2f} "
              f"{r['bare_s_per_100']:11.2f} {r['ratio']:6.3f} {r['cpu_ratio']:14.3f} "
              f"{r['inputs_per_sample']:13d} {r['passes']:6d}")
    small, large = args.memory_sizes
    for name in args.models:
        growth = [peak_growth_mb(name, n, args.chunk) for n in (small, large)]
        print(f"peak RSS growth {name:8}: {growth[0]:7.1f} MB at {small} samples, "
              f"{growth[1]:7.1f} MB at {large} samples (chunk {args.chunk})")


if __name__ == "__main__":
    main()
