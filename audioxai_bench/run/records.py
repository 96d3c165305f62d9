"""Result records: the one schema (:class:`Record`), an append-only JSON Lines store, and
results as a DataFrame. The writer (the runner) and every reader (``--resume``, the
leaderboard, :func:`load_results`) go through :class:`Record`, so a field has one meaning.

One record per cell (benchmark, dataset, task, model, fold, explainer, sonifier-or-null, metric;
the README's "Run the benchmark" lists its fields). A record is one line written with a single
``write`` on a file opened for appending and then flushed to disk, so a run killed at any moment
leaves whole records and at most one torn last line; the store cuts that line off before it
appends again, and ``--resume`` skips every cell whose newest record is ``ok`` with the same
config hash and computed by the same code (``code_digest``). A cell that failed has a record
with ``status: "error"`` and the reason; it is tried again on resume, and readers keep the
newest record of each cell.

One run writes a results folder at a time: :func:`folder_lock` holds an exclusive ``flock`` on
``<folder>/.lock`` for the run and refuses a second writer at once, naming the first. Earlier
results are never overwritten: :func:`keep_aside` renames a file to a new
``<name>.previous-<UTC time>`` name.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.metadata
import json
import logging
import math
import os
import platform
import re
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from ..errors import AudioXaiError, one_line
from ..hashing import config_hash  # noqa: F401  (records are keyed by it; re-exported)
from .folder import RESULTS_FILE, RUN_FILE

SCHEMA_VERSION = 1
LOCK_FILE = ".lock"
#: The fields that name a cell; a run writes at most one record per cell and config hash.
CELL_FIELDS: tuple[str, ...] = ("benchmark", "dataset", "task", "model", "fold", "explainer",
                                "sonifier", "metric")
STATUSES = ("ok", "error", "skipped")
_Number = float | None
_Text = str | None
_log = logging.getLogger(__name__)


class Record(BaseModel):
    """One cell's result: the cell, its value with interval and curves, and its provenance.

    ``ranked`` is false for a metric that describes or checks rather than judges (the
    leaderboard shows it and ranks nothing by it). ``value`` is the mean of the per-sample
    ``scores`` (of the test ``clips`` of ``speakers``, explained for the classes ``targets``,
    kept so that any test can be re-run from the records) and ``ci`` its 95 % interval; ``curves``
    hold mean curves over ``grid``, of the samples whose score ``value`` counts; ``extras``
    further values with intervals; ``info`` facts
    that do not depend on the samples; ``summary`` the metric's run-level facts. An ``error``
    record carries the reason (and, for a plugin's exception, its ``traceback``). ``host`` is
    the computer that computed the cell, ``machine`` its torch build and processor or GPU, and
    ``executor`` what ran it (``local``, ``ray``).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_version: StrictInt = Field(SCHEMA_VERSION, alias="schema")
    benchmark: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    task: str = Field(min_length=1)
    model: str = Field(min_length=1)
    fold: StrictInt
    explainer: _Text = None
    sonifier: _Text = None
    metric: str = Field(min_length=1)
    status: Literal[STATUSES]
    error: _Text = None
    reason: _Text = None  # why a ``skipped`` cell cannot be scored (a field its data lack)
    traceback: _Text = None
    config_hash: str = Field(min_length=1)
    #: the source of this package and of the cell's plugins (run/score_cache.code_digest): the
    #: config hash names a plugin's version, not its code, and ``--resume`` must not mix the two
    code_digest: _Text = None
    representation: _Text = None
    data_fingerprint: _Text = None
    #: how the clips were resampled to 8 kHz (data/preprocess.py RESAMPLERS); null in records
    #: from before the choice, all of them sinc
    resampler: _Text = None
    value: _Number = None
    ci: list[_Number] | None = Field(None, min_length=2, max_length=2)
    n: StrictInt | None = None
    higher_is_better: bool | None = None
    ranked: bool | None = None
    #: the control the scores are paired differences against (0 = no better than it)
    versus: _Text = None
    scores: list[_Number] | None = None  # null (older files: NaN) where a clip has no score
    clips: list[str] | None = None
    speakers: list[StrictInt] | None = None
    targets: list[StrictInt] | None = None
    #: the trained model the cell was computed on (its recipe, data and numerics, hashed): the
    #: leaderboard never pools two models of one split and seed
    model_key: _Text = None
    grid: list[float] | None = None
    curves: dict[str, list[_Number]] | None = None
    extras: dict[str, Any] | None = None
    info: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    wall_seconds: _Number = None
    #: true: the fields came from the score cache, computed by an earlier run of the same code
    #: and settings, or (test accuracy) the model from the model cache (``wall_seconds`` and
    #: runtime values are that run's: its training, its scoring)
    cached: bool | None = None
    device: _Text = None
    host: _Text = None
    #: the torch build and processor or accelerator that computed the cell (a model's accuracy:
    #: that trained it); records of two machines need not agree in their last bits
    machine: dict[str, _Text] | None = None
    executor: _Text = None
    #: torch threads each unit ran with (on a CPU they change the last bits of the results)
    torch_threads: int | None = None
    #: torch's deterministic algorithms on (the default) or off (cuDNN autotuning, not repeatable)
    torch_deterministic: bool | None = None
    #: false for an explainer that declares itself non-deterministic (not checked repeatable)
    deterministic: bool | None = None
    seed: StrictInt | None = None
    #: the run's ``batch_size``: each batch seeds its metrics, so it is part of what the cell
    #: computed (``--resume`` and the leaderboard do not mix two)
    batch_size: StrictInt | None = None
    plugins: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    git_revision: _Text = None
    versions: dict[str, _Text] | None = None
    python: _Text = None
    created: _Text = None

    @model_validator(mode="after")
    def _consistent(self) -> Record:
        if self.status == "error" and not self.error:
            raise ValueError("an error record needs field 'error' (the reason)")
        if self.status == "skipped" and not self.reason:
            raise ValueError("a skipped record needs field 'reason'")
        if self.scores is not None and self.clips is not None and (
                len(self.scores) != len(self.clips) or len(self.clips) != len(self.speakers or ())):
            raise ValueError("fields 'scores', 'clips' and 'speakers' need one entry per sample")
        if self.targets is not None and len(self.targets) != len(self.clips or ()):
            raise ValueError("field 'targets' needs one entry per clip")
        if self.curves and (self.grid is None or any(len(c) != len(self.grid)
                                                     for c in self.curves.values())):
            raise ValueError("field 'curves' needs one value per point of field 'grid'")
        return self

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=False)
#: Distributions whose versions every record carries.
TRACKED_PACKAGES = ("audioxai-bench", "torch", "torchaudio", "zennit", "captum", "numpy")


