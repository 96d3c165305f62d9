"""The executor seam without Ray: choosing one, a unit that raises, plugins rebuilt elsewhere,
and the process pool: the local records at the same thread count, a dead worker's cells
recorded as failed."""

from __future__ import annotations

import collections
import concurrent.futures as futures
import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch
import yaml

from audioxai_bench.api.metric import EvalBatch
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.plugins import load_plugins, replicate_plugins
from audioxai_bench.run import executors
from audioxai_bench.run.executors import open_executor
from audioxai_bench.run.interrupts import HeldInterrupts
from audioxai_bench.run.records import read_records
from audioxai_bench.run.units import Units
from tests.run.helpers import (
    EXPLAINERS,
    METRICS,
    N_CELLS,
    assert_same,
    comparable,
    definition,
    fresh_cache,
    run,
)


@pytest.fixture(autouse=True)
def ctrl_c():
    """Ctrl-C raising KeyboardInterrupt, as in a terminal, whatever pytest inherited: a shell's
    background job (a CI script started with ``&``) starts with SIGINT ignored, and so would
    the runs these tests start (an ignored signal stays ignored across exec)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_an_unknown_executor_or_an_address_without_ray_is_refused():
    with pytest.raises(AudioXaiError,
                       match="unknown executor 'dask'; valid: local, processes, ray"):
        with open_executor("dask", runner=None):
            pass
    with pytest.raises(AudioXaiError, match="--address .* needs --executor ray"):
        with open_executor("local", runner=None, address="auto"):
            pass
    with pytest.raises(AudioXaiError, match="workers .* needs the processes executor"):
        with open_executor("local", runner=None, workers=2):
            pass


def test_a_gpu_run_keeps_its_units_in_one_process_unless_workers_are_given():
    said = []
    runner = SimpleNamespace(device=torch.device("cuda"), log=said.append)
    with open_executor("processes", runner=runner) as executor:
        assert executor.name == "local"
    assert "one GPU is driven from one process" in said[0]


def test_a_unit_that_raises_fails_its_cells_and_the_run_goes_on(tree, cache, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(cache))
    explain = Units.explain_unit

    def broken(self, spec, explainer, todo):
        if explainer == "random":
            raise RuntimeError("out of memory on this node")
        return explain(self, spec, explainer, todo)

    monkeypatch.setattr(Units, "explain_unit", broken)
    report = run(tree, tmp_path / "out")

    records = list(read_records([tmp_path / "out"]))
    assert len(records) == N_CELLS
    failed = [r for r in records if r["status"] == "error"]
    assert {r["explainer"] for r in failed} == {"random"} and len(failed) == len(METRICS)
    assert all(r["error"] == "RuntimeError: out of memory on this node" for r in failed)
    assert all("broken" in r["traceback"] for r in failed)
    where = {(r["host"], str(r["machine"])) for r in records}  # failed ones say where, too
    assert len(where) == 1 and None not in next(iter(where))
    assert report.failed == len(METRICS)
    assert {r["executor"] for r in records} == {"local"}


def test_replicated_plugins_are_the_same_plugins(tmp_path):
    plugin = tmp_path / "mine.py"
    plugin.write_text("import audioxai_bench\n\n\nclass Abs(audioxai_bench.BaseExplainer):\n"
                      "    def attribute(self, model, x, target):\n        return x.abs()\n\n\n"
                      "@audioxai_bench.hookimpl\ndef audioxai_bench_explainers():\n"
                      "    return [Abs(name='abs')]\n")
    pm = load_plugins(entrypoints=False, block=["builtin.explainers_baseline"], extra=[plugin])
    copy = replicate_plugins(pm.recipe())

    def seen(manager):
        return {r.name: (r.source.plugin, r.source.version, r.source.origin)
                for r in manager.explainers.registrations()}

    assert "abs" in seen(copy) and "random" not in seen(copy)
    assert seen(copy) == seen(pm)


def test_the_process_pool_gives_the_local_records_at_the_same_threads(
        tree, signals_cache, tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "cores", lambda: 2)  # 2 workers of 1 thread, as tests run
    monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(fresh_cache(signals_cache, tmp_path / "a")))
    run(tree, tmp_path / "local")
    monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(fresh_cache(signals_cache, tmp_path / "b")))
    run(tree, tmp_path / "pool", executor="processes", workers=2)

    local, pool = comparable(tmp_path / "local"), comparable(tmp_path / "pool")
    assert len(local) == N_CELLS and all(r["status"] == "ok" for r in local.values())
    assert_same(pool, local)
    records = list(read_records([tmp_path / "pool"]))
    assert {(r["executor"], r["torch_threads"]) for r in records} == {("processes", 1)}
    units = json.loads((tmp_path / "pool" / "run.json").read_text())["units"]
    assert sorted(u["unit"] for u in units) == ["explain"] * len(EXPLAINERS) + ["train"]


def test_a_panels_first_unit_hands_what_explainers_share_to_the_others(
        tree, signals_cache, tmp_path, monkeypatch):
    """Units in other processes each make their own panel: the first explain unit's shared memo
    (reference orders' curves, sonifier controls) travels to the rest, which compute it no
    more (here in one process, each unit's panel made anew as another process would)."""
    computed: collections.Counter = collections.Counter()
    reuse = EvalBatch.reuse

    def counting(self, key, compute):
        def counted():
            computed[key[0]] += 1
            return compute()
        return reuse(self, key, counted)

    monkeypatch.setattr(EvalBatch, "reuse", counting)
    counts = {}
    for name, apart, parallel in (("together", False, False), ("apart", True, False),
                                  ("handed", True, True)):
        panel_of = Units.panel_of

        def elsewhere(self, spec, panel_of=panel_of, apart=apart):
            if apart:
                self._panel_cache = None
            return panel_of(self, spec)

        monkeypatch.setattr(Units, "panel_of", elsewhere)
        monkeypatch.setattr(executors.LocalExecutor, "parallel", parallel)
        monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(fresh_cache(signals_cache,
                                                                   tmp_path / f"c-{name}")))
        computed.clear()
        run(tree, tmp_path / name)
        counts[name] = dict(computed)
        monkeypatch.setattr(Units, "panel_of", panel_of)
    assert counts["together"] and counts["handed"] == counts["together"]
    assert all(counts["apart"][k] > n for k, n in counts["together"].items())
    assert_same(comparable(tmp_path / "handed"), comparable(tmp_path / "together"))


DIES = """
import os
import signal

import audioxai_bench


class Dies(audioxai_bench.BaseExplainer):
    \"\"\"Kills its own process, as the kernel does to one out of memory.\"\"\"

    def attribute(self, model, x, target):
        os.kill(os.getpid(), signal.SIGKILL)


@audioxai_bench.hookimpl
def audioxai_bench_explainers():
    return [Dies(name="dies")]
"""


def test_a_dead_worker_fails_its_cells_and_nothing_else_is_lost(
        tree, signals_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(fresh_cache(signals_cache, tmp_path / "c")))
    plugin = tmp_path / "dies.py"
    plugin.write_text(DIES)
    report = run(tree, tmp_path / "out", executor="processes", workers=1,
                 plugins=load_plugins(entrypoints=False, extra=[plugin]),
                 changes={"explainers": ["dies", *EXPLAINERS]})

    records = list(read_records([tmp_path / "out"]))
    assert len(records) == N_CELLS + len(METRICS)  # every cell once, none dropped
    failed = [r for r in records if r["status"] == "error"]
    assert failed and {r["explainer"] for r in failed} <= {"dies", *EXPLAINERS}
    died = ("a worker process died (signal SIGKILL, as the out-of-memory killer sends) while "
            "running 'dies' on digit-audionet-fold0")
    assert {r["error"] for r in failed if r["explainer"] == "dies"} == {died}
    assert {r["error"] for r in failed if r["explainer"] != "dies"} <= {
        f"not finished: {died}", f"not run: {died}"}
    assert all(r.get("machine") is None for r in failed)  # unknown: its process is gone
    assert report.failed == len(failed)
    assert [r for r in records if r["metric"] == "test-accuracy"][0]["status"] == "ok"


@pytest.mark.parametrize("attempt", range(3))  # CPython's pool hung in about half the runs
def test_a_run_whose_pool_worker_is_killed_ends(attempt, tree, cache, tmp_path):
    """Probe F4: with two workers, a worker's SIGKILL left the run waiting for ever to shut
    the broken pool down (a worker started while it broke was never stopped)."""
    plugin, spec, out = tmp_path / "dies.py", tmp_path / "bench.yaml", tmp_path / "out"
    plugin.write_text(DIES)
    spec.write_text(yaml.safe_dump(definition(tree, explainers=["gradient", "dies", "random"],
                                              executor="processes", workers=2)))
    try:  # a process of its own: a pytest process's fork cannot hand a pool its data
        ended = subprocess.run([sys.executable, "-m", "audioxai_bench", "--quiet", "run", spec,
                                "--plugin", plugin, "--out", out], capture_output=True,
                               text=True, timeout=180)
    except subprocess.TimeoutExpired:
        raise AssertionError("the run did not end after its pool worker was killed") from None
    assert ended.returncode == 1, ended.stderr  # cells failed
    assert (out / "run.json").exists()
    errors = {r["explainer"]: r["error"] for r in read_records([out]) if r["status"] == "error"}
    assert "while running 'dies' on digit-audionet-fold0" in errors.pop("dies")
    assert all(e.startswith(("not finished: a worker", "not run: a worker"))
               for e in errors.values())


PARENT = '''\
import concurrent.futures, multiprocessing, os, signal, sys, time
from audioxai_bench.run import executors

if __name__ == "__main__":
    pool = concurrent.futures.ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"),
        initializer=executors._start_worker, initargs=(None,))
    print(pool.submit(os.getpid).result(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # as `kill -9` of a run: no shutdown of the pool
'''


def test_pool_processes_end_when_the_runs_process_is_killed(tmp_path):
    """Probe F5: a SIGKILLed run left its workers waiting for work, 900 MB each, for ever."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    parent.wait(timeout=60)
    parent.stdout.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError(f"worker {worker} outlived its run's process by 20 s")


IGNORES_CTRL_C = '''\
import concurrent.futures, multiprocessing, os, signal, time
from audioxai_bench.run import executors

if __name__ == "__main__":
    pool = concurrent.futures.ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"),
        initializer=executors._start_worker, initargs=(None,))
    worker = pool.submit(os.getpid).result()
    os.kill(worker, signal.SIGINT)  # as Ctrl-C in a terminal reaches the process group
    time.sleep(1)
    print(pool.submit(os.getpid).result(timeout=30) == worker, flush=True)
    pool.shutdown()
'''


def test_pool_workers_leave_ctrl_c_to_the_runs_process(tmp_path):
    """A worker interrupted by Ctrl-C while it sent a result could leave its pool a half-written
    message; the run's process stops the workers itself, so they ignore SIGINT (the idle
    worker died of it and broke the pool)."""
    script = tmp_path / "ctrl_c.py"
    script.write_text(IGNORES_CTRL_C)
    ended = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                           timeout=120)
    assert ended.returncode == 0 and ended.stdout.strip() == "True", ended.stderr[-2000:]


class _Setup:
    """A pool worker's setup for units that need no run (``run_unit``'s side of it)."""

    token = "none"
    threads = 1
    bench = SimpleNamespace(deterministic=False)

    def units(self):
        return None


def _sleeps(units, task, choice, fold):
    time.sleep(60)


def test_an_interrupt_inside_the_pools_calls_comes_once_the_run_is_out_of_them(monkeypatch):
    """The SIGINT case below hung at exit after its "interrupted" line: Ctrl-C raised just after
    ``futures.wait`` took a unit's Future lock, before the ``with`` that releases it, kept the
    lock, and the pool's manager thread, failing that unit once its worker was stopped, waited
    for it for ever (CPython joins that thread at exit). Here the signal comes at that point
    every time: it must be raised after the pool's call, and the pool must stop."""
    real, taken = futures.wait, []

    def interrupted(fs, **kwargs):
        future = next(iter(fs))
        future._condition.acquire()
        taken.append(future)
        signal.raise_signal(signal.SIGINT)  # its handler runs here, the lock held
        future._condition.release()
        taken.remove(future)
        return real(fs, **kwargs)

    runner = SimpleNamespace(device=torch.device("cpu"), worker_setup=lambda threads: _Setup())
    try:
        with pytest.raises(KeyboardInterrupt):
            with open_executor("processes", runner, workers=1) as executor:
                executor.submit("train", _sleeps, ("digit", SimpleNamespace(name="m"), 0),
                                lambda out: None)
                manager = executor.pool._executor_manager_thread
                monkeypatch.setattr(futures, "wait", interrupted)
                executor.wait()
        assert not taken, "the interrupt came inside the pool's call"
        assert not manager.is_alive(), "the pool's manager thread outlived its stop"
        assert not any(p.is_alive() for p in executor.processes.values())
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:  # were the lock kept, CPython would wait for the manager thread at exit
        for future in taken:
            future._condition.release()


