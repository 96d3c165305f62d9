"""The user's path of the foundation issue: synth → check → train, through the CLI."""

import pytest
import torch

from audioxai_bench.cli import main
from audioxai_bench.models import load_checkpoint
from audioxai_bench.models.checkpoint import read_checkpoint

from .conftest import write_tree


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
    assert 0.0 <= meta["test_accuracy"] <= 1.0
    assert not restored.training
    # weights_only loading is what makes it safe to open a shared checkpoint
    torch.load(ckpt, weights_only=True)


def test_train_reports_skipped_clips(tmp_path, capsys):
    tree = write_tree(tmp_path / "d", [4, 5, 1], digits=range(2), reps=range(2))
    (tree / "04" / "0_04_0.wav").write_bytes(b"broken")
    ckpt = tmp_path / "m.pt"
    assert main(["train", "--data", str(tree), "--model", "audionet", "--task", "digit",
                 "--fold", "0", "--out", str(ckpt), "--iterations", "1", "--width", "0.05",
                 "--quiet"]) == 0
    assert "skipped 1 unusable clips" in capsys.readouterr().err  # a status line
    assert read_checkpoint(ckpt)[1]["skipped_clips"] == 1


@pytest.mark.parametrize("args,message", [
    (["--model", "resnet"], "unknown model 'resnet'"),
    (["--task", "age"], "unknown task 'age'"),
    (["--fold", "9"], "fold 9 out of range"),
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
