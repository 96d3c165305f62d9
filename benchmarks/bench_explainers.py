"""Cost of the built-in explainers, and of the harness around them, side by side in one run.

For each model and explainer, on one batch: explanations per second through the plugin manager
(``PluginManager.explain``: contract checks, model snapshot and restore, eval-mode handling);
the ratio to calling zennit or captum directly on the same model and batch (the harness's
overhead; goal <= 1.05), both as timed (noisy on a shared CPU) and as 1 + the harness's fixed
per-call cost (measured with a no-op explainer) over the direct time; the ratio to one plain
forward + backward pass to the input; and the passes through the model per sample.

    python benchmarks/bench_explainers.py                         # CPU widths, batch 64
    python benchmarks/bench_explainers.py --width 1.0 --repeats 1 --explainers gradient lrp-epsilon
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from audioxai_bench.builtin.models import BUILTIN_MODELS
from audioxai_bench.models import MODEL_NAMES, build_model
from audioxai_bench.plugins import PluginManager, run_explainer

CPU_WIDTH = {spec.name: spec.cpu_width for spec in BUILTIN_MODELS}

Call = Callable[[nn.Module, Tensor, Tensor], Tensor]


def make_batch(model_name: str, batch_size: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """A batch shaped and scaled like real inputs (normalised waveform; dB in [-80, 0])."""
    gen = torch.Generator().manual_seed(0)
    if model_name == "audionet":
        x = torch.randn(batch_size, 1, 8000, generator=gen)
    else:
        x = -80 * torch.rand(batch_size, 1, 227, 227, generator=gen)
    target = torch.randint(0, 10, (batch_size,), generator=gen)
    return x.to(device), target.to(device)


def direct_call(explainer: object) -> Call:
    """The same method called straight through zennit / captum, with the explainer's params."""
    from captum.attr import (
        InputXGradient,
        IntegratedGradients,
        NoiseTunnel,
        Occlusion,
        Saliency,
    )
    from zennit import composites as zc
    from zennit.attribution import Gradient
    from zennit.rules import Epsilon
    from zennit.types import Linear

    name, p = explainer.name, getattr(explainer, "params", {})

    def baseline(x: Tensor) -> Tensor:
        if p.get("baseline") == "zero" or x.dim() == 3:
            return torch.zeros_like(x)
        return x.amin(dim=(1, 2, 3), keepdim=True).expand_as(x)

    def lrp(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        eps, stab = p["epsilon"], p["stabilizer"]
        if p["composite"] == "epsilon":
            layer_map = zc.layer_map_base(stab) + [(Linear, Epsilon(epsilon=eps))]
            composite = zc.LayerMapComposite(layer_map=layer_map)
        elif p["composite"] == "epsilon-plus-flat":
            composite = zc.EpsilonPlusFlat(epsilon=eps, stabilizer=stab)
        elif p["composite"] == "epsilon-alpha2-beta1":
            composite = zc.EpsilonAlpha2Beta1(epsilon=eps, stabilizer=stab)
        else:
            dims = tuple(range(1, x.dim()))
            composite = zc.EpsilonGammaBox(
                low=x.amin(dim=dims, keepdim=True).expand_as(x),
                high=x.amax(dim=dims, keepdim=True).expand_as(x),
                epsilon=eps, gamma=p["gamma"], stabilizer=stab)
        with Gradient(model=model, composite=composite) as attributor:
            _, rel = attributor(x.detach().requires_grad_(),
                                lambda out: F.one_hot(target, out.shape[-1]).to(out) * out.detach())
        return rel

    def smoothgrad(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        torch.manual_seed(p["seed"])
        return NoiseTunnel(Saliency(model)).attribute(
            x.detach().requires_grad_(), nt_type="smoothgrad", nt_samples=p["n_samples"],
            nt_samples_batch_size=max(1, p["internal_batch_size"] // len(x)),
            stdevs=p["noise_level"] * float(x.max() - x.min()), target=target, abs=False)

    def occlusion(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        window, stride = explainer.window(tuple(x.shape[1:]))
        return Occlusion(model).attribute(
            x, sliding_window_shapes=window, strides=stride, baselines=baseline(x),
            target=target, perturbations_per_eval=max(1, p["internal_batch_size"] // len(x)))

    calls: dict[str, Call] = {
        "gradient": lambda m, x, t: Saliency(m).attribute(
            x.detach().requires_grad_(), target=t, abs=False),
        "gradient-x-input": lambda m, x, t: InputXGradient(m).attribute(
            x.detach().requires_grad_(), target=t),
        "integrated-gradients": lambda m, x, t: IntegratedGradients(m).attribute(
            x, baselines=baseline(x), target=t, n_steps=p["n_steps"],
            internal_batch_size=max(p["internal_batch_size"], len(x))),
        "smoothgrad": smoothgrad,
        "occlusion": occlusion,
        "random": lambda m, x, t: torch.rand(
            x.shape, generator=torch.Generator(x.device).manual_seed(0), device=x.device),
        "amplitude": lambda m, x, t: x.abs() if x.dim() == 3 else x - x.amin(
            dim=(1, 2, 3), keepdim=True),
    }
    if name.startswith("lrp-"):
        return lrp
    return calls[name]


def forward_backward(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    """One plain forward pass and one backward pass to the input (what a gradient costs)."""
    xg = x.detach().requires_grad_()
    logit = model(xg).gather(1, target[:, None]).sum()
    return torch.autograd.grad(logit, xg)[0]


class _NoOp:
    """An explainer that does nothing: what remains of its cost is the harness's own."""

    name = "no-op"
    representations = frozenset({"waveform", "spectrogram"})

    def explain(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        return torch.zeros_like(x)


def harness_fixed_cost(model: nn.Module, x: Tensor, target: Tensor, device: torch.device,
                       repeats: int = 20) -> float:
    """Seconds the contract checks add to one call (snapshot, restore, result checks).

    They do not depend on the method, so this number divided by a method's direct time is the
    harness's overhead without the run-to-run noise of timing two long calls on a busy CPU.
    """
    noop = _NoOp()
    with_checks = min(timed(device, run_explainer, noop, model, x, target) for _ in range(repeats))
    bare = min(timed(device, noop.explain, model, x, target) for _ in range(repeats))
    return max(0.0, with_checks - bare)


def timed(device: torch.device, fn: Callable[..., object], *args: object) -> float:
    """Seconds of one call ``fn(*args)``, synchronised on CUDA."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn(*args)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Print one table row per model, width and explainer."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--width", type=float, nargs="+", default=None,
                   help="width multipliers (default: the recommended CPU width per model)")
    p.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    p.add_argument("--explainers", nargs="+", default=None, help="default: every built-in")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed calls of each; the fastest counts (the least disturbed)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    pm = PluginManager(entrypoints=False, strict=True)
    names = args.explainers or pm.explainers.names()

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"# torch {torch.__version__}, {where}, {torch.get_num_threads()} CPU threads, "
          f"batch {args.batch_size}, best of {args.repeats}")
    print(f"{'model':9} {'width':>5} {'explainer':25} {'expl/s':>9} {'harness/direct':>14} "
          f"{'fixed/direct':>12} {'x fwd+bwd':>9} {'passes':>6}")
    for model_name in args.models:
        for width in args.width or [CPU_WIDTH[model_name]]:
            torch.manual_seed(0)
            model = build_model(model_name, 10, width).to(device).eval()
            x, target = make_batch(model_name, args.batch_size, device)
            forward_backward(model, x, target)  # warm-up
            base = min(
                timed(device, forward_backward, model, x, target)
                for _ in range(max(3, args.repeats)))
            fixed = harness_fixed_cost(model, x, target, device)
            print(f"# {model_name} width {width:g}: fwd+bwd {base * 1000:.1f} ms, harness "
                  f"checks {fixed * 1000:.2f} ms per call", flush=True)
            for name in names:
                explainer = pm.explainers.get(name)
                direct = direct_call(explainer)
                direct(model, x[:2], target[:2])  # warm-up: imports, first-call costs
                harness_t, direct_t = [], []
                for i in range(args.repeats):  # interleaved, alternating who goes first
                    pair = [
                        (harness_t, pm.explain, name, model, x, target),
                        (direct_t, direct, model, x, target),
                    ]
                    for out, fn, *call in pair if i % 2 == 0 else pair[::-1]:
                        out.append(timed(device, fn, *call))
                h, d = min(harness_t), min(direct_t)
                passes = explainer.passes(tuple(x.shape[1:]))
                print(f"{model_name:9} {width:5.3g} {name:25} {args.batch_size / h:9.1f} "
                      f"{h / d:14.3f} {1 + fixed / d:12.4f} {h / base:9.2f} {passes:6d}",
                      flush=True)


if __name__ == "__main__":
    main()
