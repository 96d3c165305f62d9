"""Result records in, one checked DataFrame out.

The runner's records are a contract, but a hand-edited or half-migrated file must fail with a
line that names the file and field, not with a pandas traceback deep inside the tables. Reading
goes through :func:`audioxai_bench.results.load_results` one file at a time so that a bad record
can be traced to its file, and so that the page can find each run's ``examples/`` and ``audio/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import AudioXaiError
from ..results import CELL_FIELDS, load_results, results_file

_TEXT_FIELDS = ("benchmark", "dataset", "task", "model", "metric")
_OPTIONAL_TEXT = ("explainer", "sonifier", "representation")
_DICT_FIELDS = ("extras", "info", "summary", "versions", "plugins")


def read(paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Newest record per cell over all files (later files win), checked, with ``source``: the
    run folder each record came from."""
    if not paths:
        raise AudioXaiError("leaderboard: no results given (pass run folders or results.jsonl)")
    frames = []
    for path in paths:
        file = results_file(path)
        frame = load_results(file)
        if frame.empty:
            raise AudioXaiError(f"{file}: no result records")
        for record in frame["record"]:
            check_record(record, file)
        frames.append(frame.assign(source=str(file.parent)))
    return normalise(pd.concat(frames, ignore_index=True))


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (the last one wins), ``""`` for a null explainer or sonifier, and
    numbers as floats, so grouping and sorting treat every frame alike."""
    df = df.drop_duplicates(subset=list(CELL_FIELDS), keep="last").copy()
    for column in ("explainer", "sonifier"):
        df[column] = [v if isinstance(v, str) else "" for v in df[column]]
    for column in ("value", "ci_low", "ci_high"):
        df[column] = pd.to_numeric(df[column], errors="coerce").astype(float)
    df["n"] = pd.to_numeric(df["n"], errors="coerce").astype("Int64")
    return df.reset_index(drop=True)


def _number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def check_record(record: Mapping[str, Any], file: Path) -> None:
    """Fail naming the file, the cell and the field when a record cannot be tabulated."""
    cell = "/".join(str(record.get(f)) for f in ("task", "model", "fold", "explainer",
                                                 "sonifier", "metric"))
    where = f"{file} ({cell})"

    def bad(field: str, wanted: str) -> AudioXaiError:
        return AudioXaiError(f"{where}: field {field!r} must be {wanted}, "
                             f"got {record.get(field)!r:.60}")

    for field in _TEXT_FIELDS:
        if not isinstance(record[field], str) or not record[field]:
            raise bad(field, "a non-empty string")
    for field in _OPTIONAL_TEXT:
        if not isinstance(record.get(field), (str, type(None))):
            raise bad(field, "a string or null")
    if not isinstance(record["fold"], int) or isinstance(record["fold"], bool):
        raise bad("fold", "an integer")
    if not _number(record.get("value")):
        raise bad("value", "a number or null")
    ci = record.get("ci")
    if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(map(_number, ci))):
        raise bad("ci", "[low, high]")
    n = record.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool)):
        raise bad("n", "an integer or null")
    for field in _DICT_FIELDS:
        if not isinstance(record.get(field), (dict, type(None))):
            raise bad(field, "an object or null")
    curves = record.get("curves")
    if curves:
        grid = record.get("grid")
        if not isinstance(grid, list) or not all(map(_number, grid)):
            raise bad("grid", "a list of numbers (the curves' x-axis)")
        if not isinstance(curves, dict):
            raise bad("curves", "an object of name -> list")
        for name, curve in curves.items():
            if not isinstance(curve, list) or len(curve) != len(grid) or not all(
                    map(_number, curve)):
                raise AudioXaiError(f"{where}: field 'curves' entry {name!r} must be a list of "
                                    f"{len(grid)} numbers (one per grid point)")