def test_held_interrupts_hand_a_signal_to_its_handler_on_the_way_out():
    def stop(signum, frame):
        raise RuntimeError(f"stopped by {signal.Signals(signum).name}")

    before = signal.signal(signal.SIGTERM, stop)
    try:
        held, reached = HeldInterrupts(), []
        with pytest.raises(RuntimeError, match="stopped by SIGTERM"):
            with held:
                signal.raise_signal(signal.SIGTERM)
                reached.append(True)
        assert reached
        held.restore()
        assert signal.getsignal(signal.SIGTERM) is stop
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a default action is left alone
        assert HeldInterrupts().handlers.keys() == {signal.SIGINT}
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, before)


SLEEPY = """
import os
import time
from pathlib import Path

import audioxai_bench


class Sleepy(audioxai_bench.BaseExplainer):
    \"\"\"Notes its process id in $SLEEPY_MARK and sleeps: a unit of hours.\"\"\"

    def attribute(self, model, x, target):
        if os.environ.get("SLEEPY_MARK"):
            Path(os.environ["SLEEPY_MARK"]).write_text(str(os.getpid()))
            time.sleep(300)
        return x.abs()


@audioxai_bench.hookimpl
def audioxai_bench_explainers():
    return [Sleepy(name="sleepy")]
"""


