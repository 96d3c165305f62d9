"""The suite against the device's own rates, side by side in one run (issue #12), CPU or CUDA.

1. Training: samples/s of :func:`audioxai_bench.models.train` (batches served on the device,
   AlexNet's spectrograms made there from the signals) next to bare forward+backward at the
   same batch, in the default deterministic fp32 mode, the fast (nondeterministic) mode and,
   on CUDA, bf16 autocast. Goal: training >= 70 % of bare.
2. Scoring: model inputs/s of the deletion engine (the unit metrics' curve, at the chunk the
   runner gives it) next to bare forward passes of the same sizes. Goal: >= 50 %.
3. Harness: the guarded ``gradient`` explainer (guard.py) against a direct captum
   ``Saliency`` call on the same batch. Goal: <= 1.05x.
   Measured as runs compute (deterministic, IEEE float32); on CUDA also the bare rate with
   torch's default TF32 convolutions, which the suite turns off.
   On CUDA: how often the guarded gradient call and each metric wait for the device.
   Where a bare forward+backward spends its time (torch.profiler's top ops, and each layer
   alone), and its rate with each max-pool moved before its ReLU (the same numbers, fewer
   elements).
4. The spectrogram input: float64 (reference) and float32 FFT on the device, inputs/s.
5. Projection: each shipped definition's wall time from these rates: training budgets, and
   each explainer's model inputs, forward+backward and forward alone, counted on a few samples
   through the explainer and ``score_attributions`` (the metrics that explain again included).

    python benchmarks/bench_gpu.py                                # the device's defaults
    python benchmarks/bench_gpu.py --device cpu --width 0.125 --iterations 20 --seconds 2
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from bench_metrics import UNIT, bare_forwards, make_batch, pass_sizes
from bench_models import throughput

from audioxai_bench.data.dataset import ClipDataset
from audioxai_bench.data.preprocess import spectrogram_input, to_model_input
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.passes import inputs_per_pass
from audioxai_bench.evaluation.perturbation import (
    DEFAULT_GRID,
    N_RANDOM,
    ORDERS,
    perturbation_curves,
)
from audioxai_bench.guard import ModelKeeper, run_explainer
from audioxai_bench.models import TrainConfig, build_model, train
from audioxai_bench.plugins import PluginManager
from audioxai_bench.reproducibility import torch_mode

MODELS = {"audionet": "waveform", "alexnet": "spectrogram"}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_of(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Fastest wall seconds of ``repeats`` calls (after one warm-up), device synchronised."""
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def step_profile(name: str, width: float, device: torch.device, batch: int,
                 top: int = 8) -> list[tuple[str, float]]:
    """(op, share of the step's time) of the ``top`` ops of a bare forward+backward at
    ``batch`` (torch.profiler; device time on CUDA, CPU time on the CPU): what bounds a model
    whose step runs well below the device's arithmetic rate (AudioNet on an H200: 20 of 67
    TFLOP/s, bf16 no faster)."""
    from torch.profiler import ProfilerActivity, profile

    model = build_model(name, 10, width).to(device).train()
    x = torch.randn(batch, *model.input_shape, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()

    for _ in range(3):  # warm-up: cuDNN's algorithm choice, the allocator
        step()
    sync(device)
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities, acc_events=True) as prof:  # one cycle: keep them all
        for _ in range(5):
            step()
        sync(device)
    averages = prof.key_averages()
    # torch 2.4 renamed self_cuda_time_total; take whichever this build's events have
    field = next((f for f in ("self_device_time_total", "self_cuda_time_total")
                  if cuda and averages and hasattr(averages[0], f)), "self_cpu_time_total")
    events = [e for e in averages if getattr(e, field) > 0]
    total = sum(getattr(e, field) for e in events) or 1.0
    ranked = sorted(events, key=lambda e: -getattr(e, field))[:top]
    return [(e.key, getattr(e, field) / total) for e in ranked]


