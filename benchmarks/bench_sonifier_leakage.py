"""Why a sonified map's gain over random units differs from the same units' gain in the model
input: what the sonifier does to the units. Side by side in one run.

The leaderboard's "vs model input" columns compare each map's sound with its units applied in
the model input. Every sound is heard at its clip's level (the clip's 95th percentile, the
clip's peak dB), so an exact 0/1 gate as sound *is* the masked input
(``tests/builtin/test_matched_sonification.py``) and what remains is the sonifier's own doing:
``keep-positive`` smooths its mask, ``spectrogram-mask`` goes through the STFT; both spread each
kept unit into its neighbours. This trains the benchmark's AudioNet (or ``--model alexnet``) on
one split, explains its test clips and prints, per explainer and way of playing the units: the
sufficiency gain, and the true-class probability of the map's units and of the random units
per kept fraction; then the gains side by side, to show whether a sonifier changes how the
explainers compare (with ``amplitude`` above all). On waveform models it repeats the gains
against a control with the map's own layout (its units shifted along the clip), whose leak
matches the map's.

    python benchmarks/bench_sonifier_leakage.py                     # digit, split 0
    python benchmarks/bench_sonifier_leakage.py --explainers lrp-epsilon --samples 48
    python benchmarks/bench_sonifier_leakage.py --sonifiers emphasis     # a plugin's sonifier
"""

from __future__ import annotations

import argparse

import torch

from audioxai_bench.api.explainer import amplitude_of
from audioxai_bench.api.sonifier import BaseSonifier
from audioxai_bench.builtin.models import BUILTIN_MODELS
from audioxai_bench.data.dataset import load_audiomnist
from audioxai_bench.evaluation.randomness import hashed_uniform
from audioxai_bench.evaluation.sonification import (  # _TIES: the engine's tie-break stream
    _TIES,
    FRACTIONS,
    Units,
    active_units,
    kept_counts,
    score_matched_masks,
    unit_ranks,
)
from audioxai_bench.models.train import train
from audioxai_bench.plugins import load_plugins
from audioxai_bench.run.artifacts import data_tree, make_recipe
from audioxai_bench.run.definition import load_benchmark
from audioxai_bench.run.training import resolve_preset

#: How far the layout-matched controls move a map, as shares of its clip's active units.
SHIFTS = (0.2, 0.4, 0.6, 0.8)


def scatter(relevance: torch.Tensor, x: torch.Tensor, *, seed: int, fraction: float = 0.2
            ) -> float:
    """Contiguous runs per kept unit in the top ``fraction`` of a waveform map's active
    units, the way the matched scores pick them: 1 when every kept unit stands alone, near 0
    when they form one block."""
    units = Units.of(tuple(x.shape[1:]))
    active = active_units(units.mean(amplitude_of(x)))
    ties = hashed_uniform(seed, torch.arange(len(x)), units.count, stream=_TIES)
    kept = unit_ranks(units.mean(relevance), active, ties) < kept_counts(
        active.sum(dim=1), (fraction,))
    starts = kept[:, 0].sum() + (kept[:, 1:] & ~kept[:, :-1]).sum()
    return (starts / kept.sum()).item()


