"""Record rows for the aggregation tests: 2 folds × 6 speakers × 2 clips, 12 (fold, speaker)
units, as :func:`audioxai_bench.leaderboard.collect.read` gives them."""

from __future__ import annotations

from typing import Any

import numpy as np

SPEAKERS = [s for s in range(6) for _ in range(2)]


def _row(**fields: Any) -> dict:
    rec = {"benchmark": "b", "dataset": "d", "task": "digit", "model": "m", "explainer": "",
           "sonifier": "", "seed": 0, "status": "ok", "ci_low": np.nan, "ci_high": np.nan,
           "n": 12, "representation": "waveform", "higher_is_better": True} | fields
    return rec | {"record": rec}


def score_rows(scores: dict[str, np.ndarray], *, metric: str, versus: str | None,
               speakers: list[int] = SPEAKERS, **fields: Any) -> list[dict]:
    """One row per explainer and fold holding its per-clip ``scores`` of that fold, one clip
    per entry of ``speakers`` (12 clips of 6 speakers unless told)."""
    rows, n = [], len(speakers)
    for explainer, values in scores.items():
        for fold in (0, 1):
            part = [float(v) for v in values[n * fold: n * fold + n]]
            rows.append(_row(explainer=explainer, metric=metric, fold=fold,
                             value=float(np.mean(part)), scores=part,
                             clips=[f"c{i}" for i in range(n)], speakers=speakers,
                             **({"versus": versus} if versus else {}), **fields))
    return rows


def weak_model_rows() -> list[dict]:
    """Test accuracy of the two folds' models, fold 1's at chance on ten digits: below the
    accuracy floor."""
    return [_row(metric="test-accuracy", fold=fold, value=value)
            for fold, value in ((0, 0.95), (1, 0.10))]
