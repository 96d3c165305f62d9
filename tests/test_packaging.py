"""What the distributions hold: the sdist has everything its tests read and the licence file
pyproject.toml names (tox -e wheel builds both and checks the installed wheel)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import audioxai_bench

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: pytest and tox depend on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
#: besides the package: what the tests read from the tree (helpers, conftest files, the docs
#: whose examples run, the example plugin, the benchmark definitions) and the tox file
TEST_INPUTS = ("tests", "benchmarks", "plugins/audioxai-bench-example", "CONTRIBUTING.md",
               "tox.ini")


def test_the_version_is_defined_once():
    """pyproject.toml and audioxai_bench.__version__ each had one: the distribution's version
    is now the package's."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    assert "version" not in project and "version" in project.get("dynamic", [])
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "audioxai_bench.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", audioxai_bench.__version__)


def test_pyproject_names_the_mit_licence_file():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = "MIT"$', pyproject, re.M)
    assert re.search(r'^license-files = \["LICENSE"\]$', pyproject, re.M)
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the audioxai-bench developers\n")


def _tracked(*paths: str) -> set[str]:
    out = subprocess.run(["git", "ls-files", "--", *paths], cwd=ROOT, capture_output=True,
                         text=True)
    if out.returncode or not out.stdout.strip():  # e.g. the unpacked sdist
        pytest.skip("not the suite's git checkout")
    return set(out.stdout.split())


def test_the_sdist_manifest_takes_every_file_the_tests_read(monkeypatch):
    """The sdist lacked conftest.py, helpers.py, the test subfolders, CONTRIBUTING.md and the
    example plugin, so its tests did not even collect."""
    filelist = pytest.importorskip("setuptools.command.egg_info").FileList
    monkeypatch.chdir(ROOT)
    files = filelist()
    files.allfiles = sorted(_tracked())  # not findall(): it walks .tox and .git (100 000 files)
    manifest = ROOT / "MANIFEST.in"
    lines = manifest.read_text(encoding="utf-8").splitlines() if manifest.exists() else []
    for line in lines:
        if line.strip() and not line.startswith("#"):
            files.process_template_line(line)
    wanted = _tracked(*TEST_INPUTS)
    assert not wanted - set(files.files)
