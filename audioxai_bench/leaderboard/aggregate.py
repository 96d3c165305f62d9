"""Fold means, sections and rankings: the numbers every output of the leaderboard shares.

Several folds of one (task, model) are summarised by their mean (so are the bounds of the
per-fold intervals; ``n`` is summed), which is what the README says beside the tables. A cell
whose every fold failed stays in the frame with no value and its error count, so no output can
drop it silently.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

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
    #: explainer -> its rank as text ("2", "1–3" where it shares ranks; see :func:`shared_ranks`)
    ranks: dict[str, str]

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


#: How the page and README say when two explainers count as tied; it describes
#: :func:`shared_ranks` and changes with it.
TIE_RULE = ("Ties: two explainers are not distinguishable when their 95 % intervals of the "
            "faithfulness gap overlap. A rank such as 1–3 is shared: it runs from 1 + the number "
            "of explainers better than this one with no overlap to the number not worse than it "
            "with no overlap (itself included). An explainer without an interval shares every "
            "rank.")


def shared_ranks(cells: pd.DataFrame, explainers: Sequence[str]) -> dict[str, str]:
    """Each explainer's rank by :data:`RANK_METRIC` as text, shared where the data cannot order
    explainers: two are *not distinguishable* when their 95 % intervals overlap (touching
    counts), or when either has no interval. An explainer's rank runs from 1 + the number of
    explainers distinguishably better to the number not distinguishably worse (itself
    included). Without a value the rank is "–".

    ``explainers`` is the order of :func:`ranked`. The one place that decides ties: a paired
    test can replace the rule here (and :data:`TIE_RULE` with it).
    """
    rank = cells[(cells["metric"] == RANK_METRIC) & (cells["sonifier"] == "")]
    rows = {e: r for e, r in zip(rank["explainer"], rank.itertuples())}
    better = bool(rank["higher_is_better"].iloc[0]) if len(rank) else True
    valued = [e for e in explainers if e in rows and not pd.isna(rows[e].value)]

    def interval(name: str) -> tuple[float, float] | None:
        low, high = rows[name].ci_low, rows[name].ci_high
        return None if pd.isna(low) or pd.isna(high) else (float(low), float(high))

    def ahead(a: str, b: str) -> bool:
        """``a`` is distinguishably better than ``b``."""
        ia, ib = interval(a), interval(b)
        if ia is None or ib is None:
            return False
        return ia[0] > ib[1] if better else ia[1] < ib[0]

    out = {}
    for name in valued:
        best = 1 + sum(ahead(o, name) for o in valued if o != name)
        worst = len(valued) - sum(ahead(name, o) for o in valued if o != name)
        out[name] = str(best) if best == worst else f"{best}–{worst}"
    return {e: out.get(e, "–") for e in explainers}


def sections(df: pd.DataFrame, cells: pd.DataFrame | None = None) -> list[Section]:
    """Every section in (benchmark, dataset, task, model) order."""
    cells = by_cell(df) if cells is None else cells
    out = []
    for key, rows in df.groupby(list(SECTION_KEYS), sort=True):
        mine = cells[(cells[list(SECTION_KEYS)] == pd.Series(key, index=SECTION_KEYS)).all(
            axis=1)]
        reps = sorted({r for r in rows["representation"] if isinstance(r, str)})
        order = ranked(mine)
        out.append(Section(*key, representation=reps[0] if len(reps) == 1 else None,
                           rows=rows.reset_index(drop=True), cells=mine.reset_index(drop=True),
                           explainers=order, ranks=shared_ranks(mine, order)))
    return out
