"""The one exception type the command line turns into a one-line message."""

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


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``, for one-line failure reports and records."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def traceback_text(exc: BaseException) -> str:
    """The formatted traceback of ``exc``, kept in its cell's error record beside
    :func:`one_line`."""
    return "".join(format_exception(exc))
