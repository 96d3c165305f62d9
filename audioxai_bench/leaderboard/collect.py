"""Result records in, one checked DataFrame out.

The runner's records are a contract (:class:`audioxai_bench.run.records.Record`): a hand-edited
or half-migrated file fails in :func:`~audioxai_bench.run.records.load_results` with a line that
names the file, line and field, not with a pandas traceback deep inside the tables. Files are
read one at a time so that the page can find each run's ``examples/`` and ``audio/``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from ..errors import AudioXaiError
from ..run.records import CELL_FIELDS, load_results, results_file


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
        frames.append(frame.assign(source=str(file.parent)))
    return normalise(pd.concat(frames, ignore_index=True))


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell and seed (the last one wins; runs with other seeds are replicates),
    ``""`` for a null explainer or sonifier, and numbers as floats, so grouping and sorting
    treat every frame alike."""
    df = df.drop_duplicates(subset=[*CELL_FIELDS, "seed"], keep="last").copy()
    for column in ("explainer", "sonifier"):
        df[column] = [v if isinstance(v, str) else "" for v in df[column]]
    for column in ("value", "ci_low", "ci_high"):
        df[column] = pd.to_numeric(df[column], errors="coerce").astype(float)
    df["n"] = pd.to_numeric(df["n"], errors="coerce").astype("Int64")
    return df.reset_index(drop=True)
