"""Tests of the plugin; they also show what a plugin's own tests should check.

``conftest.py`` finds the plugin through ``pyproject.toml``: the first three tests work for any
plugin unchanged. Replace ``test_known_answer`` with a known answer of your own method.
"""

import importlib.metadata

import pytest
import torch

from audioxai_bench.plugins import HOOKS, PluginManager, load_plugins
from audioxai_bench.testing import check_explainer, check_metric, check_sonifier, tiny_models

CHECKS = {"explainer": check_explainer, "metric": check_metric, "sonifier": check_sonifier}


def registered(pm, name):
    """Everything the plugin registered under ``name``, as (kind, object) pairs."""
    return [(kind, reg.obj) for kind in HOOKS for reg in pm.registry(kind).registrations()
            if reg.source.plugin == name]


def test_registers_without_failures(plugin):
    pm = PluginManager(entrypoints=False, strict=True)  # strict: any failure raises
    pm.register(plugin, "under-test")
    assert registered(pm, "under-test"), "the plugin registers nothing"


def test_every_object_keeps_its_contract(plugin):
    pm = PluginManager(builtins=False, entrypoints=False, strict=True)
    pm.register(plugin, "under-test")
    models = tiny_models()
    for kind, obj in registered(pm, "under-test"):
        if kind in CHECKS:  # runs it on both toy models, in eval and train mode
            CHECKS[kind](obj, models=models)


def test_found_through_its_entry_point(project, entry_point):
    try:
        importlib.metadata.distribution(project["name"])
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{project['name']} is not installed: run 'pip install -e .' in its folder")
    pm = load_plugins()
    assert not [str(f) for f in pm.failures if f.plugin == project["name"]]
    mine = registered(pm, project["name"])
    assert mine, f"entry point {entry_point.name} = {entry_point.value} registers nothing"
    source = pm.source(mine[0][0], mine[0][1].name)
    assert (source.version, source.origin) == (project["version"], "entry point")


def test_known_answer(plugin):
    """gradient-squared is the square of the built-in gradient (replace with your method's)."""
    pm = PluginManager(entrypoints=False)
    pm.register(plugin, "under-test")
    if "gradient-squared" not in pm.explainers:
        pytest.fail("test_known_answer checks the template's gradient-squared: replace it with "
                    "a known answer of your own method")
    model = tiny_models()["waveform"]
    x, target = torch.randn(2, 1, 8000), torch.tensor([1, 2])
    squared = pm.explain("gradient-squared", model, x, target)
    gradient = pm.explain("gradient", model, x, target)
    torch.testing.assert_close(squared, gradient**2)
