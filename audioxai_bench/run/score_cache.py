"""Scores kept between runs, so that a warm run scores only what changed.

A cell's record is a function of what its config hash covers (the data, the trained model, the
samples, the seed, the device, the determinism mode, the plugins with their versions and
parameters) and of the code that computes it. The fields a cell computed (value, interval,
per-sample scores, curves, info, its clips and its seconds) are kept under a key made of that
hash, the versions of Python and the libraries every record lists, a digest of this package's
source and of the plugins' own source files, and the panel's chunk size; a later run with the
same key reads them instead of scoring again, and its record says ``"cached": true``. Any edit
to the code, a plugin, a library version or a setting therefore scores again.

Only finished cells are kept: an error is computed again next time. The runtime metric's
seconds, like cached relevance, are those of the run that measured them. An entry carries its
key and a checksum; one that does not verify, or whose fields make no valid record (an edit
that kept the checksum right), is set aside (one line naming the file) and the cell is scored
again. An entry that cannot be written is a warning: the run has its records.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ..atomic import atomic_write, clean_stale_temps
from ..data.cache import cache_root, set_aside
from ..hashing import config_hash

FORMAT = 1
_PACKAGE = Path(__file__).resolve().parents[1]
_log = logging.getLogger(__name__)
_cleaned: set[Path] = set()


@functools.cache
def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.cache
def package_digest() -> str:
    """A digest of every Python source file of this package (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode())
        digest.update(_file_digest(str(path)).encode())
    return digest.hexdigest()[:16]


@functools.cache
def _package_sources(folder: str) -> frozenset[str]:
    return frozenset(str(f.resolve()) for f in Path(folder).rglob("*.py"))


def code_digest(*plugins: Any) -> str:
    """:func:`package_digest` and the source files of ``plugins`` outside it: the file that
    defines each one's class and, where that file lies in a package, every ``.py`` file of
    the package (its helper modules). Code imported from elsewhere is not seen: ``--rescore``."""
    files = set()
    for plugin in plugins:
        if plugin is None:
            continue
        try:
            source = inspect.getsourcefile(type(plugin))
        except TypeError:  # a built-in type: no source to change
            continue
        if source and not Path(source).resolve().is_relative_to(_PACKAGE):
            files.add(str(Path(source).resolve()))
            top = sys.modules.get(type(plugin).__module__.split(".")[0])
            for folder in getattr(top, "__path__", ()):  # a package: all its modules
                files |= _package_sources(folder)
    return config_hash({"package": package_digest(),
                        "plugins": {f: _file_digest(f) for f in sorted(files)}})


def score_key(record: dict[str, Any], chunk_size: int, *plugins: Any) -> str:
    """The key of a cell's scores: its record's config hash, the versions of Python and of the
    libraries the record names (torch, captum, zennit, ...), the code and the chunk size."""
    return config_hash({"cell": record["config_hash"], "versions": record.get("versions"),
                        "python": record.get("python"), "code": code_digest(*plugins),
                        "chunk": chunk_size, "format": FORMAT})


def scores_path(key: str) -> Path:
    return cache_root() / "scores" / f"{key}.json"


def _checksum(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def load_scores(key: str) -> dict[str, Any] | None:
    """The fields kept under ``key``, or None when there is no entry that verifies."""
    path = scores_path(key)
    if path.parent not in _cleaned:
        _cleaned.add(path.parent)
        for stale in clean_stale_temps(path.parent, unowned=True):
            _log.info("%s: removed a temporary left by an interrupted run", stale)
    if not path.exists():
        return None
    try:
        entry = json.loads(path.read_text())
        if not (isinstance(entry, dict) and entry.get("key") == key
                and isinstance(entry.get("fields"), dict)):
            raise ValueError("not an entry of this key")
        if entry.get("sha256") != _checksum(entry["fields"]):
            raise ValueError("checksum mismatch")
    except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
        set_aside(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return None
    return entry["fields"]


def discard_scores(key: str, reason: str) -> None:
    """Set aside the entry under ``key`` (one line naming its file and ``reason``): it verified,
    but its fields cannot be used (they make no valid record); the cell is scored again."""
    set_aside(scores_path(key), reason)


def store_scores(key: str, fields: dict[str, Any]) -> None:
    """Keep a finished cell's fields under ``key`` (JSON, written aside and renamed)."""
    fields = json.loads(json.dumps(fields, default=repr))  # as a record would hold them
    text = json.dumps({"key": key, "format": FORMAT, "sha256": _checksum(fields),
                       "fields": fields})
    try:
        atomic_write(scores_path(key), lambda f: f.write(text.encode()), durable=False)
    except OSError as err:  # a WriteError naming the file
        _log.warning("%s; the cell is scored again next time", err)
