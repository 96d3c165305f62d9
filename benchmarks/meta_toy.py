"""Which metrics order maps of known quality, on toy models whose evidence is known exactly.

For each representation a linear model reads only one region of its input (a time span of the
waveform, a time-frequency box of the dB spectrogram) of noise-burst "speech" at 8 kHz; that
region is the ground truth. Every registered metric that scores a map (with every sonifier that
applies, for the sonification metrics) scores the reference maps of
:mod:`audioxai_bench.evaluation.meta`, and the verdict of each is printed: a first reading of
which metric columns to believe, before the ``cue`` task's trained models exist.

    python benchmarks/meta_toy.py --samples 24 [--representations spectrogram] [--sonifiers]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import torch
from torch import Tensor, nn

from audioxai_bench import load_plugins
from audioxai_bench.api.metric import EvalBatch
from audioxai_bench.data.preprocess import to_model_input
from audioxai_bench.evaluation.meta import check_metrics, uncheckable

#: The region each toy model reads: the last axis is time, the one before it frequency.
REGIONS = {"waveform": (slice(None), slice(2000, 3000)),
           "spectrogram": (slice(20, 60), slice(60, 100))}


class RegionNet(nn.Module):
    """Two classes from a fixed random projection of one region of the input, measured from
    silence (waveform 0, spectrogram -80 dB), so that removing a unit removes its evidence."""

    def __init__(self, representation: str, scale: float) -> None:
        super().__init__()
        self.rows, self.cols = REGIONS[representation]
        shape = (1000,) if representation == "waveform" else (40, 40)
        weight = torch.randn(2, *shape, generator=torch.Generator().manual_seed(3))
        weight = weight - weight.flatten(1).mean(1).view(2, *[1] * len(shape))  # no class bias
        self.register_buffer("weight", weight * scale)

    def forward(self, x: Tensor) -> Tensor:
        region = x[:, 0, self.cols] if x.dim() == 3 else (x[:, 0, self.rows, self.cols] + 80) / 80
        return region.flatten(1) @ self.weight.flatten(1).T


def speech_like(n: int, seed: int = 0) -> Tensor:
    """``(n, 8000)`` noise bursts of varying loudness between samples 600 and 6600."""
    g = torch.Generator().manual_seed(seed)
    signals = torch.zeros(n, 8000)
    t = torch.arange(6000)
    envelope = 0.3 + torch.sin(math.pi * t / len(t)) ** 2
    signals[:, 600:6600] = 1000 * envelope * torch.randn(n, 6000, generator=g)
    return signals


def batch(representation: str, n: int) -> EvalBatch:
    signals = speech_like(n)
    x = to_model_input(signals, representation)
    scale = 0.1 if representation == "waveform" else 1.0
    model = RegionNet(representation, scale).eval()
    ground_truth = torch.zeros_like(x, dtype=torch.bool)
    rows, cols = REGIONS[representation]
    if representation == "waveform":
        ground_truth[:, :, cols] = True
    else:
        ground_truth[:, :, rows, cols] = True
    with torch.no_grad():
        target = model(x).argmax(dim=1)
    return EvalBatch(model=model, x=x, target=target, relevance=torch.zeros_like(x),
                     representation=representation, signals=signals,
                     ground_truth=ground_truth, seed=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--representations", nargs="+", default=["waveform", "spectrogram"])
    parser.add_argument("--sonifiers", nargs="*", default=None,
                        help="sonifier names (default: every one that applies; none: skip)")
    args = parser.parse_args()
    pm = load_plugins(entrypoints=False)
    for rep in args.representations:
        b = batch(rep, args.samples)
        metrics = [m for m in pm.metrics if rep in m.representations and not uncheckable(m)]
        plain = [m for m in metrics if "sonifier" not in m.needs]
        runs = [("", b, plain)] + [
            (s.name, dataclasses.replace(b, sonifier=s),
             [m for m in metrics if "sonifier" in m.needs])
            for s in pm.sonifiers if rep in s.representations
            and (args.sonifiers is None or s.name in args.sonifiers)]
        print(f"\n## {rep}: {args.samples} clips, each its own unit")
        for sonifier, where, chosen in runs:
            start = time.perf_counter()
            for name, r in check_metrics(chosen, where).items():
                means = " ".join(f"{r.means[k]:+.3f}" for k in ("oracle", "random", "inverted"))
                failing = "; ".join(f"{s.better}>{s.worse} {s.verdict}" for s in r.failing)
                print(f"{name}{'/' + sonifier if sonifier else ''}: {r.verdict} "
                      f"(oracle/random/inverted {means}; smallest step "
                      f"{r.margin.better}>{r.margin.worse} {r.margin.difference:+.3f})"
                      f"{'; not in order: ' + failing if failing else ''}")
            print(f"   [{time.perf_counter() - start:.0f} s]")


if __name__ == "__main__":
    main()
