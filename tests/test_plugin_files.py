"""One-file plugins: ``--plugin PATH``, ``AUDIOXAI_BENCH_PLUGINS`` and a definition's ``plugins:``
(:meth:`PluginManager.register_path`, :func:`plugin_paths_from_definition`)."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import types
from pathlib import Path

import pytest

import audioxai_bench
from audioxai_bench.cli import main
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.plugins import PluginManager, load_plugins, plugin_paths_from_definition

ONE_FILE = '''\
from __future__ import annotations

import dataclasses

import audioxai_bench

__version__ = "0.2"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Doubled(audioxai_bench.BaseExplainer):
    factor: float = 2.0

    def attribute(self, model, x, target):
        return self.factor * x


@audioxai_bench.hookimpl
def audioxai_bench_explainers():
    return [Doubled(name="doubled")]
'''


@pytest.fixture
def one_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_method.py"
    path.write_text(ONE_FILE)
    return path


def bare() -> PluginManager:
    return PluginManager(builtins=False, entrypoints=False)


def test_a_file_registers_with_its_path_and_content_hash(one_file):
    pm = bare()
    assert pm.register_path(str(one_file)) == "my_method"
    assert not pm.failures
    source = pm.source("explainer", "doubled")
    assert source.plugin == "my_method" and source.origin == f"file {one_file.resolve()}"
    assert re.fullmatch(r"0\.2\+sha256\.[0-9a-f]{12}", source.version)
    # a dataclass with string annotations works: the module is in sys.modules
    explainer = pm.explainers.get("doubled")
    assert type(explainer).__module__ in sys.modules and explainer.with_params(factor=3).factor == 3
    # given twice (e.g. --plugin and the environment): registered once, no failure
    assert pm.register_path(one_file) == "my_method" and not pm.failures
    # editing the file changes the version, so cached results of the old code are not reused
    one_file.write_text(ONE_FILE.replace("2.0", "4.0"))
    other = bare()
    other.register_path(one_file)
    assert other.source("explainer", "doubled").version != source.version


@pytest.mark.parametrize("content, reason", [
    (None, "no such file"),
    ("import audioxai_bench\n1 / 0\n", "import failed: ZeroDivisionError: division by zero"),
    ("def broken(:\n", "import failed: SyntaxError"),
    ("def audioxai_bench_explainers():\n    return []\n",
     "implements no hook: mark functions named after the hooks with @audioxai_bench.hookimpl"),
])
def test_file_failures_are_one_line_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "broken_method.py"
    if content is not None:
        path.write_text(content)
    pm = bare()
    pm.register_path(str(path))
    (failure,) = pm.failures
    text = str(failure)
    assert "\n" not in text
    assert re.match(rf"plugin broken_method( sha256\.\w+)?: file {re.escape(str(path.resolve()))}: "
                    rf"{re.escape(reason)}", text), text
    if content and "1 / 0" in content:
        assert str(path.resolve()) in failure.traceback and "ZeroDivisionError" in failure.traceback
    with pytest.raises(AudioXaiError, match="broken_method"):
        PluginManager(builtins=False, entrypoints=False, strict=True).register_path(path)


def test_two_files_with_one_stem_are_refused_naming_both(tmp_path, one_file):
    (tmp_path / "other").mkdir()
    twin = tmp_path / "other" / "my_method.py"
    twin.write_text(ONE_FILE.replace('"doubled"', '"doubled-twin"'))
    pm = bare()
    pm.register_path(one_file)
    assert pm.register_path(twin) is None
    assert "already used by my_method" in str(pm.failures[0])
    assert str(twin.resolve()) in str(pm.failures[0])


def test_a_module_name_registers_as_a_module(tmp_path, monkeypatch):
    (tmp_path / "mod_plugin_xyz.py").write_text(ONE_FILE.replace('"doubled"', '"from-module"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = bare()
    assert pm.register_path("mod_plugin_xyz") == "mod_plugin_xyz"
    source = pm.source("explainer", "from-module")
    digest = hashlib.sha256(b"mod_plugin_xyz.py\0" + (tmp_path / "mod_plugin_xyz.py").read_bytes())
    assert (source.plugin, source.version, source.origin) == (
        "mod_plugin_xyz", f"0.2+sha256.{digest.hexdigest()[:12]}", "module mod_plugin_xyz")
    pm.register_path("no_such_module_xyz")
    pm.register_path("not a module")
    assert [str(f) for f in pm.failures] == [
        "plugin no_such_module_xyz: module no_such_module_xyz: import failed: "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'",
        "plugin not a module: module not a module: is neither a .py file nor a module name"]


def test_an_edited_module_plugin_gets_another_version(tmp_path, monkeypatch):
    """A module on the path (not installed) said 'my_plugin 0.1.0' before and after an edit
    that changed its values; a package's digest covers each of its modules."""
    package = tmp_path / "edited_pkg_xyz"
    package.mkdir()
    (package / "__init__.py").write_text(ONE_FILE.replace('"doubled"', '"edited"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    versions = []
    for helper in ("SCALE = 2\n", "SCALE = 3\n"):
        (package / "helper.py").write_text(helper)
        pm = bare()
        pm.register_path("edited_pkg_xyz")
        versions.append(pm.source("explainer", "edited").version)
        sys.modules.pop("edited_pkg_xyz")
    assert versions[0] != versions[1] and all(v.startswith("0.2+sha256.") for v in versions)


def test_an_installed_module_plugin_keeps_its_version(monkeypatch):
    monkeypatch.setitem(sys.modules, "inst_plugin_xyz", types.ModuleType("inst_plugin_xyz"))
    monkeypatch.setattr("importlib.metadata.packages_distributions",
                        lambda: {"inst_plugin_xyz": ["inst-plugin"]})
    module = sys.modules["inst_plugin_xyz"]
    module.__version__ = "1.0"
    module.__file__ = __file__
    module.audioxai_bench_explainers = audioxai_bench.hookimpl(lambda: [])
    pm = bare()
    pm.register_path("inst_plugin_xyz")
    assert pm.describe_plugins()[0]["version"] == "1.0"


def test_environment_and_extra_are_loaded_and_blockable(tmp_path, one_file, monkeypatch):
    second = tmp_path / "second.py"
    second.write_text(ONE_FILE.replace('"doubled"', '"second"'))
    third = tmp_path / "third.py"
    third.write_text(ONE_FILE.replace('"doubled"', '"third"'))
    monkeypatch.setenv("AUDIOXAI_BENCH_PLUGINS", f"{one_file}, {second}{os.pathsep}")
    pm = load_plugins(entrypoints=False, extra=[third])
    assert {"doubled", "second", "third", "gradient"} <= set(pm.explainers.names())
    assert not pm.failures
    monkeypatch.setenv("AUDIOXAI_BENCH_BLOCK_PLUGINS", "second")
    pm = load_plugins(entrypoints=False)
    assert "doubled" in pm.explainers and "second" not in pm.explainers


def test_definition_paths_resolve_against_the_definition_folder(tmp_path):
    definition = tmp_path / "defs" / "bench.yaml"
    specs = plugin_paths_from_definition(
        ["my_method.py", "sub/other.py", "/abs/third.py", "pkg.plugin"], definition)
    assert specs == (str(tmp_path / "defs" / "my_method.py"),
                     str(tmp_path / "defs" / "sub" / "other.py"), "/abs/third.py", "pkg.plugin")
    assert plugin_paths_from_definition(None, definition) == ()
    assert plugin_paths_from_definition(["x.py"], None) == ("x.py",)


@pytest.mark.parametrize("raw, message", [
    ("my_method.py", r"bench.yaml: plugins: must be a list of .py files or module names, got "
                     r"str 'my_method.py'"),
    (["ok.py", 3], r"bench.yaml: plugins\[1\]: must be a .py file or a module name, got 3"),
    (["has space"], r"bench.yaml: plugins\[0\]: 'has space' is neither a .py file nor a module"),
])
def test_definition_plugins_errors_name_the_file_and_key(tmp_path, raw, message):
    with pytest.raises(AudioXaiError, match=message):
        plugin_paths_from_definition(raw, tmp_path / "bench.yaml")


def test_cli_plugins_lists_a_file_plugin(one_file, capsys):
    assert main(["plugins", "--kind", "explainer", "--plugin", str(one_file)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if " doubled " in f" {ln} ")
    assert line.split()[:3] == ["explainer", "doubled", "my_method"]
    assert f"file {one_file.resolve()}" in line


def test_cli_plugins_reports_a_broken_file_with_its_traceback_under_debug(tmp_path, capsys):
    path = tmp_path / "boom.py"
    path.write_text("raise RuntimeError('boom at import')\n")
    assert main(["plugins", "--debug", "--plugin", str(path)]) == 1
    captured = capsys.readouterr()
    assert f"FAILED: plugin boom: file {path.resolve()}: import failed: RuntimeError: boom at " \
           "import" in captured.err and "FAILED" not in captured.out
    assert "Traceback (most recent call last)" in captured.err and str(path) in captured.err


def test_cli_run_stops_before_any_work_when_a_named_plugin_cannot_load(tmp_path, capsys):
    missing = tmp_path / "missing.py"
    out = tmp_path / "out"
    assert main(["run", "--plugin", str(missing), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: plugin missing: file {missing.resolve()}: no such file\n"
    assert not out.exists()


def test_cli_run_stops_when_a_named_plugin_has_a_misspelt_hook(tmp_path, capsys):
    """The plugin imports and registers, then fails as a whole: the run must not go on
    without the method the user named (nor with half of it)."""
    path = tmp_path / "typo.py"
    path.write_text(ONE_FILE + "\n\n@audioxai_bench.hookimpl\ndef audioxai_bench_explainer():\n"
                    "    return []\n")
    out = tmp_path / "out"
    assert main(["run", "--plugin", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"error: plugin typo 0\.2\+sha256\.\w+: audioxai_bench_explainer: "
                        r"implements an unknown hook \(did you mean "
                        r"'audioxai_bench_explainers'\?\)\n", err), err
    assert not out.exists()


def test_cli_run_loads_the_definitions_plugins_first(tmp_path, capsys):
    """A definition's `plugins:` load like --plugin, relative to the definition's folder."""
    definition = tmp_path / "defs" / "bench.yaml"
    definition.parent.mkdir()
    definition.write_text("version: 1\nname: mine\nplugins: [gone.py]\n")
    assert main(["run", str(definition), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"error: plugin gone: file {(tmp_path / 'defs').resolve() / 'gone.py'}: no such file\n")
