"""The layout's rules, checked on the source: contracts below engines below the run machinery,
built-in plugins reached only through their registration point, and no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import audioxai_bench

PACKAGE = Path(audioxai_bench.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports at module level or inside functions."""
    name = module_name(path)
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            submodules = {f"{base}.{a.name}" for a in node.names}
            found |= submodules
            if not submodules <= modules:  # names from the module itself, not its submodules
                found.add(base)
    return {m for m in found if m in modules and m != name}


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def test_only_the_plugin_manager_imports_the_builtin_plugins():
    outside = {m for m, deps in graph().items()
               if not m.startswith("audioxai_bench.builtin")
               and any(d.startswith("audioxai_bench.builtin") for d in deps)}
    assert outside == {"audioxai_bench.plugins"}


def test_the_contracts_import_nothing_above_them():
    """The contracts rest on the data layer (the representations they describe) only."""
    for module, deps in graph().items():
        if module.startswith("audioxai_bench.api"):
            above = {d for d in deps if not d.startswith(("audioxai_bench.api",
                                                          "audioxai_bench.errors",
                                                          "audioxai_bench.data"))}
            assert not above, f"{module} imports {above}"
        if module.startswith("audioxai_bench.data"):
            assert not any(d.startswith("audioxai_bench.api") for d in deps), module


def test_the_engines_do_not_import_the_run_machinery_or_plugins():
    for module, deps in graph().items():
        if module.startswith("audioxai_bench.evaluation"):
            bad = {d for d in deps if d.startswith(("audioxai_bench.run", "audioxai_bench.builtin",
                                                    "audioxai_bench.plugins"))}
            assert not bad, f"{module} imports {bad}"


def test_there_are_no_import_cycles_between_modules():
    # package __init__ files that only re-export lazily are not edges of the layering
    edges = {m: {d for d in deps if d != "audioxai_bench"} for m, deps in graph().items()
             if m != "audioxai_bench"}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in edges.get(node, ()):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path + [node, dep]))
            if dep not in state:
                visit(dep, path + [node])
        state[node] = 2

    for node in edges:
        if node not in state:
            visit(node, [])
