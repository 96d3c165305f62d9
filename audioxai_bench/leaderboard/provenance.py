"""What produced the numbers: benchmarks, data, samples, devices, seeds, code and versions.

A leaderboard without its provenance cannot be compared with another one; every fact here is
read from the records (never from the machine that renders the page), so regenerating the
leaderboard elsewhere gives the same text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pandas as pd

from ..data.clipfile import DEFAULT_RESAMPLER
from .aggregate import ACCURACY_METRIC, model_records, run_seed


def _distinct(values: Iterable[Any]) -> list[str]:
    return sorted({str(v) for v in values if v is not None and not (
        isinstance(v, float) and pd.isna(v))})


def _span(values: Iterable[Any]) -> str:
    numbers = sorted({int(v) for v in values if not pd.isna(v)})
    if not numbers:
        return "unknown"
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}–{numbers[-1]}"


def _dataset(record: dict[str, Any]) -> str | None:
    """The data folder's name, its content's fingerprint, which tells the same data apart
    from data of the same name (another synthesis, another copy), and how the clips reached
    8 kHz, which changes every model input (a record from before the choice: sinc)."""
    name, content = record.get("dataset"), record.get("data_fingerprint")
    if not name:
        return name
    resampler = f"resampler {record.get('resampler') or DEFAULT_RESAMPLER}"
    return f"{name} ({f'content {content}, ' if content else ''}{resampler})"


def _synthetic_note(datasets: pd.Series) -> str:
    """Said where every dataset is the synthetic stand-in (named ``synthetic-…`` by the
    runner): its numbers are not numbers on the recorded AudioMNIST."""
    names = _distinct(datasets)
    if not names or not all(n.startswith("synthetic-") for n in names):
        return ""
    return (" — the synthetic stand-in (eSpeak NG voices, `audioxai-bench data synth`), not the "
            "recorded AudioMNIST: the paper's numbers were measured on recorded speech")


def _device(record: dict[str, Any]) -> str | None:
    """The device with the machine behind it (records before the ``machine`` field: the
    device alone): two leaderboards of one definition and seed agree only on one machine."""
    device, machine = record.get("device"), record.get("machine") or {}
    if device is None or not machine:
        return device
    where = machine.get("accelerator") or ", ".join(
        v for v in (machine.get("cpu"), machine.get("cpu_capability")) if v)
    return f"{device} ({where}; torch {machine.get('torch_build')})"


def facts(df: pd.DataFrame) -> list[tuple[str, str]]:
    """``(label, text)`` pairs describing the records in ``df``."""
    records = list(df["record"])
    ok = df[df["status"] == "ok"]
    explained = ok[ok["explainer"] != ""]
    accuracy = model_records(ok, ACCURACY_METRIC)
    folds = "; ".join(
        f"{task}/{model}: {', '.join(map(str, sorted(set(g['fold']))))}"
        for (task, model), g in df.groupby(["task", "model"], sort=True))
    per_table = df.groupby(["benchmark", "dataset", "task", "model"])
    several = (per_table["fold"].nunique() > 1).any()
    replicated = (per_table["seed"].nunique() > 1).any()
    # a cached cell's wall_seconds are the earlier run's (a cached model's: its training)
    fresh = df["record"].map(lambda r: r.get("cached") is not True)
    wall = pd.to_numeric(df.loc[fresh, "wall_seconds"], errors="coerce").sum()
    unknown = "unknown"
    unfinished = _unfinished(df)
    return [
        ("Benchmarks", ", ".join(_distinct(df["benchmark"]))),
        ("Datasets", ", ".join(_distinct(_dataset(r) for r in records))
         + _synthetic_note(df["dataset"])),
        ("Samples (n)", f"{_span(explained['n'])} explained test clips per trained model and "
                        f"cell, {_span(accuracy['n'])} test clips for model accuracy; a table's "
                        "cell pools its models' clips (leaderboard.csv: n)"),
        ("Folds", folds),
        ("Aggregation", ("a value is the mean over splits (folds) of each split's mean over "
                         "its test clips; its 95 % interval resamples splits, then speakers "
                         "within a split (interval bounds are never averaged; n is summed)"
                         if several else "one split per table: the 95 % interval resamples "
                         "speakers")
         + (f"; the runs of each seed trained their own model of every split{_uneven(df)}, "
            "and a split's clips pool its models'" if replicated else "")),
        ("Devices", ", ".join(_distinct(_device(r) for r in records)) or unknown),
        ("Seeds", ", ".join(_distinct(df["seed"])) or unknown),
        ("Git revisions", ", ".join(_distinct(df["git_revision"])) or unknown),
        ("Python", ", ".join(_distinct(r.get("python") for r in records)) or unknown),
        ("Versions", _versions(df, _libraries) or unknown),
        ("Plugins", _versions(df, _plugins) or unknown),
        ("Cells", f"{int((df['status'] == 'ok').sum())} ok, "
                  f"{int((df['status'] == 'error').sum())} failed; "
                  f"{wall:.0f} s of wall time spent on the cells these runs computed "
                  f"({int((~fresh).sum())} came from caches and are not counted)"
                  + ("; partial: cells of unfinished runs are missing" if unfinished else "")),
        *([("Partial", "; ".join(unfinished))] if unfinished else []),
    ]


def _uneven(df: pd.DataFrame) -> str:
    """Where a table's seeds ran other splits (a replicate of fewer folds), which: its splits'
    means then pool other numbers of models (``" they ran (digit/audionet seed 1 did not run
    split 1)"``); empty where every seed ran every split of its table."""
    parts = []
    for (task, model), rows in df.groupby(["task", "model"], sort=True):
        every = sorted(set(rows["fold"]))
        for seed, mine in rows.groupby(rows["seed"].map(run_seed), sort=True):
            missing = [f for f in every if f not in set(mine["fold"])]
            if missing:
                parts.append(f"{task}/{model} seed {seed} did not run split "
                             f"{', '.join(map(str, missing))}")
    return f" they ran ({'; '.join(parts)})" if parts else ""


