"""SHA-256 of files' content, remembered so that an unchanged file is not read again.

A dataset's identity must follow its bytes: a copy of the same tree (new modification times)
is the same data, and an edit that keeps size and time is not. The digests are remembered in a
small JSON file keyed by each file's size, mtime, ctime, inode and device; those decide only
whether a file is read again, never the digest itself (any change to a file's content moves
its ctime, which no user can set back).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from ..atomic import WriteError, atomic_write

STORE_VERSION = 1
_BLOCK = 1 << 20
_log = logging.getLogger(__name__)


def file_sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


@functools.cache
def source_digest(folder: str, names: tuple[str, ...]) -> str:
    """A 16-hex-digit digest of the files ``names`` of ``folder`` (names and contents): the
    code that makes a cached value (decoded signals, a synthetic or cue tree), for its key, so
    an edit of that code makes the value again and an unchanged checkout reuses it. Read once
    per process."""
    h = hashlib.sha256()
    for name in names:
        h.update(f"{name}\0{file_sha256(Path(folder, name))}\n".encode())
    return h.hexdigest()[:16]


def file_digests(paths: Iterable[Path], store: Path | None = None) -> dict[Path, str]:
    """``{path: sha256 of its content}``; with ``store``, digests of unchanged files come from
    (and new ones go to) that JSON file. A damaged or unwritable store is reported, not fatal."""
    remembered = _read_store(store) if store is not None else {}
    digests: dict[Path, str] = {}
    fresh: dict[str, list] = {}
    for path in paths:
        st = os.stat(path)
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
        key = str(Path(path).absolute())
        known = remembered.get(key)
        if isinstance(known, list) and len(known) == 6 and known[:5] == stamp:
            digest = known[5]
        else:
            digest = file_sha256(path)
        digests[path] = digest
        fresh[key] = [*stamp, digest]
    if store is not None and fresh != remembered:
        payload = json.dumps({"version": STORE_VERSION, "files": fresh}).encode()
        try:
            atomic_write(store, lambda f: f.write(payload), durable=False)
        except WriteError as err:  # the digests are right; only the next run is slower
            _log.warning("%s; files will be hashed again next time", err)
    return digests


def _read_store(store: Path) -> dict[str, list]:
    try:
        raw = json.loads(store.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as err:
        _log.warning("%s: unreadable digest store (%s); every file is hashed again", store,
                     type(err).__name__)
        return {}
    if not (isinstance(raw, dict) and raw.get("version") == STORE_VERSION
            and isinstance(raw.get("files"), dict)):
        _log.warning("%s: digest store of another format; every file is hashed again", store)
        return {}
    return raw["files"]
