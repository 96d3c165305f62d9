"""The results folder: --resume works before the first record (R2), earlier results are never
destroyed (R4), and one run writes a folder at a time (R5)."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import time

import numpy as np
import pytest
import yaml

import audioxai_bench.run.artifacts as artifacts
import audioxai_bench.run.runner as runner
from audioxai_bench.atomic import temp_name
from audioxai_bench.cli import main
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.run.folder import examples_file, read_examples, relevance_maps
from audioxai_bench.run.records import ResultStore, folder_lock, keep_aside, read_records
from tests.run.helpers import N_CELLS, definition, exited_pid, run, start_lock_holder


def test_resume_after_ctrl_c_in_training_starts_the_run(spec, cache, tmp_path, monkeypatch,
                                                        capsys):
    """R2: Ctrl-C before the first record, then the command the message suggests."""
    out = tmp_path / "out"

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(artifacts, "train", ctrl_c)
    assert main(["--quiet", "run", str(spec), "--out", str(out)]) == 130
    suggested = capsys.readouterr().err.strip().splitlines()[-1]
    assert suggested.endswith(f"'audioxai-bench run {spec} --out {out} --resume'")
    assert not (out / "results.jsonl").exists()
    monkeypatch.undo()
    pid = exited_pid()
    stale = out / temp_name(out / "run.json").replace(f"-{os.getpid()}-", f"-{pid}-")
    stale.write_text("{")  # as left by a run killed while writing run.json
    assert main(["--quiet", "run", str(spec), "--out", str(out), "--resume"]) == 0
    assert not stale.exists()
    assert f"no results in {out} yet: the run starts from the beginning" in \
        capsys.readouterr().err
    assert len(list(read_records([out]))) == N_CELLS


def test_sigterm_stops_a_run_as_ctrl_c_does_and_says_how_to_continue(spec, cache, tmp_path,
                                                                    monkeypatch, capsys):
    """Probe: SIGTERM (a scheduler's stop) ended the run with 143 and not a word."""
    out = tmp_path / "out"

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this returns
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr(artifacts, "train", terminated)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["--quiet", "run", str(spec), "--out", str(out)]) == 143
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        f"'audioxai-bench run {spec} --out {out} --resume'")
    assert signal.getsignal(signal.SIGTERM) is before  # restored for the rest of the process


