"""The leaderboard as one self-contained HTML page: tables, curves, relevance pictures, audio.

Everything is inline (CSS, PNG and WAV as data URIs) so the page works offline, from a file,
attached to an e-mail or as a CI artifact, and loads nothing from the net.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from ..data.splits import SEX_LABELS
from . import figures, media, tables
from .aggregate import Section
from .tables import Table

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;
 max-width:1280px;padding:1em 2em;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:12.5px}
caption{caption-side:top;text-align:left;color:#555;padding-bottom:.3em}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3}tbody tr:nth-child(even){background:#fafafa}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 1em;font-size:13px}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
.note{color:#666;font-style:italic}figure{margin:.5em 0 1em}
figcaption{color:#555;font-size:12.5px}audio{height:28px;width:210px}
nav ul{columns:3}img{max-width:100%;height:auto}
""".strip()


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def table_html(table: Table) -> str:
    """An escaped HTML table with its caption."""
    head = "".join(f"<th>{_e(h)}</th>" for h in table.header)
    body = "\n".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>"
                     for row in table.rows)
    return (f"<table>\n<caption>{_e(table.caption)}</caption>\n<thead><tr>{head}</tr></thead>"
            f"\n<tbody>\n{body}\n</tbody>\n</table>")


def _data(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="{_data("image/png", png)}">'


def _audio(wav: bytes) -> str:
    return f'<audio controls preload="none" src="{_data("audio/wav", wav)}"></audio>'


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
        return f'<p class="note">The examples of fold {examples.fold} hold no relevance maps.</p>'
    parts = []
    for i in range(len(examples.target)):
        title = (f"{section.title}, fold {examples.fold}, example {i}: target "
                 f"{_label(section.task, int(examples.target[i]))}")
        png = figures.relevance_png(examples, i, section.explainers, title)
        parts.append(f"<figure>{_img(png, title)}<figcaption>{_e(title)}. Red: positive "
                     "relevance, blue: negative; each panel's colour scale is clipped at the "
                     "99.5th percentile of |R|.</figcaption></figure>")
    return "\n".join(parts)


def _listen(section: Section) -> str:
    audio = media.find_audio(section)
    if audio is None:
        return ('<p class="note">No audio/ folder for this model in the run folder: no '
                "sonified examples.</p>")
    explainers = {e for e, _ in audio.sonified}
    order = [e for e in section.explainers if e in explainers] + sorted(
        explainers - set(section.explainers))
    header = "".join(f"<th>{_e(s)}</th>" for s in audio.samples)
    rows = ["<tr><td>original</td>" + "".join(
        f"<td>{_audio(audio.originals[s])}</td>" if s in audio.originals else "<td>–</td>"
        for s in audio.samples) + "</tr>"]
    for explainer in order:
        cells = []
        for sample in audio.samples:
            if (explainer, sample) in audio.sonified:
                sonifier, wav = audio.sonified[explainer, sample]
                cells.append(f"<td>{_audio(wav)}<br><small>{_e(sonifier)}</small></td>")
            else:
                cells.append("<td>–</td>")
        rows.append(f"<tr><td>{_e(explainer)}</td>{''.join(cells)}</tr>")
    caption = (f"Sonified examples of fold {audio.fold} (8 kHz): one sonifier per explainer, "
               f"{media.PREFERRED_SONIFIER} where the run has it.")
    return (f"<table>\n<caption>{_e(caption)}</caption>\n<thead><tr><th>explainer</th>{header}"
            f"</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>")


def _section(section: Section) -> str:
    parts = [f'<h2 id="{_e(section.anchor)}">{_e(section.title)}</h2>',
             f'<p class="note">benchmark {_e(section.benchmark)}, dataset '
             f'{_e(section.dataset)}, {_e(section.representation or "mixed")} input, folds '
             f'{_e(", ".join(map(str, section.folds)))}</p>']
    if section.explainers:
        parts.append(table_html(tables.ranking_table(section)))
    else:
        parts.append('<p class="note">No explainer results for this model.</p>')
    for extra in (tables.bands_table(section), tables.sonification_table(section)):
        if extra is not None:
            parts.append(table_html(extra))
    curves = figures.curves_png(section)
    parts.append("<h3>Perturbation curves</h3>")
    if curves is None:
        parts.append('<p class="note">No perturbation curves in these records.</p>')
    else:
        caption = ("Deletion curves, most relevant input first, per explainer (mean over "
                   "folds); the random and amplitude orders are the references. A faithful "
                   "explanation falls fast and far below the random order.")
        parts.append(f"<figure>{_img(curves, 'perturbation curves')}<figcaption>{_e(caption)}"
                     "</figcaption></figure>")
    parts += ["<h3>Relevance</h3>", _pictures(section), "<h3>Listen</h3>", _listen(section)]
    return "\n".join(parts)


def render(title: str, facts: Sequence[tuple[str, str]], sections: Sequence[Section],
           models: Table, failures: Table | None) -> str:
    """The whole page."""
    nav = "".join(f'<li><a href="#{_e(s.anchor)}">{_e(s.title)} ({_e(s.benchmark)})</a></li>'
                  for s in sections)
    facts_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    failed = table_html(failures) if failures else '<p class="note">No cell failed.</p>'
    body = "\n".join([
        f"<h1>{_e(title)}</h1>",
        f'<dl class="facts">{facts_html}</dl>',
        '<nav><ul><li><a href="#models">Models</a></li>'
        f'{nav}<li><a href="#failed">Failed cells</a></li></ul></nav>',
        '<h2 id="models">Models</h2>', table_html(models),
        *(_section(s) for s in sections),
        '<h2 id="failed">Failed cells</h2>', failed,
    ])
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n{body}\n"
            "</body>\n</html>\n")
