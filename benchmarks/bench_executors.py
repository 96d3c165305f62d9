"""The ray executor against the local one on this machine: speed-up and overhead per unit.

One small definition (both tasks and models at tiny widths, a few training steps, two
explainers, cheap metrics) runs three times, each from a cache that holds only the decoded
signals, so every run trains and explains: with the local executor (twice: the first run of a
process pays for first imports and reads, and is shown apart), then with the ray executor
on a local Ray instance of 1 CPU and of 2 CPUs (a unit takes one CPU, so 1 or 2 workers run at
once). Ray's start-up is timed apart from the runs. Printed: wall time of each run, the sum of
its units' own times (run.json ``units``), the load average of the machine after the run, the
speed-up of 2 workers over 1 and over the local executor, and the overhead per unit of the ray
executor on 1 worker: the time outside units (wall - unit seconds: scheduling, the object
store, starting workers and loading the plugins there) per unit, minus the same for the local
executor; on a shared machine that difference holds up better than one of wall times, which
other load moves. The run folders stay in ``--out`` (``benchmarks/bench_scale.py`` reads
their units).

    OMP_NUM_THREADS=1 python benchmarks/bench_executors.py
    OMP_NUM_THREADS=1 python benchmarks/bench_executors.py --folds 0 1 --iterations 40
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from audioxai_bench.data.dataset import load_audiomnist
from audioxai_bench.run.artifacts import synthetic_data
from audioxai_bench.run.definition import parse_benchmark
from audioxai_bench.run.runner import run_benchmark


def definition(data: Path, folds: list[int], iterations: int) -> dict:
    return {"version": 1, "name": "executors", "data": {"path": str(data)},
            "tasks": ["digit", "sex"],
            "models": [{"name": "audionet", "width": 0.0625},
                       {"name": "alexnet", "width": 0.03125}],
            "folds": folds, "samples": 8, "batch_size": 4, "examples": 0, "device": "cpu",
            "training": {"preset": "cpu", "iterations": iterations, "eval_every": iterations,
                         "batch_size": 16},
            "explainers": ["gradient", "random"],
            "metrics": ["faithfulness-gap", "gini"], "sonifiers": ["keep-top"]}


def timed_run(bench, out: Path, cache: Path, signals: Path, **options) -> dict:
    """One run from a cache holding only the signals; its wall time and units."""
    shutil.rmtree(cache, ignore_errors=True)
    shutil.copytree(signals, cache)
    os.environ["AUDIOXAI_BENCH_CACHE"] = str(cache)
    shutil.rmtree(out, ignore_errors=True)
    report = run_benchmark(bench, out, quiet=True, log=lambda _: None, **options)
    assert report.failed == 0, f"{out}: {report.failed} cells failed"
    units = json.loads((out / "run.json").read_text())["units"]
    return {"wall": report.wall_seconds, "units": len(units),
            "unit_seconds": sum(u["seconds"] for u in units), "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/audioxai-bench-executors"))
    parser.add_argument("--folds", type=int, nargs="+", default=[0])
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    import ray

    signals = args.out / "signals-cache"
    os.environ["AUDIOXAI_BENCH_CACHE"] = str(signals)
    data, _ = synthetic_data(60, 1, 0)  # 600 clips: every split has test speakers
    load_audiomnist(data)  # the decoded signals, which every run then copies
    bench = parse_benchmark(definition(data, args.folds, args.iterations))
    cache = args.out / "cache"

    # the first run of a process pays for first imports and reads of the data: measured apart
    rows = {"local, cold": timed_run(bench, args.out / "local-cold", cache, signals),
            "local": timed_run(bench, args.out / "local", cache, signals)}
    for cpus in (1, 2):
        start = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, object_store_memory=100 << 20,
                 log_to_driver=False)
        started = time.perf_counter() - start
        rows[f"ray, {cpus} worker{'s' if cpus > 1 else ''}"] = timed_run(
            bench, args.out / f"ray-{cpus}", cache, signals, executor="ray") | {
            "ray_start": started}
        ray.shutdown()

    print(f"{'executor':<16}{'units':>6}{'wall s':>9}{'unit s':>9}{'Ray start s':>13}"
          f"{'load':>7}")
    for name, row in rows.items():
        print(f"{name:<16}{row['units']:>6}{row['wall']:>9.1f}{row['unit_seconds']:>9.1f}"
              f"{row.get('ray_start', 0):>13.1f}{row['load']:>7.1f}")
    _, local, one, two = rows.values()
    print(f"speed-up of 2 workers over 1: {one['wall'] / two['wall']:.2f}x; over the local "
          f"executor: {local['wall'] / two['wall']:.2f}x")
    outside = {name: (row["wall"] - row["unit_seconds"]) / row["units"]
               for name, row in (("local", local), ("ray", one))}
    print(f"time outside units per unit: local {outside['local']:.2f} s, ray on 1 worker "
          f"{outside['ray']:.2f} s; overhead of the ray executor per unit "
          f"{outside['ray'] - outside['local']:.2f} s")


if __name__ == "__main__":
    main()
