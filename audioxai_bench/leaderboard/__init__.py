"""The leaderboard: ranked tables (Markdown + CSV) and one self-contained HTML page.

``build_leaderboard`` regenerates the committed ``leaderboard/`` folder from run folders;
``top_table`` is the short summary a run prints when it ends. Same records in, byte-identical
files out: nothing depends on the clock, the machine or the paths the records were read from,
except the ``.source.json`` manifest, which records those paths (see :mod:`.source`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..errors import AudioXaiError
from ..run.records import results_file
from . import collect, media, output, page, provenance, readme, source, tables
from .aggregate import ACCURACY_METRIC, RANK_METRIC, by_cell, sections

__all__ = ["build_leaderboard", "top_table"]

DEFAULT_TITLE = "audioxai-bench leaderboard"


def build_leaderboard(results: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                      *, title: str | None = None, quiet: bool = False,
                      force: bool = False, project_readme: str | os.PathLike[str] | None = None,
                      partial: bool = False, mixed_versions: bool = False) -> list[Path]:
    """Write ``README.md``, ``leaderboard.csv``, ``models.csv``, ``index.html`` and the
    ``.source.json`` manifest into ``out`` from run folders or ``results.jsonl`` files; return
    the paths written. With ``project_readme``, also fill its results blocks
    (:func:`readme.with_results`).

    Raises :class:`~audioxai_bench.errors.AudioXaiError` naming the file (and field) at fault
    when a results file cannot be used (an examples file or a sound that cannot is left out
    of the page with a note there and a warning), and, unless ``force``, when ``out``
    already holds the leaderboard of other benchmarks or datasets (or leaderboard files of
    unknown origin), unless ``partial``, when a run has not finished (with ``partial`` the
    leaderboard says so), and unless ``mixed_versions``, when the seeds or splits of a cell came
    from different plugin versions; nothing is written then.
    """
    df = collect.read(results, partial=partial, mixed_versions=mixed_versions)
    out = Path(out)
    pairs = source.sources(df)
    source.check(out, pairs, force=force)
    cells = by_cell(df)
    secs = sections(df, cells)
    title = title or DEFAULT_TITLE
    facts = provenance.facts(df)
    models, failures = tables.models_table(secs), tables.failures_table(df)
    settings = tables.settings_table(df)
    skipped: list[media.Skipped] = []
    outputs = {
        "README.md": readme.render(title, facts, secs, models, settings, failures),
        "leaderboard.csv": tables.leaderboard_csv(cells),
        "models.csv": tables.models_csv(secs),
        "index.html": page.render(title, facts, secs, models, settings, failures, skipped),
        source.MANIFEST: source.manifest_text(pairs, map(results_file, results), out),
    }
    paths = {out / name: text for name, text in outputs.items()}
    unfinished = bool(df["unfinished"].astype(bool).any())
    if project_readme is not None and unfinished:
        raise AudioXaiError(f"{project_readme}: not filled from runs that have not finished "
                            "(--partial); finish them first")
    if project_readme is not None:  # checked before anything is written
        paths[Path(project_readme)] = readme.with_results(Path(project_readme), secs)
    out.mkdir(parents=True, exist_ok=True)
    written = output.write_all(paths)  # all or none: a full disk cuts no README short
    for left_out in skipped:  # the page says so too, without the path
        print(f"warning: {left_out.path}: {left_out.reason}; left out of the page",
              file=sys.stderr)
    if not quiet:
        failed = int((df["status"] == "error").sum())
        sizes = ", ".join(f"{p.name} {_size(p.stat().st_size)}" for p in written)
        print(f"leaderboard{' (partial)' * unfinished}: {len(df)} cells ({failed} failed) in "
              f"{len(secs)} "
              f"section{'s' * (len(secs) != 1)} -> "
              f"{out}: {sizes}", file=sys.stderr)
    return written


def _size(n: int) -> str:
    return f"{n} B" if n < 1000 else f"{n / 1e3:.0f} kB" if n < 1e6 else f"{n / 1e6:.1f} MB"


def top_table(df: pd.DataFrame, n: int = 5) -> str:
    """Per (task, model): test accuracy against the paper's and the top ``n`` explainers by
    faithfulness gap with their 95 % intervals, as Markdown-ish plain text.

    ``df`` is a :func:`audioxai_bench.run.records.load_results` frame.
    """
    df = collect.normalise(df)
    lines = []
    for s in sections(df):
        acc = s.model_rows(ACCURACY_METRIC)
        lines.append(f"{s.title} ({s.benchmark}, {s.dataset}): test accuracy "
                     f"{tables.accuracy_text(acc)} (paper {tables.paper(s.task, s.model)})")
        if s.has(RANK_METRIC):
            header = ["#", "Explainer", f"Faithfulness gap{tables.arrow(s, RANK_METRIC)} "
                                        "[95 % CI]"]
            rows = [[s.ranks[e], e, tables.cell_text(s.cell(e, RANK_METRIC))]
                    for e in s.explainers[:n]]
            lines.append(tables.markdown(tables.Table("", header, rows)).rstrip("\n"))
            if any(r[0] != "–" and "–" in r[0] for r in rows):  # "–" alone: no value
                why = ("paired tests over (split, speaker) units, Holm-adjusted, do not "
                       "separate those explainers" if s.verdict is not None else
                       "those explainers' 95 % intervals overlap, or one of them has none")
                lines.append(f"a rank such as 1–3 is shared: {why}, so these results cannot "
                             "order them")
        else:
            lines.append("no faithfulness-gap results")
        failed = int((s.rows["status"] == "error").sum())
        if failed:
            lines.append(f"{failed} failed cell{'s' * (failed > 1)}: see the leaderboard's "
                         "'Failed cells'")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n" if lines else "no result records\n"
