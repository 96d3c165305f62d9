"""HTML of the page's tables and media: escaped cells, sortable and filterable tables whose
caption stays outside the box that scrolls them sideways, pictures and players as data URIs."""

from __future__ import annotations

import base64
import html
import itertools
import re
import struct
from collections.abc import Sequence

from .tables import Table

#: A cell this long that is not a number is prose (a failure's reason): it may wrap.
PROSE = 60
_VALUE = re.compile(r"^([-+\u2212]?[\d.]\S*) (\[[^\]]*\])(.*)$", re.S)
_NUMERIC = re.compile(r"^[-+\u2212]?(\d|\.\d)")


def escape(text: object) -> str:
    """``text`` safe inside HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def _cell(text: str) -> str:
    """A table cell: the interval of ``value [low, high] ...`` in a quieter span; long prose
    may wrap, everything else stays on one line."""
    match = _VALUE.match(text)
    if match:
        value, ci, rest = match.groups()
        return f'<td>{escape(value)} <span class="ci">{escape(ci)}</span>{escape(rest)}</td>'
    if len(text) > PROSE and not _NUMERIC.match(text):
        return f'<td class="text">{escape(text)}</td>'
    return f"<td>{escape(text)}</td>"


def _row(cells: Sequence[str], header: int, *, summary: bool = False) -> str:
    """A table row whose cell ``header`` names it (a row header: screen readers say it with
    every value of the row); a ``summary`` row stays last in its group when sorted."""
    cells_html = "".join(f'<th scope="row">{escape(text)}</th>' if i == header else _cell(text)
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
    sort = f' aria-sort="{escape(way)}"'
    head = "".join(f'<th scope="col"{sort if i == column else ""}>{escape(h)}</th>'
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
               f'aria-controls="{escape(table_id)}" aria-label="{escape(filter_label)}" '
               'placeholder="any text in a row"></label>'
               '<span class="count" aria-live="polite"></span></div>')
    return figure(escape(table.caption), box, f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}"
                   "\n</tbody>", table_id, ' class="sortable"')


def figure(caption: str, extra: str, content: str, table_id: str | None,
            attributes: str = "") -> str:
    """A table (``content``: its head and body) under its caption, the caption outside the box
    that scrolls a wide table sideways, so that a phone shows it whole; ``extra`` (the
    filter) follows the caption's text. With a ``table_id`` the caption's text names the
    table."""
    ident = named = ""
    if table_id:
        ident = f' id="{escape(table_id)}" aria-labelledby="{escape(table_id)}-caption"'
        named = f' id="{escape(table_id)}-caption"'
    return (f'<figure class="table"><figcaption><span{named}>{caption}</span>{extra}'
            f'</figcaption>\n<div class="scroll"><table{attributes}{ident}>\n{content}\n'
            "</table></div></figure>")


def data_uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    return struct.unpack(">II", png[16:24])


def img(png: bytes, alt: str) -> str:
    """The picture at its pixel size (drawn at 96 dpi: text at its point size), smaller only
    where the window is narrower."""
    width, height = _png_size(png)
    return (f'<img alt="{escape(alt)}" width="{width}" height="{height}" '
            f'src="{data_uri("image/png", png)}">')


def player(wav: bytes, label: str) -> str:
    """A player named for screen readers and on hover; ``preload="metadata"`` shows the length
    (the sound is in the page already)."""
    name = escape(label)
    return (f'<audio controls preload="metadata" aria-label="{name}" title="{name}" '
            f'src="{data_uri("audio/wav", wav)}"></audio>')


