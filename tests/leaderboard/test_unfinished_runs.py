"""F2: a leaderboard of a run that has not finished (interrupted, resumed and interrupted, still
running) is refused, naming the folder; ``--partial`` builds it and says it is partial.

Before, the partial results were presented as complete ("Cells: 20 ok, 0 failed", exit 0) and
the missing folds and explainers were silently absent."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

import pytest

from audioxai_bench.cli import main
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.leaderboard import build_leaderboard, collect
from audioxai_bench.run.records import LOCK_FILE, ResultStore, folder_lock
from tests.helpers import fake_run, record


def interrupted(root: Path) -> Path:
    """A run killed before its end: records, no run.json."""
    store = ResultStore(root / "results.jsonl")
    store.append(record("audionet", "test-accuracy", 0.9, n=200))
    store.append(record("audionet", "faithfulness-gap", 0.3, explainer="gradient"))
    return root


def test_an_interrupted_run_is_refused_naming_its_folder(tmp_path, capsys):
    run = interrupted(tmp_path / "run")
    assert main(["leaderboard", str(run), "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {run}: the run has not finished: no run.json: the run was "
                          "interrupted")
    assert "--resume" in err and "--partial" in err
    assert not (tmp_path / "board").exists()


def test_partial_builds_a_leaderboard_that_says_it_is_partial(tmp_path):
    run = interrupted(tmp_path / "run")
    build_leaderboard([run], tmp_path / "board", quiet=True, partial=True)
    readme = (tmp_path / "board" / "README.md").read_text()
    cells = next(line for line in readme.splitlines() if line.startswith("- **Cells:** "))
    assert cells.startswith("- **Cells:** 2 ok, 0 failed; ")
    assert cells.endswith("; partial: cells of unfinished runs are missing")
    assert ("- **Partial:** run quickstart seed 0 did not finish (no run.json: the run was "
            "interrupted or is still running)") in readme
    assert "did not finish" in (tmp_path / "board" / "index.html").read_text()
    project = tmp_path / "README.md"
    project.write_text("<!-- results quickstart -->\n<!-- /results -->\n")
    with pytest.raises(AudioXaiError, match="not filled from runs that have not finished"):
        build_leaderboard([run], tmp_path / "board", quiet=True, partial=True,
                          project_readme=project)


def test_a_finished_run_says_nothing_of_partial(tmp_path):
    build_leaderboard([fake_run(tmp_path / "run", media=False)], tmp_path / "board", quiet=True)
    readme = (tmp_path / "board" / "README.md").read_text()
    # (captions speak of partial correlations)
    assert "- **Partial:**" not in readme and "partial: cells of unfinished" not in readme


def test_a_run_still_writing_is_refused(tmp_path):
    run = fake_run(tmp_path / "run", media=False)
    still = r"a run is still writing it \(pid"
    with folder_lock(run), pytest.raises(AudioXaiError, match=still) as e:
        collect.read([run])
    assert "wait for it to finish" in str(e.value) and "--resume" not in str(e.value)
    collect.read([run])  # released: finished


def test_a_leaderboards_probe_of_the_lock_does_not_refuse_a_run_starting(tmp_path):
    """The probe holds a shared lock for a moment: a run taking the folder then waits for it
    instead of failing as "being written by another run" (review)."""
    run = fake_run(tmp_path / "run", media=False)
    fd = os.open(run / LOCK_FILE, os.O_RDONLY | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    threading.Timer(0.2, os.close, [fd]).start()  # the probe lets go
    with folder_lock(run):
        pass


def test_a_real_run_is_accepted_and_refused_once_a_resume_appends_without_finishing(tree,
                                                                                   tmp_path):
    from audioxai_bench.plugins import load_plugins
    from audioxai_bench.run.definition import parse_benchmark
    from audioxai_bench.run.runner import run_benchmark
    from tests.test_guard import definition

    out = tmp_path / "out"
    run_benchmark(parse_benchmark(definition(tree, explainers=["random"], metrics=["gini"])),
                  out, quiet=True, plugins=load_plugins(entrypoints=False), log=lambda _: None)
    assert json.loads((out / "run.json").read_text())["results_bytes"] == (
        out / "results.jsonl").stat().st_size
    assert set(collect.read([out])["unfinished"]) == {""}
    ResultStore(out / "results.jsonl").append(record("audionet", "gini", 0.5,
                                                     explainer="gradient"))
    with pytest.raises(AudioXaiError, match=r"the run has not finished: results.jsonl has \d+ "
                                            r"bytes, run.json says the run ended with \d+"):
        collect.read([out])


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    from tests.helpers import write_tree

    return write_tree(tmp_path_factory.mktemp("tree") / "data", [1, 2, 4, 11, 5, 13],
                      reps=range(1))


def test_partial_says_so_for_records_that_state_no_seed(tmp_path):
    """Grouping by seed dropped records without one: the board then said nothing of being
    partial (review)."""
    root = tmp_path / "run"
    store = ResultStore(root / "results.jsonl")
    store.append(record("audionet", "test-accuracy", 0.9, n=200, seed=None))
    store.append(record("audionet", "faithfulness-gap", 0.3, explainer="gradient", seed=None))
    build_leaderboard([root], tmp_path / "board", quiet=True, partial=True)
    readme = (tmp_path / "board" / "README.md").read_text()
    assert "- **Partial:** run quickstart did not finish (no run.json" in readme


def _before_results_bytes(root: Path, reported: int, written: int) -> Path:
    """A run folder as runs wrote it before ``results_bytes``: a run.json whose report counts
    ``reported`` records, and ``written`` records in results.jsonl."""
    store = ResultStore(root / "results.jsonl")
    for fold in range(written):
        store.append(record("audionet", "test-accuracy", 0.9, n=200, fold=fold))
    (root / "run.json").write_text(json.dumps({"benchmark": {}, "report": {"records": reported}}))
    return root


def test_a_run_json_before_results_bytes_is_finished_where_it_counts_every_record(tmp_path):
    """The committed results' run.json files predate ``results_bytes``: a run that wrote every
    record of its folder finished."""
    run = _before_results_bytes(tmp_path / "run", reported=2, written=2)
    assert set(collect.read([run])["unfinished"]) == {""}


def test_a_resume_into_a_folder_before_results_bytes_is_not_taken_as_finished(tmp_path, capsys):
    """Such a run.json was taken as finished whatever came after it: a --resume that appended
    a record and was interrupted gave a complete-looking leaderboard with exit status 0."""
    run = _before_results_bytes(tmp_path / "run", reported=2, written=3)
    assert main(["leaderboard", str(run), "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {run}: the run has not finished: run.json predates "
                          "results_bytes and reports 2 records, results.jsonl holds 3: a later "
                          "--resume may have been interrupted")
    assert "--resume" in err and "--partial" in err


def test_a_torn_record_after_a_run_json_before_results_bytes_is_not_finished(tmp_path):
    run = _before_results_bytes(tmp_path / "run", reported=2, written=2)
    with open(run / "results.jsonl", "ab") as fh:
        fh.write(b'{"benchmark": "quick')  # a resume killed while writing its first record
    with pytest.raises(AudioXaiError, match="reports 2 records, results.jsonl holds 3"):
        collect.read([run])


def test_a_run_json_stating_neither_results_bytes_nor_its_records_is_not_finished(tmp_path):
    run = _before_results_bytes(tmp_path / "run", reported=2, written=2)
    (run / "run.json").write_text(json.dumps({"benchmark": {}}))
    with pytest.raises(AudioXaiError, match="run.json states neither results_bytes nor "
                                            "report.records"):
        collect.read([run])
