"""How the page presents the leaderboard: what its marks mean, what its figures and captions say,
how it reads on a phone and to a screen reader."""

from __future__ import annotations

import re
from html import unescape

import numpy as np
import pytest
import soundfile as sf
from matplotlib.colors import to_hex

from audioxai_bench.leaderboard import (
    aggregate,
    build_leaderboard,
    collect,
    figures,
    interactive,
    markup,
    page,
    tables,
)
from audioxai_bench.leaderboard.tables import Table
from tests.helpers import RATE, fake_run


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


# --- sorting -------------------------------------------------------------------------------------

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
    claims = [attrs for attrs, _ in _headers(markup.table_html(table, sorted_by=(1, "descending")))]
    assert ["aria-sort" in a for a in claims] == [False, True, False]
    assert 'aria-sort="descending"' in claims[1]
    assert "aria-sort" not in markup.table_html(table)


# --- the perturbation curves ---------------------------------------------------------------------

def _looks(fig) -> dict[str, tuple[str, str, str]]:
    """Each explainer's line: colour, dashes and marker (the same on every panel)."""
    looks: dict[str, set] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            looks.setdefault(line.get_label(), set()).add(
                (to_hex(line.get_color()), line.get_linestyle(), line.get_marker()))
    assert all(len(v) == 1 for v in looks.values())
    return {label: v.pop() for label, v in looks.items()}


def test_an_explainer_looks_the_same_in_every_figure_whatever_its_rank(tmp_path):
    """Probe: colours followed the rank, so gradient was blue for AlexNet (ranked first) and
    orange for AudioNet."""
    sections = aggregate.sections(collect.read([fake_run(tmp_path / "run", media=False)]))
    assert [s.explainers for s in sections] == [("gradient", "lrp-epsilon"),
                                                ("lrp-epsilon", "gradient")]
    styles = figures.explainer_styles(e for s in sections for e in s.explainers)
    first, second = (_looks(figures.curves_figure(s, styles)[0]) for s in sections)
    assert first["gradient"] == second["gradient"] != first["lrp-epsilon"]
    assert first["lrp-epsilon"] == second["lrp-epsilon"]
    for section in sections:  # a section on its own: its names decide, not its order
        assert _looks(figures.curves_figure(section)[0])["gradient"] == first["gradient"]


def test_sixteen_explainers_get_sixteen_looks_controls_grey_and_0db_dotted():
    """Probe: 16 lines shared 10 colours, some with the same marker and dashes."""
    methods = [f"method-{i:02d}" for i in range(11)]
    names = [*methods, "random", "amplitude", "method-00-0db", "method-03-0db", "other-0db"]
    styles = figures.explainer_styles(reversed(names))
    assert set(styles) == set(names)
    looks = {(to_hex(s["color"]), s["linestyle"], s["marker"]) for s in styles.values()}
    assert len(looks) == len(names)
    turn = len(figures.COLOURS)
    assert styles[f"method-{turn:02d}"]["color"] == styles["method-00"]["color"]  # again ...
    assert styles[f"method-{turn:02d}"]["linestyle"] != styles["method-00"]["linestyle"]

    def grey(colour) -> bool:  # red = green = blue
        return len({to_hex(colour)[i:i + 2] for i in (1, 3, 5)}) == 1

    assert [n for n in names if grey(styles[n]["color"])] == ["random", "amplitude", "other-0db"]
    assert styles["method-03-0db"]["color"] == styles["method-03"]["color"]
    assert styles["method-03-0db"]["linestyle"] == ":"


def test_the_curves_caption_names_every_panel(html):
    """Probe: the right-hand true-class accuracy panel was not mentioned."""
    captions = re.findall(r'<img alt="Perturbation curves[^"]*"[^>]*>'
                          r"<figcaption>([^<]*)</figcaption>", html)
    assert len(captions) == 2
    for caption in map(unescape, captions):
        assert "Left: the model's probability of the true class" in caption
        assert "right: the true-class accuracy" in caption


