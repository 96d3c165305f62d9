"""The user's path of the foundation issue: synth → check → train, through the CLI."""

import argparse
import dataclasses
import re

import pytest
import torch

from audioxai_bench import cli
from audioxai_bench.cli import build_parser, main
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.models import load_checkpoint
from audioxai_bench.models.checkpoint import read_checkpoint
from audioxai_bench.run import definition as benchmark
from tests.helpers import write_tree


@pytest.fixture(scope="module")
def synth_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    assert main(["data", "synth", "--out", str(out), "--speakers", "8", "--reps", "1",
                 "--workers", "1", "--quiet"]) == 0
    return out


def test_synth_then_check_is_clean(synth_tree, capsys):
    assert main(["data", "check", str(synth_tree)]) == 0
    out = capsys.readouterr().out
    assert "80 usable clips of 80, 8 speakers" in out
    assert "female" in out


@pytest.mark.parametrize("model,task", [("audionet", "digit"), ("alexnet", "sex")])
def test_train_writes_a_checkpoint_with_its_provenance(synth_tree, tmp_path, capsys, model,
                                                       task):
    ckpt = tmp_path / "m.pt"
    assert main(["train", "--data", str(synth_tree), "--model", model, "--task", task,
                 "--fold", "1", "--out", str(ckpt), "--iterations", "2", "--width", "0.05",
                 "--quiet"]) == 0
    captured = capsys.readouterr()  # status lines on stderr, the result on stdout
    assert "preset cpu" in captured.err and "test accuracy" in captured.out
    restored, meta = load_checkpoint(ckpt)
    assert meta["model"] == model and meta["task"] == task and meta["fold"] == 1
    assert meta["width"] == 0.05 and meta["n_classes"] == (10 if task == "digit" else 2)
    assert len(meta["data_fingerprint"]) == 16 and meta["seed"] == 0
    assert meta["resampler"] == "sinc"  # the default: the data of every model before the choice
    assert 0.0 <= meta["test_accuracy"] <= 1.0
    # where it trained (on a CPU the threads, the processor and the build change the weights'
    # last bits)
    assert meta["numerics"] == {"device": "cpu", "threads": torch.get_num_threads(),
                                "torch_build": torch.__version__,
                                "cpu": meta["numerics"]["cpu"],
                                "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    assert meta["numerics"]["cpu"]
    assert not restored.training
    # weights_only loading is what makes it safe to open a shared checkpoint
    torch.load(ckpt, weights_only=True)


def test_train_resamples_as_asked_and_says_so(synth_tree, tmp_path, capsys):
    ckpt = tmp_path / "m.pt"
    assert main(["train", "--data", str(synth_tree), "--model", "audionet", "--task", "digit",
                 "--out", str(ckpt), "--iterations", "1", "--width", "0.05", "--resampler",
                 "fft", "--quiet"]) == 0
    assert "resampler fft" in capsys.readouterr().err
    assert read_checkpoint(ckpt)[1]["resampler"] == "fft"


def test_train_reports_skipped_clips(tmp_path, capsys):
    tree = write_tree(tmp_path / "d", [4, 5, 1], reps=range(4))  # a cpu batch of 32 fits
    (tree / "04" / "0_04_0.wav").write_bytes(b"broken")
    ckpt = tmp_path / "m.pt"
    assert main(["train", "--data", str(tree), "--model", "audionet", "--task", "digit",
                 "--fold", "0", "--out", str(ckpt), "--iterations", "1", "--width", "0.05",
                 "--quiet"]) == 0
    assert "skipped 1 unusable clips" in capsys.readouterr().err  # a status line
    assert read_checkpoint(ckpt)[1]["skipped_clips"] == 1


def test_train_refuses_a_batch_larger_than_the_training_set(tmp_path, capsys):
    """The cpu preset's batch of 32 on 4 training clips took all 4 at every step, silently."""
    tree = write_tree(tmp_path / "d", [4, 5, 1], digits=range(2), reps=range(2))
    ckpt = tmp_path / "m.pt"
    assert main(["train", "--data", str(tree), "--model", "audionet", "--task", "digit",
                 "--fold", "0", "--out", str(ckpt), "--preset", "cpu", "--quiet"]) == 2
    assert capsys.readouterr().err.endswith(
        "error: training.batch_size 32 (preset cpu) is larger than the 4 training clips of "
        "digit fold 0; lower it or use more data\n")
    assert not ckpt.exists()


@pytest.mark.parametrize("args,message", [
    (["--model", "resnet"], "unknown model 'resnet'"),
    (["--task", "age"], "unknown task 'age'"),
    (["--task", "sex", "--fold", "4"], "fold 4 out of range for task 'sex'"),
    (["--device", "cuda"], "CUDA is not available"),
    (["--device", "gpu"], "unknown device 'gpu'"),
])
def test_train_bad_arguments_are_one_line(tmp_path, capsys, args, message):
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    tree = write_tree(tmp_path / "d", [1], digits=range(1), reps=range(1))
    base = {"--model": "audionet", "--task": "digit", "--fold": "0"}
    base.update(dict(zip(args[::2], args[1::2])))
    argv = ["train", "--data", str(tree), "--out", str(tmp_path / "m.pt")]
    for key, value in base.items():
        argv += [key, value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_option_of_every_command_has_help():
    parsers = list(_parsers(build_parser()))
    assert {p.prog for p in parsers} >= {"audioxai-bench train", "audioxai-bench data synth",
                                         "audioxai-bench run", "audioxai-bench plugins"}
    missing = [f"{p.prog} {a.option_strings or a.dest}" for p in parsers for a in p._actions
               if not a.help or a.help == argparse.SUPPRESS]
    assert not missing


TRAIN = ["train", "--data", "d", "--model", "audionet", "--task", "digit", "--out", "m.pt"]
SYNTH = ["data", "synth", "--out", "o"]


@pytest.mark.parametrize("argv, message", [  # X1, X2: refused before any work
    (TRAIN + ["--iterations", "0"], "--iterations: must be between 1 and 1000000, got 0"),
    (TRAIN + ["--iterations", "-5"], "--iterations: must be between 1 and 1000000, got -5"),
    (TRAIN + ["--iterations", "10000000"], "--iterations: must be between 1 and 1000000"),
    (TRAIN + ["--iterations", "many"], "--iterations: must be an integer, got 'many'"),
    (TRAIN + ["--width", "-1"], r"--width: must be in \(0, 64\], got -1"),
    (TRAIN + ["--width", "0"], r"--width: must be in \(0, 64\], got 0"),
    (TRAIN + ["--width", "nan"], r"--width: must be in \(0, 64\], got nan"),
    (TRAIN + ["--width", "inf"], r"--width: must be in \(0, 64\], got inf"),
    (TRAIN + ["--width", "1e5"], r"--width: must be in \(0, 64\], got 1e5"),
    (TRAIN + ["--seed", "-1"], "--seed: must be between 0 and 2147483647, got -1"),
    (TRAIN + ["--seed", str(2**63)], "--seed: must be between 0 and 2147483647"),
    (TRAIN + ["--fold", "9"], "--fold: must be between 0 and 4, got 9"),
    (TRAIN + ["--fold", "-1"], "--fold: must be between 0 and 4, got -1"),
    (TRAIN + ["--resampler", "linear"], "--resampler: invalid choice: 'linear'"),
    (SYNTH + ["--speakers", "0"], "--speakers: must be between 1 and 60, got 0"),
    (SYNTH + ["--speakers", "61"], "--speakers: must be between 1 and 60, got 61"),
    (SYNTH + ["--reps", "0"], "--reps: must be at least 1, got 0"),
    (SYNTH + ["--workers", "0"], "--workers: must be at least 1, got 0"),
    (SYNTH + ["--seed", "-3"], "--seed: must be between 0 and 2147483647, got -3"),
])
def test_bad_numbers_are_one_line_usage_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: audioxai-bench ") and err.count("\n") == 1
    assert re.search(f"argument {message}", err), err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_iterations_zero_is_an_error_not_the_presets_budget(tmp_path):
    from audioxai_bench.run.training import TrainRequest, train_reference
    req = TrainRequest(data=tmp_path / "none", model="audionet", task="digit", fold=0,
                       out=tmp_path / "m.pt", iterations=0)
    with pytest.raises(AudioXaiError, match="iterations must be at least 1, got 0"):
        train_reference(req, quiet=True, log=lambda _: None)


def test_a_bad_resampler_fails_before_any_work(tmp_path):
    from audioxai_bench.run.training import TrainRequest, train_reference
    req = TrainRequest(data=tmp_path / "none", model="audionet", task="digit", fold=0,
                       out=tmp_path / "m.pt", resampler="linear")
    with pytest.raises(AudioXaiError, match="^unknown resampler 'linear'; valid: sinc, fft$"):
        train_reference(req, quiet=True, log=lambda _: None)


def test_cli_bounds_are_the_definitions_bounds():
    assert (cli.MAX_SEED, cli.MAX_WIDTH, cli.MAX_ITERATIONS) == (
        benchmark.MAX_SEED, benchmark.MAX_WIDTH, benchmark.MAX_ITERATIONS)


def _train_argv(data, out, *extra):
    return ["train", "--data", str(data), "--model", "audionet", "--task", "digit", "--out",
            str(out), "--iterations", "1", "--width", "0.05", "--quiet", *extra]


def test_train_refuses_an_existing_checkpoint_before_any_work(tmp_path, capsys):
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"hours of training")
    # the data do not exist: the refusal comes before they are read
    assert main(_train_argv(tmp_path / "no-data", ckpt)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {ckpt}: already exists" in err
    assert "--overwrite" in err
    assert ckpt.read_bytes() == b"hours of training"


def test_train_overwrite_keeps_the_earlier_checkpoint_aside(synth_tree, tmp_path, capsys):
    ckpt = tmp_path / "models" / "m.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"hours of training")
    assert main(_train_argv(synth_tree, ckpt, "--overwrite")) == 0
    assert read_checkpoint(ckpt)[1]["model"] == "audionet"
    kept = [p for p in ckpt.parent.iterdir() if p.name.startswith("m.previous-")]
    assert len(kept) == 1 and kept[0].read_bytes() == b"hours of training"
    assert f"as {kept[0]}" in capsys.readouterr().err
    assert sorted(p.name for p in ckpt.parent.iterdir()) == sorted(["m.pt", kept[0].name])


@pytest.mark.parametrize("where, message", [  # the folder, a file as its folder, deeper
    (lambda tmp: tmp, "is a folder; give the checkpoint's file path"),
    (lambda tmp: tmp / "file" / "m.pt", "cannot be written"),
    (lambda tmp: tmp / "file" / "sub" / "m.pt", "is not a folder"),
])
def test_train_refuses_an_out_it_could_not_write_before_any_work(tmp_path, capsys, where,
                                                                 message):
    (tmp_path / "file").write_bytes(b"")
    out = where(tmp_path)
    assert main(_train_argv(tmp_path / "no-data", out, "--overwrite")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {out}: " in err and message in err, err


def test_train_refuses_an_unwritable_folder(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with open(folder / "probe", "xb"):
            pytest.skip("this user writes into read-only folders (root)")
    except PermissionError:
        pass
    try:
        assert main(_train_argv(tmp_path / "no-data", folder / "m.pt")) == 2
    finally:
        folder.chmod(0o700)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be written" in err and "Permission denied" in err


def test_train_writes_into_a_new_folder(synth_tree, tmp_path):
    ckpt = tmp_path / "new" / "deeper" / "m.pt"
    assert main(_train_argv(synth_tree, ckpt)) == 0
    assert read_checkpoint(ckpt)[1]["model"] == "audionet"


def test_train_refuses_a_cue_tree_whose_speech_would_tell_the_class(tmp_path):
    """As a run refuses such a data.path (a cue tree planted from 4 repetitions, 2 removed since),
    before any work; `train --task cue` trained on it."""
    from audioxai_bench.data.cue import plant_cues, sidecar_path
    from audioxai_bench.run.training import TrainRequest, train_reference
    source = write_tree(tmp_path / "src", list(range(1, 61)), digits=range(2), reps=range(4))
    tree = plant_cues(source, tmp_path / "cue").out
    for wav in [*tree.glob("*/*_2.wav"), *tree.glob("*/*_3.wav")]:
        wav.unlink()
        sidecar_path(wav).unlink()
    req = TrainRequest(data=tree, model="audionet", task="cue", fold=0, out=tmp_path / "m.pt")
    with pytest.raises(AudioXaiError, match=f"^{re.escape(str(tree))}: speaker 01, digit 0 has "
                                            "2 repetition"):
        train_reference(req, quiet=True, log=lambda _: None)
    fft = dataclasses.replace(req, resampler="fft")  # and a tree planted for another resampler
    with pytest.raises(AudioXaiError, match="planted for resampler sinc, .* not for fft"):
        train_reference(fft, quiet=True, log=lambda _: None)
    assert not (tmp_path / "m.pt").exists()
