"""How often a reference model fails to learn, over training seeds: as shipped and with its input
centred, side by side in one run.

The quickstart's narrow AlexNet takes dB spectrograms in [-80, 0] (mean near -60). With one of
eight seeds (digit, split 1) its training loss stays at ln(10) = 2.30 for all 500 iterations
and the model ends at chance; the same seed trains when the input is centred, (x + 40) / 40.
This prints, per seed, the test accuracy of the model as shipped and of the centred variant
(a subclass here, not a shipped model), trained with the same preset, data, split and seed,
and how many of them end below the leaderboard's accuracy floor.

    python benchmarks/bench_training_stability.py                       # 8 seeds, digit, split 1
    python benchmarks/bench_training_stability.py --seeds 4 --iterations 200 --fold 0
"""

from __future__ import annotations

import argparse
import statistics

import torch

from audioxai_bench.builtin.models import BUILTIN_MODELS
from audioxai_bench.data.dataset import load_audiomnist
from audioxai_bench.data.splits import N_CLASSES, accuracy_floor
from audioxai_bench.models.alexnet import AlexNetSpectrogram
from audioxai_bench.models.train import train
from audioxai_bench.run.artifacts import make_recipe, synthetic_data
from audioxai_bench.run.definition import load_benchmark
from audioxai_bench.run.training import resolve_preset

#: dB floor and ceiling of the spectrogram input: its midpoint and half-range centre it.
MIDPOINT, HALF_RANGE = -40.0, 40.0


class CentredAlexNet(AlexNetSpectrogram):
    """The shipped AlexNet with its dB input mapped to [-1, 1] before the first convolution."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward((x - MIDPOINT) / HALF_RANGE)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="digit")
    p.add_argument("--fold", type=int, default=1)
    p.add_argument("--seeds", type=int, default=8, help="seeds 0 .. N-1 (default 8)")
    p.add_argument("--iterations", type=int, default=None,
                   help="training iterations (default: the quickstart's)")
    args = p.parse_args(argv)

    quickstart = load_benchmark("quickstart")
    choice = next(m for m in quickstart.models if m.name == "alexnet")
    data_choice = quickstart.data
    root, _ = synthetic_data(data_choice.speakers, data_choice.reps, data_choice.synth_seed)
    training = dict(quickstart.training)
    if args.iterations is not None:
        training["iterations"] = args.iterations
    preset = resolve_preset(quickstart.preset, torch.device("cpu"))
    spec = next(m for m in BUILTIN_MODELS if m.name == "alexnet")
    floor = accuracy_floor(N_CLASSES[args.task])
    torch.set_num_threads(1)
    print(f"alexnet, {args.task}, split {args.fold}, quickstart preset {preset} "
          f"({training}), width {choice.width}; accuracy floor {floor:.0%}")
    print(f"{'seed':>4}  {'as shipped':>10}  {'centred':>8}")
    found: dict[str, list[float]] = {"as shipped": [], "centred": []}
    for seed in range(args.seeds):
        data = load_audiomnist(root, seed=seed)
        train_set, val_set, test_set = data.fold(args.task, args.fold, "spectrogram")
        row = []
        for name, cls in (("as shipped", AlexNetSpectrogram), ("centred", CentredAlexNet)):
            recipe = make_recipe(spec, "builtin", args.task, args.fold, preset,
                                 width=choice.width, seed=seed, **training)
            torch.manual_seed(seed)  # as the runner seeds before it builds a model
            model = cls(N_CLASSES[args.task], recipe.width)
            result = train(model, train_set, val_set, test_set, recipe.config)
            found[name].append(result.test_accuracy)
            row.append(result.test_accuracy)
        print(f"{seed:>4}  {row[0]:>10.3f}  {row[1]:>8.3f}", flush=True)
    for name, values in found.items():
        ok = [v for v in values if v >= floor]
        spread = f"{statistics.mean(ok):.3f} ± {statistics.stdev(ok):.3f}" if len(ok) > 1 else "–"
        print(f"{name}: {len(values) - len(ok)} of {len(values)} below the floor; the rest "
              f"{spread}")


if __name__ == "__main__":
    main()
