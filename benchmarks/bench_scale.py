"""How paper-digit + paper-sex would scale on a Ray cluster of 1, 8 and 64 GPUs: a scale model.

The per-unit costs come from a finished run folder: a training's from its ``test-accuracy``
record (the checkpoint's own training time, kept when the model came from the cache), an
explain-and-score unit's from ``run.json`` (``units``). A (task, model) or (model, explainer)
the run did not measure takes the median of what it did for that model (said in the output).
The matrix is the shipped definitions' (every split, every registered explainer that applies
to the model's representation), scheduled as the ray executor does
(:func:`audioxai_bench.run.executors.ray_resources`): every training first, one GPU each; each
panel's explain units once its model is trained, a quarter GPU each, taken to run at their
measured speed while sharing (an optimistic assumption). List scheduling: whenever a unit ends,
the waiting units start in submission order wherever they fit.

Printed per cluster size: the makespan, the speed-up over 1 GPU, the efficiency, and the two
bounds: the work divided by the GPUs and the critical path (the longest training plus the
slowest explain unit of its panel). The matrix stops scaling where the work bound falls to the
critical path, at about work / critical path GPUs.

    python benchmarks/bench_scale.py --run /tmp/audioxai-bench-executors/ray-2
    python benchmarks/bench_scale.py --run results/paper-digit --gpus 1 4 8 16 64
    python benchmarks/bench_scale.py --train alexnet=3600 --train audionet=1800   # what if
"""

from __future__ import annotations

import argparse
import heapq
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from audioxai_bench.plugins import load_plugins
from audioxai_bench.run.definition import load_benchmark
from audioxai_bench.run.executors import ray_resources
from audioxai_bench.run.plan import applies, plan_benchmark
from audioxai_bench.run.records import latest, read_records

DEFINITIONS = ("paper-digit", "paper-sex")
SLOTS = round(1 / ray_resources("cuda")["explain"]["num_gpus"])  # explain units per GPU


@dataclass
class Unit:
    name: str
    seconds: float
    slots: int  # of a GPU's SLOTS
    after: str | None = None  # the training it waits for
    children: list[Unit] = field(default_factory=list)


def measured(run: Path) -> tuple[dict, dict, list[str]]:
    """Training seconds by (task, model) and explain seconds by (model, explainer), medians
    over the run's splits; and warnings about what may make them unrepresentative."""
    train, explain, notes = defaultdict(list), defaultdict(list), []
    for r in latest(read_records([run])):
        if r["metric"] == "test-accuracy" and r["status"] == "ok" and r.get("wall_seconds"):
            train[r["task"], r["model"]].append(r["wall_seconds"])
    info = json.loads((run / "run.json").read_text())
    for u in info.get("units", []):
        if u["unit"] == "explain":
            explain[u["model"], u["explainer"]].append(u["seconds"])
    if not info.get("units"):
        raise SystemExit(f"{run}/run.json lists no units: run it with this version first")
    if info["report"]["cached"].get("relevance"):
        notes.append(f"{info['report']['cached']['relevance']} relevance entries came from the "
                     "cache: those explain units are cheaper than computing them")
    return ({k: statistics.median(v) for k, v in train.items()},
            {k: statistics.median(v) for k, v in explain.items()}, notes)


def cost(table: dict, key: tuple, model: str, what: str, missing: dict) -> float:
    """The measured cost of ``key``, else the median of ``model``'s (noted in ``missing``)."""
    if key in table:
        return table[key]
    same = [v for k, v in table.items() if model in k]
    if not same:
        raise SystemExit(f"the run measured no {what} of model {model!r}")
    missing.setdefault((what, model), set()).add(key[0] if what == "training" else key[1])
    return statistics.median(same)


