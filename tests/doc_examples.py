"""Code blocks of the Markdown documentation, for the tests that run them."""

from __future__ import annotations

import sys
import types
from pathlib import Path


def fenced_blocks(path: Path, language: str) -> list[tuple[str, int, str]]:
    """``(section heading, first line number, code)`` of every ```language block of a
    Markdown file, in order."""
    blocks, section, code, start = [], "", None, 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if code is None and line.startswith("#"):
            section = line.lstrip("#").strip()
        elif code is None and line.strip() == f"```{language}":
            code, start = [], number + 1
        elif code is not None and line.strip() == "```":
            blocks.append((section, start, "\n".join(code) + "\n"))
            code = None
        elif code is not None:
            code.append(line)
    return blocks


def run_blocks(path: Path, blocks: list[tuple[int, str]], module_name: str) -> types.ModuleType:
    """Execute code blocks in order in one fresh module (tracebacks point into ``path``)."""
    module = types.ModuleType(module_name)
    sys.modules[module_name] = module  # dataclasses look their module up here
    for start, code in blocks:
        exec(compile("\n" * (start - 1) + code, str(path), "exec"), module.__dict__)
    return module
