"""CONTRIBUTING.md cannot rot: each of its Python examples runs as written (alone, in a fresh
module, importing what it uses; a block the text says to save as ``name.py`` is importable as
``name`` by the blocks after it), the plugins they define pass the contract checks, and
following its renaming step literally gives a template whose tests pass."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli there
    import tomli as tomllib

from audioxai_bench.plugins import HOOKS, PluginManager
from audioxai_bench.testing import check_explainer, check_metric, check_sonifier, tiny_models
from tests.doc_examples import fenced_blocks, run_blocks

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "CONTRIBUTING.md"
TEMPLATE = ROOT / "plugins" / "audioxai-bench-example"
CHECKS = {"explainer": check_explainer, "metric": check_metric, "sonifier": check_sonifier}


def sections() -> dict[str, list[tuple[int, str]]]:
    found: dict[str, list[tuple[int, str]]] = {}
    for section, start, code in fenced_blocks(DOC, "python"):
        found.setdefault(section, []).append((start, code))
    return found


def saved_as(start: int) -> str | None:
    """The module name of the block whose code starts at line ``start`` when the paragraph
    just above it says "Save this (or it) as `name.py`"."""
    lines = DOC.read_text(encoding="utf-8").splitlines()[: start - 2]  # up to the fence
    while lines and not lines[-1].strip():
        lines.pop()
    paragraph = []
    while lines and lines[-1].strip():
        paragraph.insert(0, lines.pop())
    found = re.search(r"Save (?:this|it) as `(\w+)\.py`", " ".join(paragraph))
    return found[1] if found else None


@contextlib.contextmanager
def section_modules(section: str, prefix: str) -> Iterator[list[types.ModuleType]]:
    """Each block of ``section`` run alone in a fresh module, in order: named as the text
    saves it, else after the section; removed from ``sys.modules`` afterwards."""
    slug = prefix + re.sub(r"\W+", "_", section).strip("_").lower()
    names = []
    try:
        modules = []
        for i, (start, code) in enumerate(sections()[section]):
            names.append(saved_as(start) or f"{slug}_{i}")
            modules.append(run_blocks(DOC, [(start, code)], names[-1]))
        yield modules
    finally:
        for name in names:
            sys.modules.pop(name, None)


def registered(module: types.ModuleType, name: str) -> list[tuple[str, object]]:
    pm = PluginManager(builtins=False, entrypoints=False, strict=True)
    pm.register(module, name)
    return [(kind, reg.obj) for kind in HOOKS for reg in pm.registry(kind).registrations()]


@pytest.fixture(scope="module")
def models():
    return tiny_models()


@pytest.mark.parametrize("section", sorted(sections()))
def test_the_python_examples_of_each_section_run_and_keep_the_contract(section, models,
                                                                       capsys):
    with section_modules(section, "contributing_") as modules:
        for module in modules:
            hooks = [n for n in vars(module) if n in HOOKS.values()]
            objects = registered(module, module.__name__)
            assert bool(hooks) == bool(objects), f"{section}: hooks {hooks} registered {objects}"
            for kind, obj in objects:
                if kind in CHECKS:
                    CHECKS[kind](obj, models=models)


def test_the_walkthroughs_cover_a_one_file_plugin_an_explainer_a_metric_and_a_sonifier():
    kinds = {}
    for section in sections():
        with section_modules(section, "contributing_kinds_") as modules:
            for module in modules:
                for kind, _ in registered(module, module.__name__):
                    kinds.setdefault(kind, set()).add(section.split(".")[0])
    assert kinds["explainer"] >= {"0", "2"}
    assert kinds["metric"] == {"8"} and kinds["sonifier"] == {"9"}


def test_the_saved_files_are_the_ones_the_text_names():
    """The one-file plugin of section 0 and the metric of section 8 are importable under the
    names their text gives them, which the later examples and commands use."""
    saved = {saved_as(start) for blocks in sections().values() for start, _ in blocks}
    assert {"my_method", "loud_mass"} <= saved


def test_step_2_shows_the_template_plugin_verbatim():
    (blocks,) = [b for s, b in sections().items() if s.startswith("2.")]
    template = (TEMPLATE / "audioxai_bench_example" / "__init__.py").read_text()
    assert blocks[0][1] == template


def renamed_template(tmp_path: Path) -> Path:
    """The template after step 1 done literally: copied, package folder renamed, and the lines
    of the step's TOML block put into pyproject.toml (each replaces the line with its key in
    its table; the entry-point table is replaced whole)."""
    copy = tmp_path / "my-plugin"
    subprocess.run(["cp", "-r", str(TEMPLATE), str(copy)], check=True)
    (copy / "audioxai_bench_example").rename(copy / "my_plugin")
    (toml_block,) = [code for section, _, code in fenced_blocks(DOC, "toml")
                     if section.startswith("1.")]
    wanted: dict[str, list[str]] = {}
    table = ""
    for line in toml_block.splitlines():
        if line.startswith("["):
            table = line.strip()
        elif "=" in line:
            wanted.setdefault(table, []).append(line)
    out, table = [], ""
    for line in (copy / "pyproject.toml").read_text().splitlines():
        if line.startswith("["):
            table = line.strip()
        elif "=" in line and table in wanted:
            key = line.split("=")[0].strip()
            lines = wanted[table]
            if table == "[project.entry-points.audioxai_bench]":
                out += lines if not out or out[-1] not in lines else []
                continue
            line = next((w for w in lines if w.split("=")[0].strip() == key), line)
        out.append(line)
    (copy / "pyproject.toml").write_text("\n".join(out) + "\n")
    return copy


def test_step_1_changes_every_name_the_template_needs(tmp_path):
    copy = renamed_template(tmp_path)
    project = tomllib.loads((copy / "pyproject.toml").read_text())
    assert project["project"]["name"] == "my-plugin"
    assert project["project"]["entry-points"]["audioxai_bench"] == {"my-plugin": "my_plugin"}
    assert project["tool"]["setuptools"]["packages"] == ["my_plugin"]
    # nothing else in the copy still names the template's module
    stale = [p for p in copy.rglob("*") if p.is_file() and p.suffix in (".py", ".toml", ".yaml")
             and "audioxai_bench_example" in p.read_text()]
    assert not stale


@pytest.mark.slow
def test_the_renamed_template_passes_its_own_tests(tmp_path):
    """Step 1 literally, then step 4's pytest; "pip install -e ." is stood in for by the
    metadata it writes (a dist-info folder with the entry point), so no index is needed."""
    copy = renamed_template(tmp_path)
    site = tmp_path / "site"
    info = site / "my_plugin-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[audioxai_bench]\nmy-plugin = my_plugin\n")
    env = {"PYTHONPATH": f"{copy}:{site}:{ROOT}", "PATH": "/usr/bin:/bin",
           "OMP_NUM_THREADS": "1", "AUDIOXAI_BENCH_CACHE": str(tmp_path / "cache"),
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_the_smoke_definition_scores_the_quickstarts_model_and_what_it_lists():
    """smoke.yaml trained 5 steps (a model at chance: every score 0) and listed a sonifier no
    metric used; it now scores the quickstart's trained digit AudioNet of split 0 (the same
    data, width and training, so one cache serves both) and every sonifier it lists."""
    from audioxai_bench.run.definition import load_benchmark, shipped_path

    smoke = load_benchmark(TEMPLATE / "smoke.yaml")
    quick = load_benchmark(shipped_path("quickstart"))
    assert smoke.data == quick.data and smoke.executor == quick.executor
    assert (smoke.preset, smoke.training) == (quick.preset, quick.training)
    assert set(smoke.models) <= set(quick.models) and smoke.folds["digit"] == (0,)
    pm = PluginManager(entrypoints=False)
    sonified = [m for m in smoke.metrics if "sonifier" in pm.metrics.get(m.base).needs]
    assert smoke.sonifiers and sonified


def test_the_templates_known_answer_says_to_replace_it_once_the_method_is_replaced():
    import importlib.util

    import audioxai_bench

    spec = importlib.util.spec_from_file_location(
        "template_tests", TEMPLATE / "tests" / "test_example_plugin.py")
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    mine = types.ModuleType("mine")
    mine.audioxai_bench_explainers = audioxai_bench.hookimpl(lambda: [])
    with pytest.raises(pytest.fail.Exception, match="replace it with a known answer of your own"):
        tests.test_known_answer(mine)
