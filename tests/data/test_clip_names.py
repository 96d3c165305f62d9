"""Review D11: a clip's (digit, speaker, repetition) comes from one spelling of its name only, so
no two files can be the same clip; another spelling is a problem naming the file, and
``data check`` fails on it."""

from pathlib import Path

import pytest
import soundfile as sf

from audioxai_bench.cli import main
from audioxai_bench.data.check import check_dataset
from audioxai_bench.data.layout import scan_dataset
from tests.helpers import tone_clip, write_tree


def clean_tree(tmp_path: Path) -> Path:
    """Speakers 1 and 12, digits 0..2, repetitions 0..10: no problem at all."""
    return write_tree(tmp_path / "data", [1, 12], digits=range(3), reps=range(11))


def add_clip(tree: Path, relpath: str) -> None:
    path = tree / relpath
    path.parent.mkdir(exist_ok=True)
    sf.write(path, tone_clip(0, 1, 0), 48_000, subtype="PCM_16")


def test_a_repetition_with_a_leading_zero_alone_fails_data_check(tmp_path, capsys):
    tree = clean_tree(tmp_path)
    assert main(["data", "check", str(tree)]) == 0
    capsys.readouterr()
    add_clip(tree, "01/0_01_00.wav")  # the old reader took it for a second 0_01_0.wav
    assert main(["data", "check", str(tree)]) == 1
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ERROR")]
    assert errors == [f"ERROR: {tree / '01' / '0_01_00.wav'}: name is not <digit>_<NN>_<rep>.wav "
                      "(ASCII digits, rep without leading zeros); it would read as 0_01_0.wav"]


@pytest.mark.parametrize("name, reads_as", [
    ("0_01_1\u0660.wav", "0_01_10.wav"),  # ARABIC-INDIC DIGIT ZERO: int() reads it as 0
    ("\u0660_01_1.wav", "0_01_1.wav"),
    ("\uff10_01_1.wav", "0_01_1.wav"),  # FULLWIDTH DIGIT ZERO
    ("0_\u0660\u0661_1.wav", "0_01_1.wav"),
])
def test_non_ascii_digits_are_another_spelling_of_a_clip(tmp_path, name, reads_as):
    tree = clean_tree(tmp_path)
    add_clip(tree, f"01/{name}")
    report = check_dataset(tree)
    assert len(report.usable) == len(report.index.clips) == 2 * 3 * 11
    assert [(p.where, p.message.split("; ")[-1]) for p in report.fatal] == [
        (str(tree / "01" / name), f"it would read as {reads_as}")]


@pytest.mark.parametrize("folder", ["\u0660\u0661", "\uff10\uff11", "01\n", "1", "001"])
def test_a_folder_spelling_a_speaker_otherwise_is_not_that_speaker(tmp_path, folder):
    # int() reads each as 1: the old reader made every clip in it a second copy of 01's, and
    # later left the folder out without a word (a speaker's folder '7' dropped speaker 7)
    tree = clean_tree(tmp_path)
    add_clip(tree, f"{folder}/0_01_0.wav")
    (tree / "notes").mkdir()  # a folder without clips is no problem
    index = scan_dataset(tree)
    relpaths = [clip.relpath for clip in index.clips]
    assert len(relpaths) == len(set(relpaths)) == 2 * 3 * 11
    assert all(clip.path == tree / clip.relpath for clip in index.clips)
    assert [(p.where, p.fatal) for p in index.problems] == [(str(tree / folder), True)]
    assert "is not a speaker folder" in index.problems[0].message
