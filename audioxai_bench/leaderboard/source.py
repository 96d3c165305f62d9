"""Which results a leaderboard folder was built from, so that ``leaderboard`` never silently
replaces the leaderboard of another benchmark.

Beside its outputs the generator writes :data:`MANIFEST`: the (benchmark, dataset) pairs of the
records and the results files they were read from (relative to the folder where possible).
Before it writes into a folder that already holds leaderboard files it compares those pairs
with the new ones, and refuses unless they are the same or the caller forces it. A folder
written before the manifest existed is recognised by its ``leaderboard.csv``; output files with
neither are of unknown origin and are not replaced either.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..errors import AudioXaiError
from ..run.definition import SHIPPED

MANIFEST = ".source.json"
#: The files a leaderboard folder holds besides the manifest.
OUTPUTS = ("README.md", "leaderboard.csv", "models.csv", "index.html")
WRITER = "audioxai-bench leaderboard"

Source = tuple[str, str]  # (benchmark, dataset)


def sources(df: pd.DataFrame) -> set[Source]:
    """The (benchmark, dataset) pairs of a frame of records."""
    return {(str(b), str(d)) for b, d in zip(df["benchmark"], df["dataset"])}


def describe(pairs: Iterable[Source]) -> str:
    names = [f"{b} ({d})" for b, d in sorted(pairs)]
    return " and ".join(filter(None, [", ".join(names[:-1]), *names[-1:]])) or "nothing"


def _shown(path: Path, out: Path) -> str:
    """A results file as the manifest records it: relative to the leaderboard folder, so a
    committed manifest names no machine's paths, or absolute where no relative path exists."""
    try:
        return Path(os.path.relpath(path.resolve(), out.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_posix()


def manifest_text(pairs: Iterable[Source], results: Iterable[Path], out: Path) -> str:
    body = {"written_by": WRITER,
            "sources": [{"benchmark": b, "dataset": d} for b, d in sorted(pairs)],
            "results": [_shown(Path(p), out) for p in results]}
    return json.dumps(body, indent=1) + "\n"


def existing(out: Path) -> set[Source] | None:
    """The sources of the leaderboard already in ``out``; None where ``out`` holds no
    leaderboard file. Raises :class:`AudioXaiError` where it holds some whose sources cannot
    be read (so they are not replaced unawares)."""
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            body = json.loads(manifest.read_text(encoding="utf-8"))
            return {(str(s["benchmark"]), str(s["dataset"])) for s in body["sources"]}
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise AudioXaiError(f"{manifest}: not a leaderboard source record ({exc!r:.80}); "
                                "choose another --out, or pass --force to replace the "
                                "folder's leaderboard") from None
    present = [name for name in OUTPUTS if (out / name).exists()]
    if not present:
        return None
    table = out / "leaderboard.csv"
    if table.is_file():  # written before the manifest existed
        try:
            old = pd.read_csv(table, usecols=["benchmark", "dataset"], dtype=str,
                              keep_default_na=False)
            return sources(old)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            reason = f"its leaderboard.csv is unreadable ({exc!r:.80})"
    else:
        reason = f"no {MANIFEST} or leaderboard.csv says what it was built from"
    raise AudioXaiError(f"{out}: holds {', '.join(present)}, but {reason}; choose another "
                        "--out, or pass --force to replace them")


def check(out: Path, new: set[Source], *, force: bool) -> None:
    """Refuse to write the leaderboard of ``new`` over one in ``out`` made from results that
    ``new`` lacks (e.g. a fresh clone's quickstart over the committed quickstart and
    ground-truth), unless forced. The same sources or more replace it: nothing is dropped."""
    if force:
        return
    old = existing(out)
    if old is None or new >= old:
        return
    if not new & old:
        raise AudioXaiError(f"{out}: holds the leaderboard of {describe(old)}, not of "
                            f"{describe(new)}; choose another --out, or pass --force to "
                            "replace it")
    dropped = old - new
    raise AudioXaiError(f"{out}: the leaderboard there was made from {describe(old)}; this "
                        f"makes it from {describe(new)}{' alone' * (new < old)}, dropping "
                        f"{describe(dropped)}: {_restore(dropped, new)}, write to another "
                        "--out, or pass --force to replace it")


def _restore(dropped: set[Source], new: set[Source]) -> str:
    """How to give the leaderboard the results it would drop."""
    names = sorted({b for b, _ in dropped})
    if set(names) <= set(SHIPPED) - {b for b, _ in new}:
        runs = " and ".join(f"`audioxai-bench run {b}`" for b in names)
        whose = "their" if len(names) > 1 else "its"
        return f"run {runs} first (the default reads {whose} results)"
    return f"give the results of {', '.join(names)} too"