def cell_key(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """The cell a record belongs to."""
    return tuple(record.get(f) for f in CELL_FIELDS)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Package versions, Python and the project's git revision (None outside a checkout)."""
    return {"python": platform.python_version(),
            "versions": {d: _version(d) for d in TRACKED_PACKAGES},
            "git_revision": git_revision()}


#: the ``[project]`` name in the pyproject.toml of the suite's own checkout
_PROJECT_NAME = re.compile(r"""^name\s*=\s*["']audioxai-bench["']\s*$""", re.MULTILINE)


def git_revision() -> str | None:
    """``HEAD`` of the suite's checkout the package runs from, ``+dirty`` when files were
    changed; None when it does not run from one (an installed package, even in a virtual
    environment inside some other git project: that project's commit says nothing about this
    code). A checkout is a git top-level that holds the package folder and a pyproject.toml
    naming audioxai-bench."""
    here = Path(__file__).resolve().parents[1]  # audioxai_bench/
    root = here.parent
    try:
        if not _PROJECT_NAME.search((root / "pyproject.toml").read_text(encoding="utf-8")):
            return None
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here,
                             capture_output=True, text=True, timeout=10, check=True)
        if Path(top.stdout.strip()).resolve() != root:
            return None
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, UnicodeDecodeError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "") if rev else None


