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
    return one_model_each(normalise(pd.concat(frames, ignore_index=True)))


def one_model_each(df: pd.DataFrame) -> pd.DataFrame:
    """``df``, refused where the records of one split and seed of a (task, model) came from
    two trained models (e.g. a definition's training changed between runs resumed into one
    folder): a table would mix them. Records that do not name their model are not checked."""
    named = df[df["model_key"].notna()]
    keys = ["benchmark", "dataset", "task", "model", "fold", "seed"]
    for key, rows in named.groupby(keys, sort=False, dropna=False):
        if rows["model_key"].nunique() > 1:
            task, model, fold, seed = key[2:]
            raise AudioXaiError(
                f"{', '.join(sorted(set(rows['source'])))}: the records of {task} · {model} "
                f"split {fold}, seed {seed} come from {rows['model_key'].nunique()} trained "
                "models (the definition's training or data changed between runs); give the "
                "leaderboard runs of one definition, or run again into a fresh --out")
    return df


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
