"""Throughput of the reference models: forward and forward+backward samples per second.

Measures both models at width 1.0 (the paper) and at the recommended CPU width, on CPU and on
CUDA when present. The numbers choose ``CPU_WIDTH`` and tell how long a training budget takes.

    python benchmarks/bench_models.py                 # defaults: batch 16 at width 1.0
    python benchmarks/bench_models.py --batch-size 64 --narrow-batch-size 64 --seconds 5
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from audioxai_bench.builtin.models import BUILTIN_MODELS
from audioxai_bench.models import MODEL_NAMES, build_model, get_model_class

CPU_WIDTH = {spec.name: spec.cpu_width for spec in BUILTIN_MODELS}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(
    model: nn.Module,
    batch_size: int,
    device: torch.device,
    backward: bool,
    seconds: float,
    warmup: int = 2,
    repeat: int = 3,
) -> float:
    """Samples per second of forward (eval, no grad) or forward+backward (train mode) passes.

    Runs ``warmup`` untimed steps, then ``repeat`` timed rounds of ``seconds / repeat`` (and at
    least 2 steps) each, and reports the best round: on a shared machine the slower rounds
    measure the neighbours, not the model (the ``timeit`` convention).
    """
    shape = (batch_size, *get_model_class(model.model_name).input_shape)
    x = torch.randn(shape, device=device)
    y = torch.randint(0, model.n_classes, (batch_size,), device=device)
    model.to(device).train(backward)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        if backward:
            model.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
        else:
            with torch.no_grad():
                model(x)

    for _ in range(warmup):
        step()
    _sync(device)
    best = 0.0
    for _ in range(repeat):
        steps, start = 0, time.perf_counter()
        while steps < 2 or time.perf_counter() - start < seconds / repeat:
            step()
            steps += 1
        _sync(device)
        best = max(best, steps * batch_size / (time.perf_counter() - start))
    return best


def main(argv: list[str] | None = None) -> None:
    """Print a table: device, model, width, batch, forward and forward+backward samples/s."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=16, help="batch at width 1.0")
    p.add_argument("--narrow-batch-size", type=int, default=32, help="batch at the CPU width")
    p.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measurement")
    p.add_argument("--repeat", type=int, default=3, help="timed rounds; the best is reported")
    p.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    p.add_argument("--devices", nargs="+", default=None, help="default: cpu (+ cuda if present)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(
        f"{'device':8} {'model':9} {'width':>6} {'params':>10} {'batch':>6} "
        f"{'fwd/s':>9} {'fwd+bwd/s':>10}"
    )
    for dev_name in devices:
        device = torch.device(dev_name)
        label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        if device.type == "cuda":
            print(f"# {dev_name}: {label}")
        for name in args.models:
            for width, bs in ((1.0, args.batch_size), (CPU_WIDTH[name], args.narrow_batch_size)):
                torch.manual_seed(0)
                model = build_model(name, 10, width)
                n_params = sum(p.numel() for p in model.parameters())
                kw = {"seconds": args.seconds, "repeat": args.repeat}
                fwd = throughput(model, bs, device, backward=False, **kw)
                bwd = throughput(model, bs, device, backward=True, **kw)
                print(
                    f"{dev_name:8} {name:9} {width:6.3g} {n_params:10,d} {bs:6d} "
                    f"{fwd:9.1f} {bwd:10.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
