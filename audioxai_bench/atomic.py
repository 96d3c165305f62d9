"""Writing a file or a folder so that readers see the old version or the new one, never half.

Everything is written under a temporary name beside its target and renamed into place when
complete. The temporary name carries the writer's host and process id,
``.<target name>.tmp-<host>-<pid>-<random>``, because SIGKILL, SIGTERM and power loss skip every
``finally`` block: a later run calls :func:`clean_stale_temps` on the folder and removes the
temporaries whose writer is gone (or that are older than ``max_age``), instead of leaving them
on disk forever.

A failed write raises :class:`WriteError`, an :class:`~audioxai_bench.errors.AudioXaiError` and
an :class:`OSError` at once, whose one-line message names the file that could not be written
(NumPy's "1600000 requested and 262112 written" names none).
"""

from __future__ import annotations

import errno as errno_codes
import logging
import os
import re
import secrets
import shutil
import socket
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import AudioXaiError

DEFAULT_MAX_AGE = 24 * 3600.0  # seconds; a temporary this old is stale whoever owns it
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
_TEMP = re.compile(r"^\.(?P<target>.+)\.tmp-(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-[0-9a-f]+$")
_log = logging.getLogger(__name__)


class WriteError(AudioXaiError, OSError):
    """Writing a file or folder failed; the message names it and says why."""


def temp_name(target: Path | str) -> str:
    """A hidden name beside ``target`` that records this host and process."""
    return f".{Path(target).name}.tmp-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"


def atomic_write(path: Path | str, write_fn: Callable[[BinaryIO], object], *,
                 durable: bool = True) -> Path:
    """Call ``write_fn`` with a binary file open for writing, then rename it to ``path``.

    ``write_fn`` gets a file object, not a name, so writers that append a suffix to names
    (``np.save``) still write the right file. With ``durable`` the data reach the disk before
    the rename (a power loss then leaves the old version or the new one). The parent folder is
    created; on failure nothing is left behind and ``path`` is unchanged.
    """
    path = Path(path)
    tmp = path.parent / temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as f:
            write_fn(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        named = _named(err, path, tmp) if isinstance(err, OSError) else None
        try:
            tmp.unlink()
        except OSError:
            pass  # never created (e.g. the parent is a file)
        if named is not None:
            raise named from err
        raise
    return path


@contextmanager
def atomic_dir(path: Path | str, *, replace: bool = False) -> Iterator[Path]:
    """Yield a new empty folder beside ``path``; when the block ends without an exception the
    folder becomes ``path``, otherwise it is removed.

    When ``path`` already exists (another writer finished first) it is kept and the new folder
    dropped, unless ``replace`` is set: then the old one is renamed aside, the new one renamed
    in, and the old one removed.
    """
    path = Path(path)
    tmp = path.parent / temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        yield tmp
        _commit_dir(tmp, path, replace)
    except BaseException as err:
        named = _named(err, path, tmp) if isinstance(err, OSError) else None
        shutil.rmtree(tmp, ignore_errors=True)
        if named is not None:
            raise named from err
        raise


def _commit_dir(tmp: Path, path: Path, replace: bool, *, attempts: int = 8) -> None:
    """Rename ``tmp`` to ``path``. Another writer may commit the same ``path`` between any two
    renames; each such collision starts over (with ``replace`` the last writer wins, without it
    the first), so no writer loses its tree to a race and the loser's tree is never left
    half-moved."""
    for _ in range(attempts):
        try:
            os.rename(tmp, path)  # fails when path is a non-empty folder
            return
        except OSError as err:
            if err.errno not in (errno_codes.ENOTEMPTY, errno_codes.EEXIST) or not path.is_dir():
                raise
        if not replace:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        old = path.parent / temp_name(path)
        try:
            os.rename(path, old)
        except FileNotFoundError:
            continue  # another writer moved it aside first
        try:
            os.rename(tmp, path)
        except OSError as err:
            if err.errno not in (errno_codes.ENOTEMPTY, errno_codes.EEXIST):
                try:  # not a race: the old copy goes back rather than being lost too
                    os.rename(old, path)
                except OSError:
                    pass  # the error below names the folder; the old copy stays aside
                raise
            shutil.rmtree(old, ignore_errors=True)
            continue  # another writer committed in between: start over
        shutil.rmtree(old, ignore_errors=True)
        return
    raise WriteError(f"{path}: could not write (other writers kept replacing it; "
                     f"{attempts} attempts)")


def _named(err: OSError, path: Path, tmp: Path) -> WriteError:
    """``err`` as a WriteError naming the target file (temporary names mean nothing to users)."""
    if isinstance(err, WriteError):
        return err
    where, other = path, None
    if err.filename:
        try:
            where = path / Path(err.filename).relative_to(tmp)
        except ValueError:  # not the temporary: e.g. a file in the way of the parent folder
            other = err.filename
    reason = err.strerror or str(err) or type(err).__name__
    if other is not None:
        reason += f": {other}"
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if err.errno in (errno_codes.ENOSPC, None) and free is not None and free < 64 << 20:
        reason += f"; disk full? {free} bytes free"
    named = WriteError(f"{where}: could not write ({reason})")
    named.errno = err.errno
    return named


def clean_stale_temps(folder: Path | str, *, max_age: float = DEFAULT_MAX_AGE,
                      unowned: bool = False) -> list[Path]:
    """Remove the temporaries in ``folder`` left by writers that are gone; return them.

    A temporary (named by :func:`temp_name`) is stale when its process no longer runs on this
    host, or when it is older than ``max_age`` seconds (its process id may have been reused,
    or it was written from another host). With ``unowned``, every other hidden entry older
    than ``max_age`` goes too: for folders where hidden entries can only be temporaries, such
    as those written by ``tempfile.mkdtemp`` before this module existed. A missing folder has
    none; an entry that cannot be removed is logged and kept.
    """
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    now = time.time()
    for entry in entries:
        if not entry.name.startswith("."):
            continue
        match = _TEMP.match(entry.name)
        if not match and not unowned:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # its writer just renamed or removed it
        old = now - info.st_mtime > max_age
        gone = bool(match) and match["host"] == _HOST and not _running(int(match["pid"]))
        if not (old or gone):
            continue
        try:
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError as err:
            _log.warning("%s: could not remove a stale temporary (%s)", entry.path,
                         err.strerror or err)
            continue
        removed.append(Path(entry.path))
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OverflowError:
        return False
    return True
