"""`--help` says what a user needs: every option of run, leaderboard and plugins, exit statuses,
files and environment variables; a command without its action prints that command's help."""

from __future__ import annotations

import argparse

import pytest

from audioxai_bench.cli import build_parser, main


def subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("command", ["run", "leaderboard", "plugins"])
def test_every_option_has_help(command):
    missing = [a.dest for a in subparser(command)._actions if not a.help]
    assert not missing


def test_run_help_names_exit_statuses_files_and_environment():
    text = subparser("run").format_help()
    for needle in ("1    some cells failed", "130  interrupted", "--overwrite",
                   "AUDIOXAI_BENCH_CACHE", "AUDIOXAI_BENCH_PLUGINS",
                   "AUDIOXAI_BENCH_BLOCK_PLUGINS", "--plugin PATH"):
        assert needle in text


def test_run_help_names_every_shipped_benchmark():
    from audioxai_bench.run.definition import SHIPPED

    text = " ".join(subparser("run").format_help().split())
    assert all(name in text for name in SHIPPED)


@pytest.mark.parametrize("argv, usage", [([], "usage: audioxai-bench [-h]"),
                                         (["data"], "usage: audioxai-bench data [-h]")])
def test_no_command_prints_its_help_to_stderr(capsys, argv, usage):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(usage)


def test_train_usage_shows_the_models_and_tasks():
    from audioxai_bench.data.splits import TASKS
    from audioxai_bench.models import MODEL_NAMES

    usage = " ".join(subparser("train").format_usage().split())
    assert f"--model {{{','.join(MODEL_NAMES)}}}" in usage  # the parser does not import torch
    assert f"--task {{{','.join(TASKS)}}}" in usage


def test_a_dataset_root_is_described_by_what_it_holds():
    """'(its data/ folder)' misled: a synthetic tree has no data/ folder; the root is the
    folder of speaker folders (data/layout.py)."""
    data = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    check = next(a for a in data.choices["data"]._actions
                 if isinstance(a, argparse._SubParsersAction)).choices["check"]
    texts = [check.format_help(), subparser("run").format_help()]
    for text in texts:
        text = " ".join(text.split())
        assert "speaker folders 01..60" in text and "its data/ folder" not in text


def data_subparser(name: str) -> argparse.ArgumentParser:
    return next(a for a in subparser("data")._actions
                if isinstance(a, argparse._SubParsersAction)).choices[name]


@pytest.mark.parametrize("action", ["check", "cue"])
def test_data_actions_offer_every_resampler_with_the_runs_default(action):
    from audioxai_bench.data.clipfile import DEFAULT_RESAMPLER, RESAMPLERS

    text = " ".join(data_subparser(action).format_help().split())
    assert f"--resampler {{{','.join(RESAMPLERS)}}}" in text
    assert f"(default {DEFAULT_RESAMPLER})" in text