def validate_record(record: Mapping[str, Any], where: str = "record") -> None:
    """Check ``record`` against :class:`Record`; fail naming ``where`` and the first bad field."""
    if not isinstance(record, Mapping):
        raise AudioXaiError(f"{where}: a record must be a JSON object")
    schema = record.get("schema", SCHEMA_VERSION)
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > SCHEMA_VERSION:
        raise AudioXaiError(f"{where}: written by a newer version of audioxai-bench (record "
                            f"schema {schema}; this one reads up to {SCHEMA_VERSION}): upgrade "
                            "audioxai-bench to read it")
    try:
        Record.model_validate(record)
    except ValidationError as exc:
        raise AudioXaiError(f"{where}: {_first_problem(exc)}") from None


def record_problem(record: Mapping[str, Any]) -> str | None:
    """Why ``record`` cannot be written (:func:`validate_record`, then JSON), or None."""
    try:
        validate_record(record)
        json.dumps(record, allow_nan=True)
    except (AudioXaiError, TypeError, ValueError) as exc:
        return f"its result cannot be recorded: {one_line(exc)}"
    return None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"field {field!r} is missing"
    if error["type"] == "extra_forbidden":
        return f"field {field!r} is not a record field"
    if error["type"] == "literal_error":
        return f"field {field!r} must be one of {STATUSES}, got {error['input']!r:.60}"
    if not field:  # a check across fields
        return str(error["msg"]).removeprefix("Value error, ")
    return f"field {field!r}: {error['msg'].lower()}, got {error['input']!r:.60}"


def finite_or_null(value: Any) -> Any:
    """``value`` with every NaN or infinite float in it (also inside lists and dicts) as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value


class ResultStore:
    """Append-only JSON Lines file of result records.

    Opening the store repairs a torn last line left by a killed run (it is cut off, and the
    number of bytes dropped is kept in :attr:`repaired_bytes`).
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = self._repair()

    def _repair(self) -> int:
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        with open(self.path, "r+b") as fh:
            fh.truncate(keep)
        return len(data) - keep

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record as one line, durably (a single write, then fsync); a number that is
        not finite (a clip without a score) is written as null, which strict JSON readers take
        (NaN is not JSON)."""
        validate_record(record)
        line = (json.dumps(finite_or_null(record), sort_keys=True, allow_nan=False)
                + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise AudioXaiError(f"{self.path}: short write ({written} of {len(line)} bytes)")
            os.fsync(fd)
        finally:
            os.close(fd)

    def records(self) -> list[dict[str, Any]]:
        """Every record in file order (none before the first is written)."""
        return list(read_records([self.path])) if self.path.exists() else []

    def finished(self) -> set[tuple[Any, ...]]:
        """``cell_key + (config_hash,)`` of every cell whose newest record is done."""
        return set(finished_cells(self.records()))


def finished_cells(records: Iterable[Mapping[str, Any]]) -> dict[tuple[Any, ...], str | None]:
    """``cell_key + (config_hash,)`` of every cell of ``records`` whose newest record is done
    (``ok`` or ``skipped``), with the ``code_digest`` it was computed by (None: written before
    records carried one): what ``--resume`` does not compute again while the code is the same.
    Only a cell's newest record counts, whatever its config hash: an older record of other
    settings is superseded (readers show the newest), so it is done no more."""
    newest: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for r in records:
        newest[cell_key(r)] = r
    return {(*cell, r["config_hash"]): r.get("code_digest") for cell, r in newest.items()
            if r["status"] in ("ok", "skipped")}


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``<folder>/.lock`` exclusively for the block; a second holder fails at once.

    The lock is an ``flock`` on the file, so the kernel releases it when its process ends,
    killed or not, and a stale file never blocks anyone. The file names the holder (process id
    and host) for the message the next writer gets. Where the file system cannot lock, the run
    goes on with a warning.
    """
    folder = Path(folder)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            _lock_exclusive(fd)
        except BlockingIOError:
            raise AudioXaiError(f"{folder} is being written by another run ({_holder(path)}); "
                                "wait for it or use another --out") from None
        except OSError as err:  # e.g. a file system without locks
            _log.warning("%s: could not lock (%s); make sure no other run writes here", path,
                         err.strerror or err)
        else:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                      "since": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                             time.gmtime())}).encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


