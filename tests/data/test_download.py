"""``data download`` on a local archive laid out like the paper's repository (no network)."""

import hashlib
import re
import stat
import warnings
import zipfile

import pytest

from audioxai_bench.cli import main
from audioxai_bench.data.download import DEFAULT_SHA256, extract_data_folder
from audioxai_bench.errors import AudioXaiError
from tests.helpers import write_tree


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


def with_nul(archive):
    """Python's zip writer cuts names at a NUL, so the byte is put in afterwards."""
    archive.write_bytes(archive.read_bytes().replace(b"evil@.wav", b"evil\0.wav"))


@pytest.mark.parametrize("name, reason, patch", [
    ("../../../../data/evil.txt", "'..' or '.' component", None),
    ("AudioMNIST-master/data/..\\..\\evil.txt", "backslash in the name", None),
    ("AudioMNIST-master/data/evil@.wav", "NUL in the name", with_nul),
    ("/AudioMNIST-master/data/evil.txt", "absolute path", None),
    ("AudioMNIST-master/data//evil.txt", "empty component", None),
])
def test_names_that_would_be_rewritten_are_refused_before_writing(tmp_path, name, reason,
                                                                 patch):
    archive = make_repo_archive(tmp_path, [name])
    if patch:
        patch(archive)
    out = tmp_path / "out"
    with pytest.raises(AudioXaiError, match=f"unsafe member path .*\\({re.escape(reason)}\\); "
                                            "nothing extracted"):
        extract_data_folder(archive, out)
    assert not out.exists() or not list(out.rglob("*"))


def add_member(archive, name, data=b"x", mode=None, compress=zipfile.ZIP_STORED):
    info = zipfile.ZipInfo(name)
    info.compress_type = compress
    if mode is not None:
        info.external_attr = mode << 16
    with zipfile.ZipFile(archive, "a") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name
        with zf.open(info, "w", force_zip64=True) as f:
            for start in range(0, len(data), 1 << 20):
                f.write(data[start:start + (1 << 20)])


@pytest.mark.parametrize("name, mode, match", [
    ("AudioMNIST-master/data/12/link.wav", stat.S_IFLNK | 0o777, "is a symbolic link"),
    ("AudioMNIST-master/data/12/fifo.wav", stat.S_IFIFO | 0o644, "is not a regular file"),
    ("AudioMNIST-master/data/12/0_12_0.wav", stat.S_IFREG | 0o644, "appears twice"),
    ("AudioMNIST-master/data/12/0_12_0.wav/x", None, "data/12/0_12_0.wav is both a file and a "
                                                     "folder"),
])
def test_links_duplicates_and_clashes_are_refused_before_writing(tmp_path, name, mode, match):
    archive = make_repo_archive(tmp_path)
    add_member(archive, name, b"/etc/passwd", mode)
    out = tmp_path / "out"
    with pytest.raises(AudioXaiError, match=match):
        extract_data_folder(archive, out)
    assert not out.exists() or not list(out.rglob("*"))


def test_zip_bomb_and_oversized_archive_are_refused(tmp_path):
    archive = make_repo_archive(tmp_path)
    add_member(archive, "AudioMNIST-master/data/12/9_12_0.wav", bytes(20 << 20),
               compress=zipfile.ZIP_DEFLATED)  # 20 MiB of zeros in 20 kB
    with pytest.raises(AudioXaiError, match=r"expands \d+ bytes to 20971520 \(more than 100×"):
        extract_data_folder(archive, tmp_path / "out")

    small = make_repo_archive(tmp_path / "small")
    with pytest.raises(AudioXaiError, match="would take more than 1000 bytes; nothing"):
        extract_data_folder(small, tmp_path / "out", max_total_bytes=1000)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*"))


def test_bad_crc_names_the_member_and_leaves_no_damaged_file(tmp_path, capsys):
    archive = make_repo_archive(tmp_path)
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        member = zf.getinfo("AudioMNIST-master/data/12/1_12_0.wav")
    raw[member.header_offset + 30 + len(member.filename) + 500] ^= 0xFF  # inside its data
    archive.write_bytes(bytes(raw))
    out = tmp_path / "out"
    assert main(["data", "download", "--quiet", "--out", str(out), "--url",
                 archive.as_uri()]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"error: {archive.as_uri()}: member 'AudioMNIST-master/data/12/1_12_0.wav' is damaged "
        "(Bad CRC-32")
    assert not (out / "12" / "1_12_0.wav").exists()
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name or ".download" in p.name]


def test_sha256_is_verified_when_given(tmp_path, capsys):
    archive = make_repo_archive(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    out = tmp_path / "out"
    args = ["data", "download", "--quiet", "--out", str(out), "--url", archive.as_uri()]
    assert main([*args, "--sha256", "0" * 64]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {archive.as_uri()}: SHA-256 of the archive is {digest}, expected "
                   f"{'0' * 64}; nothing extracted\n")
    assert not list(out.iterdir())
    assert main([*args, "--sha256", "xyz"]) == 2
    assert "--sha256: expected 64 hexadecimal digits" in capsys.readouterr().err
    assert main([*args, "--sha256", digest.upper()]) == 0
    assert f"extracted 5 files into {out} (archive SHA-256 {digest})" in capsys.readouterr().out
    assert DEFAULT_SHA256 is None  # the branch archive is built on demand: not pinned
