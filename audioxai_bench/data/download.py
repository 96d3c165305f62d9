"""Fetching the original AudioMNIST recordings from the paper's public repository.

The repository keeps the data in ``data/NN/*.wav`` plus ``data/audioMNIST_meta.txt``; its
archive is about 1 GB. Only the data folder is extracted, and member paths are checked so
that an archive cannot write outside ``out``.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from ..errors import AudioXaiError

DEFAULT_URL = "https://github.com/soerenab/AudioMNIST/archive/refs/heads/master.zip"
_BLOCK = 1 << 20


def download_audiomnist(out: Path, url: str = DEFAULT_URL,
                        progress: Callable[[int, int], None] | None = None) -> int:
    """Download the archive at ``url`` and extract its ``data/`` folder into ``out``.

    Returns the number of files written. ``url`` may be a ``file://`` URL of a local copy.
    """
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".download-") as tmp:
        archive = Path(tmp) / "audiomnist.zip"
        _fetch(url, archive, progress)
        return extract_data_folder(archive, out)


def _fetch(url: str, dest: Path, progress: Callable[[int, int], None] | None) -> None:
    try:
        with urllib.request.urlopen(url) as response, open(dest, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while block := response.read(_BLOCK):
                f.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
    except OSError as err:  # URLError and HTTPError are OSErrors
        raise AudioXaiError(f"{url}: download failed ({err})") from err


def extract_data_folder(archive: Path, out: Path) -> int:
    """Extract ``<top>/data/**`` of the archive into ``out``; returns the number of files."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as err:
        raise AudioXaiError(f"{archive}: not a zip archive ({err})") from err
    written = 0
    with zf:
        for member in zf.infolist():
            parts = PurePosixPath(member.filename).parts
            if "data" not in parts or member.is_dir():
                continue
            rel = parts[parts.index("data") + 1:]
            if not rel or any(p in ("..", "") for p in rel) or member.filename.startswith("/"):
                raise AudioXaiError(f"{archive}: unsafe member path {member.filename!r}")
            target = out.joinpath(*rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            written += 1
    if written == 0:
        raise AudioXaiError(f"{archive}: no data/ folder in the archive")
    return written
