"""The result store: whole records only, torn lines repaired, newest record of a cell wins."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from audioxai_bench.errors import AudioXaiError
from audioxai_bench.run import records
from audioxai_bench.run.records import (
    CELL_FIELDS,
    ResultStore,
    config_hash,
    environment,
    git_revision,
    latest,
    load_results,
    read_records,
)


def record(metric: str = "aopc", explainer: str | None = "gradient", value: float = 0.5,
           status: str = "ok", **extra) -> dict:
    r = {"benchmark": "b", "dataset": "d", "task": "digit", "model": "audionet", "fold": 0,
         "explainer": explainer, "sonifier": None, "metric": metric, "status": status,
         "config_hash": "c1", "value": value, "n": 10,
         "ci": [None, None] if value is None else [value - 0.1, value + 0.1]}
    if status == "error":
        r["error"] = "RuntimeError: boom"
    return r | extra


def test_append_and_read_back_in_order(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.append(record("aopc"))
    store.append(record("gini", value=0.9))
    got = store.records()
    assert [r["metric"] for r in got] == ["aopc", "gini"]
    assert got[1]["value"] == 0.9
    assert store.finished() == {("b", "d", "digit", "audionet", 0, "gradient", None, "aopc", "c1"),
                                ("b", "d", "digit", "audionet", 0, "gradient", None, "gini", "c1")}


def test_a_cell_recomputed_with_other_settings_is_no_longer_done_with_the_first(tmp_path):
    """Settings A, then B (--resume computes the cell again: its newest record is B's), then A
    again: A's older record is superseded, so the cell is computed again, not skipped while
    readers keep showing B's value."""
    store = ResultStore(tmp_path / "results.jsonl")
    store.append(record("aopc", value=0.7))
    store.append(record("aopc", value=0.2, config_hash="c2"))
    assert store.finished() == {("b", "d", "digit", "audionet", 0, "gradient", None, "aopc", "c2")}
    store.append(record("aopc", status="error", value=None))  # A's retry failed
    assert store.finished() == set()


def test_a_torn_last_line_is_cut_off_and_appending_goes_on(tmp_path):
    path = tmp_path / "results.jsonl"
    store = ResultStore(path)
    store.append(record("aopc"))
    with open(path, "ab") as fh:  # a run killed in the middle of a write
        fh.write(b'{"benchmark": "b", "dat')
    assert [r["metric"] for r in read_records([path])] == ["aopc"]  # readers skip it
    reopened = ResultStore(path)
    assert reopened.repaired_bytes == len(b'{"benchmark": "b", "dat')
    reopened.append(record("gini"))
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)


