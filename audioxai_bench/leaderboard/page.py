"""The leaderboard as one self-contained HTML page: tables, curves, relevance pictures, audio.

Everything is inline (CSS, the script of :mod:`.interactive`, PNG and WAV as data URIs) so the
page works offline, from a file, attached to an e-mail or as a CI artifact, and loads nothing
from the net. Tables sort by any column and filter their rows by text; numbers with their
interval never wrap (a wide table scrolls in its own box); figures are shown at their pixel size.
"""

from __future__ import annotations

import base64
import html
import itertools
import math
import re
import struct
from collections.abc import Sequence

from ..data.splits import SEX_LABELS
from . import figures, interactive, media, tables
from .aggregate import RANK_METRIC, Section, higher_is_better
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
 cursor:pointer;text-align:left;text-decoration:underline dotted #999;text-underline-offset:3px}
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
#: The models table's row of a model's mean over its folds and seeds (its Fold cell).
MODELS_SUMMARY = "mean ± std"
#: A cell this long that is not a number is prose (a failure's reason): it may wrap.
PROSE = 60
_VALUE = re.compile(r"^([-+\u2212]?[\d.]\S*) (\[[^\]]*\])(.*)$", re.S)
_NUMERIC = re.compile(r"^[-+\u2212]?(\d|\.\d)")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _cell(text: str) -> str:
    """A table cell: the interval of ``value [low, high] ...`` in a quieter span; long prose
    may wrap, everything else stays on one line."""
    match = _VALUE.match(text)
    if match:
        value, ci, rest = match.groups()
        return f'<td>{_e(value)} <span class="ci">{_e(ci)}</span>{_e(rest)}</td>'
    if len(text) > PROSE and not _NUMERIC.match(text):
        return f'<td class="text">{_e(text)}</td>'
    return f"<td>{_e(text)}</td>"


def _row(cells: Sequence[str], header: int, *, summary: bool = False) -> str:
    """A table row whose cell ``header`` names it (a row header: screen readers say it with
    every value of the row); a ``summary`` row stays last in its group when sorted."""
    cells_html = "".join(f'<th scope="row">{_e(text)}</th>' if i == header else _cell(text)
                         for i, text in enumerate(cells))
    return f'<tr class="summary">{cells_html}</tr>' if summary else f"<tr>{cells_html}</tr>"


def row_header(table: Table) -> int:
    """The column that names a row: the explainer's where there is one, else the first."""
    return list(table.header).index("Explainer") if "Explainer" in table.header else 0


def table_html(table: Table, table_id: str | None = None, *, filter_label: str | None = None,
               sorted_by: tuple[int, str] | None = None, names: int | None = None,
               groups: int = 0, summary: str | None = None) -> str:
    """An escaped, sortable HTML table with its caption, in a box that scrolls sideways when
    the table is wider than the page; with ``filter_label`` (and ``table_id``) a text filter
    under the caption. ``sorted_by``: the column the rows are already in order of and which
    way, ``"ascending"`` or ``"descending"`` (its header says so; no other header does).
    ``names``: the column of row headers (default :func:`row_header`). ``groups``: rows that
    agree on that many first cells are a group, sorted on its own, and a row whose name is
    ``summary`` stays last in its group."""
    column, way = sorted_by or (None, "")
    sort = f' aria-sort="{_e(way)}"'
    head = "".join(f'<th scope="col"{sort if i == column else ""}>{_e(h)}</th>'
                   for i, h in enumerate(table.header))
    names = row_header(table) if names is None else names
    # a body per run of rows that agree on the first ``groups`` cells (one without groups)
    body = "\n</tbody>\n<tbody>\n".join(
        "\n".join(_row(row, names, summary=summary is not None and row[names] == summary)
                  for row in rows)
        for _, rows in itertools.groupby(table.rows, key=lambda r: list(r[:groups])))
    box = ""
    if filter_label and table_id:  # in the caption: between its text and the table's header
        box = (f'<div class="filter-box"><label>Filter: <input type="search" class="filter" '
               f'aria-controls="{_e(table_id)}" aria-label="{_e(filter_label)}" '
               'placeholder="any text in a row"></label>'
               '<span class="count" aria-live="polite"></span></div>')
    return _figure(_e(table.caption), box, f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}"
                   "\n</tbody>", table_id, ' class="sortable"')