def _lock_exclusive(fd: int, patience: float = 1.0) -> None:
    """``flock`` ``fd`` exclusively; raise :class:`BlockingIOError` at once where a run holds it
    (exclusively), and wait up to ``patience`` seconds where only readers do: a leaderboard's
    probe (:func:`unfinished_run`) holds a shared lock for a moment and is not another run."""
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # raises where a run holds it
            fcntl.flock(fd, fcntl.LOCK_UN)
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def discard_unused(folder: str | os.PathLike[str], parents: Sequence[Path] = ()) -> bool:
    """Remove ``folder`` and its lock file when nothing else is in it, then the ``parents``
    (deepest first) that are empty; return whether ``folder`` went.

    A run that made the folder (and ``parents``, for it) calls it, holding the lock, when it
    fails before writing anything, so a typo leaves no empty folder behind; a folder that holds
    anything else (an earlier run's results) is never touched. A failure to remove is logged,
    not raised: the run's own error is the one to report.
    """
    folder = Path(folder)
    try:
        if any(entry.name != LOCK_FILE for entry in folder.iterdir()):
            return False
        (folder / LOCK_FILE).unlink(missing_ok=True)
        folder.rmdir()
    except OSError as err:
        _log.warning("%s: could not remove the empty folder of the failed run (%s)", folder,
                     err.strerror or err)
        return False
    for parent in parents:
        try:
            parent.rmdir()
        except OSError:  # not empty (another run wrote there) or gone: it stays
            break
    return True


#: How :func:`unfinished_run` starts its answer for a folder whose lock a run holds now.
STILL_WRITING = "a run is still writing it"


def unfinished_run(folder: str | os.PathLike[str]) -> str | None:
    """Why the run that wrote ``folder`` has not finished, or None when it has.

    A run writes ``run.json`` last, with the size its ``results.jsonl`` had then
    (``results_bytes``): a folder without it was interrupted or is still being written, one
    whose results grew since was resumed and not finished, and one whose lock is held is being
    written now. A ``run.json`` from before ``results_bytes`` was recorded is judged by the
    records its report counts (:func:`_before_results_bytes`).
    """
    folder = Path(folder)
    lock = folder / LOCK_FILE
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:  # no lock file: no run holds it
        pass
    else:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return f"{STILL_WRITING} ({_holder(lock)})"
        except OSError:  # a file system without locks: the files below still tell
            pass
        finally:
            os.close(fd)
    summary = folder / RUN_FILE
    try:
        body = json.loads(summary.read_text())
        written = body.get("results_bytes")
    except FileNotFoundError:
        return f"no {RUN_FILE}: the run was interrupted or is still running"
    except (OSError, ValueError, AttributeError) as err:
        return f"{RUN_FILE} cannot be read ({one_line(err)})"
    if written is None:
        return _before_results_bytes(body, folder / RESULTS_FILE)
    try:
        size = (folder / RESULTS_FILE).stat().st_size
    except OSError:
        size = 0
    if size != written:
        return (f"{RESULTS_FILE} has {size} bytes, {RUN_FILE} says the run ended with {written}: "
                "a later --resume was interrupted or is still running")
    return None


def _before_results_bytes(body: dict[str, Any], results: Path) -> str | None:
    """Why a run whose ``run.json`` predates ``results_bytes`` has not finished, or None.

    Every run reports the records it wrote (``report.records``), and a run that did not
    resume wrote all of its folder's; a ``--resume`` appends to them, so other than that many
    lines (a torn one counts) mean a later run, finished or interrupted: the folder cannot say
    which, and a resume to its end records ``results_bytes``."""
    report = body.get("report")
    reported = report.get("records") if isinstance(report, dict) else None
    if not isinstance(reported, int):
        return (f"{RUN_FILE} states neither results_bytes nor report.records, so whether its "
                "run finished cannot be told")
    try:
        lines = len(results.read_bytes().splitlines())
    except OSError:
        lines = 0
    if lines == reported:
        return None
    return (f"{RUN_FILE} predates results_bytes and reports {reported} records, {RESULTS_FILE} "
            f"holds {lines}: a later --resume may have been interrupted")


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return f"pid {int(info['pid'])} on host {info['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not said who it is yet"


