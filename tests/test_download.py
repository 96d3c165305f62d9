"""``data download`` on a local archive laid out like the paper's repository (no network)."""

import zipfile

import pytest

from audioxai_bench.cli import main
from audioxai_bench.data.download import extract_data_folder

from .conftest import write_tree


def make_repo_archive(tmp_path, extra_members=()):
    tree = write_tree(tmp_path / "src", [12, 13], digits=range(2), reps=range(1))
    archive = tmp_path / "AudioMNIST-master.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("AudioMNIST-master/README.md", "readme")
        zf.writestr("AudioMNIST-master/preprocess_data.py", "code")
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                zf.write(path, f"AudioMNIST-master/data/{path.relative_to(tree)}")
        for name in extra_members:
            zf.writestr(name, "x")
    return archive


def test_download_from_local_archive_extracts_a_checkable_tree(tmp_path, capsys):
    archive = make_repo_archive(tmp_path)
    out = tmp_path / "data"
    assert main(["data", "download", "--out", str(out), "--url", archive.as_uri(),
                 "--quiet"]) == 0
    assert "extracted 5 files" in capsys.readouterr().out
    assert (out / "12" / "1_12_0.wav").exists() and (out / "audioMNIST_meta.txt").exists()
    assert not (out / "README.md").exists()
    assert not list(out.glob(".download-*"))  # the archive does not stay behind
    assert main(["data", "check", str(out)]) == 0


def test_unsafe_member_path_is_refused(tmp_path):
    archive = make_repo_archive(tmp_path, ["AudioMNIST-master/data/../../evil.txt"])
    with pytest.raises(Exception, match="unsafe member path"):
        extract_data_folder(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_unreachable_url_is_one_line_error(tmp_path, capsys):
    missing = (tmp_path / "nothing.zip").as_uri()
    assert main(["data", "download", "--out", str(tmp_path / "o"), "--url", missing]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "download failed" in err and err.count("\n") == 1
