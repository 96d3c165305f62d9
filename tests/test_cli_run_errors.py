"""`audioxai-bench run` refuses conflicting or misspelt arguments in one line that says what
was meant, before any work."""

from __future__ import annotations

from audioxai_bench.cli import main


def test_a_misspelt_shipped_benchmark_is_suggested(tmp_path, capsys):
    assert main(["run", "quikstart", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.endswith(" (did you mean 'quickstart'?)\n")
    assert not (tmp_path / "out").exists()


def test_workers_with_another_executor_names_the_conflict(tmp_path, capsys):
    assert main(["run", "--workers", "1", "--executor", "local",
                 "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == ("error: --workers 1 sizes the processes executor's pool "
                                       "and conflicts with --executor local: drop one\n")
