"""benchmarks/compare_runs.py, issue #12's count of cells two runs disagree on: a GPU session
reports it, so it must see any difference but wall-clock time."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.helpers import record

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "compare_runs.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("compare_runs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def results(folder: Path, *records: dict) -> Path:
    folder.mkdir()
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def cells(gap: float = 0.3, runtime: float = 2.0, wall: float = 1.5) -> list[dict]:
    return [record("audionet", "faithfulness-gap", gap, explainer="gradient", wall_seconds=wall),
            record("audionet", "runtime", runtime, explainer="gradient")]


def test_runs_that_differ_only_in_time_agree(compare, tmp_path, capsys):
    first = results(tmp_path / "a", *cells())
    second = results(tmp_path / "b", *cells(runtime=9.0, wall=7.0))
    assert compare([str(first), str(second)]) == 0
    assert capsys.readouterr().out.startswith("0 of 2 cells differ")


def test_a_changed_value_or_a_missing_cell_is_counted(compare, tmp_path, capsys):
    first = results(tmp_path / "a", *cells())
    second = results(tmp_path / "b", *cells(gap=0.25))
    third = results(tmp_path / "c", cells()[0])
    assert compare([str(first), str(second)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("1 of 2 cells differ (largest value difference 0.05)")
    assert "faithfulness-gap" in out
    assert compare([str(first), str(third)]) == 1
    assert "1 cells in one run only" in capsys.readouterr().out


def test_values_leaves_out_the_hashes_that_follow_the_code(compare, tmp_path, capsys):
    """Runs of two versions of the code: the model key holds the code's digest, so the model
    key and config hash of every cell differ while its value may agree."""
    first = results(tmp_path / "a", *cells())
    rehashed = {"config_hash": "def456", "model_key": "k2"}
    same = results(tmp_path / "b", *(c | rehashed for c in cells()))
    other = results(tmp_path / "c", *(c | rehashed for c in cells(gap=0.25)))
    assert compare([str(first), str(same)]) == 1  # the hashes count by default
    assert capsys.readouterr().out.startswith("1 of 2 cells differ")
    assert compare(["--values", str(first), str(same)]) == 0
    assert compare(["--values", str(first), str(other)]) == 1  # a value still counts
    assert "1 of 2 cells differ (largest value difference 0.05)" in capsys.readouterr().out
