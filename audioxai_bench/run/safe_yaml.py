"""Reading a YAML file a person wrote: safely, and with one-line errors that name the file.

PyYAML's SafeLoader constructs no Python objects, but it still expands aliases (a 447-byte
"billion laughs" file fills gigabytes), lets the last of two equal keys win in silence, recurses
once per nesting level, and its errors span several lines. :func:`parse_yaml` refuses aliases,
duplicate keys and nesting deeper than :data:`MAX_DEPTH`, and reports every problem as an
:class:`AudioXaiError` naming the file and line; :func:`brief` keeps values in messages short.
"""

from __future__ import annotations

import reprlib
from typing import Any

import yaml

from ..errors import AudioXaiError

#: Nesting a configuration may use; deeper files are refused before Python's recursion suffers.
MAX_DEPTH = 50

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4
_REPR.maxlevel = 2


def cut(text: str, limit: int = 80) -> str:
    """``text``, shortened to ``limit`` characters with ``...``."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def brief(value: Any) -> str:
    """``repr`` of a value from a file for a message: at most 80 characters, computed without
    building the whole ``repr`` of a big value."""
    return cut(_REPR.repr(value))


def parse_yaml(data: bytes, where: str) -> Any:
    """The single YAML document in ``data`` (UTF-8) read from ``where``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AudioXaiError(f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                            f"{exc.start})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark else where
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise AudioXaiError(f"{at}: not valid YAML ({cut(problem)})") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of over 4300 digits
        raise AudioXaiError(f"{where}: not valid YAML ({cut(' '.join(str(exc).split()))})"
                            ) from None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases, duplicate keys or nesting deeper than :data:`MAX_DEPTH`."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{cut(event.anchor)}) are not allowed here",
                event.start_mark)
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {brief(key)}", key_node.start_mark)
                seen.add(key)
            except TypeError:  # an unhashable key: SafeConstructor reports it
                break
        return super().construct_mapping(node, deep)