def test_error_records_are_not_finished_and_the_newest_record_wins(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.append(record("aopc", status="error", value=None))
    assert store.finished() == set()
    store.append(record("aopc", value=0.7))
    newest = latest(store.records())
    assert len(newest) == 1 and newest[0]["value"] == 0.7
    df = load_results(tmp_path)
    assert len(df) == 1 and df.loc[0, "status"] == "ok"
    assert len(load_results(tmp_path, all_records=True)) == 2


def test_dataframe_has_cell_columns_and_the_interval(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.append(record("aopc", value=0.5))
    store.append(record("aopc", explainer="random", value=0.1))
    df = load_results(tmp_path / "results.jsonl")
    assert set(CELL_FIELDS) <= set(df.columns)
    row = df.set_index("explainer").loc["random"]
    assert row.value == 0.1 and row.ci_low == pytest.approx(0.0) and row.ci_high == 0.2
    assert row.record["n"] == 10


@pytest.mark.parametrize("bad, message", [
    (record() | {"status": "done"}, "field 'status' must be one of"),
    ({k: v for k, v in record().items() if k != "metric"}, "field 'metric' is missing"),
    (record(status="error") | {"error": ""}, "needs field 'error'"),
])
def test_invalid_records_are_refused(tmp_path, bad, message):
    with pytest.raises(AudioXaiError, match=message):
        ResultStore(tmp_path / "results.jsonl").append(bad)


def test_a_broken_line_names_file_and_line(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(record()) + "\n" + "not json\n")
    with pytest.raises(AudioXaiError, match=r"results\.jsonl:2: not a JSON record"):
        list(read_records([path]))
    with pytest.raises(AudioXaiError, match="no results here"):
        load_results(tmp_path / "missing")


def test_config_hash_is_stable_and_order_free():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_environment_names_the_packages():
    env = environment()
    assert env["versions"]["torch"] and env["versions"]["audioxai-bench"]
    assert env["python"].count(".") == 2


def test_a_nondeterministic_explainers_note_is_a_record_field(tmp_path):
    from audioxai_bench.guard import explainer_notes

    class Noisy:
        deterministic = False

    store = ResultStore(tmp_path / "results.jsonl")
    store.append(record(**explainer_notes(Noisy())))
    assert store.records()[0]["deterministic"] is False


def test_a_record_of_a_newer_schema_is_refused_in_one_line(tmp_path):
    """Minor 1: "schema": 2 was read as version 1."""
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(record() | {"schema": 2}) + "\n")
    with pytest.raises(AudioXaiError) as refused:
        list(read_records([path]))
    assert str(refused.value) == (
        f"{path}:1: written by a newer version of audioxai-bench (record schema 2; this one "
        "reads up to 1): upgrade audioxai-bench to read it")


def strict(text: str) -> dict:
    """``text`` as a strict JSON reader (not Python's) takes it: NaN and Infinity refused."""
    def refuse(token: str):
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_records_hold_null_where_a_number_is_not_finite_and_old_nans_still_read(tmp_path):
    """Minor 2: a clip without a score was written as a bare NaN token."""
    path = tmp_path / "results.jsonl"
    nan = float("nan")
    store = ResultStore(path)
    store.append(record(value=0.5, clips=["a", "b"], speakers=[1, 2], scores=[0.5, nan],
                        curves={"x": [nan, float("inf")]}, grid=[0.0, 1.0],
                        extras={"e": {"value": nan, "ci": [nan, nan]}}))
    line = strict(path.read_text())
    assert line["scores"] == [0.5, None] and line["curves"] == {"x": [None, None]}
    assert line["extras"] == {"e": {"value": None, "ci": [None, None]}}
    assert store.records()[0]["scores"] == [0.5, None]
    with open(path, "a") as fh:  # as older versions wrote it
        fh.write(json.dumps(record("gini", clips=["a"], speakers=[1], scores=[nan])) + "\n")
    old = store.records()[1]["scores"]
    assert len(old) == 1 and old[0] != old[0]


def _git(cwd, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_revision_is_the_suites_checkout_not_a_project_around_its_install(tmp_path,
                                                                              monkeypatch):
    """A virtual environment inside the user's git project gave that project's HEAD."""

    def revision_of(package):  # as if records.py were in package/run/
        monkeypatch.setattr(records, "__file__", str(package / "run" / "records.py"))
        return git_revision()

    project = tmp_path / "project"
    installed = project / ".venv" / "lib" / "site-packages" / "audioxai_bench"
    (installed / "run").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "my-study"\n')
    _git(project, "init", "-q")
    _git(project, "add", "pyproject.toml")
    _git(project, "commit", "-q", "-m", "user's project")
    assert revision_of(installed) is None
    (project / "audioxai_bench" / "run").mkdir(parents=True)
    assert revision_of(project / "audioxai_bench") is None  # not the suite's pyproject.toml

    suite = tmp_path / "suite"
    (suite / "audioxai_bench" / "run").mkdir(parents=True)
    (suite / "audioxai_bench" / "__init__.py").write_text("")
    (suite / "pyproject.toml").write_text('[project]\nname = "audioxai-bench"\n')
    _git(suite, "init", "-q")
    _git(suite, "add", ".")
    _git(suite, "commit", "-q", "-m", "the suite")
    head = _git(suite, "rev-parse", "HEAD")
    assert revision_of(suite / "audioxai_bench") == head
    (suite / "audioxai_bench" / "__init__.py").write_text("x = 1\n")
    assert revision_of(suite / "audioxai_bench") == head + "+dirty"
