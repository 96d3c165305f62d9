"""The leaderboard as one self-contained HTML page: tables, curves, relevance pictures, audio.

Everything is inline (CSS, the script of :mod:`.interactive`, PNG and WAV as data URIs) so the
page works offline, from a file, attached to an e-mail or as a CI artifact, and loads nothing
from the net. Tables sort by any column and filter their rows by text; numbers with their
interval never wrap (a wide table scrolls in its own box); figures are shown at their pixel size.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from ..data.splits import SEX_LABELS
from . import figures, interactive, media, tables
from .aggregate import ACCURACY_METRIC, RANK_METRIC, Section
from .listen import listen
from .markup import escape, img, table_html
from .readme import HOW_TO_READ
from .tables import Table

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;
 max-width:1500px;padding:1em 2em;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;margin-top:2em}
.scroll{overflow-x:auto;margin:.3em 0 0}figure.table{margin:.6em 0 1.2em}
table{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top;
 white-space:nowrap}
td.text{white-space:normal;min-width:24em}
th{background:#f3f3f3}tbody tr{background:#fff}tbody tr:nth-child(even){background:#fafafa}
tbody+tbody{border-top:2px solid #bbb}tr.summary>*{font-weight:600}
tbody th{font-weight:500;background:inherit;position:sticky;left:0;z-index:1;
 box-shadow:inset -1px 0 0 #ccc}
th button{font:inherit;font-weight:600;color:inherit;background:none;border:0;padding:0;
 cursor:pointer;text-align:left;text-decoration:underline dotted #999;text-underline-offset:3px;
 width:100%}
th[aria-sort] button::after{font-size:.75em;font-weight:400;margin-left:.4em;padding:0 .3em;
 border-radius:3px;background:#dde3ee;color:#223}
th[aria-sort=ascending] button::after{content:"asc"}
th[aria-sort=descending] button::after{content:"desc"}
.ci{color:#666;font-size:.9em}
.filter-box{margin:.5em 0 .2em;font-size:13px;color:#222}.filter-box input{font:inherit;width:18em}
.filter-box .count{color:#666;margin-left:.6em}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 1em;
 font-size:13px}
dl.facts dt{font-weight:600}dl.facts dd{margin:0;overflow-wrap:anywhere}
.note{color:#666;font-style:italic}figure{margin:.5em 0 1em}
figcaption{color:#555;font-size:12.5px;max-width:75em}
audio{height:30px;width:220px;display:block}
nav ul{columns:3}img{max-width:100%;height:auto}
p.prose{max-width:75em}
@media (max-width:600px){body{padding:.5em .8em}nav ul{columns:1;padding-left:1.2em}
 dl.facts{grid-template-columns:minmax(0,1fr)}dl.facts dd{margin-bottom:.3em}}
""".strip()


