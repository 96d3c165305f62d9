"""Finds the plugin through pyproject.toml, so after renaming the package there (CONTRIBUTING,
step 1) the tests need no edit."""

import importlib.metadata
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the "test" extra installs tomli
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


@pytest.fixture(scope="session")
def project() -> dict:
    """The ``[project]`` table: ``name``, ``version``, ``entry-points``, ..."""
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


@pytest.fixture(scope="session")
def entry_point(project) -> importlib.metadata.EntryPoint:
    """The plugin's one entry point in the group ``audioxai_bench``."""
    points = project.get("entry-points", {}).get("audioxai_bench", {})
    if len(points) != 1:
        pytest.fail(f"{PYPROJECT}: [project.entry-points.audioxai_bench] must name exactly one "
                    f"plugin module, found {points}")
    ((name, value),) = points.items()
    return importlib.metadata.EntryPoint(name, value, "audioxai_bench")


@pytest.fixture(scope="session")
def plugin(entry_point):
    """The plugin module (what the entry point points at)."""
    return entry_point.load()
