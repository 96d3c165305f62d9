"""Fold means, sections and rankings: the numbers every output of the leaderboard shares.

Several folds of one (task, model) are summarised by their mean (so are the bounds of the
per-fold intervals; ``n`` is summed), which is what the README says beside the tables. A cell
whose every fold failed stays in the frame with no value and its error count, so no output can
drop it silently.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd

#: A table section of the leaderboard: one model on one task of one benchmark and dataset.
SECTION_KEYS: tuple[str, ...] = ("benchmark", "dataset", "task", "model")
#: The columns that name a fold-aggregated cell (and the CSV's first columns).
KEYS: tuple[str, ...] = (*SECTION_KEYS, "explainer", "sonifier", "metric")
#: The ranking metric.
RANK_METRIC = "faithfulness-gap"
ACCURACY_METRIC = "test-accuracy"


def by_cell(df: pd.DataFrame) -> pd.DataFrame:
    """One row per :data:`KEYS` over folds: mean value and interval bounds, summed ``n``, the
    number of folds with a result (``folds``) and of failed folds (``errors``)."""
    ok = df[df["status"] == "ok"]
    groups = ok.groupby(list(KEYS), sort=False)
    values = groups.agg(value=("value", "mean"), ci_low=("ci_low", "mean"),
                        ci_high=("ci_high", "mean"), n=("n", lambda s: s.sum(min_count=1)),
                        folds=("fold", "nunique"))
    errors = df[df["status"] == "error"].groupby(list(KEYS), sort=False).size().rename("errors")
    cells = values.join(errors, how="outer")
    info = df.groupby(list(KEYS), sort=False).agg(
        representation=("representation", "first"), higher_is_better=("higher_is_better",
                                                                        "first"))
    cells = cells.join(info).reset_index()
    cells["folds"] = cells["folds"].fillna(0).astype(int)
    cells["errors"] = cells["errors"].fillna(0).astype(int)
    cells["n"] = cells["n"].astype("Int64")
    columns = [*KEYS, "representation", "higher_is_better", "value", "ci_low", "ci_high", "n",
               "folds", "errors"]
    return cells[columns].sort_values(list(KEYS), kind="stable").reset_index(drop=True)


@dataclasses.dataclass(frozen=True, eq=False)
class Section:
    """The records (all folds) and fold-aggregated cells of one section, explainers ranked."""

    benchmark: str
    dataset: str
    task: str
    model: str
    representation: str | None
    rows: pd.DataFrame
    cells: pd.DataFrame
    explainers: tuple[str, ...]

    @property
    def title(self) -> str:
        return f"{self.task} · {self.model}"

    @property
    def anchor(self) -> str:
        text = "-".join((self.benchmark, self.dataset, self.task, self.model))
        return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")

    def cell(self, explainer: str, metric: str, sonifier: str = "") -> pd.Series | None:
        """The aggregated cell, or None where the section has no record of it."""
        c = self.cells
        hit = c[(c["explainer"] == explainer) & (c["metric"] == metric)
                & (c["sonifier"] == sonifier)]
        return None if hit.empty else hit.iloc[0]

    def metric_rows(self, metric: str) -> pd.DataFrame:
        """Per-fold records of one metric, in (explainer, sonifier, fold) order."""
        rows = self.rows[self.rows["metric"] == metric]
        return rows.sort_values(["explainer", "sonifier", "fold"], kind="stable")

    def has(self, metric: str) -> bool:
        return bool((self.cells["metric"] == metric).any())

    @property
    def folds(self) -> list[int]:
        return sorted(int(f) for f in self.rows["fold"].unique())


def ranked(cells: pd.DataFrame) -> tuple[str, ...]:
    """Explainers by :data:`RANK_METRIC`, best first; unranked ones (no value) last by name."""
    names = sorted(set(cells["explainer"]) - {""})
    rank = cells[(cells["metric"] == RANK_METRIC) & (cells["sonifier"] == "")]
    score = dict(zip(rank["explainer"], rank["value"]))
    better = bool(rank["higher_is_better"].iloc[0]) if len(rank) else True

    def key(name: str) -> tuple[bool, float, str]:
        value = score.get(name, np.nan)
        missing = bool(pd.isna(value))
        return missing, 0.0 if missing else (-value if better else value), name

    return tuple(sorted(names, key=key))


def sections(df: pd.DataFrame, cells: pd.DataFrame | None = None) -> list[Section]:
    """Every section in (benchmark, dataset, task, model) order."""
    cells = by_cell(df) if cells is None else cells
    out = []
    for key, rows in df.groupby(list(SECTION_KEYS), sort=True):
        mine = cells[(cells[list(SECTION_KEYS)] == pd.Series(key, index=SECTION_KEYS)).all(
            axis=1)]
        reps = sorted({r for r in rows["representation"] if isinstance(r, str)})
        out.append(Section(*key, representation=reps[0] if len(reps) == 1 else None,
                           rows=rows.reset_index(drop=True), cells=mine.reset_index(drop=True),
                           explainers=ranked(mine)))
    return out
