"""Cost of the deletion metrics: the engine against the forward passes it needs, and a panel.

1. Engine (for each model, at its CPU width, ``--chunk`` capped as the runner caps it,
   :func:`inputs_per_pass`): seconds per 100 samples for one
   :func:`perturbation_curves` call as the unit metrics make it (10 ms blocks / 8 × 8 patches,
   4 orders, the random one averaged over 8 permutations, the 11-point grid: 2 + 11 × 9 = 101
   model inputs per sample), and the ratio to the bare cost of exactly those forward passes (the
   same pass sizes, on inputs built beforehand; goal <= 1.1), in wall time and in this process's
   CPU time (steadier on a shared machine). Runs alternate engine and bare passes and keep each
   one's fastest repeat, so load from other processes hits both alike.
2. Panel (``--panel-explainers``): every registered manipulation metric for E explainers on the
   same samples, as the runner calls them (one ``shared`` dict, so the reference curves are
   computed once): model inputs per sample per explainer and seconds per 100 samples per
   explainer. This part reads only the metric contract, so it also runs against older versions
   of the package (``--panel-only``), for a before/after on the same machine.
3. Versus Quantus (when ``quantus`` imports; it is no dependency of the suite: e.g.
   ``pip install --target /tmp/quantus quantus==0.6.0`` and ``PYTHONPATH=/tmp/quantus``):
   the engine with the chunk the runner gives it (:func:`inputs_per_pass`) beside Quantus 0.6
   ``PixelFlipping`` on the same model, inputs and relevance, both in this process's CPU time.
   Quantus flips ``features_in_step`` features per step, one forward pass of the whole batch
   per step: 80 (10 ms) for AudioNet, 100 steps a sample like the engine's 101 inputs; 227 (a
   spectrogram column; 227 x 227 has no other divisor) for AlexNet, 227 steps. Hence both the
   time per curve and per model input.
4. Pass sizes (``--pass-sizes 17 33 65 ...``): the engine's CPU milliseconds per model input
   at each most-inputs-per-pass, split into user and system time, and the minor page faults
   per input, beside the size :func:`inputs_per_pass` picks. Where system time and faults
   jump, a tensor of the pass has outgrown glibc's mmap threshold (see
   :mod:`audioxai_bench.evaluation.passes`).
5. The peak memory growth (RSS high-water mark, reset through /proc/self/clear_refs) of one
   engine call on two batch sizes: it should follow the chunk size, not the batch size.

    python benchmarks/bench_metrics.py                      # 100 samples, 2 repeats
    python benchmarks/bench_metrics.py --samples 50 --chunk 128 --threads 1
    PYTHONPATH=/path/to/other/checkout python benchmarks/bench_metrics.py --panel-only
    python benchmarks/bench_metrics.py --threads 1 --samples 32 --pass-sizes 17 33 65 129 257
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch
from torch import Tensor, nn

from audioxai_bench.api.metric import EvalBatch
from audioxai_bench.builtin.models import BUILTIN_MODELS
from audioxai_bench.models import build_model

CPU_WIDTH = {spec.name: spec.cpu_width for spec in BUILTIN_MODELS}
UNIT = {"audionet": (80,), "alexnet": (8, 8)}


def make_batch(model_name: str, n: int, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Inputs shaped and scaled like real ones (silence in 40 % of them, as in AudioMNIST),
    random relevance, random targets."""
    gen = torch.Generator().manual_seed(seed)
    if model_name == "audionet":
        x = torch.randn(n, 1, 8000, generator=gen)
        x[..., :1600], x[..., 6400:] = 0, 0
    else:
        x = -80 * torch.rand(n, 1, 227, 227, generator=gen)
        x[..., :45], x[..., 182:] = -80, -80
    relevance = torch.rand(x.shape, generator=gen)
    return x, relevance, torch.randint(0, 10, (n,), generator=gen)