def _figure(caption: str, extra: str, content: str, table_id: str | None,
            attributes: str = "") -> str:
    """A table (``content``: its head and body) under its caption, the caption outside the box
    that scrolls a wide table sideways, so that a phone shows it whole; ``extra`` (the
    filter) follows the caption's text. With a ``table_id`` the caption's text names the
    table."""
    ident = named = ""
    if table_id:
        ident = f' id="{_e(table_id)}" aria-labelledby="{_e(table_id)}-caption"'
        named = f' id="{_e(table_id)}-caption"'
    return (f'<figure class="table"><figcaption><span{named}>{caption}</span>{extra}'
            f'</figcaption>\n<div class="scroll"><table{attributes}{ident}>\n{content}\n'
            "</table></div></figure>")


def _prose(markdown: str) -> str:
    """Escaped text with Markdown's `code` spans as <code> and **bold** as <strong>."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", _e(markdown))
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def _data(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    return struct.unpack(">II", png[16:24])


def _img(png: bytes, alt: str) -> str:
    """The picture at its pixel size (drawn at 96 dpi: text at its point size), smaller only
    where the window is narrower."""
    width, height = _png_size(png)
    return (f'<img alt="{_e(alt)}" width="{width}" height="{height}" '
            f'src="{_data("image/png", png)}">')


def _audio(wav: bytes, label: str) -> str:
    """A player named for screen readers and on hover; ``preload="metadata"`` shows the length
    (the sound is in the page already)."""
    return (f'<audio controls preload="metadata" aria-label="{_e(label)}" title="{_e(label)}" '
            f'src="{_data("audio/wav", wav)}"></audio>')


def _label(task: str, target: int) -> str:
    if task == "sex" and 0 <= target < len(SEX_LABELS):
        return SEX_LABELS[target]
    return str(target)


def _pictures(section: Section) -> str:
    examples = media.find_examples(section)
    if examples is None:
        return ('<p class="note">No examples/ file for this model in the run folder: no '
                "relevance pictures.</p>")
    if not examples.relevance:
        return f'<p class="note">The examples of fold {examples.model} hold no relevance maps.</p>'
    parts = []
    for i in range(len(examples.target)):
        title = (f"{section.title}, fold {examples.model}, example {i}: target "
                 f"{_label(section.task, int(examples.target[i]))}")
        png = figures.relevance_png(examples, i, section.explainers, title)
        planted = ("" if examples.ground_truth is None else
                   " Green: where the cue was planted (the ground truth), on the input and on "
                   "every map; an explanation that found the evidence is red there.")
        parts.append(f"<figure>{_img(png, title)}<figcaption>{_e(title)}. Red: positive "
                     "relevance, blue: negative; each panel's colour scale is clipped at the "
                     f"99.5th percentile of |R|.{_e(planted)}</figcaption></figure>")
    return "\n".join(parts)


#: What the preferred sonifier plays, by the section's input representation.
MASK_TEXT = {
    "spectrogram": "each sound is the explainer's whole relevance map (its positive part, scaled "
                   "to a maximum of 1) used as a soft mask on the clip's STFT magnitude, "
                   "inverted with the clip's own phase: bins of high relevance keep their "
                   "sound, bins of none are silenced, nothing is cut at a threshold",
    "waveform": "each sound is a soft mask on the clip's STFT magnitude, inverted with the "
                "clip's own phase: per bin, the share of the clip's magnitude that comes from "
                "the clip weighted sample by sample by its whole relevance map (its positive "
                "part, scaled to a maximum of 1); nothing is cut at a threshold",
}
#: Why the paper-configuration (-0db) variants are near silent, where the levels show it.
ZERO_DB_NOTE = ("The -0db variants take relevance relative to 0 dB, the loudest level, so the "
                "loud bins, whose level is close to that reference, get almost none: their mask "
                "is near zero where the sound is, and they are near silent")
#: An original's peak: the runner writes a clip's sounds at the gain that brings the loudest of
#: the original, a sonified sound and its complement to it (:func:`run.folder.write_sonified`).
PEAK_DBFS = -1.0


def _level(db: float) -> str:
    return "silent" if db == -math.inf else f"{db:+.0f} dB".replace("-", "\u2212")


def _span(levels: Sequence[float]) -> str:
    """The range of relative levels, loudest first: "−31 dB to −34 dB", or one level."""
    high, low = _level(max(levels)), _level(min(levels))
    return high if high == low else f"{high} to {low}"


def _listen(section: Section) -> str:
    audio = media.find_audio(section)
    if audio is None:
        return ('<p class="note">No audio/ folder for this model in the run folder: no '
                "sonified examples.</p>")
    explainers = {e for e, _ in audio.sonified}
    order = [e for e in section.explainers if e in explainers] + sorted(
        explainers - set(section.explainers))
    header = "".join(f'<th scope="col">{_e(s)}</th>' for s in audio.samples)
    where = f"{section.title}, fold {audio.model}"
    original = {s: media.levels(wav) for s, wav in audio.originals.items()}
    rows = ['<tr><th scope="row">original</th>' + "".join(
        f"<td>{_audio(audio.originals[s], f'original of {s} ({where})')}</td>"
        if s in audio.originals else "<td>–</td>" for s in audio.samples) + "</tr>"]
    heard: dict[str, list[float]] = {}  # the preferred sonifier's levels, per explainer
    for explainer in order:
        cells = []
        for sample in audio.samples:
            sounds = []
            for sonifier, wav in audio.sonified.get((explainer, sample), ()):
                label = f"explainer {explainer}, sonifier {sonifier}, clip {sample} ({where})"
                level = ""
                if sample in original:  # the sound's level against its original's
                    db = media.levels(wav)[0] - original[sample][0]
                    level = (' <small class="level" title="level (RMS) relative to the '
                             f'original">{_level(db)}</small>')
                    if sonifier == media.PREFERRED_SONIFIER:
                        heard.setdefault(explainer, []).append(db)
                sounds.append(f"{_audio(wav, label)}<small>{_e(sonifier)}</small>{level}")
            cells.append(f"<td>{''.join(sounds) or '–'}</td>")
        rows.append(f'<tr><th scope="row">{_e(explainer)}</th>{"".join(cells)}</tr>')
    caption = (f"Sonified test clips of {section.title}, explained for the model trained on "
               f"fold {audio.model}, at 8 kHz: every sonifier on {audio.samples[0]}, one per "
               f"explainer on the other clips; {media.PREFERRED_SONIFIER} first where the run "
               f"has it. {_listen_note(section, original, heard)}")
    return _figure(_e(caption), "", f'<thead><tr><th scope="col">explainer</th>{header}</tr>'
                   "</thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>",
                   f"{section.anchor}-listen")


def _listen_note(section: Section, original: dict[str, tuple[float, float]],
                 heard: dict[str, list[float]]) -> str:
    """What the sounds are, how loud, and why some are near silent, as far as the files show:
    ``original``, each clip's RMS and peak; ``heard``, the levels of each explainer's sounds
    by :data:`media.PREFERRED_SONIFIER` relative to their originals (dB)."""
    sentences = []
    mask = MASK_TEXT.get(section.representation or "")
    if heard and mask:
        sentences.append(f"With {media.PREFERRED_SONIFIER}, {mask}")
    gain = ("All sounds of a clip share one gain, set so that the loudest of the original, "
            "the sound and its complement peaks at −1 dBFS")
    if original and all(abs(peak - PEAK_DBFS) < 0.1 for _, peak in original.values()):
        gain += (": here always the original, so each sound plays at its original's gain "
                 "and a quiet one kept little of the clip's energy")
    sentences.append(gain + "; beside each player its level (RMS) relative to the original")
    zero = [db for e, dbs in heard.items() if e.endswith(figures.ZERO_DB) for db in dbs]
    other = [db for e, dbs in heard.items() if not e.endswith(figures.ZERO_DB) for db in dbs]
    if zero and other and all(math.isfinite(db) for db in zero + other):
        ranges = f"{_span(zero)} against {_span(other)} for the others"
        if max(zero) < min(other):
            sentences.append(f"{ZERO_DB_NOTE} ({ranges})")
        else:
            sentences.append(f"The -0db variants: {ranges}")
    return ". ".join(sentences) + "."


def _rank_column(section: Section, ranking: Table) -> tuple[int, str] | None:
    """The ranking's column of :data:`~.aggregate.RANK_METRIC` and the way its rows are in
    order of it (:func:`~.aggregate.ranked`: best first); None where the table has none. The
    shared rank (#) is not that order: its intervals' starts are not sorted."""
    label = tables.HEADLINE[RANK_METRIC]
    for i, head in enumerate(ranking.header):
        if head.rstrip(" ↑↓†") == label:
            cells = section.cells
            flags = cells.loc[(cells["metric"] == RANK_METRIC) & (cells["sonifier"] == ""),
                              "higher_is_better"]
            higher = higher_is_better(flags) is not False  # as ranked() reads it
            return i, "descending" if higher else "ascending"
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


def _section(section: Section, styles: dict[str, dict] | None = None) -> str:
    """One model's part of the page; ``styles``: :func:`figures.explainer_styles` of every
    explainer on the page."""
    parts = [f'<h2 id="{_e(section.anchor)}">{_e(section.title)}</h2>',
             f'<p class="note">benchmark {_e(section.benchmark)}, dataset '
             f'{_e(section.dataset)}, {_e(section.representation or "mixed")} input, folds '
             f'{_e(", ".join(map(str, section.folds)))}</p>']
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
        parts.append(f"<figure>{_img(picture, alt)}<figcaption>"
                     f"{_e(_curves_caption(section, kinds))}</figcaption></figure>")
    parts += ["<h3>Relevance</h3>", _pictures(section), "<h3>Listen</h3>", _listen(section)]
    return "\n".join(parts)


def render(title: str, facts: Sequence[tuple[str, str]], sections: Sequence[Section],
           models: Table, settings: Table | None, failures: Table | None) -> str:
    """The whole page."""
    nav = "".join(f'<li><a href="#{_e(s.anchor)}">{_e(s.title)} ({_e(s.benchmark)})</a></li>'
                  for s in sections)
    facts_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    styles = figures.explainer_styles(e for s in sections for e in s.explainers)
    failed = (table_html(failures, "failed-cells", filter_label="Filter the failed cells")
              if failures else '<p class="note">No cell failed.</p>')
    body = "\n".join([
        f"<h1>{_e(title)}</h1>",
        f'<dl class="facts">{facts_html}</dl>',
        '<nav><ul><li><a href="#read">How to read this</a></li>'
        '<li><a href="#models">Models</a></li>'
        + ('<li><a href="#settings">Explainer settings</a></li>' if settings else "")
        + f'{nav}<li><a href="#failed">Failed cells</a></li></ul></nav>',
        '<h2 id="read">How to read this</h2>',
        *(f'<p class="prose">{_prose(p)}</p>' for p in HOW_TO_READ.split("\n\n")),
        '<h2 id="models">Models</h2>',
        table_html(models, "models-table", filter_label="Filter the models",
                   names=list(models.header).index("Fold"), groups=3, summary=MODELS_SUMMARY),
        *(['<h2 id="settings">Explainer settings</h2>',
           table_html(settings, "settings-table", filter_label="Filter the explainer settings")]
          if settings else []),
        *(_section(s, styles) for s in sections),
        '<h2 id="failed">Failed cells</h2>', failed,
    ])
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n{body}\n"
            f"<script>\n{interactive.SCRIPT}\n</script>\n</body>\n</html>\n")