def matrix(train: dict, explain: dict, missing: dict) -> list[Unit]:
    """The trainings of both paper definitions, each with its explain units."""
    pm = load_plugins()
    units = []
    for name in DEFINITIONS:
        bench = load_benchmark(name)
        plan = plan_benchmark(bench, pm)
        for task in bench.tasks:
            for choice in bench.models:
                spec = plan.models[choice.name].obj
                t = cost(train, (task, choice.name), choice.name, "training", missing)
                for fold in bench.folds[task]:
                    label = f"{task}-{choice.name}-fold{fold}"
                    trained = Unit(label, t, SLOTS)
                    trained.children = [
                        Unit(f"{label}/{e.name}",
                             cost(explain, (choice.name, e.name), choice.name, "explain", missing),
                             1, label)
                        for e in plan.explainers if applies(e.obj, spec.representation)]
                    units.append(trained)
    return units


def makespan(trainings: list[Unit], gpus: int) -> float:
    """List scheduling on ``gpus`` GPUs of SLOTS slots: waiting units start in submission
    order wherever they fit (a training needs a whole free GPU)."""
    free = [SLOTS] * gpus
    waiting: list[Unit] = list(trainings)
    running: list[tuple[float, int, int, Unit]] = []  # (end, order, gpu, unit)
    now, order = 0.0, 0
    while waiting or running:
        still = []
        for unit in waiting:
            gpu = next((g for g in range(gpus) if free[g] >= unit.slots), None)
            if gpu is None:
                still.append(unit)
                continue
            free[gpu] -= unit.slots
            order += 1
            heapq.heappush(running, (now + unit.seconds, order, gpu, unit))
        waiting = still
        now, _, gpu, unit = heapq.heappop(running)
        free[gpu] += unit.slots
        waiting += unit.children  # submitted when their model is there
    return now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("/tmp/audioxai-bench-executors/ray-2"),
                        help="a finished run folder (default: bench_executors.py's)")
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--train", action="append", default=[], metavar="MODEL=SECONDS",
                        help="a training's cost instead of the measured one (every task)")
    args = parser.parse_args()

    train, explain, notes = measured(args.run)
    for item in args.train:
        model, _, seconds = item.partition("=")
        train |= {(task, m): float(seconds) for task, m in train if m == model}
        notes.append(f"training of {model}: {float(seconds):g} s as given, not measured")
    missing: dict[tuple[str, str], set[str]] = {}
    units = matrix(train, explain, missing)
    for (what, model), names in missing.items():
        notes.append(f"{what} of {model} not measured for {', '.join(sorted(names))}: the "
                     f"median of {model}'s measured ones")
    work = sum(u.seconds * u.slots / SLOTS + sum(c.seconds / SLOTS for c in u.children)
               for u in units)
    critical = max(units, key=lambda u: u.seconds + max((c.seconds for c in u.children),
                                                        default=0))
    slowest = max((c.seconds for c in critical.children), default=0)
    path = critical.seconds + slowest
    print(f"measured in {args.run}: training s by (task, model) "
          f"{ {'/'.join(k): round(v, 1) for k, v in train.items()} }")
    for note in notes:
        print(f"note: {note}")
    print(f"{len(units)} trainings, {sum(len(u.children) for u in units)} explain units; "
          f"work {work:.0f} GPU-s; critical path {path:.0f} s ({critical.name}: training "
          f"{critical.seconds:.0f} s + slowest explain unit {slowest:.0f} s)")
    print(f"{'GPUs':>5}{'makespan s':>12}{'speed-up':>10}{'efficiency':>12}"
          f"{'work/GPUs s':>13}{'critical s':>12}")
    one = makespan(units, 1)
    for gpus in args.gpus:
        span = makespan(units, gpus)
        print(f"{gpus:>5}{span:>12.0f}{one / span:>10.1f}{one / span / gpus:>12.0%}"
              f"{work / gpus:>13.0f}{path:>12.0f}")
    print(f"stops scaling at about {work / path:.0f} GPUs: beyond, the makespan is held by the "
          f"critical path ({critical.name}: its training, then its slowest explain unit)")


if __name__ == "__main__":
    main()