def pass_sizes(n: int, chunk: int, per_sample: int) -> list[int]:
    """The forward-pass sizes the engine uses for ``n`` samples (see perturbation_curves):
    blocks of ``chunk // 4`` samples, each job of a block one slice of a pass of at most
    ``chunk`` inputs."""
    per_block = min(n, max(1, chunk // 4))
    sizes = []
    for start in range(0, n, per_block):
        s = min(n, start + per_block) - start
        per_pass = max(1, min(chunk, per_sample * per_block) // s)
        full, rest = divmod(per_sample, per_pass)
        sizes += [per_pass * s] * full + ([rest * s] if rest else [])
    return sizes


def bare_forwards(model: nn.Module, x: Tensor, sizes: list[int]) -> None:
    """The same forward passes on inputs that already exist (no masks, no sorting)."""
    buffer = x[torch.arange(max(sizes)) % len(x)].contiguous()
    with torch.no_grad():
        for size in sizes:
            model(buffer[:size])


def engine_setup(name: str, samples: int, chunk: int
                 ) -> tuple[nn.Module, Tensor, Tensor, Tensor, int, int]:
    """The model at its CPU width, a batch, the pass size the runner would use (``chunk``
    capped by :func:`inputs_per_pass`) and the model inputs per sample of one engine call."""
    from audioxai_bench.evaluation.passes import inputs_per_pass
    from audioxai_bench.evaluation.perturbation import DEFAULT_GRID, N_RANDOM, ORDERS

    model = build_model(name, 10, CPU_WIDTH[name]).eval()
    x, relevance, target = make_batch(name, samples)
    orders = sum(N_RANDOM if o == "random" else 1 for o in ORDERS)
    per_sample = 2 + orders * (len(DEFAULT_GRID) - 2)
    return model, x, relevance, target, inputs_per_pass(model, x, chunk), per_sample


def time_engine(name: str, samples: int, chunk: int, repeats: int) -> dict[str, float]:
    from audioxai_bench.evaluation.perturbation import perturbation_curves

    model, x, relevance, target, chunk, per_sample = engine_setup(name, samples, chunk)
    sizes = pass_sizes(samples, chunk, per_sample)
    bare_forwards(model, x, sizes[:1])  # warm-up
    engine, bare, engine_cpu, bare_cpu = [], [], [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        perturbation_curves(model, x, relevance, target, chunk_size=chunk, patch=UNIT[name])
        engine.append(time.perf_counter() - wall)
        engine_cpu.append(time.process_time() - cpu)
        wall, cpu = time.perf_counter(), time.process_time()
        bare_forwards(model, x, sizes)
        bare.append(time.perf_counter() - wall)
        bare_cpu.append(time.process_time() - cpu)
    scale = 100 / samples
    return {"engine_s_per_100": min(engine) * scale, "bare_s_per_100": min(bare) * scale,
            "ratio": min(engine) / min(bare), "cpu_ratio": min(engine_cpu) / min(bare_cpu),
            "inputs_per_sample": per_sample, "passes": len(sizes), "chunk": chunk}


def time_panel(name: str, samples: int, chunk: int, explainers: int) -> dict[str, float]:
    """Every registered manipulation metric for ``explainers`` maps on the same samples, with
    one ``shared`` dict as the runner gives them."""
    from audioxai_bench.builtin.metrics_manipulation import manipulation_metrics

    model = build_model(name, 10, CPU_WIDTH[name]).eval()
    x, _, target = make_batch(name, samples)
    representation = "waveform" if x.dim() == 3 else "spectrogram"
    metrics = [m for m in manipulation_metrics() if representation in m.representations]
    inputs = []
    forward = model.forward
    model.forward = lambda batch: inputs.append(len(batch)) or forward(batch)
    shared: dict = {}
    wall, cpu = time.perf_counter(), time.process_time()
    for e in range(explainers):
        relevance = make_batch(name, samples, seed=1 + e)[1]
        batch = EvalBatch(model=model, x=x, target=target, relevance=relevance,
                          representation=representation, chunk_size=chunk, shared=shared)
        for m in metrics:
            m.score(batch)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    per = samples * explainers
    return {"metrics": len(metrics), "inputs_per_sample_explainer": sum(inputs) / per,
            "s_per_100_per_explainer": wall * 100 / per, "cpu_per_100": cpu * 100 / per}


QUANTUS_STEP = {"audionet": 80, "alexnet": 227}


def time_versus_quantus(name: str, samples: int, chunk: int, repeats: int
                        ) -> dict[str, float] | None:
    """CPU seconds per 100 samples and per 1000 model inputs: the engine (at the runner's chunk)
    and Quantus PixelFlipping; None when quantus is not importable."""
    try:
        import quantus
    except ImportError:
        return None
    from audioxai_bench.evaluation.perturbation import perturbation_curves

    model, x, relevance, target, per_pass, ours_inputs = engine_setup(name, samples, chunk)
    flipping = quantus.PixelFlipping(features_in_step=QUANTUS_STEP[name], normalise=False,
                                     disable_warnings=True, display_progressbar=False)
    steps = x[0].numel() // QUANTUS_STEP[name]
    ours, theirs = [], []
    for _ in range(repeats):
        cpu = time.process_time()
        perturbation_curves(model, x, relevance, target, chunk_size=per_pass, patch=UNIT[name])
        ours.append(time.process_time() - cpu)
        cpu = time.process_time()
        flipping(model=model, x_batch=x.numpy(), y_batch=target.numpy(),
                 a_batch=relevance.numpy(), device="cpu", channel_first=True,
                 batch_size=samples)
        theirs.append(time.process_time() - cpu)
    return {"per_pass": per_pass, "ours_s_per_100": min(ours) * 100 / samples,
            "quantus_s_per_100": min(theirs) * 100 / samples,
            "ours_ms_per_input": min(ours) * 1000 / (samples * ours_inputs),
            "quantus_ms_per_input": min(theirs) * 1000 / (samples * steps),
            "ours_inputs": ours_inputs, "quantus_inputs": steps}


def time_pass_sizes(name: str, samples: int, sizes: list[int], repeats: int
                    ) -> tuple[list[dict[str, float]], int]:
    """Per most-inputs-per-pass: CPU ms per model input (user, system) and minor page faults
    per input of one engine call, the best of ``repeats`` (sizes interleaved); and the size
    :func:`inputs_per_pass` picks on this device."""
    from audioxai_bench.evaluation.perturbation import perturbation_curves

    model, x, relevance, target, picked, per_sample = engine_setup(name, samples, 1 << 20)
    inputs = samples * per_sample
    best: dict[int, dict[str, float]] = {}
    for _ in range(repeats):
        for size in sizes:
            before = resource.getrusage(resource.RUSAGE_SELF)
            perturbation_curves(model, x, relevance, target, chunk_size=size, patch=UNIT[name])
            after = resource.getrusage(resource.RUSAGE_SELF)
            user = (after.ru_utime - before.ru_utime) * 1000 / inputs
            system = (after.ru_stime - before.ru_stime) * 1000 / inputs
            faults = (after.ru_minflt - before.ru_minflt) / inputs
            if size not in best or user + system < best[size]["cpu"]:
                best[size] = {"size": size, "cpu": user + system, "user": user,
                              "system": system, "faults": faults}
    return [best[size] for size in sizes], picked


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_growth_mb(name: str, samples: int, chunk: int) -> float:
    """Growth of the RSS high-water mark during one curve computation (inputs made before)."""
    from audioxai_bench.evaluation.perturbation import perturbation_curves

    model = build_model(name, 10, CPU_WIDTH[name]).eval()
    x, relevance, target = make_batch(name, samples)
    perturbation_curves(model, x[:1], relevance[:1], target[:1], chunk_size=chunk,
                        patch=UNIT[name])  # warm-up
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset VmHWM to the current RSS
    before = _status_kb("VmHWM")
    perturbation_curves(model, x, relevance, target, chunk_size=chunk, patch=UNIT[name])
    return (_status_kb("VmHWM") - before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["audionet", "alexnet"])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--memory-sizes", type=int, nargs=2, default=[32, 128])
    parser.add_argument("--panel-explainers", type=int, default=11,
                        help="explainers in the panel measurement (0: skip it)")
    parser.add_argument("--panel-samples", type=int, default=24)
    parser.add_argument("--panel-only", action="store_true")
    parser.add_argument("--pass-sizes", type=int, nargs="+", default=[],
                        help="also time the engine at these most-inputs-per-pass")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"{os.cpu_count()} CPU(s), chunk {args.chunk}")
    if not args.panel_only:
        print(f"engine: {args.samples} samples, best of {args.repeats}")
        print(f"{'model':10} {'width':>5} {'curve s/100':>12} {'bare s/100':>11} {'ratio':>6} "
              f"{'CPU-time ratio':>14} {'inputs/sample':>13} {'passes':>6} {'chunk':>5}")
        for name in args.models:
            r = time_engine(name, args.samples, args.chunk, args.repeats)
            print(f"{name:10} {CPU_WIDTH[name]:5g} {r['engine_s_per_100']:12.2f} "
                  f"{r['bare_s_per_100']:11.2f} {r['ratio']:6.3f} {r['cpu_ratio']:14.3f} "
                  f"{r['inputs_per_sample']:13d} {r['passes']:6d} {r['chunk']:5d}")
    if args.pass_sizes and not args.panel_only:
        print(f"pass sizes: {args.samples} samples, best of {args.repeats}, CPU time")
        for name in args.models:
            rows, picked = time_pass_sizes(name, args.samples, args.pass_sizes, args.repeats)
            for r in rows:
                print(f"{name:10} at most {r['size']:4d} per pass: {r['cpu']:6.3f} ms/input "
                      f"(user {r['user']:.3f}, system {r['system']:.3f}), "
                      f"{r['faults']:6.1f} page faults/input")
            print(f"{name:10} inputs_per_pass picks {picked} on this device")
    if args.panel_explainers:
        print(f"panel: {args.panel_explainers} explainers x {args.panel_samples} samples, every "
              f"manipulation metric, reference curves shared")
        print(f"{'model':10} {'metrics':>7} {'inputs/sample/explainer':>23} "
              f"{'s/100/explainer':>15} {'CPU s/100/expl.':>15}")
        for name in args.models:
            r = time_panel(name, args.panel_samples, args.chunk, args.panel_explainers)
            print(f"{name:10} {r['metrics']:7d} {r['inputs_per_sample_explainer']:23.1f} "
                  f"{r['s_per_100_per_explainer']:15.2f} {r['cpu_per_100']:15.2f}")
    if not args.panel_only:
        print(f"versus Quantus PixelFlipping: {args.samples} samples, best of {args.repeats}, "
              f"CPU time")
        for name in args.models:
            r = time_versus_quantus(name, args.samples, args.chunk, args.repeats)
            if r is None:
                print("  quantus is not importable: comparison skipped (see the docstring)")
                break
            print(f"{name:10} engine {r['ours_s_per_100']:7.2f} s/100 ({r['ours_inputs']} "
                  f"inputs/sample, {r['per_pass']} per pass, {r['ours_ms_per_input']:.2f} "
                  f"ms/input) | quantus {r['quantus_s_per_100']:7.2f} s/100 "
                  f"({r['quantus_inputs']} inputs/sample, {r['quantus_ms_per_input']:.2f} "
                  f"ms/input) | per input {r['ours_ms_per_input'] / r['quantus_ms_per_input']:.2f}x"
                  f", per curve {r['ours_s_per_100'] / r['quantus_s_per_100']:.2f}x")
        small, large = args.memory_sizes
        for name in args.models:
            growth = [peak_growth_mb(name, n, args.chunk) for n in (small, large)]
            print(f"peak RSS growth {name:8}: {growth[0]:7.1f} MB at {small} samples, "
                  f"{growth[1]:7.1f} MB at {large} samples (chunk {args.chunk})")


if __name__ == "__main__":
    main()