def _prose(markdown: str) -> str:
    """Escaped text with Markdown's `code` spans as <code> and **bold** as <strong>."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(markdown))
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def _label(task: str, target: int) -> str:
    if task == "sex" and 0 <= target < len(SEX_LABELS):
        return SEX_LABELS[target]
    return str(target)


def _pictures(section: Section, skipped: list[media.Skipped] | None = None) -> str:
    """The relevance pictures of the section's first examples; a broken examples file is left
    out with a note (and added to ``skipped``)."""
    mine: list[media.Skipped] = []
    examples = media.find_examples(section, mine)
    if skipped is not None:
        skipped += mine
    notes = [f'<p class="note">{escape(s.note)}</p>' for s in mine]
    if examples is None:
        return "\n".join([*notes, '<p class="note">No examples/ file for this model in the run '
                                   "folder: no relevance pictures.</p>"
                           if not mine else '<p class="note">No relevance pictures.</p>'])
    if not examples.relevance:
        return "\n".join([*notes, f'<p class="note">The examples of fold {examples.model} hold '
                                   "no relevance maps.</p>"])
    parts = notes
    for i in range(len(examples.target)):
        title = (f"{section.title}, fold {examples.model}, example {i}: target "
                 f"{_label(section.task, int(examples.target[i]))}")
        png = figures.relevance_png(examples, i, section.explainers, title)
        planted = ("" if examples.ground_truth is None else
                   " Green: where the cue was planted (the ground truth), on the input and on "
                   "every map; an explanation that found the evidence is red there.")
        parts.append(f"<figure>{img(png, title)}<figcaption>{escape(title)}. Red: positive "
                     "relevance, blue: negative; each panel's colour scale is clipped at the "
                     f"99.5th percentile of |R|.{escape(planted)}</figcaption></figure>")
    return "\n".join(parts)


def _rank_column(section: Section, ranking: Table) -> tuple[int, str] | None:
    """The ranking's column of :data:`~.aggregate.RANK_METRIC` and the way its rows are in
    order of it (:func:`~.aggregate.ranked`: best first); None where the table has none. The
    shared rank (#) is not that order: its intervals' starts are not sorted."""
    label = tables.HEADLINE[RANK_METRIC]
    for i, head in enumerate(ranking.header):
        if head.rstrip(" ↑↓†") == label:
            # as ranked() reads it (the rank metric has no sonifier rows)
            return i, "descending" if section.direction(RANK_METRIC) is not False else "ascending"
    return None


#: What each panel of the perturbation curves plots (:func:`figures.curves_figure`).
PANELS = {"probability": "the model's probability of the true class, mean over clips",
          "accuracy": "the true-class accuracy, the share of clips still classified as their "
                      "true class"}


def _curves_caption(section: Section, kinds: Sequence[str]) -> str:
    """What the curves figure shows: every panel, left to right, and how its lines are told
    apart."""
    places = ["Left", "right"] if len(kinds) == 2 else ["The panel"]
    panels = "; ".join(f"{place}: {PANELS[k]}" for place, k in zip(places, kinds))
    controls = [e for e in figures.CONTROLS if e in section.explainers]
    variants = any(e.endswith(figures.ZERO_DB) for e in section.explainers)
    return ("Deletion curves, most relevant input first, per explainer (mean over trained "
            f"models). {panels}. A faithful explanation falls fast and far below the random "
            "order. Each explainer has one colour, marker and dash pattern in every figure of "
            "this page"
            + (f"; the {' and '.join(controls)} maps (controls) are grey, dash-dot"
               if controls else "")
            + (f"; the {figures.ZERO_DB} variants dotted, in their method's colour"
               if variants else "")
            + ". References, without markers: the random order (black, dashed) and the "
            "amplitude order, loudest first (grey, dotted).")


def _first_record(rows: pd.DataFrame) -> dict:
    return next((r for r, s in zip(rows["record"], rows["status"]) if s == "ok"), {})


def paper_caption(sections: Sequence[Section]) -> str:
    """What the figure after the paper's input-manipulation test shows
    (:func:`figures.paper_figure`), read from its records: what k counts, the baseline, the
    controls, and the differences from the paper that remain (the models' recipe, synthetic
    data, the spectrogram's baseline)."""
    panels = [section for section, _, _ in figures.paper_panels(sections)]
    record = _first_record(panels[0].metric_rows(figures.PAPER_METRIC))
    info = record.get("info") or {}
    n_random = ((record.get("params") or {}).get("metric") or {}).get("n_random")
    if info.get("scope", "all") == "all":
        k = ("k, the share of the whole input set to the baseline one sample or bin at a time: "
             "of all 8 000 samples of a waveform, of all 227 × 227 bins of a spectrogram, "
             "silent ones ranked among them")
    else:
        k = ("k, the share of the samples or bins that hold sound set to the baseline one at "
             "a time (silent ones are not counted)")
    setups = []
    for section in panels:
        acc = _first_record(section.model_rows(ACCURACY_METRIC)).get("info") or {}
        if acc.get("preset") != "paper" or (acc.get("width") or 1) < 1:
            setups.append(f"{section.model} at width {acc.get('width', 1):g} with the "
                          f"{acc.get('preset', 'unknown')} preset")
    differences = []
    if setups:
        differences.append("narrow models (" + ", ".join(dict.fromkeys(setups)) + ") where "
                           "the paper trained full-width networks with its own budget")
    if any(section.dataset.startswith("synthetic") for section in panels):
        differences.append("synthetic data (this project's stand-in), not the recorded "
                           "AudioMNIST")
    differences.append("the paper's spectrogram manipulation is not known, so a spectrogram's "
                       "baseline, the -80 dB floor (silence), is this project's choice")
    return ("After the paper's input-manipulation figure (Becker et al., arXiv 1807.03418): per "
            "model and task, the true-class accuracy (the share of test clips still classified "
            "as their true class; mean over the panel's trained models, splits × seeds) "
            f"against {k}. Thin, muted lines: each explainer's most relevant first (by signed "
            "relevance, in its colour on every figure of this page); thick: the random order "
            "(black, dashed"
            + (f"; mean of {n_random} seeded permutations" if n_random else "")
            + ") and the amplitude order, loudest first (grey, dotted); thin grey: chance. "
            f"Baseline: {info.get('baseline_is', info.get('baseline', 'not stated'))}. The k "
            f"axis is linear up to {figures.PAPER_LINEAR_BELOW:g} %, logarithmic above. "
            "Differences from the paper that remain: " + "; ".join(differences) + ".")


def _paper(sections: Sequence[Section], styles: dict[str, dict]) -> str:
    """The page's part after the paper's input-manipulation test: the figure and its caption,
    or the note why there is none."""
    parts = [f'<h2 id="{figures.PAPER_ANCHOR}">{escape(figures.PAPER_HEADING)}</h2>']
    picture = figures.paper_png(sections, styles)
    if picture is None:
        parts.append(f'<p class="note">{_prose(figures.PAPER_ABSENT)}</p>')
        return "\n".join(parts)
    alt = ("Accuracy against the share of the whole input set to the baseline, most relevant "
           "first per explainer against the random and amplitude orders, for "
           + ", ".join(s.title for s, _, _ in figures.paper_panels(sections)))
    parts.append(f"<figure>{img(picture, alt)}<figcaption>"
                 f"{escape(paper_caption(sections))}</figcaption></figure>")
    return "\n".join(parts)


def _section(section: Section, styles: dict[str, dict] | None = None,
             skipped: list[media.Skipped] | None = None) -> str:
    """One model's part of the page; ``styles``: :func:`figures.explainer_styles` of every
    explainer on the page; the media files it leaves out are added to ``skipped``."""
    parts = [f'<h2 id="{escape(section.anchor)}">{escape(section.title)}</h2>',
             f'<p class="note">benchmark {escape(section.benchmark)}, dataset '
             f'{escape(section.dataset)}, {escape(section.representation or "mixed")} input, '
             "folds "
             f'{escape(", ".join(map(str, section.folds)))}</p>']
    if section.explainers:
        ranking = tables.ranking_table(section)
        parts.append(table_html(ranking, f"{section.anchor}-ranking",
                                filter_label=f"Filter the ranking of {section.title}",
                                sorted_by=_rank_column(section, ranking)))
    else:
        parts.append('<p class="note">No explainer results for this model.</p>')
    for kind, extra in (("control", tables.control_table(section)),
                        ("bands", tables.bands_table(section)),
                        ("sonification", tables.sonification_table(section)),
                        ("reliability", tables.reliability_table(section))):
        if extra is not None:
            parts.append(table_html(extra, f"{section.anchor}-{kind}",
                                    filter_label=f"Filter the {kind} table of {section.title}"))
    curves = figures.curves_png(section, styles)
    parts.append("<h3>Perturbation curves</h3>")
    if curves is None:
        parts.append('<p class="note">No perturbation curves in these records.</p>')
    else:
        picture, kinds = curves
        alt = (f"Perturbation curves of {section.title}: "
               + " and ".join(PANELS[k].split(",")[0] for k in kinds)
               + " per explainer as the most relevant input is removed, against the random "
               "and amplitude orders")
        parts.append(f"<figure>{img(picture, alt)}<figcaption>"
                     f"{escape(_curves_caption(section, kinds))}</figcaption></figure>")
    parts += ["<h3>Relevance</h3>", _pictures(section, skipped), "<h3>Listen</h3>",
              listen(section, skipped)]
    return "\n".join(parts)


def render(title: str, facts: Sequence[tuple[str, str]], sections: Sequence[Section],
           models: Table, settings: Table | None, failures: Table | None,
           skipped: list[media.Skipped] | None = None) -> str:
    """The whole page; the media files it leaves out (each with a note) are added to
    ``skipped``."""
    nav = "".join(f'<li><a href="#{escape(s.anchor)}">{escape(s.title)} '
                  f"({escape(s.benchmark)})</a></li>" for s in sections)
    facts_html = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    styles = figures.explainer_styles(e for s in sections for e in s.explainers)
    failed = (table_html(failures, "failed-cells", filter_label="Filter the failed cells")
              if failures else '<p class="note">No cell failed.</p>')
    body = "\n".join([
        f"<h1>{escape(title)}</h1>",
        f'<dl class="facts">{facts_html}</dl>',
        '<nav><ul><li><a href="#read">How to read this</a></li>'
        '<li><a href="#models">Models</a></li>'
        + ('<li><a href="#settings">Explainer settings</a></li>' if settings else "")
        + f'<li><a href="#{figures.PAPER_ANCHOR}">{escape(figures.PAPER_HEADING)}</a></li>'
        + f'{nav}<li><a href="#failed">Failed cells</a></li></ul></nav>',
        '<h2 id="read">How to read this</h2>',
        *(f'<p class="prose">{_prose(p)}</p>' for p in HOW_TO_READ.split("\n\n")),
        '<h2 id="models">Models</h2>',
        table_html(models, "models-table", filter_label="Filter the models",
                   names=list(models.header).index("Fold"), groups=3,
                   summary=tables.MODELS_SUMMARY),
        *(['<h2 id="settings">Explainer settings</h2>',
           table_html(settings, "settings-table", filter_label="Filter the explainer settings")]
          if settings else []),
        _paper(sections, styles),
        *(_section(s, styles, skipped) for s in sections),
        '<h2 id="failed">Failed cells</h2>', failed,
    ])
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n"
            f"{body}\n"
            f"<script>\n{interactive.SCRIPT}\n</script>\n</body>\n</html>\n")
