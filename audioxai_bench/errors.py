"""The one exception type the command line turns into a one-line message."""

import difflib
from collections.abc import Iterable
from traceback import format_exception


class AudioXaiError(Exception):
    """A user-facing error: bad input, a broken plugin, a missing file.

    The message names the file, field or plugin at fault; the CLI prints it as one line.
    """


class ClipError(AudioXaiError):
    """A single clip cannot be used; the run records it and goes on with the others."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason


def did_you_mean(name: object, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to a misspelt ``name``, or ``""``: the
    one form every "unknown ..." message uses. A choice that differs only in ``_`` for ``-``
    (a module name for a distribution's) is the closest."""
    if not isinstance(name, str):
        return ""
    choices = list(choices)
    close = [c for c in choices if c.replace("_", "-") == name.replace("_", "-")] or (
        difflib.get_close_matches(name, choices, n=1, cutoff=cutoff))
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``, for one-line failure reports and records."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def traceback_text(exc: BaseException) -> str:
    """The formatted traceback of ``exc``, kept in its cell's error record beside
    :func:`one_line`."""
    return "".join(format_exception(exc))