def _libraries(record: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The installed libraries (a null version: not installed)."""
    yield from ((p, v) for p, v in (record.get("versions") or {}).items() if v is not None)


def _plugins(record: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for entry in (record.get("plugins") or {}).values():
        if isinstance(entry, dict) and entry.get("plugin"):
            yield entry["plugin"], entry.get("version")


#: How the facts list the records of a plugin that state no version.
UNSTATED = "unstated"


def _versions(df: pd.DataFrame,
              stated: Callable[[dict[str, Any]], Iterable[tuple[str, Any]]]) -> str:
    """``name version`` of each package or plugin the records state; where the runs used
    several versions, each names its runs, so a reader sees which seeds were computed apart.
    Records that state no version beside others that do are listed as :data:`UNSTATED` with
    their runs (a name alone where none states one)."""
    runs: dict[str, dict[str, set[tuple[str, int]]]] = {}
    for record, benchmark, seed in zip(df["record"], df["benchmark"], df["seed"].map(run_seed)):
        for name, version in stated(record):
            versions = runs.setdefault(str(name), {})
            versions.setdefault(str(version) if version else UNSTATED, set()).add(
                (str(benchmark), seed))
    return ", ".join(_with_runs(name, versions) for name, versions in sorted(runs.items()))


def _with_runs(name: str, versions: dict[str, set[tuple[str, int]]]) -> str:
    if list(versions) == [UNSTATED]:
        return name
    if len(versions) < 2:
        return " ".join([name, *versions])
    return f"{name} " + " / ".join(
        f"{version} ({', '.join(_run_name(*run) for run in sorted(runs))})"
        for version, runs in sorted(versions.items(), key=lambda v: (v[0] == UNSTATED, v[0])))


def _run_name(benchmark: str, seed: int) -> str:
    """A run as the facts name it: by benchmark and seed (not folder: the text does not depend
    on paths)."""
    return f"{benchmark}{f' seed {seed}' if seed >= 0 else ''}"


def _unfinished(df: pd.DataFrame) -> list[str]:
    """One line per run that had not finished (``collect.read(..., partial=True)``), named by
    :func:`_run_name`."""
    if "unfinished" not in df:
        return []
    rows = df[df["unfinished"].astype(bool)]
    runs = dict.fromkeys(zip(rows["benchmark"], rows["seed"].map(run_seed), rows["unfinished"]))
    return [f"run {_run_name(benchmark, seed)} did not finish ({why})"
            for benchmark, seed, why in sorted(runs, key=str)]
