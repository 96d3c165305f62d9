"""The leaderboard page in a real browser: Debian's Chromium, driven by Playwright.

What only a browser can tell: that the page loads nothing from outside, that its script sorts
and filters, that every embedded WAV decodes, that numbers stay on one line and figures are
shown at their pixel size. Run with ``pytest -m browser tests/browser`` or ``tox -e browser``;
it needs the ``browser`` extra (Playwright) and a Chromium at ``/usr/bin/chromium``
(``apt-get install chromium``; ``AUDIOXAI_BENCH_CHROMIUM`` names another). Playwright's own
browser download is not used. ``AUDIOXAI_BENCH_SCREENSHOT=path.png`` keeps a screenshot.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from audioxai_bench.leaderboard import build_leaderboard
from tests.helpers import fake_run

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("AUDIOXAI_BENCH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1366, "height": 900}
#: Faithfulness gaps: lrp-epsilon and gradient are close and gradient's per-clip scores scatter
#: (a shared rank); the others are apart.
EXPLAINERS = ("lrp-epsilon", "gradient", "smoothgrad", "random")
GAPS = {(model, e): v + (0.05 if model == "alexnet" else 0.0)
        for model in ("audionet", "alexnet")
        for e, v in zip(EXPLAINERS, (0.30, 0.27, 0.15, 0.0))}
SAMPLES = 2
SONIFIERS = 2  # fake_run's keep-top and spectrogram-mask
RANKING = "#quickstart-synthetic-digit-audionet-ranking"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("page")
    run = fake_run(root / "run", gaps=GAPS, audio_explainers=EXPLAINERS, audio_samples=SAMPLES,
                   noisy=["gradient"])
    build_leaderboard([run], root / "board", quiet=True)
    return root / "board" / "index.html"


@pytest.fixture(scope="module")
def browser() -> Iterator:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install -e '.[browser]' (or tox -e browser)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM}: no Chromium here; apt-get install chromium, or set "
                    "AUDIOXAI_BENCH_CHROMIUM")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Loaded:
    """An open page and what it asked for and complained about since it was opened."""

    def __init__(self, browser, path: Path):
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console",
                     lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.goto(path.as_uri())

    def column(self, index: int) -> list[str]:
        """Text of one column of the AudioNet ranking, visible rows only, top to bottom."""
        return self.page.eval_on_selector(
            RANKING, "(t, i) => Array.from(t.tBodies[0].rows).filter(r => !r.hidden)"
                     ".map(r => r.cells[i].textContent.trim())", index)

    def sort_state(self) -> list[str]:
        return self.page.eval_on_selector_all(f"{RANKING} thead th",
                                              "hs => hs.map(h => h.getAttribute('aria-sort'))")


@pytest.fixture
def loaded(browser, board) -> Iterator[Loaded]:
    page = Loaded(browser, board)
    yield page
    page.context.close()


def test_the_page_loads_nothing_but_itself_and_raises_no_error(loaded):
    loaded.page.wait_for_function(
        "Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1)")
    assert loaded.requests and loaded.requests[0].startswith("file://")
    assert [u[:60] for u in loaded.requests if not u.startswith(("file:", "data:"))] == []
    assert loaded.errors == []


def test_clicking_a_header_sorts_the_rows(loaded):
    # columns: shared rank, explainer, faithfulness gap, ...
    assert loaded.column(1) == list(EXPLAINERS)  # rank order as generated
    assert loaded.column(0) == ["1–2", "1–2", "3", "4"]  # the overlapping pair shares
    # generated best first by the faithfulness gap, which alone says so
    assert loaded.sort_state()[:3] == [None, None, "descending"]
    header = loaded.page.locator(f"{RANKING} thead th")
    header.nth(1).click()  # Explainer: by name
    assert loaded.column(1) == sorted(EXPLAINERS)
    assert loaded.sort_state()[:3] == [None, "ascending", None]
    header.nth(1).click()  # again: reversed
    assert loaded.column(1) == sorted(EXPLAINERS, reverse=True)
    assert loaded.sort_state()[1] == "descending"
    header.nth(2).click()  # faithfulness gap: by the number, not the text
    gaps = [float(text.split()[0]) for text in loaded.column(2)]
    assert gaps == sorted(gaps) and loaded.column(1) == list(reversed(EXPLAINERS))
    header.nth(0).click()  # back to the rank (a narrow header: its button fills the cell)
    assert loaded.column(1) == list(EXPLAINERS)
    assert loaded.errors == []


def test_the_filter_hides_rows_that_do_not_match(loaded):
    box = loaded.page.locator(f"input.filter[aria-controls='{RANKING[1:]}']")
    box.fill("LRP")
    assert loaded.column(1) == ["lrp-epsilon"]
    count = loaded.page.locator(f"figure:has({RANKING}) .count")  # in the caption, above
    assert count.text_content() == f"1 of {len(EXPLAINERS)} rows"
    box.fill("nothing like this")
    assert loaded.column(1) == []
    box.fill("")
    assert loaded.column(1) == list(EXPLAINERS) and count.text_content() == ""
    assert loaded.errors == []


def test_every_player_decodes_a_one_second_clip_and_is_labelled(loaded):
    loaded.page.wait_for_function(
        "Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1 "
        "|| a.error)")
    players = loaded.page.eval_on_selector_all("audio", """els => els.map(a => ({
        duration: a.duration, error: a.error && a.error.code,
        label: a.getAttribute('aria-label')}))""")
    # an original per clip; per explainer both sonifiers on the first clip, one on the other
    assert len(players) == SAMPLES + len(EXPLAINERS) * (SONIFIERS + SAMPLES - 1)
    for p in players:
        assert p["error"] is None and p["duration"] == pytest.approx(1.0, abs=0.01), p
    labels = [p["label"] for p in players]
    assert sum(label.startswith("original of sample-") for label in labels) == SAMPLES
    assert ("explainer gradient, sonifier spectrogram-mask, clip sample-001 "
            "(digit · audionet, fold 0)") in labels


def test_numbers_stay_on_one_line_and_figures_are_shown_at_their_size(loaded):
    wrapped = loaded.page.evaluate("""() => {
        const out = [];
        for (const span of document.querySelectorAll('td > span.ci')) {
            const range = document.createRange();
            range.selectNodeContents(span.parentNode);
            const boxes = Array.from(range.getClientRects());
            // two boxes on different lines: one starts below where the other ends
            if (boxes.some(a => boxes.some(b => b.top >= a.bottom - 1)))
                out.push(span.parentNode.textContent);
        }
        return [out, document.querySelectorAll('td > span.ci').length];
    }""")
    assert wrapped[0] == [] and wrapped[1] > 20
    images = loaded.page.eval_on_selector_all(
        "img", "els => els.map(i => [i.naturalWidth, i.clientWidth])")
    assert len(images) == 6 and all(natural == shown for natural, shown in images), images
    # the page itself never scrolls sideways; a wide table scrolls in its own box
    assert loaded.page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth")


def test_a_screenshot_of_the_page(loaded, tmp_path):
    path = Path(os.environ.get("AUDIOXAI_BENCH_SCREENSHOT") or tmp_path / "leaderboard.png")
    loaded.page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width == VIEWPORT["width"] and height > 3 * VIEWPORT["height"]
    assert len(data) > 100_000  # tables, curves and pictures, not a blank page