# SIGINT once hung past 60 s under load (.ci/run, session 21): the interrupt had come inside
# the pool's futures.wait and kept a Future's lock (the test above makes it come there every
# time). On a timeout the run's threads' stacks are in the failure (PYTHONFAULTHANDLER, SIGABRT)
@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_the_runs_process_stops_its_pool_at_once(signum, status, tree, cache,
                                                             tmp_path):
    """Probe 5 #8: SIGTERM or SIGINT to the run's process alone (``kill PID``, a scheduler's
    stop) waited for the unit running in the pool (134 s, hours on the paper preset); Ctrl-C in
    a terminal, which reaches the workers too, took 5 s."""
    plugin, spec, out, mark = (tmp_path / "sleepy.py", tmp_path / "bench.yaml",
                               tmp_path / "out", tmp_path / "mark")
    plugin.write_text(SLEEPY)
    spec.write_text(yaml.safe_dump(definition(tree, explainers=["gradient", "sleepy", "random"],
                                              executor="processes", workers=1)))
    argv = [sys.executable, "-m", "audioxai_bench", "--quiet", "run", str(spec), "--plugin",
            str(plugin), "--out", str(out)]
    env = {**os.environ, "AUDIOXAI_BENCH_CACHE": str(cache), "SLEEPY_MARK": str(mark),
           "PYTHONFAULTHANDLER": "1"}
    run = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not mark.exists() or len(list(read_records([out]))) < 1 + len(METRICS):
            assert run.poll() is None and time.monotonic() < deadline, "sleepy never ran"
            time.sleep(0.2)
        worker = int(mark.read_text())
        signalled = time.monotonic()
        os.kill(run.pid, signum)  # the run's process alone, not its process group
        try:
            err = run.communicate(timeout=60)[1]
        except subprocess.TimeoutExpired:
            os.kill(run.pid, signal.SIGABRT)  # faulthandler prints every thread's stack
            pytest.fail(f"no exit 60 s after the signal; its stacks:\n{run.communicate()[1]}")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    took = time.monotonic() - signalled
    assert run.returncode == status, err
    assert took < 20, f"the run took {took:.0f} s to stop"
    assert err.strip().splitlines()[-1] == (
        f"interrupted: finished cells are in {out / 'results.jsonl'}; continue with "
        f"'audioxai-bench run {spec} --out {out} --resume'")
    with pytest.raises(ProcessLookupError):  # stopped and reaped
        os.kill(worker, 0)
    done = list(read_records([out]))  # what was recorded is intact
    assert {r["explainer"] for r in done} <= {None, "gradient"} and len(done) >= 1 + len(METRICS)
    if signum == signal.SIGTERM:  # and --resume continues from it
        del env["SLEEPY_MARK"]
        resumed = subprocess.run(argv + ["--resume"], env=env, capture_output=True, text=True,
                                 timeout=180)
        assert resumed.returncode == 0, resumed.stderr
        records = list(read_records([out]))
        assert len(records) == N_CELLS + len(METRICS)  # every cell once
        assert {r["status"] for r in records} == {"ok"}