def test_a_store_without_a_file_has_nothing_finished(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    assert store.records() == [] and store.finished() == set()


def test_a_folder_with_results_is_refused_before_any_work_or_kept_aside(tree, cache, tmp_path,
                                                                         monkeypatch):
    """R4: without --resume or --overwrite the run refuses and touches nothing; --overwrite
    keeps every earlier run's files under new names."""
    out = tmp_path / "out"
    run(tree, out)
    first = (out / "results.jsonl").read_bytes()
    first_run = (out / "run.json").read_bytes()

    def no_work(*args, **kwargs):
        raise AssertionError("data were loaded before the refusal")

    with monkeypatch.context() as mp:
        mp.setattr(runner, "load_audiomnist", no_work)
        with pytest.raises(AudioXaiError) as refused:
            run(tree, out)
        with pytest.raises(AudioXaiError, match="exclude each other"):
            run(tree, out, resume=True, overwrite=True)
    assert str(refused.value) == (
        f"{out} holds the results of an earlier run; continue it with --resume, write to "
        "another --out, or start over with --overwrite (the earlier results are kept aside)")
    assert (out / "results.jsonl").read_bytes() == first

    logged = []
    run(tree, out, overwrite=True, changes={"samples": 2}, log=logged.append)
    second = (out / "results.jsonl").read_bytes()
    run(tree, out, overwrite=True, changes={"samples": 3})
    kept = sorted(out.glob("results.previous-*.jsonl"))
    assert len(kept) == 2 and {p.read_bytes() for p in kept} == {first, second}
    assert [p.read_bytes() for p in out.glob("run.previous-*.json")].count(first_run) == 1
    assert {r["n"] for r in read_records([out]) if r["metric"] == "gini"} == {3}
    assert any(line.startswith("kept the earlier run's results.jsonl as ") for line in logged)


def test_overwrite_keeps_the_examples_aside_and_resume_adds_to_them(tree, cache, tmp_path):
    """Probe F7: --overwrite left the earlier run's pictures and sounds on the new run's page;
    --resume with other explainers dropped the earlier explainers' pictures."""
    out = tmp_path / "out"
    run(tree, out, changes={"explainers": ["gradient"], "examples": 1})
    stem = "digit-audionet-fold0"
    assert set(relevance_maps(read_examples(examples_file(out, stem)))) == {"gradient"}
    run(tree, out, resume=True, changes={"explainers": ["random"], "examples": 1})
    assert set(relevance_maps(read_examples(examples_file(out, stem)))) == {"gradient",
                                                                              "random"}
    assert {p.name for p in (out / "audio" / stem).iterdir()} == {"gradient", "random"}

    run(tree, out, overwrite=True, changes={"explainers": ["random"], "examples": 0})
    assert not (out / "examples").exists() and not (out / "audio").exists()
    [examples] = out.glob("examples.previous-*")
    [audio] = out.glob("audio.previous-*")
    assert (examples / f"{stem}.npz").exists() and (audio / stem / "gradient").is_dir()


def test_examples_that_cannot_be_written_are_recorded_and_the_earlier_ones_kept(
        tree, cache, tmp_path, monkeypatch):
    """Probe 5 #6: a full disk while writing the pictures stopped the whole run after every
    cell was scored (an error naming no file, no run.json) and left a cut-off .npz that the
    leaderboard then refused; a file in the way of examples/ stopped it too."""
    out = tmp_path / "out"
    run(tree, out, changes={"explainers": ["gradient"], "examples": 1})
    path = examples_file(out, "digit-audionet-fold0")
    before = path.read_bytes()

    def half_then_full(file, **arrays):  # the disk fills halfway through the rewrite
        file.write(before[: len(before) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", half_then_full)
    logged: list[str] = []
    report = run(tree, out, resume=True, log=logged.append,
                 changes={"explainers": ["gradient", "random"], "examples": 1})
    monkeypatch.undo()
    assert report.failed == 0
    assert path.read_bytes() == before and list(path.parent.iterdir()) == [path]
    failure = (f"could not write the examples of digit-audionet-fold0: WriteError: {path}: "
               "could not write (No space left on device")
    assert [line for line in logged if line.startswith(failure)]
    done = json.loads((out / "run.json").read_text())
    assert [f for f in done["example_failures"] if f.startswith(failure)]
    assert {r["explainer"] for r in read_records([out]) if r["metric"] == "gini"} == {
        "gradient", "random"}

    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "examples").write_text("")  # a file where the folder goes
    report = run(tree, blocked, changes={"explainers": ["gradient"], "examples": 1})
    assert report.failed == 0 and (blocked / "run.json").exists()
    [failure] = json.loads((blocked / "run.json").read_text())["example_failures"]
    assert failure.startswith("could not write the examples of digit-audionet-fold0: "
                              f"WriteError: {blocked / 'examples' / path.name}: could not write")


def test_keep_aside_never_overwrites(tmp_path):
    kept = []
    for text in ("one", "two", "three"):
        (tmp_path / "results.jsonl").write_text(text)
        kept.append(keep_aside(tmp_path / "results.jsonl"))
    assert len(set(kept)) == 3 and [p.read_text() for p in kept] == ["one", "two", "three"]
    assert all(p.name.startswith("results.previous-") and p.suffix == ".jsonl" for p in kept)
    assert not (tmp_path / "results.jsonl").exists()


def test_a_second_writer_is_refused_at_once_naming_the_first(spec, cache, tmp_path,
                                                             monkeypatch, capsys):
    """R5: while another process holds the folder, a run fails in one line, before any work;
    when that process dies (even by SIGKILL) the folder is free again."""
    out = tmp_path / "out"
    out.mkdir()
    first = start_lock_holder(out)  # the first writer: holds the lock until killed
    try:
        monkeypatch.setattr(runner, "load_audiomnist", lambda *a, **k: 1 / 0)
        assert main(["--quiet", "run", str(spec), "--out", str(out)]) == 2
        assert capsys.readouterr().err.strip() == (
            f"error: {out} is being written by another run (pid {first.pid} on host "
            f"{socket.gethostname()}); wait for it or use another --out")
        assert not (out / "results.jsonl").exists()
    finally:
        first.kill()  # SIGKILL
        first.join()
    assert first.exitcode == -signal.SIGKILL
    with folder_lock(out) as lock:  # released by the kernel with the killed process
        assert lock.read_text().startswith(f'{{"pid": {os.getpid()},')


def test_a_missing_data_path_fails_naming_file_and_key_before_the_folder_is_made(tree, tmp_path,
                                                                                  capsys):
    """One line naming the definition, the key and the path (relative to the definition's
    folder); no --out folder or lock file is left behind."""
    spec = tmp_path / "defs" / "bench.yaml"
    spec.parent.mkdir()
    spec.write_text(yaml.safe_dump(definition(tree) | {"data": {"path": "../no/data"}}))
    out = tmp_path / "out"
    assert main(["--quiet", "run", str(spec), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: {spec}: data.path: {tmp_path / 'no' / 'data'}: no such directory\n")
    assert not out.exists()
    (tmp_path / "no").mkdir()
    (tmp_path / "no" / "data").write_text("a file")
    assert main(["--quiet", "run", str(spec), "--out", str(out)]) == 2
    assert capsys.readouterr().err.endswith(": data.path: "
                                            f"{tmp_path / 'no' / 'data'}: not a directory\n")
    # --data replaces data.path, so a missing --data is blamed on the option, not the file
    assert main(["--quiet", "run", str(spec), "--out", str(out), "--data",
                 str(tmp_path / "elsewhere")]) == 2
    assert capsys.readouterr().err == f"error: --data {tmp_path / 'elsewhere'}: no such directory\n"
    # a folder that is there but holds no speaker folders: the same line, before the folder
    (tmp_path / "no" / "data").unlink()
    (tmp_path / "no" / "data").mkdir()
    assert main(["--quiet", "run", str(spec), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: {spec}: data.path: {tmp_path / 'no' / 'data'}: not an AudioMNIST dataset (no "
        "speaker folders 01..60)\n")
    assert main(["--quiet", "run", str(spec), "--out", str(out), "--data",
                 str(tmp_path / "no" / "data")]) == 2
    assert capsys.readouterr().err.startswith(f"error: --data {tmp_path / 'no' / 'data'}: not an "
                                              "AudioMNIST dataset")
    assert not out.exists()


def test_a_run_that_fails_before_writing_removes_only_a_folder_it_made(tree, cache, tmp_path):
    """The lock is released and an empty folder the run made is removed; a folder that was
    there keeps everything in it (a resumed run's results survive its failure)."""
    unusable = tmp_path / "unusable"  # looks like AudioMNIST, fails when its clips are read
    (unusable / "01").mkdir(parents=True)
    (unusable / "01" / "0_01_0.wav").write_bytes(b"")
    made = tmp_path / "new" / "parents" / "made"
    (tmp_path / "new").mkdir()
    with pytest.raises(AudioXaiError, match="unusable: no usable clips"):
        run(unusable, made)
    assert not (tmp_path / "new" / "parents").exists()  # the parent it made goes too...
    assert (tmp_path / "new").is_dir()  # ...one that was there stays

    out = tmp_path / "out"
    run(tree, out)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    assert "results.jsonl" in before
    with pytest.raises(AudioXaiError, match="unusable: no usable clips"):
        run(unusable, out, resume=True)
    assert {p.name: p.read_bytes() for p in out.rglob("*")
            if p.is_file() and p.name != ".lock"} == before
    with folder_lock(out):  # released: the next run can take it
        pass


def test_resume_refuses_another_benchmark_or_another_trained_model(tree, cache, tmp_path):
    """Probe F3, F7: resumed with changed training, the folder's earlier cells came from
    another model of the same split, and the leaderboard pooled them with the new ones."""
    from audioxai_bench.leaderboard import build_leaderboard

    out = tmp_path / "out"
    run(tree, out)
    first = (out / "results.jsonl").read_bytes()
    keys = {r["model_key"] for r in read_records([out])}
    assert len(keys) == 1 and None not in keys  # every record names its trained model
    with pytest.raises(AudioXaiError, match=r"holds results of benchmark 'store', not 'other'"):
        run(tree, out, resume=True, changes={"name": "other"})
    with pytest.raises(AudioXaiError, match=r"holds results of digit-audionet-fold0 from another "
                                            r"trained model"):
        run(tree, out, resume=True, changes={"training": {
            "preset": "cpu", "iterations": 4, "eval_every": 4, "batch_size": 8}})
    assert (out / "results.jsonl").read_bytes() == first  # nothing lost, nothing mixed
    run(tree, out, resume=True, changes={"explainers": ["random"]})  # same model: goes on
    # a later folder of the same seed, another model, fewer explainers: the newest record of
    # each cell would take this model's accuracy and the earlier model's other explainers
    other = tmp_path / "other"
    run(tree, other, changes={"explainers": ["random"], "training": {
        "preset": "cpu", "iterations": 4, "eval_every": 4, "batch_size": 8}})
    with pytest.raises(AudioXaiError, match=r"digit · audionet split 0, seed 0 come from 2 "
                                            r"trained models"):
        build_leaderboard([out, other], tmp_path / "board", quiet=True)


def test_resume_under_other_numerics_says_what_changed_and_how_to_match_it(tree, cache,
                                                                          tmp_path, monkeypatch):
    """Probe 5 #9: resumed under another torch thread count, the run was refused as "another
    trained model (the definition's training, data or numerics changed since)", which named
    neither the thread count nor how to match it."""
    import torch

    from audioxai_bench import reproducibility
    from audioxai_bench.run.executors import cores

    out = tmp_path / "out"
    threads = torch.get_num_threads()
    run(tree, out)
    first = (out / "results.jsonl").read_bytes()
    other = threads + 1
    torch.set_num_threads(other)
    try:
        with pytest.raises(AudioXaiError) as info:
            run(tree, out, resume=True)
    finally:
        torch.set_num_threads(threads)
    message = str(info.value)
    assert "\n" not in message
    assert (f"holds results of digit-audionet-fold0 from a model trained with other numerics "
            f"({threads} torch thread(s) per unit there (executor local), {other} here "
            f"(executor local))") in message
    assert f"to continue it, run with {threads} torch thread(s) per unit: OMP_NUM_THREADS=" \
        f"{threads} and --executor local" in message
    assert (f"--workers {cores() // threads}" in message) == (
        cores() // (cores() // threads) == threads)
    # another processor: the thread count cannot match it
    here = reproducibility.machine("cpu")
    monkeypatch.setattr(reproducibility, "machine",
                        lambda device: {**here, "cpu": "Other CPU 9000"})
    with pytest.raises(AudioXaiError, match=rf"other numerics \(processor {re.escape(here['cpu'])} "
                                            r"there, "
                                            r"Other CPU 9000 here\), .*: to continue it, resume "
                                            r"it on the machine that computed them; else write"):
        run(tree, out, resume=True)
    assert (out / "results.jsonl").read_bytes() == first  # nothing lost, nothing mixed


def test_resume_refuses_other_clips_or_batch_size(tree, cache, tmp_path):
    """Probe F3: resumed with `samples` 12 instead of 6 and an explainer dropped, the folder
    kept the dropped explainer's cells on 6 clips beside the new ones on 12, and the leaderboard
    ranked them side by side."""
    from audioxai_bench.leaderboard import build_leaderboard

    out = tmp_path / "out"
    run(tree, out)
    first = (out / "results.jsonl").read_bytes()
    assert {r.get("batch_size") for r in read_records([out])} == {2}
    with pytest.raises(AudioXaiError) as info:
        run(tree, out, resume=True, changes={"samples": 6, "explainers": ["random"]})
    assert str(info.value) == (
        f"{out} holds results of digit-audionet-fold0 scored on other clips (4 there, 6 here: "
        "its samples, data or seed changed since); resumed, its tables would rank cells of "
        f"different clips side by side: {runner.ELSEWHERE}")
    # probe 6 #5a: another seed picks as many clips, and "4; this definition picks 4" read as
    # no difference at all
    with pytest.raises(AudioXaiError, match=(
            r"scored on other clips \(4 there, 4 here, [1-4] of them different: its seed changed "
            r"since \(0 there, 3 here\)\); resumed")):
        run(tree, out, resume=True, changes={"seed": 3})
    with pytest.raises(AudioXaiError, match=r"holds results scored with batch_size 2, this "
                                            r"definition has 4 \(each batch seeds its metrics\)"):
        run(tree, out, resume=True, changes={"batch_size": 4})
    assert (out / "results.jsonl").read_bytes() == first  # nothing lost, nothing mixed
    # a later folder of the same seed and model on more clips, one explainer: the newest record
    # of each cell would take its random cells and the earlier folder's gradient cells
    other = tmp_path / "other"
    run(tree, other, changes={"samples": 6, "explainers": ["random"]})
    with pytest.raises(AudioXaiError, match=r"digit · audionet split 0, seed 0 were scored on 4 "
                                            r"and 6 clips \(e.g. gradient · faithfulness-gap and "
                                            r"random · faithfulness-gap"):
        build_leaderboard([out, other], tmp_path / "board", quiet=True)
