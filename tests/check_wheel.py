"""``tox -e wheel``: the built distributions, not the checkout.

``python -I tests/check_wheel.py DIST`` takes the wheel and the sdist that ``python -m build``
wrote into DIST, installs the wheel into the running environment (that package only: its
dependencies must be there already), and from a temporary folder outside the repository, in
fresh interpreters that do not see the checkout, checks that

- ``audioxai_bench`` is imported from the installed wheel, with its package data
  (``py.typed``, ``data/splits.json``, the definitions and their JSON schema) and the
  dependencies its metadata names;
- every shipped definition loads and its names resolve against the built-in plugins (what
  ``audioxai-bench run`` checks before any work);
- the ``audioxai-bench`` command prints the version and lists the plugins;

and that the tests of the unpacked sdist collect. Not a pytest module (pytest collects
``test_*.py``).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE_DATA = ("py.typed", "data/splits.json", "definitions/benchmark.schema.json")


def installed() -> None:
    """The checks inside the environment, run from a folder outside the repository."""
    import importlib.metadata
    import json
    from importlib import resources

    from packaging.requirements import Requirement

    import audioxai_bench
    from audioxai_bench.plugins import load_plugins
    from audioxai_bench.run.definition import SHIPPED, load_benchmark
    from audioxai_bench.run.plan import plan_benchmark

    where = Path(audioxai_bench.__file__).resolve()
    assert Path(sys.prefix).resolve() in where.parents, f"imported from {where}, not the env"
    version = importlib.metadata.version("audioxai-bench")
    assert audioxai_bench.__version__ == version, (audioxai_bench.__version__, version)
    for text in importlib.metadata.requires("audioxai-bench") or []:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            got = importlib.metadata.version(req.name)
            assert req.specifier.contains(got, prereleases=True), f"{req}: installed {got}"
    files = resources.files("audioxai_bench")
    for name in (*PACKAGE_DATA, *(f"definitions/{name}.yaml" for name in SHIPPED)):
        assert files.joinpath(name).is_file(), f"package data {name} is missing"
    json.loads(files.joinpath("definitions/benchmark.schema.json").read_text())
    pm = load_plugins(entrypoints=False)
    for name in SHIPPED:
        plan = plan_benchmark(load_benchmark(name), pm)
        print(f"{name}: {len(plan.explainers)} explainers, {len(plan.metrics)} metrics, "
              f"{len(plan.sonifiers)} sonifiers, models {', '.join(plan.models)}")
    print(f"audioxai-bench {version} from {where.parent}: package data and definitions ok")


def _run(args: list[str | Path], cwd: Path, *, last: bool = False) -> str:
    """Run ``args`` in ``cwd`` and show what it printed (only its last line with ``last``,
    unless it fails); exit naming it when it fails."""
    print("$", " ".join(map(str, args)), flush=True)
    out = subprocess.run(list(map(str, args)), cwd=cwd, capture_output=True, text=True)
    shown = out.stdout + out.stderr
    if last and not out.returncode:
        shown = shown.rstrip().rsplit("\n", 1)[-1] + "\n"
    print(shown, end="", flush=True)
    if out.returncode:
        sys.exit(f"failed with status {out.returncode}: {' '.join(map(str, args))}")
    return out.stdout


def main(dist: Path) -> None:
    (wheel,), (sdist,) = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    python = Path(sys.executable)
    with tempfile.TemporaryDirectory(prefix="audioxai-bench-wheel-") as tmp:
        here = Path(tmp)
        # --ignore-installed: into this env even where the interpreter's site-packages (which
        # sitepackages = true shows) hold an editable install; nothing there is uninstalled
        _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--ignore-installed",
              wheel], here)
        _run([python, "-I", Path(__file__).resolve(), "--installed"], here)
        command = python.parent / "audioxai-bench"
        version = _run([command, "--version"], here).strip()
        assert version.startswith("audioxai-bench "), version
        listing = _run([command, "plugins"], here, last=True)
        assert "builtin" in listing and "gradient" in listing, listing
        with tarfile.open(sdist) as archive:
            archive.extractall(here / "sdist", filter="data")
        (tree,) = (here / "sdist").iterdir()
        _run([python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"], tree,
             last=True)
    print(f"ok: {wheel.name} installed and checked, the tests of {sdist.name} collect")


if __name__ == "__main__":
    if sys.argv[1:] == ["--installed"]:
        installed()
    elif len(sys.argv) == 2:
        main(Path(sys.argv[1]))
    else:
        sys.exit(__doc__)