# --- screen readers ------------------------------------------------------------------------------

def test_headers_have_a_scope_and_each_row_is_named_by_its_explainer(html):
    """Probe: header cells had no scope and the explainer's name was a plain data cell, so a
    screen reader read '0.400' without saying whose it was."""
    found = re.findall(r"<table.*?</table>", html, re.S)
    assert len(found) >= 6
    for table in found:
        assert all('scope="col"' in attrs for attrs, _ in _headers(table))
        for row in re.findall(r"<tbody>(.*?)</tbody>", table, re.S)[0].split("</tr>")[:-1]:
            assert row.count('<th scope="row">') == 1, row
    ranking = _tables(html, "quickstart-synthetic-digit-audionet-ranking")[0]
    assert re.search(r'<tr><td>1</td><th scope="row">lrp-epsilon</th><td>', ranking)
    models = _tables(html, "models-table")[0]
    assert '<th scope="row">mean ± std</th>' in models  # the fold names a model's row


def test_every_figure_says_what_it_shows_and_every_table_can_be_filtered(html):
    """Probe: every curves figure's alt text was 'perturbation curves'; only the ranking tables
    and the failed cells had a filter."""
    alts = re.findall(r'<img alt="([^"]*)"', html)
    curves = [unescape(a) for a in alts if "urves" in a]
    assert curves == [f"Perturbation curves of digit · {model}: the model's probability of the "
                      "true class and the true-class accuracy per explainer as the most relevant "
                      "input is removed, against the random and amplitude orders"
                      for model in ("alexnet", "audionet")]
    ids = re.findall(r'<table class="sortable" id="([^"]+)"', html)
    assert len(ids) == html.count('<table class="sortable"') >= 6
    assert sorted(re.findall(r'class="filter" aria-controls="([^"]+)"', html)) == sorted(ids)


# --- on a phone ----------------------------------------------------------------------------------

def test_on_a_phone_captions_stay_outside_the_scroll_box_and_row_names_stay_put(html):
    """Probe at 390 px: captions were clipped inside the box that scrolls a wide table, and
    scrolling it took the explainer's name off screen."""
    boxes = re.findall(r'<div class="scroll">(.*?)</div>', html, re.S)
    assert len(boxes) == html.count("<table") >= 6
    assert all(box.startswith("<table") and "<caption" not in box and "<figcaption" not in box
               for box in boxes)
    for table_id in re.findall(r'<table[^>]* id="([^"]+)"', html):  # the caption names it
        assert f'<span id="{table_id}-caption">' in html
        assert f'aria-labelledby="{table_id}-caption"' in html
    sticky = re.search(r"tbody th\{([^}]*)\}", page.STYLE).group(1)
    assert "position:sticky" in sticky and "left:0" in sticky and "background" in sticky


def test_on_a_phone_long_facts_wrap_and_the_contents_are_one_column():
    """Probe at 390 px: the 40-character commit and data hashes laid the page out 505 px wide;
    the three-column contents broke titles over lines."""
    assert "overflow-wrap:anywhere" in re.search(r"dl\.facts dd\{([^}]*)\}", page.STYLE).group(1)
    narrow = re.search(r"@media \(max-width:600px\)\{(.*)\}", page.STYLE, re.S).group(1)
    assert "nav ul{columns:1" in narrow


# --- groups --------------------------------------------------------------------------------------

def test_sorting_the_models_keeps_each_models_mean_with_its_folds(html):
    """Probe: sorting the models table by accuracy scattered the 'mean ± std' rows among the
    folds of other models."""
    models = _tables(html, "models-table")[0]
    bodies = [re.findall(r"<tr([^>]*)><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>"
                         r'<th scope="row">([^<]*)</th>', body)
              for body in re.findall(r"<tbody>(.*?)</tbody>", models, re.S)]
    assert [[(model, fold) for _, _, _, model, fold in body] for body in bodies] == [
        [("alexnet", "0")], [("audionet", "0"), ("audionet", "1"), ("audionet", "mean ± std")]]
    assert [attrs for attrs, *_ in bodies[1]] == ["", "", ' class="summary"']
    # the script sorts each body on its own and puts its summary rows last
    assert "forEach.call(table.tBodies, function (body)" in interactive.SCRIPT
    assert 'row.classList.contains("summary")' in interactive.SCRIPT


