"""Result records: the schema, an append-only JSON Lines store, and results as a DataFrame.

One record per cell (benchmark, dataset, task, model, fold, explainer, sonifier-or-null, metric),
as DESIGN.md asks. A record is one line written with a single ``write`` on a file opened for
appending and then flushed to disk, so a run killed at any moment leaves whole records and at
most one torn last line; the store cuts that line off before it appends again, and ``--resume``
skips every cell that already has an ``ok`` record with the same config hash. A cell that failed
has a record with ``status: "error"`` and the reason; it is tried again on resume, and readers
keep the newest record of each cell.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import AudioXaiError

SCHEMA_VERSION = 1
RESULTS_FILE = "results.jsonl"
#: The fields that name a cell; a run writes at most one record per cell and config hash.
CELL_FIELDS: tuple[str, ...] = ("benchmark", "dataset", "task", "model", "fold", "explainer",
                                "sonifier", "metric")
STATUSES = ("ok", "error")
#: Distributions whose versions every record carries.
TRACKED_PACKAGES = ("audioxai-bench", "torch", "torchaudio", "zennit", "captum", "numpy")


def cell_key(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """The cell a record belongs to."""
    return tuple(record.get(f) for f in CELL_FIELDS)


def config_hash(config: Mapping[str, Any]) -> str:
    """A short, stable hash of JSON-able settings (keys sorted; non-JSON values by ``repr``)."""
    text = json.dumps(config, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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


def git_revision() -> str | None:
    """``HEAD`` of the checkout the package runs from, ``+dirty`` when files were changed."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "") if rev else None


def validate_record(record: Mapping[str, Any], where: str = "record") -> None:
    """Fail naming the first missing or bad field."""
    for f in (*CELL_FIELDS, "status", "config_hash"):
        if f not in record:
            raise AudioXaiError(f"{where}: field {f!r} is missing")
    if record["status"] not in STATUSES:
        raise AudioXaiError(f"{where}: field 'status' must be one of {STATUSES}, "
                            f"got {record['status']!r}")
    if record["status"] == "error" and not record.get("error"):
        raise AudioXaiError(f"{where}: an error record needs field 'error' (the reason)")


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
        """Write one record as one line, durably (a single write, then fsync)."""
        validate_record(record)
        line = (json.dumps(record, sort_keys=True, allow_nan=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise AudioXaiError(f"{self.path}: short write ({written} of {len(line)} bytes)")
            os.fsync(fd)
        finally:
            os.close(fd)

    def records(self) -> list[dict[str, Any]]:
        """Every record in file order."""
        return list(read_records([self.path]))

    def finished(self) -> set[tuple[Any, ...]]:
        """``cell_key + (config_hash,)`` of every cell with an ``ok`` record."""
        return {(*cell_key(r), r["config_hash"]) for r in self.records() if r["status"] == "ok"}


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


#: Columns of :func:`load_results`, in order; the full record stays in column ``record``.
COLUMNS: tuple[str, ...] = (*CELL_FIELDS, "representation", "status", "value", "ci_low",
                            "ci_high", "n", "higher_is_better", "error", "wall_seconds",
                            "device", "seed", "config_hash", "git_revision", "created")


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
