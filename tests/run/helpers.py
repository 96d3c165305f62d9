"""What the results-store and cache tests share: a tiny definition, copies of a warmed signals
cache, and runs in processes of their own that can be killed like real ones."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from audioxai_bench import faults
from audioxai_bench.plugins import load_plugins
from audioxai_bench.run.definition import parse_benchmark
from audioxai_bench.run.records import cell_key, folder_lock, read_records
from audioxai_bench.run.runner import run_benchmark

EXPLAINERS = ["gradient", "random"]


METRICS = ["faithfulness-gap", "gini", "runtime"]


N_CELLS = 1 + len(EXPLAINERS) * len(METRICS)


#: what may differ between executors: when and where a cell was computed, how long it took,
#: and whether a resumed run read it from the score cache
VARYING = ("created", "host", "executor", "wall_seconds", "cached")
#: the runtime metric's values are wall-clock times
TIMED = ("value", "ci", "scores", "extras", "curves", "summary", "info")


def comparable(out: Path) -> dict:
    """Every record by cell, without what may differ between executors; a cell recorded twice
    fails."""
    got = {}
    for record in read_records([out]):
        key = cell_key(record)
        assert key not in got, f"cell recorded twice: {key}"
        drop = VARYING + (TIMED if record["metric"] == "runtime" else ())
        got[key] = {k: v for k, v in record.items() if k not in drop}
    return got


def assert_same(got: dict, expected: dict) -> None:
    """The same cells with the same fields; else the fields that differ, by cell."""
    assert got.keys() == expected.keys()
    differ = {key[5:]: {f: (got[key].get(f), want.get(f)) for f in got[key].keys() | want.keys()
                        if got[key].get(f) != want.get(f)}
              for key, want in expected.items() if got[key] != want}
    assert not differ


def definition(tree: Path, **changes) -> dict:
    return {"version": 1, "name": "store", "data": {"path": str(tree)}, "tasks": ["digit"],
            "models": [{"name": "audionet", "width": 0.0625}], "folds": [0],
            "training": {"preset": "cpu", "iterations": 3, "eval_every": 3, "batch_size": 8},
            "explainers": EXPLAINERS, "metrics": METRICS, "sonifiers": ["keep-top"], "samples": 4,
            "batch_size": 2, "examples": 0, "device": "cpu"} | changes


def fresh_cache(signals_cache: Path, where: Path) -> Path:
    """A cache with the decoded signals and nothing else (no model, no relevance)."""
    shutil.copytree(signals_cache, where)
    return where


def run(tree: Path, out: Path, **options):
    """The definition run in this process (quiet, built-in plugins only)."""
    bench = parse_benchmark(definition(tree, **options.pop("changes", {})))
    plugins = options.pop("plugins", None) or load_plugins(entrypoints=False)
    return run_benchmark(bench, out, quiet=True, plugins=plugins,
                         log=options.pop("log", lambda _: None), **options)


#: Runs start from a fork server that has imported the CLI: as fast as a plain fork of the test
#: process, without forking its threads (torch's pools; Python 3.12+ warns of deadlocks).
_SERVER = multiprocessing.get_context("forkserver")
_SERVER.set_forkserver_preload(["tests.run.helpers", "audioxai_bench.cli"])


def start_cli(args: list, cache: Path, log: Path, fault_at: int | None = None,
              fault_log: Path | None = None) -> multiprocessing.process.BaseProcess:
    """Start a process that runs ``audioxai-bench ARGS`` on ``cache`` with stdout and stderr
    in ``log``. ``fault_at``/``fault_log`` set the fault hook (:mod:`audioxai_bench.faults`)."""
    process = _SERVER.Process(target=_cli, args=(args, cache, log, fault_at, fault_log,
                                                 dict(os.environ)))
    process.start()
    return process


def _cli(args: list, cache: Path, log: Path, fault_at: int | None, fault_log: Path | None,
         environ: dict[str, str]) -> None:
    """The run in the child; ``environ`` is the test's (the server's is from its start)."""
    code = 99
    try:
        os.environ.clear()
        os.environ.update(environ)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        os.environ["AUDIOXAI_BENCH_CACHE"] = str(cache)
        os.environ.pop(faults.FAULT_AT_ENV, None)
        os.environ.pop(faults.FAULT_LOG_ENV, None)
        if fault_at is not None:
            os.environ[faults.FAULT_AT_ENV] = str(fault_at)
        if fault_log is not None:
            os.environ[faults.FAULT_LOG_ENV] = str(fault_log)
        faults._reached.clear()
        from audioxai_bench.cli import main

        code = main(["--quiet", *map(str, args)])
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def finish(process: multiprocessing.process.BaseProcess) -> int:
    """The exit status of a started run (negative: killed by that signal)."""
    process.join()
    return process.exitcode


def run_cli(args: list, cache: Path, log: Path, **fault) -> int:
    return finish(start_cli(args, cache, log, **fault))


def run_apart(target: Any, *args: Any) -> multiprocessing.process.BaseProcess:
    """``target(*args)`` in a process of its own from the fork server, under this test's
    environment (the server's is from its start); returns the process once it has ended."""
    process = _SERVER.Process(target=_with_environ, args=(dict(os.environ), target, args))
    process.start()
    process.join()
    return process


def _with_environ(environ: dict[str, str], target: Any, args: tuple) -> None:
    os.environ.clear()
    os.environ.update(environ)
    target(*args)


def exited_pid() -> int:
    """The process id of a process that has exited (and been reaped)."""
    process = _SERVER.Process()
    process.start()
    process.join()
    return process.pid


def start_lock_holder(folder: Path) -> multiprocessing.process.BaseProcess:
    """A process that holds ``folder``'s run lock (:func:`~audioxai_bench.run.records.
    folder_lock`) until it is killed; returns once it holds it."""
    ready = _SERVER.Event()
    process = _SERVER.Process(target=_hold_lock, args=(folder, ready), daemon=True)
    process.start()
    if not ready.wait(60):
        process.kill()
        raise RuntimeError(f"the lock holder did not lock {folder} (exit code "
                           f"{process.exitcode})")
    return process


def _hold_lock(folder: Path, ready: Any) -> None:
    with folder_lock(folder):
        ready.set()
        time.sleep(60)


def outcome(out: Path, hashes: bool = True) -> dict:
    """Every record's cell and what must not depend on interruptions: value, interval, curves
    and hashes (not runtime, whose value is wall-clock time). ``hashes=False`` leaves the
    config hash out: it changes with the code, through the model's key."""
    fields = ("value", "ci", "curves", "extras", "n", "config_hash", "data_fingerprint")
    got = {}
    for r in read_records([out]):
        assert r["status"] == "ok", r.get("error")
        key = cell_key(r)
        assert key not in got, f"cell recorded twice: {key}"
        got[key] = None if r["metric"] == "runtime" else json.dumps(
            [r.get(k) for k in fields if hashes or k != "config_hash"])
    return got


def leftovers(*folders: Path) -> list[str]:
    """Temporaries and set-aside entries anywhere under ``folders``."""
    return sorted(str(p) for folder in folders for p in folder.rglob("*")
                  if ".tmp-" in p.name or ".bad-" in p.name)
