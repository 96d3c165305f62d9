"""Wall time of a whole benchmark run, cold and warm, and where it goes.

Runs ``audioxai-bench run DEFINITION`` twice in fresh processes: cold (an empty cache, so the
data are synthesized and the models trained) and warm (the same cache: models and relevance
come from it, only the scores are computed again). Prints, side by side, each run's wall time,
its stages (data, train, explain+score, from the run's own ``run.json``), peak memory, and the
seconds the records spent per metric and per (model, explainer), most costly first: the
profile to cut from when a definition does not fit its budget.

    python benchmarks/bench_run.py                          # the quickstart
    python benchmarks/bench_run.py my.yaml --keep /tmp/runs # keep the run folders and cache
    python benchmarks/bench_run.py --warm-only --keep DIR   # re-time the warm run on DIR
    python benchmarks/bench_run.py --executors local processes  # the executors side by side
    git worktree add /tmp/before HEAD~3
    python benchmarks/bench_run.py --trees /tmp/before .   # two versions of the code, before/after

The machine's load average is printed beside the times: on a shared machine, compare only
numbers from one invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def run_once(definition: str, out: Path, cache: Path, executor: str | None = None,
             tree: Path | None = None) -> dict:
    """One ``audioxai-bench run`` in a fresh process (on ``executor``, default the
    definition's; with the package from source ``tree``, default the installed one); its
    report, wall time and records."""
    env = os.environ | {"AUDIOXAI_BENCH_CACHE": str(cache.resolve())}
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree.resolve()), env.get("PYTHONPATH", "")])
    start = time.perf_counter()
    where = ["--executor", executor] if executor else []
    if Path(definition).is_file():
        definition = str(Path(definition).resolve())
    # run from the cache's folder: "python -m" puts the working directory first on sys.path,
    # so a run started inside a checkout would import that checkout whatever the tree
    proc = subprocess.run([sys.executable, "-m", "audioxai_bench", "--quiet", "run", definition,
                           "--out", str(out.resolve()), "--overwrite", *where], env=env,
                          capture_output=True, text=True, cwd=cache.parent)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"bench_run: the run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    report = json.loads((out / "run.json").read_text())["report"]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {"wall": wall, "report": report, "records": records, "exit": proc.returncode,
            "load": os.getloadavg()[0]}


def costs(records: list[dict], key) -> dict:
    spent: dict = defaultdict(float)
    for r in records:
        spent[key(r)] += r.get("wall_seconds") or 0.0
    return dict(sorted(spent.items(), key=lambda kv: -kv[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("definition", nargs="?", default="quickstart")
    parser.add_argument("--keep", type=Path, help="folder for the runs and cache (kept)")
    parser.add_argument("--warm-only", action="store_true",
                        help="skip the cold run: time a warm run on the cache in --keep")
    parser.add_argument("--top", type=int, default=12, help="rows of each cost table")
    parser.add_argument("--executors", nargs="+", metavar="NAME",
                        help="time each executor side by side (e.g. local processes), each cold "
                             "from its own empty cache, then warm; default: the definition's")
    parser.add_argument("--trees", nargs="+", type=Path, metavar="DIR",
                        help="time the package from each source folder side by side (e.g. a "
                             "git worktree of an older commit and '.'), each cold, then warm")
    args = parser.parse_args()
    if args.warm_only and args.keep is None:
        parser.error("--warm-only needs --keep (the folder with the cold run's cache)")
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-run-"))
    root.mkdir(parents=True, exist_ok=True)
    runs = {}
    try:
        for tree in args.trees or [None]:
            for executor in args.executors or [None]:
                tag = (f"-{executor}" if args.executors else "") + (
                    f"-{tree.resolve().name}" if args.trees else "")
                cache = root / f"cache{tag}"
                if not args.warm_only:
                    shutil.rmtree(cache, ignore_errors=True)
                    runs[f"cold{tag}"] = run_once(args.definition, root / f"cold{tag}", cache,
                                                  executor, tree)
                runs[f"warm{tag}"] = run_once(args.definition, root / f"warm{tag}", cache,
                                              executor, tree)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    names = list(runs)
    width = max(12, *(len(n) + 2 for n in names))
    print(f"{args.definition}: {os.cpu_count()} CPUs (with a process pool, a stage's seconds sum "
          f"its units over the workers)")
    print(f"{'':28s}" + "".join(f"{n:>{width}s}" for n in names))
    print(f"{'wall (s)':28s}" + "".join(f"{runs[n]['wall']:{width}.1f}" for n in names))
    stages = sorted({s for n in names for s in runs[n]["report"]["stages"]})
    for stage in stages:
        print(f"{'  ' + stage + ' (s)':28s}"
              + "".join(f"{runs[n]['report']['stages'].get(stage, 0):{width}.1f}" for n in names))
    print(f"{'peak memory, 1 process (MB)':28s}"
          + "".join(f"{runs[n]['report'].get('peak_memory_mb') or 0:{width}.0f}" for n in names))
    print(f"{'records':28s}" + "".join(f"{len(runs[n]['records']):{width}d}" for n in names))
    print(f"{'exit status':28s}" + "".join(f"{runs[n]['exit']:{width}d}" for n in names))
    print(f"{'load average (1 min)':28s}" + "".join(f"{runs[n]['load']:{width}.1f}" for n in names))
    for title, key in (("seconds per metric", lambda r: r.get("metric")),
                       ("seconds per model and explainer",
                        lambda r: f"{r.get('model')} {r.get('explainer') or '(training)'}")):
        print(f"\n{title} (records' wall_seconds)")
        tables = {n: costs(runs[n]["records"], key) for n in names}
        for name in list(tables[names[-1]])[: args.top]:
            print(f"  {str(name):40s}" + "".join(f"{tables[n].get(name, 0):{width}.1f}"
                                                 for n in names))


if __name__ == "__main__":
    main()
