"""Where a run's units of work execute: in the run's own process, or as tasks on a Ray cluster.

The runner hands an executor units (a training per panel, an explain-and-score per panel and
explainer) and a continuation for each; the executor runs the unit and calls the continuation
with its outcome, on the runner's thread, so the runner stays the one writer of the results
folder. A unit that raises is handed back as :class:`Failed` (its cells are recorded as failed
and the run goes on).

- ``local`` runs each unit at once, in order: the loop as it always was.
- ``processes`` runs units in a pool of worker processes on this machine (``workers``, default
  one per core, each with its share of the cores as torch threads): on a CPU two one-thread
  processes do more than one two-thread process (the quickstart's training steps and scoring
  passes do not scale to 2 threads). Units go out in the same order as on Ray. On a GPU,
  unless ``workers`` is given, the units run locally: one process drives the device best.
- ``ray`` submits each unit as a Ray task with a resource request (:func:`ray_resources`):
  trainings first, each panel's explain units as soon as its model is there, so several panels
  are in flight at once. The data and each panel's weights travel through Ray's object store; a
  worker rebuilds the run's units (plugins, plan) once from :class:`~audioxai_bench.run.units.
  WorkerSetup` and keeps them for the run's later units. A worker that dies is retried by Ray
  (``max_retries``); the caches (models, relevance) are content-hashed and written atomically,
  so a retried or duplicated unit finds or rewrites the same entry. Without an address Ray
  starts a local instance on this machine (and stops it at the end); ``auto`` or
  ``HOST:PORT`` joins a running cluster.

On a CPU the number of torch threads a unit runs with changes the last bits of training and
scoring (reductions split differently), so every executor states its ``threads``, its units run
with exactly that many, and records carry it (hashed into CPU records and the relevance key):
two cold runs of one definition on one machine with the same thread count give the same
records. A cached model is reused at any thread count, as on any device (its key says what it
was trained on, not where).
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import torch

from ..errors import AudioXaiError, one_line, traceback_text
from ..reproducibility import torch_mode
from . import folder
from .interrupts import HeldInterrupts

EXECUTORS = ("local", "processes", "ray")
#: How often Ray runs a task again when its worker dies (not when the task raises).
MAX_RETRIES = 3
#: How often a pool process checks that the run's process is still there (seconds).
PARENT_POLL_S = 1.0
#: How long a broken pool's processes and manager thread are waited for once killed (seconds).
BROKEN_JOIN_S = 10.0
#: How long a stopped pool's workers may take to end after SIGTERM before SIGKILL (seconds).
STOP_WAIT_S = 5.0
_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Failed:
    """A unit that raised: the reason (one line), the traceback when there is one, and where
    it ran (``Units.computed_here``: host and machine) when that is known (not for a worker that
    died)."""

    reason: str
    traceback: str | None = None
    here: dict[str, Any] | None = None


Then = Callable[[Any], None]


class Executor(Protocol):
    name: str
    #: torch threads each unit runs with (on a CPU they change the last bits of the results)
    threads: int
    #: whether units run side by side in other processes: then a panel's first explain unit
    #: runs ahead and hands what every explainer shares to the others (runner.py)
    parallel: bool

    def share(self, value: Any) -> Any:
        """``value`` as units take it: itself here, a reference into the object store on Ray
        (passed to many units, it is stored once)."""

    def submit(self, kind: str, unit: Callable[..., Any], args: tuple, then: Then) -> None:
        """Run ``unit(runner, *args)`` (``kind``: ``train`` or ``explain``) and call ``then``
        with its outcome or a :class:`Failed`."""

    def wait(self) -> None:
        """Return when every unit submitted, also from continuations, has been handed back."""


class LocalExecutor:
    """Each unit at once, in this process: the order of a plain loop."""

    name = "local"
    parallel = False

    def __init__(self, runner: Any):
        self.runner = runner
        self.threads = torch.get_num_threads()

    def share(self, value: Any) -> Any:
        return value

    def submit(self, kind: str, unit: Callable[..., Any], args: tuple, then: Then) -> None:
        try:
            out = unit(self.runner.work, *args)
        except Exception as exc:  # the unit's cells fail; the run goes on
            out = _failed(exc, self.runner.work)
        then(out)

    def wait(self) -> None:
        return None


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def threads_remedy(threads: int) -> str:
    """How a run on this machine gets units of ``threads`` torch threads: the local executor
    takes torch's thread count (``OMP_NUM_THREADS``), the processes executor this machine's
    cores over ``--workers`` (given where a number of workers divides them so)."""
    ways = [f"OMP_NUM_THREADS={threads} and --executor local"]
    workers = cores() // threads
    if workers >= 1 and cores() // workers == threads:
        ways.append(f"--workers {workers} (the processes executor: {cores()} cores over "
                    f"{workers} processes)")
    return f"{threads} torch thread(s) per unit: " + ", or ".join(ways)


class ProcessExecutor:
    """Units in a pool of ``workers`` processes on this machine; see the module docstring.

    A worker that dies (the out-of-memory killer's SIGKILL) breaks the pool: every unit not
    finished fails, the one that was running in the dead worker named (each worker notes the
    unit it runs in a file of its process id), and the pool's other processes are killed, so
    that closing it cannot wait for them for ever (a worker CPython starts while it breaks the
    pool is never told to stop).

    Ctrl-C or SIGTERM that comes while the run's thread is inside the pool's calls (submitting,
    polling, reading an outcome, shutting down) is held until it is out of them
    (:class:`~audioxai_bench.run.interrupts.HeldInterrupts`): raised inside them, it could keep
    a lock of the pool's, and the process would never exit. A signal that comes while the run
    polls takes effect within :data:`PARENT_POLL_S`."""

    name = "processes"

    def __init__(self, runner: Any, workers: int | None):
        self.workers = workers or cores()
        self.threads = max(1, cores() // self.workers)
        self.parallel = self.workers > 1
        self.notes = Path(tempfile.mkdtemp(prefix="audioxai-pool-"))
        # spawn, not fork: a forked child of a process that ran OpenMP may hang in it
        self.pool = futures.ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(runner.worker_setup(self.threads), str(self.notes)))
        self.pending: dict[futures.Future, tuple[Then, str]] = {}
        #: every process the pool started, kept: the pool forgets them when it breaks
        self.processes: dict[int, Any] = {}
        self.broken: str | None = None  # why the pool takes no more units
        self.lost: set[str] = set()  # the units that were running in a worker that died
        self.held = HeldInterrupts()  # last: close() puts the signal handlers back

    def share(self, value: Any) -> Any:
        return value

    def submit(self, kind: str, unit: Callable[..., Any], args: tuple, then: Then) -> None:
        what = _unit_name(kind, args)
        if self.broken:
            then(Failed(f"not run: {self.broken}"))
            return
        try:
            with self.held:
                future = self.pool.submit(_pool_unit, what, unit, *args)
        except futures.BrokenExecutor:  # a worker died; wait() says which
            then(Failed(f"not run: {self._death()}"))
            return
        finally:
            self.processes.update(self.pool._processes or {})  # started on demand in submit
        self.pending[future] = (then, what)

    def wait(self) -> None:
        while self.pending:
            with self.held:
                ended = self._ended()
            for then, out in ended:  # continuations run where a signal may stop them
                then(out)

    def _ended(self) -> list[tuple[Then, Any]]:
        """The units that ended within :data:`PARENT_POLL_S`, each with its continuation and
        outcome, in submission order; taken out of :attr:`pending`."""
        done, _ = futures.wait(self.pending, timeout=PARENT_POLL_S,
                               return_when=futures.FIRST_COMPLETED)
        if not done and self.pool._broken:  # a unit submitted while the pool broke
            done = set(self.pending)  # is never failed by CPython: fail it here
        ended = []
        for future in sorted(done, key=list(self.pending).index):  # in submission order
            then, what = self.pending.pop(future)
            if not future.done() or isinstance(future.exception(), futures.BrokenExecutor):
                why = self._death()
                out = Failed(why if what in self.lost else f"not finished: {why}")
            else:
                try:
                    out = future.result()
                except Exception as exc:  # the unit raised (its traceback comes along)
                    out = _failed(exc)
            ended.append((then, out))
        return ended

    def _death(self) -> str:
        """Why the pool broke: which worker process died, how, and the unit it was running
        (kept in :attr:`lost`), as far as known; worked out once."""
        deadline = time.monotonic() + BROKEN_JOIN_S
        while self.broken is None:
            died = []
            for pid, process in self.processes.items():
                code = process.exitcode
                if code is None or code == -signal.SIGTERM:  # alive, or ended by the pool
                    continue
                how = (f"signal {signal.Signals(-code).name}" if code < 0
                       else f"exit status {code}")
                if code == -signal.SIGKILL:
                    how += ", as the out-of-memory killer sends"
                note = self.notes / str(pid)
                what = note.read_text() if note.exists() else None
                self.lost |= {what} if what else set()
                died.append(f"a worker process died ({how})"
                            + (f" while running {what}" if what else ""))
            if died or time.monotonic() > deadline:  # its exit status may come a moment late
                self.broken = "; ".join(died) or "a worker process died"
            else:
                time.sleep(0.05)
        return self.broken

    def close(self, stop: bool = False) -> None:
        """Shut the pool down: after its units (``stop`` false), or at once (``stop``: the run
        was interrupted or failed, so no unit's outcome would be recorded): each worker gets
        SIGTERM, then SIGKILL after :data:`STOP_WAIT_S`, so that ``kill PID`` or SIGINT of the
        run's process alone (not its process group, as Ctrl-C in a terminal) does not wait for
        a training of hours. The caches a killed unit was writing are written atomically: its
        unit is simply computed again by ``--resume``.

        A signal that comes meanwhile is held until the pool is down: a second Ctrl-C that
        broke off the stop would leave workers running, and CPython waits for them (and for
        the pool's manager thread) at exit. Once stopped, the held signal is dropped (the run
        is ending already); after a pool's normal end it takes effect."""
        try:
            with self.held:
                self._shut(stop)
                if stop:
                    self.held.drop()
        finally:
            self.held.restore()

    def _shut(self, stop: bool) -> None:
        self.processes.update(self.pool._processes or {})
        manager = self.pool._executor_manager_thread  # shutdown() forgets it
        if stop:
            for process in self.processes.values():
                if process.is_alive():
                    process.terminate()
            deadline = time.monotonic() + STOP_WAIT_S
            for process in self.processes.values():
                process.join(max(0.0, deadline - time.monotonic()))
        if not stop and self.broken is None and not self.pool._broken:
            self.pool.shutdown(wait=True, cancel_futures=True)
        else:  # its processes are killed and waited for a while, never for ever
            for process in self.processes.values():
                if process.is_alive():
                    process.kill()
            self.pool.shutdown(wait=False, cancel_futures=True)
            for process in self.processes.values():
                process.join(BROKEN_JOIN_S)
            if manager is not None:
                manager.join(BROKEN_JOIN_S)
                if manager.is_alive():  # CPython joins it at exit, without a time limit
                    _log.warning("the process pool's manager thread has not ended %.0f s after "
                                 "its workers were stopped; this process may not exit",
                                 BROKEN_JOIN_S)
        try:
            shutil.rmtree(self.notes)
        except OSError as err:  # a temporary folder: the run's results are not at stake
            _log.warning("%s: could not remove the pool's notes (%s)", self.notes, err)


def _unit_name(kind: str, args: tuple) -> str:
    """A unit as messages name it: the training of a panel, or an explainer on a panel."""
    if kind == "train":
        task, choice, fold = args[:3]
        return f"the training of {folder.panel_stem(task, choice.name, fold)}"
    spec, name = args[:2]
    return f"{name!r} on {spec.where.label}"


_pool_setup: Any = None


_pool_notes: Path | None = None


def _start_worker(setup: Any, notes: str | None = None) -> None:
    """A pool process's start: keep the run's setup for its units (and the folder where it
    notes the unit it runs), and end the process when the run's process is gone (killed with
    SIGKILL, it cannot shut its pool down: the workers would wait for work for ever, holding
    their memory). It ignores SIGINT: Ctrl-C in a terminal reaches the whole process group, and
    a worker interrupted while it sent a result could leave the pool a half-written message to
    wait on; the run's process stops its workers itself (SIGTERM, then SIGKILL)."""
    global _pool_setup, _pool_notes
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _pool_setup = setup
    _pool_notes = None if notes is None else Path(notes)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _pool_unit(what: str, unit: Callable[..., Any], *args: Any) -> Any:
    """``unit`` in a pool process, noted as ``what`` while it runs: if the process dies, the
    run's process reads whose cells were lost."""
    note = None if _pool_notes is None else _pool_notes / str(os.getpid())
    if note is not None:
        note.write_text(what)
    try:
        return run_unit(_pool_setup, unit, *args)
    finally:
        if note is not None:
            note.unlink(missing_ok=True)


def ray_resources(device_type: str) -> dict[str, dict[str, float]]:
    """Resource requests per kind of unit: on CUDA a training takes a GPU and an explain unit
    a quarter of one (four panels share a GPU); on a CPU each takes one core."""
    if device_type == "cuda":
        return {"train": {"num_cpus": 1, "num_gpus": 1},
                "explain": {"num_cpus": 1, "num_gpus": 0.25}}
    return {"train": {"num_cpus": 1}, "explain": {"num_cpus": 1}}


class RayExecutor:
    """Units as Ray tasks; see the module docstring."""

    name = "ray"
    parallel = True

    def __init__(self, runner: Any, address: str | None):
        try:
            import ray
        except ImportError:
            raise AudioXaiError("the ray executor needs Ray: pip install "
                                "'audioxai-bench[ray]'") from None
        self.ray = ray
        self.own = not ray.is_initialized()
        if self.own:
            ray.init(address=address, log_to_driver=not runner.quiet)
        self.resources = ray_resources(runner.device.type)
        self.threads = 1  # each task asks for one CPU
        self.setup = ray.put(runner.worker_setup(self.threads))
        self.task = ray.remote(run_unit)
        self.pending: dict[Any, Then] = {}

    def share(self, value: Any) -> Any:
        return self.ray.put(value)

    def submit(self, kind: str, unit: Callable[..., Any], args: tuple, then: Then) -> None:
        options = {**self.resources[kind], "max_retries": MAX_RETRIES,
                   "retry_exceptions": False, "name": f"audioxai-{kind}"}
        ref = self.task.options(**options).remote(self.setup, unit, *args)
        self.pending[ref] = then

    def wait(self) -> None:
        ray = self.ray
        while self.pending:
            (ready,), _ = ray.wait(list(self.pending), num_returns=1)
            then = self.pending.pop(ready)
            try:
                out = ray.get(ready)
            except ray.exceptions.RayTaskError as exc:  # the unit raised
                out = _failed(exc.cause) if exc.cause is not None else Failed(one_line(exc))
            except ray.exceptions.RayError as exc:  # e.g. its worker died MAX_RETRIES + 1 times
                out = Failed(f"the Ray task failed: {one_line(exc)}")
            then(out)

    def close(self) -> None:
        if self.pending:
            for ref in self.pending:
                self.ray.cancel(ref)
        if self.own:
            self.ray.shutdown()


@contextmanager
def open_executor(name: str, runner: Any, address: str | None = None,
                  workers: int | None = None) -> Iterator[Executor]:
    """The executor ``name`` for ``runner``, closed (a pool or a local Ray instance stopped) at
    the end; when the run is interrupted or fails, a pool's workers are stopped at once
    (:meth:`ProcessExecutor.close`) instead of being waited for."""
    if name not in EXECUTORS:
        raise AudioXaiError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
    if address is not None and name != "ray":
        raise AudioXaiError("--address names a Ray cluster: it needs --executor ray")
    if workers is not None and name != "processes":
        raise AudioXaiError("workers is the size of a process pool: it needs the processes "
                            "executor")
    if name == "processes" and workers is None and runner.device.type == "cuda":
        runner.log("executor processes: one GPU is driven from one process, so the units run "
                   "in this one (executor local); --workers N forces a pool")
        name = "local"
    if name == "local":
        yield LocalExecutor(runner)
        return
    executor = (ProcessExecutor(runner, workers) if name == "processes"
                else RayExecutor(runner, address))
    try:
        yield executor
    except BaseException:  # Ctrl-C, SIGTERM or an error: no unit's outcome will be recorded
        if isinstance(executor, ProcessExecutor):
            executor.close(stop=True)
        else:
            executor.close()
        raise
    executor.close()


_workers: dict[str, Any] = {}


def run_unit(setup: Any, unit: Callable[..., Any], *args: Any) -> Any:
    """A Ray task or pool unit: ``unit`` on this process's units for ``setup`` (made on its
    first unit), with the run's torch threads."""
    units = _workers.get(setup.token)
    if units is None:
        _workers.clear()  # one run at a time per worker process
        torch.set_num_threads(setup.threads)
        try:
            units = _workers[setup.token] = setup.units()
        except AudioXaiError as exc:  # e.g. a plugin missing on this node
            raise AudioXaiError(f"on {socket.gethostname()}: {exc}") from None
    with torch_mode(setup.bench.deterministic):  # as the driver runs its local units
        try:
            return unit(units, *args)
        except Exception as exc:  # returned, not raised, to say where it ran
            return _failed(exc, units)


def _failed(exc: BaseException, units: Any = None) -> Failed:
    """``exc`` as a :class:`Failed`, naming where it ran when its ``units`` are known."""
    return Failed(one_line(exc), traceback_text(exc),
                  units.computed_here() if units is not None else None)
