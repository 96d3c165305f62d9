"""How often a reference model fails to learn, over training seeds: on its raw input and on the
centred input it ships with, side by side in one run.

The quickstart's narrow AlexNet takes dB spectrograms in [-80, 0] (mean near -60). Trained on
them as they are, 2 of 8 seeds (digit, split 1) kept the training
loss at ln(10) = 2.30 for all 500 iterations and ended at chance. The cpu preset therefore
trains it on (x + 40) / 40 and folds that map into the first convolution
(``TrainConfig.input_centre``). This prints, per seed, the test accuracy of the model trained
on the raw input and as shipped, with the same preset, data, split and seed, and how many of
them end below the leaderboard's accuracy floor.

    python benchmarks/bench_training_stability.py                       # 8 seeds, digit, split 1
    python benchmarks/bench_training_stability.py --seeds 4 --iterations 200 --fold 0
    python benchmarks/bench_training_stability.py --lr 2e-3             # AudioNet's rate
    python benchmarks/bench_training_stability.py --benchmark ground-truth    # cue, split 0
"""

from __future__ import annotations

import argparse
import statistics

import torch

from audioxai_bench.builtin.models import BUILTIN_MODELS
from audioxai_bench.data.dataset import load_audiomnist
from audioxai_bench.data.splits import N_CLASSES, accuracy_floor
from audioxai_bench.models.train import train
from audioxai_bench.run.artifacts import data_tree, make_recipe
from audioxai_bench.run.definition import load_benchmark
from audioxai_bench.run.training import resolve_preset

#: The variants: the preset's settings they override.
VARIANTS = {"raw input": {"input_centre": 0.0, "input_scale": 1.0}, "as shipped": {}}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", default="quickstart",
                   help="the shipped definition whose data, AlexNet and training to use")
    p.add_argument("--task", default=None, help="default: the benchmark's first task")
    p.add_argument("--fold", type=int, default=None, help="default: the benchmark's last split")
    p.add_argument("--seeds", type=int, default=8, help="seeds 0 .. N-1 (default 8)")
    p.add_argument("--iterations", type=int, default=None,
                   help="training iterations (default: the benchmark's)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the preset's)")
    args = p.parse_args(argv)

    bench = load_benchmark(args.benchmark)
    task = args.task or bench.tasks[0]
    fold = bench.folds[task][-1] if args.fold is None else args.fold
    choice = next(m for m in bench.models if m.name == "alexnet")
    root, _, _ = data_tree(bench.data)
    training = dict(bench.training)
    if args.iterations is not None:
        training["iterations"] = args.iterations
    if args.lr is not None:
        training["lr"] = args.lr
    preset = resolve_preset(bench.preset, torch.device("cpu"))
    spec = next(m for m in BUILTIN_MODELS if m.name == "alexnet")
    floor = accuracy_floor(N_CLASSES[task])
    torch.set_num_threads(1)
    print(f"alexnet, {args.benchmark}, {task}, split {fold}, preset {preset} "
          f"({training}), width {choice.width}; accuracy floor {floor:.0%}")
    print(f"{'seed':>4}" + "".join(f"  {name:>10}" for name in VARIANTS))
    found: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for seed in range(args.seeds):
        data = load_audiomnist(root, seed=seed)
        train_set, val_set, test_set = data.fold(task, fold, "spectrogram")
        row = []
        for name, overrides in VARIANTS.items():
            recipe = make_recipe(spec, "builtin", task, fold, preset,
                                 width=choice.width, seed=seed, **{**training, **overrides})
            torch.manual_seed(seed)  # as the runner seeds before it builds a model
            result = train(recipe.build(), train_set, val_set, test_set, recipe.config)
            found[name].append(result.test_accuracy)
            row.append(result.test_accuracy)
        print(f"{seed:>4}" + "".join(f"  {v:>10.3f}" for v in row), flush=True)
    for name, values in found.items():
        ok = [v for v in values if v >= floor]
        spread = f"{statistics.mean(ok):.3f} ± {statistics.stdev(ok):.3f}" if len(ok) > 1 else "–"
        print(f"{name}: {len(values) - len(ok)} of {len(values)} below the floor; the rest "
              f"{spread}")


if __name__ == "__main__":
    main()
