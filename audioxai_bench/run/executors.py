"""Where a run's units of work execute: in the run's own process, or as tasks on a Ray cluster.

The runner hands an executor units (a training per panel, an explain-and-score per panel and
explainer) and a continuation for each; the executor runs the unit and calls the continuation
with its outcome, on the runner's thread, so the runner stays the one writer of the results
folder. A unit that raises is handed back as :class:`Failed` (its cells are recorded as failed
and the run goes on).

- ``local`` runs each unit at once, in order: the loop as it always was.
- ``ray`` submits each unit as a Ray task with a resource request (:func:`ray_resources`):
  trainings first, each panel's explain units as soon as its model is there, so several panels
  are in flight at once. The data and each panel's weights travel through Ray's object store; a
  worker rebuilds the run's units (plugins, plan) once from :class:`~audioxai_bench.run.units.
  WorkerSetup` and keeps them for the run's later units. A worker that dies is retried by Ray
  (``max_retries``); the caches (models, relevance) are content-hashed and written atomically,
  so a retried or duplicated unit finds or rewrites the same entry. Without an address Ray
  starts a local instance on this machine (and stops it at the end); ``auto`` or
  ``HOST:PORT`` joins a running cluster.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from ..errors import AudioXaiError, one_line
from ..reproducibility import torch_mode

EXECUTORS = ("local", "ray")
#: How often Ray runs a task again when its worker dies (not when the task raises).
MAX_RETRIES = 3


@dataclasses.dataclass(frozen=True)
class Failed:
    """A unit that raised: the reason (one line) and the traceback when there is one."""

    reason: str
    traceback: str | None = None


Then = Callable[[Any], None]


class Executor(Protocol):
    name: str

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

    def __init__(self, runner: Any):
        self.runner = runner

    def share(self, value: Any) -> Any:
        return value

    def submit(self, kind: str, unit: Callable[..., Any], args: tuple, then: Then) -> None:
        try:
            out = unit(self.runner.work, *args)
        except Exception as exc:  # the unit's cells fail; the run goes on
            out = _failed(exc)
        then(out)

    def wait(self) -> None:
        return None


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
        self.setup = ray.put(runner.worker_setup())
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
def open_executor(name: str, runner: Any, address: str | None = None) -> Iterator[Executor]:
    """The executor ``name`` for ``runner``, closed (a local Ray instance stopped) at the end."""
    if name not in EXECUTORS:
        raise AudioXaiError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
    if address is not None and name != "ray":
        raise AudioXaiError("--address names a Ray cluster: it needs --executor ray")
    if name == "local":
        yield LocalExecutor(runner)
        return
    executor = RayExecutor(runner, address)
    try:
        yield executor
    finally:
        executor.close()


_workers: dict[str, Any] = {}


def run_unit(setup: Any, unit: Callable[..., Any], *args: Any) -> Any:
    """A Ray task: ``unit`` on this process's units for ``setup`` (made on its first unit)."""
    units = _workers.get(setup.token)
    if units is None:
        _workers.clear()  # one run at a time per worker process
        try:
            units = _workers[setup.token] = setup.units()
        except AudioXaiError as exc:  # e.g. a plugin missing on this node
            raise AudioXaiError(f"on {socket.gethostname()}: {exc}") from None
    with torch_mode(setup.bench.deterministic):  # as the driver runs its local units
        return unit(units, *args)


def _failed(exc: BaseException) -> Failed:
    from traceback import format_exception

    return Failed(one_line(exc), "".join(format_exception(exc)))
