"""Writing the leaderboard's files all or none, so that a full disk or Ctrl-C never leaves a
half-written page or a project README cut off after its results block.

Every file is first written whole under a temporary name beside it
(:func:`~audioxai_bench.atomic.temp_name`, so a killed run's temporaries are recognised and
removed by :func:`~audioxai_bench.atomic.clean_stale_temps`); only when all are on disk are
they renamed into place.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from ..atomic import WriteError, temp_name


def write_all(files: Mapping[Path, str]) -> list[Path]:
    """Write each text (UTF-8, ``\\n`` line ends) to its path; return the paths. A failure
    raises :class:`~audioxai_bench.atomic.WriteError` naming the file and leaves no temporary;
    every file is then as it was (a rename that fails after others succeeded, which a full
    disk cannot cause, leaves each file whole: old or new)."""
    temps: dict[Path, Path] = {}
    try:
        for path, text in files.items():
            temps[path] = path.parent / temp_name(path)
            _write(path, temps[path], text.encode("utf-8"))
        for path, tmp in temps.items():
            try:
                os.replace(tmp, path)
            except OSError as err:
                raise _error(path, err) from err
    except BaseException:
        for tmp in temps.values():
            try:
                tmp.unlink()
            except OSError:
                pass  # renamed already, or never created
        raise
    return list(files)


def _write(path: Path, tmp: Path, data: bytes) -> None:
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():  # a replaced file keeps its permissions (e.g. a group-writable README)
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
    except OSError as err:
        raise _error(path, err) from err


def _error(path: Path, err: OSError) -> WriteError:
    named = WriteError(f"{path}: could not write ({err.strerror or err}); it is unchanged")
    named.errno = err.errno
    return named