def keep_aside(path: str | os.PathLike[str]) -> Path:
    """Rename ``path`` (a file, or a folder such as ``examples/``) to
    ``<stem>.previous-<UTC time>[-k]<suffix>`` beside it, never over an existing file; return
    the new path."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for k in range(1000):
        target = path.with_name(f"{path.stem}.previous-{stamp}{f'-{k}' if k else ''}"
                                f"{path.suffix}")
        if path.is_dir():  # no hard links of folders; the folder lock keeps others out
            if target.exists():
                continue
            os.rename(path, target)
            return target
        try:
            os.link(path, target)  # fails when target exists: nothing is overwritten
        except FileExistsError:
            continue
        except OSError:  # no hard links on this file system; the folder lock keeps others out
            if target.exists():
                continue
            os.rename(path, target)
            return target
        os.unlink(path)
        return target
    raise AudioXaiError(f"{path}: could not find a free name to keep it under")


def results_file(path: str | os.PathLike[str]) -> Path:
    """The ``results.jsonl`` a run folder or file argument stands for."""
    path = Path(path)
    return path / RESULTS_FILE if path.is_dir() else path


def _results_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    files = []
    for p in map(results_file, paths):
        if not p.exists():
            raise AudioXaiError(f"{p}: no results here (run 'audioxai-bench run' first)")
        files.append(p)
    return files


def read_records(paths: Iterable[str | os.PathLike[str]]) -> Iterator[dict[str, Any]]:
    """Records from result files or run folders; a bad line fails naming file and line."""
    for path in _results_files(paths):
        with open(path, "rb") as fh:  # decoded per line, so a bad byte names its line
            for number, raw in enumerate(fh, 1):
                where = f"{path}:{number}"
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise AudioXaiError(f"{where}: not UTF-8 text (byte {raw[exc.start]:#04x} "
                                        f"at column {exc.start + 1}); is this a results "
                                        "file?") from None
                if not line.strip():
                    continue
                if not line.endswith("\n"):  # torn by a killed run; the store repairs it
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise AudioXaiError(f"{where}: not a JSON record ({exc.msg})") from None
                except RecursionError:
                    raise AudioXaiError(f"{where}: not a JSON record (nested too deeply to "
                                        "read)") from None
                except ValueError as exc:  # e.g. an integer too long to convert
                    raise AudioXaiError(f"{where}: not a JSON record ({exc})") from None
                if not isinstance(record, dict):
                    raise AudioXaiError(f"{where}: a record must be a JSON object")
                validate_record(record, where)
                yield record


def latest(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The newest record of each cell (later lines and later files win)."""
    newest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in records:
        key = cell_key(r)
        newest.pop(key, None)  # keep file order of the newest copies
        newest[key] = dict(r)
    return list(newest.values())


#: Columns of :func:`load_results`, in order: the record's flat fields, with ``ci`` split into
#: ``ci_low``/``ci_high``; the full record stays in column ``record``.
COLUMNS: tuple[str, ...] = (*CELL_FIELDS, "representation", "status", "value", "ci_low",
                            "ci_high", "n", "higher_is_better", "error", "reason", "wall_seconds",
                            "device", "seed", "model_key", "config_hash", "git_revision",
                            "created")



def load_results(*paths: str | os.PathLike[str], all_records: bool = False) -> pd.DataFrame:
    """Results as a DataFrame, one row per cell (``all_records=True``: one per record).

    ``paths`` are run folders or ``results.jsonl`` files (default ``results/quickstart``).
    Curves, extras and provenance stay available as dicts in the ``record`` column::

        df = load_results("results/quickstart")
        df[df.metric == "faithfulness-gap"].pivot_table(
            index="explainer", columns=["task", "model"], values="value")
    """
    records = list(read_records(paths or [Path("results") / "quickstart"]))
    if not all_records:
        records = latest(records)
    rows = []
    for r in records:
        ci = r.get("ci") or [None, None]
        row = {c: r.get(c) for c in COLUMNS}
        row.update(ci_low=ci[0], ci_high=ci[1], record=r)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*COLUMNS, "record"])
