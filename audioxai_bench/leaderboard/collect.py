"""Result records in, one checked DataFrame out.

The runner's records are a contract (:class:`audioxai_bench.run.records.Record`): a hand-edited
or half-migrated file fails in :func:`~audioxai_bench.run.records.load_results` with a line that
names the file, line and field, not with a pandas traceback deep inside the tables. Files are
read one at a time so that the page can find each run's ``examples/`` and ``audio/``.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..data.preprocess import DEFAULT_RESAMPLER
from ..errors import AudioXaiError
from ..run.records import (
    CELL_FIELDS,
    STILL_WRITING,
    load_results,
    results_file,
    unfinished_run,
)
from .aggregate import ACCURACY_METRIC, KEYS, SECTION_KEYS

#: The trained model of a (task, model, split): what a replicate seed may not change.
MODEL_FIELDS = ("benchmark", "dataset", "task", "model", "fold")
#: One trained model of a replicate seed: its records must agree on model, clips and batches.
TRAINED = (*MODEL_FIELDS, "seed")
#: What a cell's tables read from its first record alone: its seeds must agree on them.
METRIC_MEANING = ("higher_is_better", "versus", "ranked")
#: The training settings the records of test accuracy state (``info``).
TRAINING = ("preset", "width", "iterations", "precision", "compile", "training")
#: What a metric's ``info`` may say of the machine rather than of its score (runtime's
#: device, torch threads and share of the CPU): not compared, the facts list each run's
#: devices.
MACHINE_INFO = frozenset({"device", "threads", "cpu_share"})


def read(paths: Sequence[str | os.PathLike[str]], *, partial: bool = False,
         mixed_versions: bool = False) -> pd.DataFrame:
    """Newest record per cell over all files (later files win), checked, with ``source``: the
    run folder each record came from, and ``unfinished``: why that run has not finished
    (:func:`~audioxai_bench.run.records.unfinished_run`; ``""`` when it has).

    A run that has not finished is refused (its missing cells would be silently absent from
    tables that say nothing of it), unless ``partial``: the leaderboard then says it is
    partial (:func:`~audioxai_bench.leaderboard.provenance.facts`). Seeds or splits of one
    cell by different plugin versions are refused unless ``mixed_versions``
    (:func:`one_definition`)."""
    if not paths:
        raise AudioXaiError("leaderboard: no results given (pass run folders or results.jsonl)")
    frames = []
    for path in paths:
        file = results_file(path)
        frame = load_results(file)
        if frame.empty:
            raise AudioXaiError(f"{file}: no result records")
        problem = unfinished_run(file.parent)
        if problem and not partial:
            then = ("wait for it to finish" if problem.startswith(STILL_WRITING) else
                    f"finish it with 'audioxai-bench run DEFINITION --out {file.parent} "
                    "--resume'")
            raise AudioXaiError(f"{file.parent}: the run has not finished: {problem}; {then}, "
                                "or pass --partial for a leaderboard marked partial")
        frames.append(frame.assign(source=str(file.parent), unfinished=problem or ""))
    # checked before the newest record of each cell and seed is kept: a later folder of the
    # same seed replaces an earlier one's cells, which must then be of the same trained model
    # and clips (else the earlier run, another experiment, vanishes from the tables unsaid)
    df = one_sample_each(one_model_each(pd.concat(frames, ignore_index=True)))
    return one_definition(scores_agree(normalise(df)), mixed_versions=mixed_versions)


#: How far a record's ``value`` may lie from the mean of its finite ``scores``, as a share of
#: their mean size: the runner keeps each score to 7 significant digits (half a unit of the
#: 7th is 5e-7 of it).
SCORE_ROUNDING = 1e-5


def scores_agree(df: pd.DataFrame) -> pd.DataFrame:
    """``df``, refused where a scored record's ``value`` is not the mean of its finite
    per-sample ``scores`` or its ``n`` not their count (a record edited by hand, one field and
    not the other): the tables compute a cell from the scores, while the accuracy floor and a
    record without scores read the value, so one table would show one number and judge by
    another. Records without scores (older ones) are not checked."""
    for i, record in zip(df.index, df["record"]):
        if record.get("status") != "ok" or not isinstance(record.get("scores"), list):
            continue
        scores = np.array([np.nan if s is None else s for s in record["scores"]], dtype=float)
        finite = scores[np.isfinite(scores)]
        value, n = record.get("value"), record.get("n")
        mean = float(finite.mean()) if finite.size else None
        if value is not None and not np.isfinite(value):
            value = None
        problem = None
        if (value is None) != (mean is None) or (mean is not None and abs(value - mean) > (
                SCORE_ROUNDING * float(np.abs(finite).mean()) + 1e-12)):
            problem = (f"states value {_number(value)} but its per-sample scores average "
                       f"{_number(mean)}")
        elif n is not None and n != finite.size:
            problem = f"states n {n} but has {finite.size} finite per-sample scores"
        if problem:
            row = df.loc[i]
            raise AudioXaiError(
                f"{row['source']}: the record of {_cell(row)} on {row['task']} · "
                f"{row['model']} split {row['fold']}, seed {row['seed']} {problem} (edited "
                "by hand?): the tables would show one and judge by the other; run the cell "
                "again or restore the record")
    return df


def _number(value: float | None) -> str:
    return "null" if value is None else f"{value:.6g}"


def one_model_each(df: pd.DataFrame) -> pd.DataFrame:
    """``df``, refused where the records of one split and seed of a (task, model) came from
    two trained models (e.g. a definition's training changed between runs resumed into one
    folder): a table would mix them, or, where two folders of one seed hold the same cells,
    silently show the later folder's alone. Records that do not name their model are not
    checked."""
    named = df[df["model_key"].notna()]
    for key, rows in named.groupby(list(TRAINED), sort=False, dropna=False):
        if rows["model_key"].nunique() > 1:
            task, model, fold, seed = key[2:]
            raise AudioXaiError(
                f"{', '.join(sorted(set(rows['source'])))}: the records of {task} · {model} "
                f"split {fold}, seed {seed} come from {rows['model_key'].nunique()} trained "
                "models (the definition's training or data changed between runs); give the "
                "leaderboard runs of one definition, or run again into a fresh --out")
    return df


def one_sample_each(df: pd.DataFrame) -> pd.DataFrame:
    """``df``, refused where the cells of one split and seed of a (task, model) were scored on
    different clips or with different batch sizes (a run resumed into one folder after its
    ``samples``, ``batch_size`` or data changed kept the cells it did not compute again): a
    table would rank values of different clips side by side. Records that do not state their
    clips (test accuracy) or batch size (older records) are not compared on it."""
    seen: dict[tuple[Any, ...], Any] = {}
    for i, record, *group in zip(df.index, df["record"], *(df[k] for k in TRAINED)):
        for field in ("clips", "batch_size"):
            value = record.get(field)
            if value is None:
                continue
            value = tuple(value) if field == "clips" else value
            first, at = seen.setdefault((*group, field), (value, i))
            if value == first:
                continue
            a, b = df.loc[at], df.loc[i]
            task, model, fold, seed = group[2:]
            what = ((f"{len(first)} and {len(value)} clips" if len(first) != len(value) else
                     "two sets of clips") if field == "clips" else
                    f"batch_size {first} and {value}")
            where = ", ".join(dict.fromkeys([a["source"], b["source"]]))
            raise AudioXaiError(
                f"{where}: the cells of {task} · {model} split {fold}, seed {seed} were scored "
                f"on {what} (e.g. {_cell(a)} and {_cell(b)}: the definition's samples, "
                "batch_size or data changed between runs of this seed); a table would rank "
                "them side by side, or show one run's alone: give the leaderboard runs of one "
                "definition")
    return df


def _cell(row: pd.Series) -> str:
    return " · ".join(v for v in (row["explainer"], row["sonifier"], row["metric"])
                      if isinstance(v, str) and v)  # a null explainer: None, NaN or ""


def one_definition(df: pd.DataFrame, *, mixed_versions: bool = False) -> pd.DataFrame:
    """``df``, refused where the records a table pools into one value were run from different
    definitions: its seeds, replicates that change the seed and nothing else, and its splits,
    which change the speakers and nothing else (smoothgrad with 2 noise samples in one and 16
    in the other; a faithfulness gap on another grid; 500 training iterations against 20; data
    of 599 clips against 600). Config hashes and model keys cover the seed and the split, so
    the fields that must agree are compared instead: each cell's ``params`` (whole: a setting
    left out or null differs from a set one) and ``plugins`` (name, origin, version and the
    base a variant configures, :func:`_base`: another base is another method, another
    version may compute another number; ``mixed_versions`` pools them, and the facts name each
    version's runs), what the tables read from a cell's first record (:data:`METRIC_MEANING`;
    on a scored metric's record, one naming an explainer, a field left out is null: the runner
    writes ``versus`` only where the metric has a control; a failed cell's record states no
    direction, and is compared on what it states), each trained model's
    ``data_fingerprint``, its ``resampler`` (a record from before the choice: sinc), the
    ``batch_size`` its cells were scored with and the training its test-accuracy record states
    (:data:`TRAINING`); the number of clips its cells were scored on (``samples``: a seed of
    16 clips would weigh twice one of 8 in a split's mean) only between the seeds of a split,
    whose test speakers are the same; and, of a scored metric record, the ``info`` entries
    that say what its score is (:func:`_settings`, whole: an entry one record states and
    another's lacks differs), since a built-in plugin's version is the package's and does not
    change when its code does. Any other field a record does not state (an older record) is
    not compared. Library versions (``versions``) are not: the facts name each one's runs."""
    seen: dict[tuple[Any, ...], tuple[str, Any]] = {}
    for row, group, field, value in _facts(df, mixed_versions):
        first, at = seen.setdefault((group, field), (value, row))
        if value != first:
            if df.at[at, "fold"] != df.at[row, "fold"]:
                # a seed of this split that stated the field agreed with ``first``: a change
                # between the seeds of one split is named as one
                same = _earlier_of_split(df, row, group, field, mixed_versions)
                at = at if same is None else same
            raise _different(df.loc[at], df.loc[row], group[0], *_narrow(field, first, value))
    return df


def _earlier_of_split(df: pd.DataFrame, row: Any, group: tuple[Any, ...], field: str,
                      mixed_versions: bool) -> Any:
    """The first row before ``row`` of its split that states ``field`` of ``group``, or None
    (read again on the way to an error only)."""
    fold = df.at[row, "fold"]
    for i, g, f, _ in _facts(df, mixed_versions):
        if i == row:
            return None
        if g == group and f == field and df.at[i, "fold"] == fold:
            return i
    return None


def _different(a: pd.Series, b: pd.Series, kind: str, field: str, first: str,
               value: str) -> AudioXaiError:
    """The one-line refusal of records ``a`` and ``b`` of one table that differ in ``field``
    (``kind``: ``"model"`` or ``"cell"``): between two seeds of a split, or two splits."""
    where = ", ".join(dict.fromkeys([a["source"], b["source"]]))
    splits = a["fold"] != b["fold"]
    what = f"{a['task']} · {a['model']}" + ("" if splits else f" split {a['fold']}")
    if kind == "cell":
        what = f"{_cell(a)} on {what}"
    if splits:
        between = (f"split {a['fold']} and split {b['fold']}" if a["seed"] == b["seed"] else
                   f"split {a['fold']} (seed {a['seed']}) and split {b['fold']} "
                   f"(seed {b['seed']})")
    else:
        between = (f"seed {a['seed']} and seed {b['seed']}" if a["seed"] != b["seed"]
                   else f"{a['source']} and {b['source']} (both seed {a['seed']})")
    others = "splits" if splits else "seeds"
    return AudioXaiError(
        f"{where}: the records of {what} differ between {between} in {field} "
        f"({first:.40} against {value:.40}): "
        + ("a table pools its splits, which change only the speakers; " if splits else
           "a replicate changes only the seed; ")
        + (f"run the other {others} again with one version, or pass --mixed-versions to pool "
           "them" if field.endswith(".version") else
           "their metric computes its score otherwise (code changed under one version): "
           f"run the other {others} again with one revision"
           if kind == "cell" and field.startswith("info.") else
           "give the leaderboard runs of one definition"))


def _facts(df: pd.DataFrame, mixed_versions: bool
           ) -> Iterator[tuple[Any, tuple[Any, ...], str, str]]:
    """(row, group, dotted field, value as JSON) for every field that must agree across the
    splits and seeds of a group: a cell of a table (``("cell", ...)``, :data:`KEYS`), the
    models of a table (``("model", ...)``, :data:`SECTION_KEYS`), or, for ``samples``, the
    models of one split (``("model", ..., fold)``)."""
    identity = ("name", "plugin") if mixed_versions else ("name", "plugin", "version")
    names = list(dict.fromkeys([*MODEL_FIELDS, *CELL_FIELDS]))
    for i, record, *values in zip(df.index, df["record"], *(df[f] for f in names)):
        row = dict(zip(names, values))
        table = ("model", *(row[f] for f in SECTION_KEYS))
        clips = record.get("clips")
        if isinstance(clips, list):  # the definition's samples (as many clips as the test
            # split has, at most): each seed's weight in its split's mean
            yield i, (*table, row["fold"]), "samples", json.dumps(len(clips))
        stated: dict[str, Any] = {"data_fingerprint": record.get("data_fingerprint"),
                                  "resampler": record.get("resampler") or DEFAULT_RESAMPLER,
                                  "batch_size": record.get("batch_size")}
        if row["metric"] == ACCURACY_METRIC and not row["explainer"] and not row["sonifier"]:
            info = record.get("info") or {}
            stated["info"] = {k: info.get(k) for k in TRAINING}
        yield from ((i, table, f, v) for f, v in _flat(json.dumps(stated, sort_keys=True)))
        cell = ("cell", *(row[f] for f in KEYS))
        if record.get("params") is not None:
            yield i, cell, "params", json.dumps(record["params"], sort_keys=True)
        plugins = {kind: {**{k: p.get(k) for k in identity}, "base": _base(p)}
                   for kind, p in (record.get("plugins") or {}).items() if isinstance(p, dict)}
        yield from ((i, cell, f, v) for f, v in _flat(json.dumps({"plugins": plugins},
                                                                 sort_keys=True)))
        if row["explainer"]:  # a metric's record: the runner leaves a null versus out
            # a failed or skipped cell's record states no direction (its summary never ran):
            # compared on what it states, as a model's record is
            scored = record.get("status") == "ok"
            yield from ((i, cell, k, json.dumps(record.get(k))) for k in METRIC_MEANING
                        if scored or record.get(k) is not None)
            if scored:
                yield i, cell, "info", json.dumps(_settings(record.get("info")),
                                                  sort_keys=True)
        else:
            yield from ((i, cell, k, json.dumps(record[k])) for k in METRIC_MEANING
                        if record.get(k) is not None)


def _base(plugin: dict[str, Any]) -> Any:
    """The registered object a record's plugin entry configures: a variant's ``base``
    (``{name: x, base: gradient}``), else the object under its own name (a record without a
    base: no variant, or one from before records named it). Seeds of variant ``x`` on
    ``gradient`` and on ``amplitude`` are two methods under one name, not one cell."""
    base = plugin.get("base")
    return base if base is not None else plugin.get("name")


def _settings(info: Any) -> dict[str, Any]:
    """The entries of a metric's ``info`` that say what its score is: every single string,
    bool or number (``"relevance": "absolute"``, ``"unit-score"``, ``"controls": 4``) but
    :data:`MACHINE_INFO`. Lists and objects are left out: there a metric keeps what it
    measured on the run (runtime's ``call_seconds``), and its settings in ``params``."""
    return {k: v for k, v in (info if isinstance(info, dict) else {}).items()
            if isinstance(v, (str, bool, int, float)) and k not in MACHINE_INFO}


_ABSENT = object()


def _narrow(field: str, first: str, value: str) -> tuple[str, str, str]:
    """The dotted field and texts (JSON, or ``absent``) of the first leaf where two JSON
    objects differ, so an error names the setting, not the whole ``params``."""
    a, b = json.loads(first), json.loads(value)
    while isinstance(a, dict) and isinstance(b, dict):
        key = next(k for k in sorted({*a, *b})
                   if _text(a.get(k, _ABSENT)) != _text(b.get(k, _ABSENT)))
        field, a, b = f"{field}.{key}", a.get(key, _ABSENT), b.get(key, _ABSENT)
    return field, _text(a), _text(b)


def _text(value: Any) -> str:
    return "absent" if value is _ABSENT else json.dumps(value, sort_keys=True)


@functools.lru_cache(maxsize=1024)
def _flat(text: str) -> tuple[tuple[str, str], ...]:
    """Dotted field names and JSON values of the stated (not null) leaves of a JSON object
    (cached: most records of a run state the same settings)."""
    def leaves(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, dict):
            for key, item in value.items():
                yield from leaves(item, f"{prefix}.{key}" if prefix else str(key))
        elif value is not None:
            yield prefix, json.dumps(value, sort_keys=True)
    return tuple(leaves(json.loads(text), ""))


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