# --- listening -----------------------------------------------------------------------------------

def _board_with_sounds(root, quiet: dict[str, float]) -> str:
    """A board whose AudioNet clip has an original peaking at -1 dBFS and, per explainer of
    ``quiet``, a spectrogram-mask sound that many dB below it."""
    explainers = sorted(quiet)
    gaps = {(m, e): 0.3 - 0.1 * i for m in ("audionet", "alexnet")
            for i, e in enumerate(explainers)}
    run = fake_run(root / "run", gaps=gaps, audio_explainers=explainers)
    t = np.arange(RATE) / RATE
    tone = 10 ** (-1 / 20) * np.sin(2 * np.pi * 440 * t)
    for explainer, db in quiet.items():
        folder = run / "audio" / "digit-audionet-fold0" / explainer
        sf.write(folder / "sample-000__original.wav", tone, RATE, subtype="PCM_16")
        sf.write(folder / "sample-000__spectrogram-mask.wav", tone * 10 ** (-db / 20), RATE,
                 subtype="PCM_16")
    build_leaderboard([run], root / "board", quiet=True)
    html = (root / "board" / "index.html").read_text()
    return unescape(re.search(r'-listen-caption">([^<]*)<', html).group(1)), html


def test_the_listen_caption_says_what_is_heard_from_which_model_and_how_loud(tmp_path):
    """Probe: the caption named the sonifier and fold, not what a sound is, from which model,
    at which gain, nor why the -0db variants' sounds are near silent."""
    caption, html = _board_with_sounds(tmp_path, {"lrp-epsilon": 12, "lrp-epsilon-0db": 40,
                                                  "gradient": 6})
    assert caption.startswith("Sonified test clips of digit · audionet, explained for the "
                              "model trained on fold 0, at 8 kHz:")
    assert "whole relevance map (its positive part, scaled to a maximum of 1)" in caption
    assert "soft mask on the clip's STFT magnitude, inverted with the clip's own phase" in caption
    assert "here always the original, so each sound plays at its original's gain" in caption
    assert ("-0db variants take relevance relative to 0 dB, the loudest level" in caption
            and "(−40 dB against −6 dB to −12 dB for the others)" in caption)
    levels = re.findall(r'aria-label="explainer ([\w-]+), sonifier spectrogram-mask, clip '
                        r'sample-000[^>]*></audio><small>spectrogram-mask</small> '
                        r'<small class="level"[^>]*>([^<]*)</small>', html)
    assert sorted(levels) == [("gradient", "−6 dB"), ("lrp-epsilon", "−12 dB"),
                              ("lrp-epsilon-0db", "−40 dB")]


def test_no_near_silence_is_claimed_where_the_levels_do_not_show_it(tmp_path):
    caption, _ = _board_with_sounds(tmp_path, {"lrp-epsilon": 30, "lrp-epsilon-0db": 20})
    assert "near silent" not in caption
    assert "The -0db variants: −20 dB against −30 dB for the others" in caption


# --- numbers -------------------------------------------------------------------------------------

def test_runtimes_read_in_one_notation_as_milliseconds_per_sample():
    """Probe: one runtime column read 5.28e-05, 0.0467 and 0.246 (seconds)."""
    assert tables.HEADLINE["runtime"] == "Runtime (ms/sample)"
    assert [tables.number(s, "runtime") for s in (5.28e-05, 0.0467, 0.246, 0.000996, 0.0)] == [
        "0.053", "47", "250", "1.0", "0"]
    assert tables.number(0.0467, "gini") == "0.047"  # other metrics: three decimals
