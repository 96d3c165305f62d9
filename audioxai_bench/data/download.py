"""Fetching the original AudioMNIST recordings from the paper's public repository.

The repository keeps the data in ``data/NN/*.wav`` plus ``data/audioMNIST_meta.txt``; its
archive is about 1 GB. Only the data folder is extracted. Before anything is written every
member is checked, and the archive refused as a whole, for a name that could escape ``out`` or
that an extractor would silently rewrite (``..``, an absolute path, a backslash, a NUL), a
symbolic link or other special entry, a duplicate, a file/folder clash, and for sizes that
betray a zip bomb. Each file is written under a temporary name and renamed when its CRC has
checked out, so a damaged member leaves no damaged file.

The default URL is a branch archive that GitHub builds on demand, so its SHA-256 is not pinned
(:data:`DEFAULT_SHA256` is None): pass ``sha256`` (``--sha256``) to verify a known archive.
"""

from __future__ import annotations

import hashlib
import re
import stat
import tempfile
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..atomic import WriteError, atomic_write, clean_stale_temps
from ..errors import AudioXaiError

DEFAULT_URL = "https://github.com/soerenab/AudioMNIST/archive/refs/heads/master.zip"
DEFAULT_SHA256: str | None = None  # not pinned: the branch archive's bytes can change
MAX_TOTAL_BYTES = 8 << 30  # the data folder is about 1 GB; an archive claiming more is refused
MAX_RATIO = 100  # uncompressed/compressed size of one member; WAV clips compress about 1.1×
RATIO_FROM_BYTES = 1 << 20  # smaller members may compress well (silence) and cannot hurt
_BLOCK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Download:
    files: int  # files extracted
    sha256: str  # of the archive as downloaded


def download_audiomnist(out: Path, url: str = DEFAULT_URL,
                        progress: Callable[[int, int], None] | None = None,
                        sha256: str | None = None) -> Download:
    """Download the archive at ``url``, verify it against ``sha256`` when given (or pinned for
    the default URL), and extract its ``data/`` folder into ``out``.

    ``url`` may be a ``file://`` URL of a local copy.
    """
    if sha256 is None and url == DEFAULT_URL:
        sha256 = DEFAULT_SHA256
    if sha256 is not None and not _SHA256.match(sha256):
        raise AudioXaiError(f"--sha256: expected 64 hexadecimal digits, got {sha256!r}")
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(out)
    with tempfile.TemporaryDirectory(dir=out, prefix=".download-") as tmp:
        archive = Path(tmp) / "audiomnist.zip"
        digest = _fetch(url, archive, progress)
        if sha256 is not None and digest != sha256.lower():
            raise AudioXaiError(f"{url}: SHA-256 of the archive is {digest}, expected "
                                f"{sha256.lower()}; nothing extracted")
        return Download(extract_data_folder(archive, out, label=url), digest)


def _fetch(url: str, dest: Path, progress: Callable[[int, int], None] | None) -> str:
    """Save ``url`` at ``dest``; returns the SHA-256 of what was saved."""
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url) as response, open(dest, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while block := response.read(_BLOCK):
                f.write(block)
                h.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
    except OSError as err:  # URLError and HTTPError are OSErrors
        raise AudioXaiError(f"{url}: download failed ({err})") from err
    return h.hexdigest()


def extract_data_folder(archive: Path, out: Path, label: str | None = None,
                        max_total_bytes: int = MAX_TOTAL_BYTES) -> int:
    """Extract ``<top>/data/**`` of the archive into ``out``; returns the number of files.

    Messages name the archive by ``label`` (its URL) when given.
    """
    label = label or str(archive)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise AudioXaiError(f"{label}: not a zip archive ({err})") from err
    with zf:
        plan = plan_extraction(zf.infolist(), label, max_total_bytes)
        for folder in {out.joinpath(*rel[:-1]) for _, rel in plan}:
            clean_stale_temps(folder)  # files of an extraction that was killed
        for member, rel in plan:
            target = out.joinpath(*rel)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(target, lambda f, m=member: _copy(zf, m, f), durable=False)
            except WriteError:
                raise
            except OSError as err:
                raise AudioXaiError(f"{label}: cannot extract {member.filename!r} "
                                    f"({err.strerror or err})") from err
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError,
                    RuntimeError, ValueError) as err:  # bad CRC, truncated, encrypted
                raise AudioXaiError(f"{label}: member {member.filename!r} is damaged "
                                    f"({err}); the files before it are in {out}") from err
    return len(plan)


def plan_extraction(members: list[zipfile.ZipInfo], label: str,
                    max_total_bytes: int = MAX_TOTAL_BYTES
                    ) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """The data members and their paths under ``out``, after checking every member."""
    plan: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    seen: set[tuple[str, ...]] = set()
    total = 0
    for member in members:
        problem = _name_problem(member)
        if problem:
            raise AudioXaiError(f"{label}: unsafe member path {member.orig_filename!r} "
                                f"({problem}); nothing extracted")
        parts = member.filename.rstrip("/").split("/")
        if "data" not in parts or member.is_dir():
            continue
        rel = tuple(parts[parts.index("data") + 1:])
        if not rel:
            continue
        mode = member.external_attr >> 16
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
            raise AudioXaiError(f"{label}: member {member.filename!r} is {kind}; nothing "
                                "extracted")
        if rel in seen:
            raise AudioXaiError(f"{label}: member {member.filename!r} appears twice; nothing "
                                "extracted")
        seen.add(rel)
        if (member.file_size > RATIO_FROM_BYTES
                and member.file_size > MAX_RATIO * max(member.compress_size, 1)):
            raise AudioXaiError(f"{label}: member {member.filename!r} expands "
                                f"{member.compress_size} bytes to {member.file_size} (more than "
                                f"{MAX_RATIO}×: a zip bomb?); nothing extracted")
        total += member.file_size
        if total > max_total_bytes:
            raise AudioXaiError(f"{label}: the data folder would take more than "
                                f"{max_total_bytes} bytes; nothing extracted")
        plan.append((member, rel))
    clashes = {rel[:i] for rel in seen for i in range(1, len(rel))} & seen
    if clashes:
        name = "/".join(sorted(clashes)[0])
        raise AudioXaiError(f"{label}: data/{name} is both a file and a folder; nothing "
                            "extracted")
    if not plan:
        raise AudioXaiError(f"{label}: no data/ folder in the archive")
    return plan


def _name_problem(member: zipfile.ZipInfo) -> str | None:
    """Why a member's name is unsafe or would be rewritten on extraction, or None."""
    raw = member.orig_filename  # zipfile cuts ``filename`` at a NUL
    if "\0" in raw:
        return "NUL in the name"
    if "\\" in raw:
        return "backslash in the name"
    if raw.startswith("/"):
        return "absolute path"
    parts = raw.rstrip("/").split("/")
    if any(p in ("..", ".") for p in parts):
        return "'..' or '.' component"
    if "" in parts:
        return "empty component"
    return None


def _copy(zf: zipfile.ZipFile, member: zipfile.ZipInfo, dst: BinaryIO) -> None:
    """Copy one member, no further than its declared size (checked against the limits)."""
    left = member.file_size
    with zf.open(member) as src:
        while block := src.read(min(_BLOCK, left + 1)):
            left -= len(block)
            if left < 0:
                raise zipfile.BadZipFile("longer than its declared size")
            dst.write(block)
