import pytest

from audioxai_bench.data.splits import (
    MIN_SPEAKERS,
    female_speakers,
    n_folds,
    select_speakers,
    speaker_split,
)
from audioxai_bench.errors import AudioXaiError


def test_paper_female_speakers():
    assert sorted(female_speakers()) == [12, 26, 28, 36, 43, 47, 52, 56, 57, 58, 59, 60]


@pytest.mark.parametrize("task,sizes,folds", [("digit", (36, 12, 12), 5), ("sex", (12, 6, 6), 4)])
def test_splits_are_disjoint_and_each_group_tested_once(task, sizes, folds):
    assert n_folds(task) == folds
    tested = []
    for k in range(folds):
        s = speaker_split(task, k)
        assert (len(s.train), len(s.validate), len(s.test)) == sizes
        assert not set(s.train) & set(s.validate) | set(s.train) & set(s.test)
        assert not set(s.validate) & set(s.test)
        tested += s.test
    assert len(tested) == len(set(tested)) == folds * sizes[2]


def test_sex_splits_balance_sexes():
    for k in range(4):
        s = speaker_split("sex", k)
        assert len(set(s.test) & female_speakers()) == 3
        assert len(set(s.train) & female_speakers()) == 6


def test_bad_task_and_fold_name_the_valid_values():
    with pytest.raises(AudioXaiError, match="digit, sex"):
        speaker_split("age", 0)
    with pytest.raises(AudioXaiError, match="0..3"):
        speaker_split("sex", 4)


def _serves_every_split(chosen: set[int]) -> bool:
    """Training, validation and test speakers in every split of both tasks, both sexes in each
    of the sex task's."""
    for task in ("digit", "sex"):
        for k in range(n_folds(task)):
            split = speaker_split(task, k)
            for part in (split.train, split.validate, split.test):
                have = chosen & set(part)
                if not have or task == "sex" and not (have & female_speakers()
                                                      and have - female_speakers()):
                    return False
    return True


def test_reduced_speaker_sets_serve_every_split_from_the_documented_minimum():
    """README and `data synth --help` said any smaller set serves every split; --speakers 4
    has no test speaker for digit split 0."""
    for n in range(MIN_SPEAKERS, 61):
        chosen = set(select_speakers(n))
        assert len(chosen) == n and _serves_every_split(chosen), n
    assert not _serves_every_split(set(select_speakers(MIN_SPEAKERS - 1)))
    assert select_speakers(60) == list(range(1, 61))
