"""The figure after the paper's input-manipulation test: drawn from the `paper-manipulation`
records of real (tiny) runs, pooled over their seeds, and absent with a note where the records
hold none."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import numpy as np
import pytest

from audioxai_bench.leaderboard import aggregate, build_leaderboard, collect, figures
from tests.helpers import fake_run, write_tree

EXPLAINERS = ["gradient", "random"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two seeds of a tiny digit benchmark on tone clips: AudioNet and AlexNet, two explainers,
    the paper's test and the block deletion gap, four clips."""
    from audioxai_bench.plugins import load_plugins
    from audioxai_bench.run.definition import parse_benchmark
    from audioxai_bench.run.runner import run_benchmark
    from tests.test_guard import definition

    root = tmp_path_factory.mktemp("paper")
    tree = write_tree(root / "data", [1, 2, 4, 11, 5, 13], reps=range(1))
    raw = definition(tree, models=[{"name": "audionet", "width": 0.0625},
                                   {"name": "alexnet", "width": 0.0625}],
                     explainers=EXPLAINERS, metrics=["paper-manipulation", "faithfulness-gap"],
                     sonifiers=["keep-top"], samples=4, batch_size=4)
    outs = []
    with pytest.MonkeyPatch.context() as mp:  # a private cache for the module's runs
        mp.setenv("AUDIOXAI_BENCH_CACHE", str(root / "cache"))
        for seed in (0, 1):
            outs.append(root / f"seed{seed}")
            run_benchmark(parse_benchmark(raw | {"seed": seed}), outs[-1], quiet=True,
                          plugins=load_plugins(entrypoints=False), log=lambda _: None)
    return outs


def test_a_panel_per_model_with_every_explainer_and_both_orders_pooled_over_seeds(runs):
    sections = aggregate.sections(collect.read(runs))
    panels = figures.paper_panels(sections)
    assert [s.title for s, _, _ in panels] == ["digit · alexnet", "digit · audionet"]
    fig = figures.paper_figure(sections)
    drawn = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert [ax.get_title() for ax in drawn] == ["digit · alexnet (spectrogram)",
                                                 "digit · audionet (waveform)"]
    for ax, (section, grid, _) in zip(drawn, panels):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {*EXPLAINERS, "random order", "amplitude order (loudest first)",
                              "chance"}
        assert lines["chance"].get_ydata()[0] == pytest.approx(0.1)
        # each line is the mean over the two seeds' records of the metric's accuracy curves
        rows = section.metric_rows("paper-manipulation")
        assert sorted(rows["seed"]) == [0, 0, 1, 1]
        records = list(rows["record"])
        assert all(r["info"]["scope"] == "all" and r["info"]["n_units"] ==
                   (8000 if section.model == "audionet" else 227 * 227) for r in records)
        np.testing.assert_allclose(lines["random order"].get_xdata(), 100 * grid)
        np.testing.assert_allclose(
            lines["random order"].get_ydata(),
            np.mean([r["curves"]["accuracy/random"] for r in records], axis=0))
        np.testing.assert_allclose(
            lines["amplitude order (loudest first)"].get_ydata(),
            np.mean([r["curves"]["accuracy/amplitude"] for r in records], axis=0))
        for explainer in EXPLAINERS:
            mine = [r["curves"]["accuracy/most-relevant"] for r in records
                    if r["explainer"] == explainer]
            assert len(mine) == 2
            np.testing.assert_allclose(lines[explainer].get_ydata(), np.mean(mine, axis=0))
        # the explainers muted, the two orders prominent
        assert lines["random order"].get_linewidth() > 2 * lines["gradient"].get_linewidth()
        assert lines["gradient"].get_alpha() < 1 and lines["random order"].get_alpha() is None
        assert ax.get_xscale() == "symlog" and ax.get_xlim() == (0, 100)


def test_the_page_shows_the_figure_with_a_caption_of_what_k_counts_and_what_differs(
        runs, tmp_path):
    build_leaderboard(runs, tmp_path / "board", quiet=True)
    html = (tmp_path / "board" / "index.html").read_text()
    start = html.index('<h2 id="paper-manipulation">')
    part = html[start:html.index("<h2 ", start + 1)]
    assert '<a href="#paper-manipulation">' in html
    alt = unescape(re.search(r'<img alt="([^"]*)"', part)[1])
    assert alt.endswith("for digit · alexnet, digit · audionet")
    caption = unescape(re.search(r"<figcaption>(.*?)</figcaption>", part, re.S)[1])
    for said in ("the share of the whole input set to the baseline",
                 "all 8 000 samples of a waveform, of all 227 × 227 bins of a spectrogram, "
                 "silent ones ranked among them", "mean of 8 seeded permutations",
                 "Baseline: silence (waveform 0, spectrogram -80 dB)",
                 "narrow models (alexnet at width 0.0625 with the cpu preset, audionet at "
                 "width 0.0625 with the cpu preset)",
                 "the paper's spectrogram manipulation is not known"):
        assert said in caption, said
    assert "synthetic" not in caption  # tone clips in an AudioMNIST tree: no synthetic set
    readme = (tmp_path / "board" / "README.md").read_text()
    assert ("## After the paper's input-manipulation test\n\nA figure in "
            "[index.html](index.html#paper-manipulation) shows") in readme
    assert "for digit · alexnet, digit · audionet;" in readme
    # its place is the figure, not a column of the ranking tables
    headers = [line for line in readme.splitlines() if line.startswith("| # | Explainer")]
    assert headers and not any("paper-manipulation" in h for h in headers)


def test_without_paper_manipulation_records_the_figure_is_absent_with_a_note(tmp_path):
    """Records of runs that did not list the metric (the block curves alone): no empty plot,
    one line saying why, on the page and in the README."""
    run = fake_run(tmp_path / "run", media=False)
    sections = aggregate.sections(collect.read([run]))
    assert figures.paper_panels(sections) == [] and figures.paper_figure(sections) is None
    assert figures.curves_figure(sections[0]) is not None  # the block curves are there
    build_leaderboard([run], tmp_path / "board", quiet=True)
    html = (tmp_path / "board" / "index.html").read_text()
    note = ('<h2 id="paper-manipulation">After the paper&#x27;s input-manipulation test</h2>\n'
            '<p class="note">No figure after the paper&#x27;s input-manipulation test: these '
            "records hold no <code>paper-manipulation</code> curves")
    assert note in html
    assert "Accuracy against the share of the whole input" not in html
    readme = (tmp_path / "board" / "README.md").read_text()
    assert f"## After the paper's input-manipulation test\n\n{figures.PAPER_ABSENT}\n" in readme