def shifted(relevance: torch.Tensor, x: torch.Tensor, share: float) -> torch.Tensor:
    """The map moved along each clip's active units by ``share`` of them (circularly): its kept
    units keep their layout (runs, gaps) but land elsewhere, a control whose leak matches the
    map's. Silent units never rank."""
    units = Units.of(tuple(x.shape[1:]))
    scores = units.mean(relevance)
    active = active_units(units.mean(amplitude_of(x)))
    moved = torch.full_like(scores, -torch.inf)
    for i in range(len(x)):
        where = active[i].nonzero()[:, 0]
        step = max(1, round(share * len(where)))
        moved[i, where[(torch.arange(len(where)) + step) % len(where)]] = scores[i, where]
    return units.spread(moved, tuple(x.shape[1:])).to(relevance.dtype)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", default="quickstart")
    p.add_argument("--task", default="digit")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--model", default="audionet", choices=["audionet", "alexnet"])
    p.add_argument("--explainers",
                   default="gradient-x-input,lrp-epsilon,occlusion,amplitude,random",
                   help="comma-separated explainer names")
    p.add_argument("--sonifiers", default="keep-positive,spectrogram-mask",
                   help="comma-separated registered sonifiers (a plugin's too); those that do "
                        "not take the model's representation are left out")
    p.add_argument("--samples", type=int, default=96, help="test clips (default 96)")
    p.add_argument("--controls", type=int, default=4, help="random unit sets per fraction")
    args = p.parse_args(argv)

    bench = load_benchmark(args.benchmark)
    root, _, _ = data_tree(bench.data)
    choice = next(m for m in bench.models if m.name == args.model)
    spec = next(m for m in BUILTIN_MODELS if m.name == args.model)
    recipe = make_recipe(spec, "builtin", args.task, args.fold,
                         resolve_preset(bench.preset, torch.device("cpu")),
                         width=choice.width, seed=bench.seed, **dict(bench.training))
    data = load_audiomnist(root, seed=bench.seed)
    train_set, val_set, test_set = data.fold(args.task, args.fold, spec.representation)
    torch.manual_seed(recipe.config.seed)
    model = recipe.build()
    result = train(model, train_set, val_set, test_set, recipe.config)
    model.eval()
    n = min(args.samples, len(test_set))
    x, target = test_set.batch(torch.arange(n), torch.device("cpu"))
    signals = torch.as_tensor(data.signals[test_set.rows[:n]]).float()
    pm = load_plugins()
    players: dict[str, BaseSonifier | None] = {"input": None}
    for name in args.sonifiers.split(","):
        sonifier = pm.sonifiers.get(name)
        if spec.representation in sonifier.representations:
            players[name] = sonifier
    print(f"{args.model}, {args.task}, split {args.fold}: test accuracy "
          f"{result.test_accuracy:.3f}; {n} test clips, {args.controls} random unit sets per "
          f"fraction")
    fractions = " ".join(f"{f:>5.0%}" for f in FRACTIONS)
    gains: dict[str, list[float]] = {}
    own: dict[str, list[float]] = {}
    for explainer in args.explainers.split(","):
        relevance = pm.explain(explainer, model, x, target)
        runs = scatter(relevance, x, seed=bench.seed) if x.dim() == 3 else float("nan")
        print(f"{explainer} (its top 20 % of units form {runs:.2f} runs per unit; random "
              f"units about 1 - 0.2 = 0.8)")
        print(f"  {'played as':<17} {'gain':>6}   p(map's units) {fractions}   "
              f"p(random units) {fractions}")
        for name, player in players.items():
            s = score_matched_masks(player, model, signals, x, target, relevance,
                                    spec.representation, controls=args.controls,
                                    seed=bench.seed)
            gains.setdefault(explainer, []).append(s.sufficiency_gain().nanmean().item())
            mine = " ".join(f"{v:5.3f}" for v in s.explainer.p_in.mean(dim=0).tolist())
            rand = " ".join(f"{v:5.3f}" for v in
                            s.random.mean_over_controls().p_in.mean(dim=0).tolist())
            print(f"  {name:<17} {gains[explainer][-1]:6.3f}   {'':14} {mine}   {'':15} {rand}",
                  flush=True)
            if spec.representation == "waveform":
                moved = torch.stack([score_matched_masks(
                    player, model, signals, x, target, shifted(relevance, x, share),
                    spec.representation, controls=1, seed=bench.seed).explainer.p_in
                    for share in SHIFTS]).mean(dim=0)
                own.setdefault(explainer, []).append(
                    (s.explainer.p_in - moved).mean(dim=1).nanmean().item())
    for title, table in (("sufficiency gain over random units, side by side", gains),
                         ("sufficiency gain over the map's own units shifted along the clip "
                          f"by {', '.join(f'{v:.0%}' for v in SHIFTS)} of its active units", own)):
        if table:
            widths = [max(18, len(name) + 2) for name in players]
            print(f"{title}\n{'explainer':<26}"
                  + "".join(f"{name:>{w}}" for name, w in zip(players, widths)))
            for explainer, row in table.items():
                print(f"{explainer:<26}" + "".join(f"{v:{w}.3f}" for v, w in zip(row, widths)))

if __name__ == "__main__":
    main()
