"""The paper's speaker splits (reference code of Becker et al.), shipped as ``splits.json``.

Digit task: 5 folds over all 60 speakers (36 train / 12 validate / 12 test).
Sex task: 4 folds over 12 female + 12 male speakers (12 / 6 / 6).
Cue task (:mod:`audioxai_bench.data.cue`): the digit task's folds, so its test speakers are
held out exactly as there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..errors import AudioXaiError
from .cue import N_CUE_CLASSES

TASKS = ("digit", "sex", "cue")
N_CLASSES = {"digit": 10, "sex": 2, "cue": N_CUE_CLASSES}
_FOLDS_OF = {"cue": "digit"}  # tasks that reuse another task's speaker splits
SEX_LABELS = ("male", "female")  # class index 0 = male, 1 = female
ALL_SPEAKERS = tuple(range(1, 61))
#: The fewest speakers (:func:`select_speakers`) that serve every split: training, validation
#: and test speakers in each split of both tasks, a female and a male one in each of the sex
#: task's. With fewer some split has none (``--speakers 4``: digit split 0 has no test speaker).
MIN_SPEAKERS = 8
#: A model is good enough to rank explanations of when its test accuracy is at least this far
#: from chance towards 100 % (digit: 55 %, sex: 75 %); below it, what a model relies on is mostly
#: noise and a ranking of its explanations would mean nothing.
ACCURACY_FLOOR = 0.5


def class_name(task: str, label: int) -> str:
    """How tables name class ``label`` of ``task``: ``female``, ``digit 3``, ``cue 1``."""
    return SEX_LABELS[label] if task == "sex" else f"{task} {label}"


def accuracy_floor(n_classes: int) -> float:
    """The lowest test accuracy whose model's explanations are ranked."""
    chance = 1.0 / n_classes
    return chance + ACCURACY_FLOOR * (1.0 - chance)


@dataclass(frozen=True)
class Split:
    """Speaker ids of one fold of one task."""

    task: str
    fold: int
    train: tuple[int, ...]
    validate: tuple[int, ...]
    test: tuple[int, ...]

    @property
    def speakers(self) -> tuple[int, ...]:
        return self.train + self.validate + self.test


@cache
def _splits() -> dict:
    text = resources.files("audioxai_bench.data").joinpath("splits.json").read_text()
    return json.loads(text)


def female_speakers() -> frozenset[int]:
    """Speaker ids that are female in the original AudioMNIST recordings."""
    return frozenset(_splits()["female_speakers"])


def n_folds(task: str) -> int:
    check_task(task)
    return len(_splits()[_FOLDS_OF.get(task, task)]["test"])


def check_task(task: str) -> None:
    if task not in TASKS:
        raise AudioXaiError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")


def speaker_split(task: str, fold: int) -> Split:
    """The train/validate/test speakers of ``fold`` for ``task``."""
    folds = n_folds(task)
    if not 0 <= fold < folds:
        raise AudioXaiError(f"fold {fold} out of range for task {task!r}: 0..{folds - 1}")
    s = _splits()[_FOLDS_OF.get(task, task)]
    return Split(task, fold, *(tuple(s[part][fold]) for part in ("train", "validate", "test")))


def select_speakers(n: int) -> list[int]:
    """Choose ``n`` speaker ids so that a reduced dataset still serves every split.

    Greedy: first one female and one male speaker for each of the sex task's four test
    groups, then always the speaker whose digit-task test group is least filled, taken from
    the least filled pool (each sex-task group and sex, and the speakers outside the sex task),
    so that reduced sets keep the original proportions. ``n = 60`` gives all speakers.
    """
    if not 1 <= n <= 60:
        raise AudioXaiError(f"--speakers must be between 1 and 60, got {n}")
    splits = _splits()
    female = female_speakers()
    digit_group = {s: g for g, grp in enumerate(splits["digit"]["test"]) for s in grp}
    pool = {s: (g, s in female) for g, grp in enumerate(splits["sex"]["test"]) for s in grp}
    pool_size: dict = {}
    for s in ALL_SPEAKERS:
        pool_size[pool.get(s)] = pool_size.get(pool.get(s), 0) + 1
    digit_count = dict.fromkeys(range(len(splits["digit"]["test"])), 0)
    pool_count = dict.fromkeys(pool_size, 0)
    chosen: list[int] = []
    for _ in range(n):
        def key(s: int) -> tuple:
            p = pool.get(s)
            empty_sex_cell = p is not None and pool_count[p] == 0
            return (not empty_sex_cell, digit_count[digit_group[s]],
                    pool_count[p] / pool_size[p], s)

        best = min((s for s in ALL_SPEAKERS if s not in chosen), key=key)
        chosen.append(best)
        digit_count[digit_group[best]] += 1
        pool_count[pool.get(best)] += 1
    return sorted(chosen)