def layer_times(name: str, width: float, device: torch.device, batch: int,
                repeats: int) -> list[tuple[str, float]]:
    """(layer, seconds) of a forward+backward of each leaf layer alone, in forward order, on
    the input it gets in the model at ``batch`` (the first layer's input needs no gradient, as
    in training): which layer bounds the step, where the profiler's kernel names do not say
    (AudioNet's six convolutions share their kernels)."""
    model = build_model(name, 10, width).to(device).train()
    seen: list[tuple[str, torch.nn.Module, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: seen.append((n, m, i[0].detach())))
             for n, m in model.named_modules() if not list(m.children())]
    with torch.no_grad():
        model(torch.randn(batch, *model.input_shape, device=device))
    for hook in hooks:
        hook.remove()
    out = []
    for i, (label, layer, x) in enumerate(seen):
        x = x.clone().requires_grad_(i > 0 and x.is_floating_point())

        def step(layer: torch.nn.Module = layer, x: torch.Tensor = x) -> None:
            layer.zero_grad(set_to_none=True)
            y = layer(x)
            y.backward(torch.ones_like(y))

        shape = "x".join(map(str, x.shape[1:]))
        out.append((f"{label} {type(layer).__name__}({shape})", best_of(step, device, repeats)))
    return out


def pooled_first(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` with every ReLU followed by a max-pool swapped to pool first: the
    same numbers forward and backward (max commutes with the monotone ReLU, and the pool's
    winners are the same), on a quarter to a half of the elements for the ReLU. A candidate for
    AudioNet's step, whose arithmetic does not bound it; measured beside the model as it is."""
    import copy

    copied = copy.deepcopy(model)
    for parent in copied.modules():
        if not isinstance(parent, torch.nn.Sequential):
            continue
        for i in range(len(parent) - 1):
            if (isinstance(parent[i], torch.nn.ReLU)
                    and isinstance(parent[i + 1], torch.nn.modules.pooling._MaxPoolNd)):
                parent[i], parent[i + 1] = parent[i + 1], parent[i]
    return copied


def clips(n: int, seed: int = 0) -> np.ndarray:
    """Padded 8 kHz signals on the int16 scale: noise bursts in 40-80 % of the window."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 8000), np.float32)
    for i, start in enumerate(rng.integers(0, 1600, n)):
        out[i, start:start + 4800] = 3000 * rng.standard_normal(4800)
    return out


def training_rate(name: str, width: float, device: torch.device, iterations: int,
                  batch: int, **mode: object) -> float:
    """Samples/s of ``train`` over ``iterations`` steps (one evaluation, on 100 clips)."""
    signals, labels = clips(batch * 8), np.arange(batch * 8) % 10
    rows = np.arange(len(signals))
    # the paper preset's set is too large to precompute: batches are made from the signals
    train_set = ClipDataset(signals, labels, rows, MODELS[name], precompute_bytes=0)
    val_set = ClipDataset(signals, labels, rows[:100], MODELS[name])
    config = TrainConfig(iterations=iterations, batch_size=batch, eval_every=iterations,
                         select="final", device=str(device), **mode)
    torch.manual_seed(0)
    train(build_model(name, 10, width), train_set, val_set, None,
          dataclasses.replace(config, iterations=2, eval_every=2))  # warm-up (cuDNN, compile)
    sync(device)
    result = train(build_model(name, 10, width), train_set, val_set, None, config)
    return iterations * batch / result.seconds


def scoring_rates(name: str, width: float, device: torch.device, samples: int, chunk: int,
                  repeats: int) -> tuple[float, float, int]:
    """(engine inputs/s, bare forward inputs/s, inputs per pass) of the deletion curves."""
    model = build_model(name, 10, width).to(device).eval()
    x, relevance, target = (t.to(device) for t in make_batch(name, samples))
    per_pass = inputs_per_pass(model, x, chunk)
    orders = sum(N_RANDOM if o == "random" else 1 for o in ORDERS)
    per_sample = 2 + orders * (len(DEFAULT_GRID) - 2)
    sizes = pass_sizes(samples, per_pass, per_sample)
    engine = best_of(lambda: perturbation_curves(model, x, relevance, target,
                                                 chunk_size=per_pass, patch=UNIT[name]),
                     device, repeats)
    bare = best_of(lambda: bare_forwards(model, x, sizes), device, repeats)
    inputs = samples * per_sample
    return inputs / engine, sum(sizes) / bare, per_pass


def probe(name: str, width: float, device: torch.device, n: int
          ) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fresh model ``name`` in eval mode and ``n`` of :func:`clips` on ``device``: (model,
    signals, model input, targets 0..n-1), what the counts below score through."""
    model = build_model(name, 10, width).to(device).eval()
    signals = torch.from_numpy(clips(n)).to(device)
    return model, signals, to_model_input(signals, MODELS[name]), torch.arange(n, device=device)


def harness_ratio(pm: PluginManager, name: str, width: float, device: torch.device,
                  batch: int, repeats: int) -> tuple[float, float]:
    """(guarded gradient, direct captum Saliency) seconds per call at ``batch``."""
    from captum.attr import Saliency

    model = build_model(name, 10, width).to(device).eval()
    x = to_model_input(torch.from_numpy(clips(batch)).to(device), MODELS[name])
    target = torch.randint(0, 10, (batch,), device=device)
    keeper, explainer = ModelKeeper(model), pm.explainers.get("gradient")
    guarded = best_of(lambda: run_explainer(explainer, model, x, target, keeper=keeper),
                      device, repeats)
    direct = best_of(lambda: Saliency(model).attribute(x.clone().requires_grad_(), target=target,
                                                       abs=False), device, repeats)
    return guarded, direct


def spectrogram_rates(device: torch.device, batch: int, repeats: int) -> dict[str, float]:
    signals = torch.from_numpy(clips(batch)).to(device)
    return {str(dtype).removeprefix("torch."): batch / best_of(
        lambda dtype=dtype: spectrogram_input(signals, fft_dtype=dtype), device, repeats)
        for dtype in (torch.float64, torch.float32)}


@dataclasses.dataclass(frozen=True)
class Inputs:
    """Model inputs one explainer's cells need on a panel, as forward+backward (explanations)
    and forward alone (the metrics' perturbed inputs, occlusion): per scored sample, per
    sample runtime times (``timed_samples`` of the panel's first batch, all of it where None)
    and once per panel (the repeatability check)."""

    fwd_bwd: float
    forward: float
    timed_fwd_bwd: float = 0.0
    timed_forward: float = 0.0
    once_fwd_bwd: float = 0.0
    once_forward: float = 0.0
    timed_samples: int | None = None

    def seconds(self, samples: int, batch_size: int, rates: dict[str, float]) -> float:
        """Projected seconds of a panel of ``samples`` scored samples in batches of
        ``batch_size`` at the measured ``rates``."""
        timed = min(batch_size, samples, self.timed_samples or batch_size)
        fwd_bwd = samples * self.fwd_bwd + timed * self.timed_fwd_bwd + self.once_fwd_bwd
        forward = samples * self.forward + timed * self.timed_forward + self.once_forward
        return fwd_bwd / rates["bare_fwd_bwd"] + forward / rates["score"]


def explainer_inputs(pm: PluginManager, name: str, width: float, device: torch.device,
                     definition: str | None = None, explainers: list[str] | None = None
                     ) -> dict[str, Inputs]:
    """:class:`Inputs` of each explainer of ``definition`` for the model ``name`` (its
    explainers, metrics and sonifiers with the definition's parameters; without one, every
    registered plugin with its defaults; ``explainers`` narrows them by name), counted on 2
    samples: the explanation itself, then each metric through ``score_attributions``. Inputs
    are counted where the model is called, as forward+backward where gradients are on.

    The metrics re-explain: the randomisation check and cascade on re-initialised copies of
    the model (for AudioNet 11 explanations per sample; the check on its ``samples`` of each
    batch where it has them), runtime on the first batch. A run keeps one memo per batch for
    all explainers (EvalBatch.shared: the random and amplitude curves, the bands' damage), so
    only the first explainer pays for it; ``score_attributions`` starts a fresh memo per
    call, and here consecutive calls get one, as a run's explainers do."""
    from unittest import mock

    from audioxai_bench import score_attributions, scoring
    from audioxai_bench.builtin.metrics_runtime import Runtime
    from audioxai_bench.guard import REPEAT_SAMPLES, declares_nondeterministic

    chosen, metrics, sonifiers, batch_size = _configured(pm, MODELS[name], definition)
    if explainers is not None:
        chosen = {e: chosen[e] for e in explainers}
    n = 2  # the counts per sample do not depend on it
    model, signals, x, target = probe(name, width, device, n)
    counted = {True: 0, False: 0}

    def counting(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        counted[torch.is_grad_enabled()] += len(args[0])

    def count(fn: Callable[[], object]) -> tuple[float, float]:
        counted[True] = counted[False] = 0
        fn()
        return counted[True] / n, counted[False] / n

    def inputs_of(explainer: Any) -> Inputs:
        relevance = []
        own = count(lambda: relevance.append(explainer.explain(model, x, target)))

        def score(chosen: list[Any]) -> tuple[float, float]:
            return count(lambda: score_attributions(
                model, x, target, relevance[0], signals=signals, metrics=chosen,
                explainer=explainer, explain_seconds=0.01, sonifiers=sonifiers,
                plugins=pm)) if chosen else (0.0, 0.0)

        # runtime first: it times an explainer on a model once (its later batches reuse the
        # timing), so it is counted alone; a metric on some of each batch (the check's
        # samples) alone, scaled; the rest in one call, sharing their curves as in a run
        timers = [m for m in metrics if isinstance(m, Runtime)]
        capped = [m for m in metrics if getattr(m, "samples", None) and m not in timers]
        alone = {id(m) for m in timers + capped}
        timed = score(timers)
        fwd_bwd, forward = (a + b for a, b in zip(own, score(
            [m for m in metrics if id(m) not in alone])))
        for metric in capped:
            share = min(1.0, metric.samples / batch_size)
            each = score([metric])
            fwd_bwd, forward = fwd_bwd + share * each[0], forward + share * each[1]
        repeat = 0 if declares_nondeterministic(explainer) else 2 * REPEAT_SAMPLES
        return Inputs(fwd_bwd, forward, *timed, repeat * own[0], repeat * own[1],
                      min((m.samples for m in timers if m.samples), default=None))

    model.register_forward_pre_hook(counting)  # copies (randomised, re-referenced) carry it
    memo: dict = {}
    batch = scoring.EvalBatch
    with mock.patch.object(scoring, "EvalBatch",
                           lambda *a, **k: batch(*a, **k | {"shared": memo})):
        return {e: inputs_of(obj) for e, obj in chosen.items()}


def _configured(pm: PluginManager, representation: str, definition: str | None
                ) -> tuple[dict[str, Any], list[Any], list[Any], int]:
    """(explainers by name, metrics, sonifiers, batch_size) as ``definition`` configures them
    for ``representation`` (every registered plugin with its defaults, batches of 50, without
    one)."""
    from audioxai_bench.run.definition import load_benchmark
    from audioxai_bench.run.plan import applies, plan_benchmark

    if definition is None:
        explainers = {e: pm.explainers.get(e) for e in pm.explainers.names()}
        metrics, sonifiers, batch_size = list(pm.metrics), pm.sonifiers.names(), 50
    else:
        bench = load_benchmark(definition)
        plan = plan_benchmark(bench, pm)
        explainers = {p.name: p.obj for p in plan.explainers}
        metrics = [p.obj for p in plan.metrics]
        sonifiers, batch_size = [p.obj for p in plan.sonifiers], bench.batch_size
    # the metrics that score these inputs (no planted evidence here: the localisation ones
    # read a mask)
    metrics = [m for m in metrics if applies(m, representation)
               and "ground_truth" not in set(getattr(m, "needs", ()))]
    return ({e: obj for e, obj in explainers.items() if applies(obj, representation)},
            metrics, sonifiers, batch_size)


def sync_counts(pm: PluginManager, name: str, width: float, device: torch.device
                ) -> dict[str, int]:
    """Host syncs (the CPU waiting for the device) of the guarded gradient call and of each
    metric through ``score_attributions`` on a batch of 8: where the hot path still waits.
    Metrics that cannot score these inputs (another representation, no ground truth) are
    left out of the counts."""
    from audioxai_bench import score_attributions
    from audioxai_bench.testing import host_syncs

    model, signals, x, target = probe(name, width, device, 8)
    relevance = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)).to(device)
    gradient = pm.explainers.get("gradient")
    counts = {"guarded gradient": host_syncs(
        lambda: run_explainer(gradient, model, x, target, keeper=ModelKeeper(model)))}
    for metric in pm.metrics.names():
        try:
            counts[metric] = host_syncs(lambda metric=metric: score_attributions(
                model, x, target, relevance, signals=signals, metrics=[metric],
                explainer=gradient, explain_seconds=0.01, sonifiers=["keep-positive"],
                plugins=pm))
        except AudioXaiError:  # not for this input (e.g. spectrogram-only) or needs a mask
            continue
    return counts


def plan_of(pm: PluginManager, definition: str) -> str:
    """What a definition's explain-and-score counts depend on, as one key: its explainers,
    metrics and sonifiers with their parameters, and its batch size."""
    import json

    from audioxai_bench.run.definition import load_benchmark
    from audioxai_bench.run.plan import plan_benchmark

    bench = load_benchmark(definition)
    plan = plan_benchmark(bench, pm)
    return json.dumps([[(p.name, p.base, p.params) for p in group] for group in
                       (plan.explainers, plan.metrics, plan.sonifiers)] + [bench.batch_size],
                      sort_keys=True, default=str)


def projection(pm: PluginManager, definition: str, rates: dict[str, dict[str, float]],
               inputs: dict[str, dict[str, Inputs]]) -> tuple[float, float]:
    """(training, explain+score) projected seconds of a shipped definition from the measured
    ``rates`` and each model's :func:`explainer_inputs` of that definition."""
    from audioxai_bench.builtin.models import BUILTIN_MODELS
    from audioxai_bench.run.definition import load_benchmark

    bench = load_benchmark(definition)
    presets = {spec.name: spec.presets[bench.preset if bench.preset != "auto" else "paper"]
               for spec in BUILTIN_MODELS}
    training = scoring = 0.0
    for task in bench.tasks:
        for choice in bench.models:
            name, n = choice.name, len(bench.folds[task])
            if name not in rates:
                continue
            config = dataclasses.replace(presets[name], **bench.training)
            training += n * config.iterations * config.batch_size / rates[name]["train"]
            scoring += n * sum(counts.seconds(bench.samples or 500, bench.batch_size,
                                              rates[name]) for counts in inputs[name].values())
    return training, scoring


@contextmanager
def tf32_convolutions() -> Iterator[None]:
    """torch's default outside the suite's mode: cuDNN float32 convolutions on TF32 cores."""
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--width", type=float, default=None, help="default: 1 on cuda, 0.125 on cpu")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--batch", type=int, default=100, help="training batch (the paper's 100)")
    p.add_argument("--iterations", type=int, default=None, help="default: 300 cuda, 10 cpu")
    p.add_argument("--samples", type=int, default=None, help="scored; default 256 cuda, 16 cpu")
    p.add_argument("--chunk", type=int, default=512, help="the definition's chunk_size")
    p.add_argument("--seconds", type=float, default=3.0, help="per bare-rate measurement")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--definitions", nargs="*", default=["paper-digit", "paper-sex"])
    p.add_argument("--compile", action="store_true",
                   help="also train through torch.compile (training: {compile: true}); its "
                        "compilation is timed apart, in the warm-up")
    args = p.parse_args(argv)
    with torch_mode():  # what runs and training compute in: deterministic, IEEE float32
        measure(args)


def measure(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    width = args.width or (1.0 if cuda else 0.125)
    iterations = args.iterations or (300 if cuda else 10)
    samples = args.samples or (256 if cuda else 16)
    label = (torch.cuda.get_device_name(device) if cuda
             else f"cpu, {torch.get_num_threads()} threads")
    print(f"# torch {torch.__version__}, {label}; width {width:g}, batch {args.batch}")
    pm = PluginManager(entrypoints=False, strict=True)
    modes = {"fp32 deterministic": {}, "fp32 fast": {"deterministic": False}}
    if cuda:
        modes["bf16 deterministic"] = {"precision": "bf16"}
    if args.compile:
        modes["fp32 compiled"] = {"compile": True}
    rates: dict[str, dict[str, float]] = {}
    print("\n## training (samples/s) vs bare forward+backward")
    for name in args.models:
        model = build_model(name, 10, width)
        bare = throughput(model, args.batch, device, backward=True, seconds=args.seconds)
        rates[name] = {"bare_fwd_bwd": bare}
        for mode, options in modes.items():
            rate = training_rate(name, width, device, iterations, args.batch, **options)
            rates[name].setdefault("train", rate)  # the default mode projects
            print(f"{name:9} {mode:20} train {rate:9.1f}/s  bare {bare:9.1f}/s  "
                  f"{100 * rate / bare:5.1f} %", flush=True)
        if cuda:
            with tf32_convolutions():
                tf32 = throughput(model, args.batch, device, backward=True, seconds=args.seconds)
            print(f"{name:9} bare with TF32 convolutions (torch's default, not the suite's) "
                  f"{tf32:9.1f}/s", flush=True)
        larger = throughput(model, 4 * args.batch, device, backward=True, seconds=args.seconds)
        print(f"{name:9} bare at batch {4 * args.batch} {larger:9.1f}/s  {larger / bare:5.2f}x "
              "(above 1: the device has room that several folds trained as one model, "
              "torch.func's stacked ensemble, could use; processes on one GPU only take turns)",
              flush=True)
        swapped = throughput(pooled_first(model), args.batch, device, backward=True,
                             seconds=args.seconds)
        print(f"{name:9} bare with max-pool before ReLU (the same numbers) {swapped:9.1f}/s  "
              f"{swapped / bare:5.2f}x", flush=True)
    print("\n## scoring: deletion-engine inputs/s vs bare forward of the same pass sizes")
    for name in args.models:
        engine, bare, per_pass = scoring_rates(name, width, device, samples, args.chunk,
                                               args.repeats)
        rates[name]["score"] = engine
        print(f"{name:9} engine {engine:9.1f}/s  bare forward {bare:9.1f}/s  "
              f"{100 * engine / bare:5.1f} %  ({per_pass} inputs per pass)", flush=True)
    print("\n## harness: guarded 'gradient' vs direct captum Saliency, batch 64")
    for name in args.models:
        guarded, direct = harness_ratio(pm, name, width, device, 64, max(args.repeats, 10))
        print(f"{name:9} guarded {guarded * 1e3:8.2f} ms  direct {direct * 1e3:8.2f} ms  "
              f"{guarded / direct:5.2f}x", flush=True)
    if cuda:
        print("\n## host syncs per call, batch of 8 (the metrics through score_attributions)")
        for name in args.models:
            counts = sync_counts(pm, name, 0.0625, device)
            print(f"{name:9} " + ", ".join(f"{k} {v}" for k, v in sorted(
                counts.items(), key=lambda kv: -kv[1])), flush=True)
    print(f"\n## where a bare forward+backward spends its {'device' if cuda else 'CPU'} time, "
          f"batch {args.batch} (torch.profiler, top ops)")
    for name in args.models:
        ops = step_profile(name, width, device, args.batch)
        print(f"{name:9} " + "; ".join(f"{op} {100 * share:.0f} %" for op, share in ops),
              flush=True)
    print(f"\n## each layer alone, forward+backward at batch {args.batch} (ms; share of their sum)")
    for name in args.models:
        times = layer_times(name, width, device, args.batch, max(args.repeats, 5))
        total = sum(t for _, t in times) or 1.0
        print(f"{name:9} sum {total * 1e3:.2f} ms: " + "; ".join(
            f"{label} {t * 1e3:.2f} ({100 * t / total:.0f} %)"
            for label, t in sorted(times, key=lambda lt: -lt[1]) if t >= 0.02 * total),
            flush=True)
    spec = spectrogram_rates(device, args.batch, args.repeats)
    print("\n## spectrogram input on the device (inputs/s): "
          + ", ".join(f"{k} FFT {v:.0f}" for k, v in spec.items()))
    if args.definitions:
        print("\n## projected wall time from these rates (width "
              f"{width:g}; training + explain/score)")
        # counted on the CPU, whatever the device: the counts do not depend on it; once per
        # configuration (paper-digit and paper-sex configure their plugins alike)
        cpu, counted = torch.device("cpu"), {}
        for definition in args.definitions:
            plan = plan_of(pm, definition)
            if plan not in counted:
                counted[plan] = {name: explainer_inputs(pm, name, 0.0625, cpu, definition)
                                 for name in args.models}
                for name, counts in counted[plan].items():
                    print(f"{definition:12} {name:9} model inputs per scored sample, "
                          "forward+backward / forward (the explanation and every metric; the "
                          "first explainer pays the run's shared memo): " + ", ".join(
                              f"{e} {c.fwd_bwd:.0f} / {c.forward:.0f}"
                              for e, c in counts.items()), flush=True)
            inputs = counted[plan]
            training, scoring = projection(pm, definition, rates, inputs)
            print(f"{definition:12} training {training / 60:7.1f} min  explain+score "
                  f"{scoring / 60:7.1f} min  total {(training + scoring) / 60:7.1f} min",
                  flush=True)


if __name__ == "__main__":
    main()
