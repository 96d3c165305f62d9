"""How the page presents the leaderboard: what its marks mean, what its figures and captions say,
how it reads on a phone and to a screen reader."""

from __future__ import annotations

import re

import pytest

from audioxai_bench.leaderboard import build_leaderboard, interactive, page
from audioxai_bench.leaderboard.tables import Table
from tests.helpers import fake_run


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> str:
    run = fake_run(tmp_path_factory.mktemp("run"))
    out = tmp_path_factory.mktemp("board")
    build_leaderboard([run], out, quiet=True)
    return (out / "index.html").read_text()


def _headers(table: str) -> list[tuple[str, str]]:
    """(attributes, text) of each header cell of one table's head."""
    head = re.search(r"<thead><tr>(.*?)</tr></thead>", table, re.S).group(1)
    return re.findall(r"<th([^>]*)>([^<]*)</th>", head)


def _tables(html: str, table_id: str = "") -> list[str]:
    return re.findall(rf'<table class="sortable"[^>]*id="[^"]*{table_id}".*?</table>', html,
                      re.S)


# --- sorting ------------------------------------------------------------------------------------

def test_sort_marks_are_not_the_verdict_marks_and_only_a_real_order_is_claimed(html):
    """Probe: on load the rank column (#) said ascending with ▲, the 'better than its control'
    mark, though its shared ranks (1–8, 1–7, ...) are not in order; unsorted headers showed ↕,
    read as ⇅ ('the classes disagree')."""
    for mark in ("▲", "▼", "⇅", "↕", "\\25B2", "\\25BC", "\\21C5", "\\2195"):
        assert mark not in page.STYLE
    rankings = _tables(html, "-ranking")
    assert len(rankings) == 2
    for table in rankings:  # the rows are best first by the faithfulness gap
        claimed = [(text, attrs) for attrs, text in _headers(table) if "aria-sort" in attrs]
        assert [text for text, _ in claimed] == ["Faithfulness gap ↑"]
        assert 'aria-sort="descending"' in claimed[0][1]
    for table in _tables(html, "failed-cells"):  # in no column's order: no claim
        assert all("aria-sort" not in attrs for attrs, _ in _headers(table))
    assert '"aria-sort", "none"' not in interactive.SCRIPT


def test_a_table_claims_the_order_it_is_given_and_no_other():
    table = Table("numbers", ["name", "value", "other"], [["a", "3"], ["b", "1"]])
    claims = [attrs for attrs, _ in _headers(page.table_html(table, sorted_by=(1, "descending")))]
    assert ["aria-sort" in a for a in claims] == [False, True, False]
    assert 'aria-sort="descending"' in claims[1]
    assert "aria-sort" not in page.table_html(table)
