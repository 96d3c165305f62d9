"""Do two runs of one definition give the same records? Issue #12's reproducibility count.

    python benchmarks/compare_runs.py results/a results/b
    python benchmarks/compare_runs.py --values results/old-code results/new-code

Prints how many cells differ in anything but wall-clock time (value, interval, curves, extras,
per-sample scores, targets, model, config hash) and the largest difference of a value; exit
status 1 when any cell differs, is missing from one run, or failed in either. ``--values``
leaves the model key and config hash out, for runs of different code: both hold the code's
digest (a model's key does), so they differ whenever the code does.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from audioxai_bench.run.records import cell_key, read_records

#: What must not depend on the run: everything but timings and where and when it ran.
COMPARED = ("status", "value", "ci", "curves", "extras", "n", "scores", "targets", "model_key",
            "config_hash", "data_fingerprint")
#: What holds the code's digest (through the model's key).
IDENTITIES = ("model_key", "config_hash")


def cells(folder: Path) -> dict[tuple, dict]:
    return {cell_key(r): r for r in read_records([folder])}


def compared(record: dict, fields: tuple[str, ...] = COMPARED) -> list:
    if record["metric"] == "runtime":  # its value is wall-clock time
        return [record.get("status")]
    return [record.get(k) for k in fields]


def value_gap(a: dict, b: dict) -> float:
    x, y = a.get("value"), b.get("value")
    if isinstance(x, (int, float)) and isinstance(y, (int, float)) and math.isfinite(x - y):
        return abs(x - y)
    return 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("first", type=Path)
    p.add_argument("second", type=Path)
    p.add_argument("--values", action="store_true",
                   help="compare what was computed, not the model keys and config hashes")
    args = p.parse_args(argv)
    fields = tuple(k for k in COMPARED if not (args.values and k in IDENTITIES))
    first, second = cells(args.first), cells(args.second)
    both = first.keys() & second.keys()
    differ = sorted((c for c in both if compared(first[c], fields) != compared(second[c], fields)),
                    key=str)
    failed = [c for c in both if {first[c]["status"], second[c]["status"]} != {"ok"}]
    only = len(first.keys() ^ second.keys())
    gap = max((value_gap(first[c], second[c]) for c in differ), default=0.0)
    print(f"{len(differ)} of {len(both)} cells differ (largest value difference {gap:.3g}); "
          f"{only} cells in one run only; {len(failed)} failed or not ok in one run")
    for cell in differ[:5]:
        print("  e.g.", " · ".join(str(part) for part in cell))
    return 1 if differ or only or failed else 0


if __name__ == "__main__":
    sys.exit(main())
