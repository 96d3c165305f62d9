"""The leaderboard generator on a tiny fake run: ranking, intervals, failures, CSV, the
self-contained page, determinism and clear errors."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import struct
from pathlib import Path

import matplotlib
import matplotlib.text
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg

from audioxai_bench.api.metric import MetricOutput
from audioxai_bench.builtin.metrics_complexity import GiniSparseness
from audioxai_bench.cli import main
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.summary import summarize
from audioxai_bench.leaderboard import (
    aggregate,
    build_leaderboard,
    collect,
    figures,
    media,
    source,
    tables,
    top_table,
)
from audioxai_bench.run.records import load_results
from tests.helpers import REASON, fake_run, record, run_store


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Path]]:
    run = fake_run(tmp_path_factory.mktemp("run"))
    out = tmp_path_factory.mktemp("board")
    return run, out, build_leaderboard([run], out, quiet=True)


def section(text: str, heading: str) -> str:
    """The README text from ``heading`` to the next level-2 heading."""
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start: end if end > 0 else None]


def test_writes_the_four_files_and_the_manifest(built):
    run, out, written = built
    assert [p.name for p in written] == ["README.md", "leaderboard.csv", "models.csv",
                                         "index.html", ".source.json"]
    assert all(p.parent == out and p.stat().st_size > 0 for p in written)
    manifest = json.loads((out / ".source.json").read_text())
    assert manifest["sources"] == [{"benchmark": "quickstart", "dataset": "synthetic"}]
    # relative to the leaderboard folder: no machine's absolute path in a committed file
    assert (out / manifest["results"][0]).resolve() == (run / "results.jsonl").resolve()
    assert not manifest["results"][0].startswith("/")


def test_ranks_by_faithfulness_gap_per_model_with_intervals(built):
    _, out, _ = built
    readme = (out / "README.md").read_text()
    audionet = section(readme, "## digit · audionet")
    alexnet = section(readme, "## digit · alexnet")
    # by value, not by name: lrp-epsilon leads on AudioNet, gradient on AlexNet; AudioNet's
    # two folds are averaged: (0.3 + 0.5) / 2, and its interval spans the two models (bounds
    # are not averaged); AlexNet's one model: the interval resamples its 8 speakers
    def ranked(text: str) -> list[tuple[str, str]]:
        """(rank, explainer) of the ranking table's rows (cells: rank, name, ...)."""
        rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ")]
        return [(r[0][2:], r[1]) for r in rows[1:] if len(r) > 2 and not r[0].startswith("|-")]

    assert ranked(audionet)[:2] == [("1", "lrp-epsilon"), ("2", "gradient")]
    assert ranked(alexnet)[:2] == [("1", "gradient"), ("2", "lrp-epsilon")]
    low, high = map(float, re.search(r"\| lrp-epsilon \| 0\.400 \[([-\d.]+), ([-\d.]+)\]",
                                     audionet).groups())
    assert low < 0.31 and high > 0.49
    low, high = map(float, re.search(r"\| gradient \| 0\.400 \[([-\d.]+), ([-\d.]+)\]",
                                     alexnet).groups())
    assert 0.36 <= low < 0.4 < high <= 0.44
    # every (explainer, sonifier) pair in its own row: never a best-of over sonifiers
    assert "| lrp-epsilon | spectrogram-mask | " in audionet
    # a loudness map beats random units too: the caption says its row is the control to read
    assert "The amplitude row (the loudest units) is a control, not a method" in audionet
    assert "best sonifier" not in readme
    assert "Frequency bands" in alexnet and "Frequency bands" not in audionet
    assert "0–300 Hz" in alexnet and "300–700 Hz" in alexnet
    # review M6: the band detail is descriptive, says loudness scores there too and where the
    # verdict is (this fake run has no frequency-bands-beyond-amplitude)
    bands = alexnet[alexnet.index("Frequency bands"):]
    assert bands.startswith("Frequency bands, descriptive (†)")
    assert "the amplitude row" in bands
    assert "did not score frequency-bands-beyond-amplitude" in bands
    assert "| Explainer | Spearman per sample † | Run: density vs accuracy drop † |" in bands
    assert "interval bounds are never averaged" in readme


def test_models_table_has_paper_numbers_and_fold_spread(built):
    _, out, _ = built
    models = section((out / "README.md").read_text(), "## Models")
    assert "92.5 ± 2.0 %" in models and "95.8 ± 1.5 %" in models
    assert "85.0 ± 7.1 %" in models  # folds 0.9 and 0.8: mean, sample std
    csv = pd.read_csv(out / "models.csv")
    assert sorted(zip(csv["model"], csv["fold"])) == [("alexnet", 0), ("audionet", 0),
                                                      ("audionet", 1)]


def test_the_models_table_says_which_iterate_was_tested_from_the_recorded_training(tmp_path):
    """The cpu preset keeps the validation-best iterate where the paper tested the final one,
    and the Setup column did not say so (audit D): it reads the recorded ``select`` and the
    iteration the state came from, for either preset; a record without them keeps its cell."""
    run = fake_run(tmp_path / "run", media=False)
    results = run / "results.jsonl"
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    recorded = {("audionet", 0): ("best", 400, None), ("alexnet", 0): ("final", 300, None),
                ("audionet", 1): ("best", 450, "then a second stage")}
    for r in lines:
        if r["metric"] == "test-accuracy":
            select, at, then = recorded[(r["model"], r["fold"])]
            r["info"] = {"preset": "cpu", "width": 0.25, "iterations": 300,
                         "selected_iteration": at,
                         "training": {"select": select} | ({"then": then} if then else {})}
    results.unlink()
    store = run_store(run)  # writes run.json as a finished run's
    for r in lines:
        store.append(r)
    build_leaderboard([run], tmp_path / "board", quiet=True)
    models = section((tmp_path / "board" / "README.md").read_text(), "## Models")
    setup = {(row[2], row[3]): row[7] for row in
             (line.split(" | ") for line in models.splitlines() if line.startswith("| quick"))}
    assert setup[("audionet", "0")] == ("preset cpu, width 0.25, iterations 300, "
                                        "validation-best iterate (iteration 400)")
    assert setup[("alexnet", "0")] == "preset cpu, width 0.25, iterations 300, final iterate"
    assert setup[("audionet", "1")] == ("preset cpu, width 0.25, iterations 300, "
                                        "validation-best iterate, then a second stage to "
                                        "iteration 450, its final state")
    assert "which state of the training was tested" in models
    assert tables.model_setup({"preset": "cpu", "iterations": 500}) == "preset cpu, iterations 500"
    assert tables.model_setup({}) == tables.NONE


def test_the_project_readme_gets_the_summary_table_in_its_results_block(built, tmp_path):
    run, _, _ = built
    readme = tmp_path / "README.md"
    readme.write_text("# Project\n\n<!-- results quickstart -->\nold numbers\n"
                      "<!-- /results -->\n\nAfter.\n")
    written = build_leaderboard([run], tmp_path / "board", quiet=True, project_readme=readme)
    assert readme in written
    text = readme.read_text()
    assert "old numbers" not in text and text.endswith("<!-- /results -->\n\nAfter.\n")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| explainer | digit · alexnet | digit · audionet |"
    assert rows[1] == "| *test accuracy* | 90.0 % (split 0) | 90.0 % / 80.0 % (split 0 / 1) |"
    assert rows[2] == "| *neighbouring pairs separated* | 1 of 1 | 1 of 1 |"
    assert any(r.startswith("| lrp-epsilon | 2: ") and "| 1: 0.400 [" in r for r in rows)
    # no block, or a block of a benchmark not in the results: one line naming the file, and
    # nothing written
    for content, says in (("# no block\n", "no '<!-- results NAME -->'"),
                          ("<!-- results paper-sex -->\n<!-- /results -->\n",
                           "results block 'paper-sex': no ranked section")):
        readme.write_text(content)
        with pytest.raises(AudioXaiError, match=f"{re.escape(str(readme))}: {re.escape(says)}"):
            build_leaderboard([run], tmp_path / "board2", quiet=True, project_readme=readme)
        assert readme.read_text() == content and not (tmp_path / "board2").exists()


def test_failed_cell_is_listed_with_its_reason(built):
    _, out, _ = built
    failed = section((out / "README.md").read_text(), "## Failed cells")
    assert REASON in failed and "| alexnet | 0 | gradient |" in failed
    assert REASON in (out / "index.html").read_text()
    alexnet = section((out / "README.md").read_text(), "## digit · alexnet")
    assert "| error |" in alexnet.split("| gradient |")[1].split("\n")[0]  # its gini cell


def test_explainer_settings_are_listed_as_the_records_state_them(tmp_path):
    """A reader comparing occlusion across tables needs its window; where records of one name
    disagree (here: two metrics' cells), both settings are listed, not the last one."""
    run = fake_run(tmp_path / "run", media=False)
    store = run_store(run)
    for metric, window in (("faithfulness-gap", [32, 32]), ("gini", [8, 8])):
        store.append(record("alexnet", metric, 0.3, explainer="occlusion",
                            params={"explainer": {"spectrogram_window": window,
                                                  "baseline": "silence", "low": None}}))
    build_leaderboard([run], tmp_path / "board", quiet=True)
    readme = (tmp_path / "board" / "README.md").read_text()
    settings = section(readme, "## Explainer settings")
    assert readme.index("## Models") < readme.index("## Explainer settings")
    rows = [line for line in settings.splitlines() if line.startswith("| quickstart | occ")]
    start = "| quickstart | occlusion | builtin 0.1.0 | baseline silence, spectrogram_window"
    assert rows == [f"{start} 32 × 32 |", f"{start} 8 × 8 |"]  # low None: not set, not listed
    assert "| quickstart | gradient | builtin 0.1.0 | – |" in settings
    page = (tmp_path / "board" / "index.html").read_text()
    assert '<h2 id="settings">' in page and 'href="#settings"' in page
    assert "spectrogram_window 32 × 32" in page


def test_the_page_says_how_to_read_it_as_the_readme_does(built):
    """The page is what most readers open: it carries the README's reading guide, its code
    spans as <code>, escaped."""
    _, out, _ = built
    page = (out / "index.html").read_text()
    guide = page.split('<h2 id="read">How to read this</h2>')[1].split('<h2 id="models">')[0]
    assert "<code>random</code>" in guide and "signed relevance" in guide and "`" not in guide
    # one paragraph per topic, its Markdown bold as <strong>
    assert guide.count('<p class="prose">') >= 5 and "<strong>Ranks (#).</strong>" in guide
    assert "**" not in guide
    assert 'href="#read"' in page and page.index('id="read"') < page.index('id="models"')
    assert "signed relevance" in section((out / "README.md").read_text(), "## How to read")


def test_the_guide_says_what_the_0db_variants_take_as_reference_not_that_they_are_the_papers(
        built):
    """The guide listed the `-0db` variants as "the paper's 0 dB reference", but the paper's LRP
    rules and parameters are not in its public code: what holds is that x = 0 is 0 dB on its
    input scale, the reference of any first-layer rule without a box rule (audit B)."""
    _, out, _ = built
    guide = section((out / "README.md").read_text(), "## How to read")
    note = next(p for p in guide.split("\n\n") if p.startswith("**What the gaps reward.**"))
    assert "the paper's 0 dB reference" not in note
    assert ("the `-0db` variants take x = 0 instead, 0 dB, the loudest level of the paper's "
            "input scale, where any first-layer rule without a box rule puts its reference"
            in note)
    assert "its LRP rules and their parameters are not in its public code" in note


def test_csv_round_trips_with_the_expected_rows(built):
    _, out, _ = built
    csv = pd.read_csv(out / "leaderboard.csv", keep_default_na=False, na_values=[""])
    assert list(csv.columns[:7]) == ["benchmark", "dataset", "task", "model", "explainer",
                                     "sonifier", "metric"]
    per_model = {"audionet": 2 * 6 + 1, "alexnet": 2 * 7 + 1 + 1}  # + accuracy, + error
    assert csv["model"].value_counts().to_dict() == per_model
    gap = csv[(csv.model == "audionet") & (csv.explainer == "lrp-epsilon")
              & (csv.metric == "faithfulness-gap")].iloc[0]
    assert (gap.value, gap.n, gap.models) == pytest.approx((0.4, 16, 2))
    assert gap.ci_low < 0.31 and gap.ci_high > 0.49  # resampled models, not averaged bounds
    error = csv[csv.metric == "gini"].iloc[0]
    assert np.isnan(error.value) and error.errors == 1 and error.models == 0
    sonified = csv[csv.metric == "sonified-accuracy"]
    assert set(sonified.sonifier) == {"keep-top", "spectrogram-mask"}


def test_page_is_self_contained_with_pictures_and_audio(built):
    _, out, _ = built
    page = (out / "index.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert re.search(r"<(link|script)[^>]*(src|href)=", page) is None
    assert "<img" in page and "data:image/png;base64," in page
    # one sample: the original and every sonifier's sound (spectrogram-mask first)
    assert page.count("data:audio/wav;base64,") == 3
    assert page.index("<small>spectrogram-mask</small>") < page.index("<small>keep-top</small>")
    # at most two examples per model, though the files hold three
    examples = re.findall(r'<img alt="digit · (\w+), fold 0, example (\d)', page)
    assert sorted(examples) == [("alexnet", "0"), ("alexnet", "1"), ("audionet", "0"),
                                ("audionet", "1")]
    assert "No audio/ folder" in page  # AlexNet has none


def test_output_is_deterministic_and_path_free(built, tmp_path):
    run, out, _ = built
    again = build_leaderboard([run / "results.jsonl"], tmp_path / "again", quiet=True)
    for path in again[:-1]:  # the manifest records the (relative) paths read: it may differ
        assert path.read_bytes() == (out / path.name).read_bytes(), path.name
        assert str(run) not in path.read_text()


def test_bad_results_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(AudioXaiError, match=re.escape(str(bad))):
        build_leaderboard([bad], tmp_path / "board", quiet=True)
    wrong = tmp_path / "wrong" / "results.jsonl"
    wrong.parent.mkdir()  # a hand-edited file: the store itself refuses to write such a record
    wrong.write_text(json.dumps(record("audionet", "aopc", None, explainer="x") | {"value": "hi"})
                     + "\n")
    with pytest.raises(AudioXaiError, match=r"wrong/results\.jsonl.*'value'"):
        build_leaderboard([wrong.parent], tmp_path / "board", quiet=True)
    with pytest.raises(AudioXaiError, match="nowhere"):
        build_leaderboard([tmp_path / "nowhere"], tmp_path / "board", quiet=True)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(AudioXaiError, match="no result records"):
        build_leaderboard([empty], tmp_path / "board", quiet=True)


@pytest.mark.parametrize("edit, said", [
    ({"value": 0.9}, "states value 0.9 but its per-sample scores average 0.3"),
    ({"scores": [0.9, 0.9, None]}, "states value 0.3 but its per-sample scores average 0.9"),
    ({"n": 3}, "states n 3 but has 2 finite per-sample scores"),
    ({"value": None}, "states value null but its per-sample scores average 0.3"),
], ids=["value", "scores", "n", "value-null"])
def test_a_record_whose_value_is_not_its_scores_mean_is_refused(tmp_path, edit, said):
    """A hand-edited record, its value changed and not its scores or the other way round: the
    tables computed the cell from the scores while the accuracy floor read the value, so a
    model shown at 100 % was "below the floor" (or one at 0 % ranked), exit status 0."""
    good = {"scores": [0.2, 0.4, None], "clips": ["a", "b", "c"], "speakers": [1, 2, 3],
            "n": 2}
    store = run_store(tmp_path / "run")
    store.append(record("audionet", "test-accuracy", 2 / 3, n=3, scores=[1, 0, 1],
                        clips=["a", "b", "c"], speakers=[1, 2, 3]))
    # the mean of the scores before they were kept to 7 digits: fine
    store.append(record("audionet", "faithfulness-gap", 0.3000001, explainer="gradient", **good))
    build_leaderboard([tmp_path / "run"], tmp_path / "board", quiet=True)
    store = run_store(tmp_path / "edited")
    edited = good | {"value": 0.3} | edit
    store.append(record("audionet", "faithfulness-gap", edited.pop("value"),
                        explainer="gradient", **edited))
    with pytest.raises(AudioXaiError) as info:
        build_leaderboard([tmp_path / "edited"], tmp_path / "board", quiet=True)
    assert str(info.value) == (
        f"{tmp_path / 'edited'}: the record of gradient · faithfulness-gap on digit · audionet "
        f"split 0, seed 0 {said} (edited by hand?): the tables would show one and judge by the "
        "other; run the cell again or restore the record")


def test_the_readme_and_page_name_the_resampler_of_each_dataset(tmp_path):
    """Records state how their clips reached 8 kHz (data.resampler), which changes every model
    input; the provenance listed the data without it."""
    for resampler, run in (("fft", "a"), ("sinc", "b")):
        run_store(tmp_path / run).append(record(
            "audionet", "test-accuracy", 0.9, n=200, benchmark=f"bench-{run}",
            data_fingerprint="1fbf1fe31350b47a", resampler=resampler))
    build_leaderboard([tmp_path / "a", tmp_path / "b"], tmp_path / "board", quiet=True)
    datasets = ("synthetic (content 1fbf1fe31350b47a, resampler fft), "
                "synthetic (content 1fbf1fe31350b47a, resampler sinc)")
    assert f"- **Datasets:** {datasets}\n" in (tmp_path / "board" / "README.md").read_text()
    assert datasets in (tmp_path / "board" / "index.html").read_text()


def test_broken_media_files_are_left_out_and_named(tmp_path, capsys):
    """A broken examples file (cut off by a run killed while writing it, probe 5 #6: even
    --partial refused the folder) or sound is left out of the page, which says so, with a
    warning naming it; the rest of the page is built (a broken sound stopped the build)."""
    run = fake_run(tmp_path / "run", media=False)
    audio = run / "audio" / "digit-audionet-fold0" / "gradient"
    audio.mkdir(parents=True)
    for kind in ("original", "keep-top", "spectrogram-mask"):
        sf.write(audio / f"sample-000__{kind}.wav", np.full(800, 0.1), 8_000, subtype="PCM_16")
    wav = audio / "sample-000__keep-top.wav"
    wav.write_bytes(b"RIFF nonsense")
    (run / "examples").mkdir()
    npz = run / "examples" / "digit-alexnet-fold0.npz"
    np.savez(npz, signals=np.zeros((1, 8000)), inputs=np.zeros((1, 1, 227, 227)),
             target=np.zeros(1, dtype=int), relevance__gradient=np.zeros((1, 1, 8000)))
    cut = run / "examples" / "digit-audionet-fold0.npz"
    whole = io.BytesIO()
    np.savez(whole, signals=np.zeros((1, 8000)), inputs=np.zeros((1, 1, 8000)),
             target=np.zeros(1, dtype=int))
    cut.write_bytes(whole.getvalue()[:200])
    capsys.readouterr()
    build_leaderboard([run], tmp_path / "board", quiet=True)
    page = (tmp_path / "board" / "index.html").read_text()
    assert ("Left out examples/digit-alexnet-fold0.npz: array &#x27;relevance__gradient&#x27; "
            "has shape (1, 1, 8000), expected (1, 1, 227, 227) like &#x27;inputs&#x27;.") in page
    assert ("Left out examples/digit-audionet-fold0.npz: not a readable .npz file (") in page
    assert ("Left out audio/digit-audionet-fold0/gradient/sample-000__keep-top.wav: not a "
            "readable WAV file (") in page
    listen = page[page.index("digit-audionet-listen"):]
    assert "<small>spectrogram-mask</small>" in listen and "original of sample-000" in listen
    assert "<small>keep-top</small>" not in listen
    assert str(tmp_path) not in page
    err = capsys.readouterr().err.splitlines()
    assert sorted(line.split(": ", 2)[1] for line in err) == sorted(map(str, [npz, cut, wav]))
    assert all(line.startswith("warning: ") and line.endswith("; left out of the page")
               for line in err)


def test_without_media_and_with_a_later_file_that_wins(tmp_path):
    run = fake_run(tmp_path / "run", media=False)
    rerun = tmp_path / "rerun" / "results.jsonl"
    run_store(rerun.parent).append(record("alexnet", "gini", 0.5, explainer="gradient"))
    out = tmp_path / "board"
    build_leaderboard([run, rerun.parent], out, quiet=True)
    page = (out / "index.html").read_text()
    assert "No examples/ file" in page and "No audio/ folder" in page and "<audio" not in page
    # the rerun's ok record replaces the failed cell
    assert REASON not in (out / "README.md").read_text()
    csv = pd.read_csv(out / "leaderboard.csv")
    assert csv[csv.metric == "gini"].value.tolist() == [0.5]


def test_top_table_summarises_each_model(built):
    run, _, _ = built
    text = top_table(load_results(run), n=1)
    audionet = text[text.index("digit · audionet"):]
    assert "(paper 92.5 ± 2.0 %)" in audionet and "85.0 ± 7.1 % (2 folds)" in audionet
    assert "lrp-epsilon" in audionet.split("\n\n")[0] and "gradient" not in audionet.split(
        "\n\n")[0]
    assert "1 failed cell:" in text
    assert json.dumps(text)  # plain text


# --- shared ranks -------------------------------------------------------------------------------

def _rank_cells(rows: list[tuple[str, float | None, float | None, float | None]],
                higher: bool = True) -> pd.DataFrame:
    return pd.DataFrame([{"explainer": e, "sonifier": "", "metric": "faithfulness-gap",
                          "value": v, "ci_low": lo, "ci_high": hi, "higher_is_better": higher}
                         for e, v, lo, hi in rows])


def test_ranks_are_shared_where_intervals_overlap():
    cells = _rank_cells([("a", 0.50, 0.45, 0.55), ("b", 0.42, 0.37, 0.47),
                         ("c", 0.36, 0.31, 0.41), ("d", 0.10, 0.05, 0.15),
                         ("e", 0.05, None, None), ("f", None, None, None)])
    order = aggregate.ranked(cells)
    assert order == ("a", "b", "c", "d", "e", "f")
    # a overlaps b only, b overlaps a and c, c overlaps b only (a is above it), d overlaps
    # none; e has no interval, so nothing can be told apart from it; f has no value
    assert aggregate.shared_ranks(cells, order) == {
        "a": "1–3", "b": "1–4", "c": "2–4", "d": "4–5", "e": "1–5", "f": "–"}
    without_e = cells[cells["explainer"] != "e"]
    assert aggregate.shared_ranks(without_e, aggregate.ranked(without_e)) == {
        "a": "1–2", "b": "1–3", "c": "2–3", "d": "4", "f": "–"}
    # touching intervals overlap; apart they give single ranks
    apart = _rank_cells([("x", 0.5, 0.4, 0.6), ("y", 0.3, 0.2, 0.4), ("z", 0.1, 0.0, 0.19)])
    assert aggregate.shared_ranks(apart, aggregate.ranked(apart)) == {
        "x": "1–2", "y": "1–2", "z": "3"}


def test_ranks_respect_lower_is_better():
    cells = _rank_cells([("fast", 0.1, 0.05, 0.15), ("mid", 0.2, 0.14, 0.3),
                         ("slow", 0.9, 0.8, 1.0)], higher=False)
    order = aggregate.ranked(cells)
    assert order == ("fast", "mid", "slow")
    assert aggregate.shared_ranks(cells, order) == {"fast": "1–2", "mid": "1–2", "slow": "3"}


def test_tables_show_shared_ranks_and_the_rule(tmp_path):
    gaps = {("audionet", "lrp-epsilon"): 0.30, ("audionet", "gradient"): 0.27,
            ("audionet", "random"): 0.0, ("alexnet", "lrp-epsilon"): 0.2,
            ("alexnet", "gradient"): 0.4, ("alexnet", "random"): 0.0}
    # gradient's per-clip scores scatter: its paired differences to lrp-epsilon change sign
    run = fake_run(tmp_path / "run", media=False, gaps=gaps, noisy=["gradient"])
    build_leaderboard([run], tmp_path / "board", quiet=True)
    readme = (tmp_path / "board" / "README.md").read_text()
    audionet = section(readme, "## digit · audionet")
    assert "| 1–2 | lrp-epsilon |" in audionet and "| 1–2 | gradient |" in audionet
    # the shared rank is the one rank shown: no bootstrap rank interval beside it
    assert "| 3 | random |" in audionet and "Rank 95 %" not in audionet
    assert "paired Wilcoxon signed-rank test" in audionet
    # lrp-epsilon | gradient are not separated, gradient | random are
    assert "The paired tests separate 1 of the 2 neighbouring pairs" in audionet
    page = (tmp_path / "board" / "index.html").read_text()
    assert '<tr><td>1–2</td><th scope="row">lrp-epsilon</th>' in page
    assert "paired Wilcoxon signed-rank test" in page
    top = top_table(load_results(run), n=3)
    assert re.search(r"\| 1–2 \| lrp-epsilon \|", top)
    assert "a rank such as 1–3 is shared: paired tests" in top  # the rule that made the ranks


def test_the_top_table_says_a_rank_is_shared_with_a_cell_without_an_interval():
    """Without paired tests the top table said a shared rank meant "those explainers' 95 %
    intervals overlap" of 0.500 [0.450, 0.550] and 0.200 with no interval: they do not."""
    from tests.leaderboard.records import _row

    rows = [_row(explainer="a", metric="faithfulness-gap", fold=0, value=0.5, ci_low=0.45,
                 ci_high=0.55),
            _row(explainer="b", metric="faithfulness-gap", fold=0, value=0.2),
            _row(metric="test-accuracy", fold=0, value=0.9)]
    top = top_table(pd.DataFrame(rows))
    assert "| 1–2 | a | 0.500 [0.450, 0.550] |" in top and "| 1–2 | b | 0.200 |" in top
    assert ("a rank such as 1–3 is shared: those explainers' 95 % intervals overlap, or one of "
            "them has none, so these results cannot order them") in top


# --- the page: interactive, labelled, readable ---------------------------------------------------

def test_page_has_its_script_filters_and_labelled_players(built):
    _, out, _ = built
    page = (out / "index.html").read_text()
    assert page.count("<script>") == 1 and "<script src" not in page
    assert page.count('<table class="sortable"') >= 4
    # every filter names a table that exists
    targets = re.findall(r'<input type="search" class="filter" aria-controls="([^"]+)"', page)
    assert len(targets) == page.count('<table class="sortable"')  # one per table
    assert all(f'id="{t}"' in page for t in targets)
    # value and interval are one cell that does not wrap, the interval in its own span
    assert re.search(r'<td>0\.400 <span class="ci">\[0\.\d+, 0\.\d+\]</span></td>', page)
    assert "white-space:nowrap" in page
    labels = re.findall(r'<audio controls preload="metadata" aria-label="([^"]+)"', page)
    assert labels == ["original of sample-000 (digit · audionet, fold 0)",
                      "explainer lrp-epsilon, sonifier spectrogram-mask, clip sample-000 "
                      "(digit · audionet, fold 0)",
                      "explainer lrp-epsilon, sonifier keep-top, clip sample-000 "
                      "(digit · audionet, fold 0)"]


def _texts(fig):
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]


def test_figures_are_drawn_to_be_read_at_their_pixel_size(built):
    run, out, _ = built
    df = collect.read([run])
    audionet = [s for s in aggregate.sections(df) if s.model == "audionet"][0]
    fig, _ = figures.curves_figure(audionet)
    png = figures.png(fig)  # drawn: ticks exist now
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == tuple(round(96 * v) for v in fig.get_size_inches())
    assert width <= 1200  # shown 1:1 in the page's column
    canvas = FigureCanvasAgg(fig)
    with matplotlib.rc_context(figures.RC):
        canvas.draw()
    sizes = [t.get_fontsize() for t in _texts(fig)]
    assert len(sizes) > 20 and min(sizes) >= 10
    renderer = canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "lrp-epsilon", "gradient", "random order (reference)", "amplitude order (reference)"]
    for ax in fig.axes:  # below the panels and their axis labels, not over the curves
        assert legend.y1 < ax.get_tightbbox(renderer).y0
    examples = media.find_examples(audionet)
    fig = figures.relevance_figure(examples, 0, audionet.explainers, "title")
    figures.png(fig)
    assert min(t.get_fontsize() for t in _texts(fig)) >= 10
    page = (out / "index.html").read_text()
    for w, h, data in re.findall(r'<img alt="[^"]*" width="(\d+)" height="(\d+)" '
                                 r'src="data:image/png;base64,([^"]+)"', page):
        assert struct.unpack(">II", base64.b64decode(data)[16:24]) == (int(w), int(h))


# --- unreadable results (R12) -------------------------------------------------------------------

GOOD_LINE = json.dumps(record("audionet", "test-accuracy", 0.9)).encode() + b"\n"


@pytest.mark.parametrize("content, reason", [
    (GOOD_LINE + bytes(range(128, 256)) * 20 + b"\n", r":2: not UTF-8 text \(byte 0x80"),
    (b"[" * 100_000 + b"]" * 100_000 + b"\n", r":1: not a JSON record \(nested too deeply"),
    (GOOD_LINE + b'{"a": ' + b"9" * 5000 + b"}\n", r":2: not a JSON record \(Exceeds the limit"),
], ids=["binary", "deep", "long-integer"])
def test_unreadable_results_fail_in_one_line_naming_file_and_line(tmp_path, capsys, content,
                                                                    reason):
    bad = tmp_path / "results.jsonl"
    bad.write_bytes(content)
    with pytest.raises(AudioXaiError, match=re.escape(str(bad)) + reason):
        load_results(bad)
    assert main(["leaderboard", str(bad), "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}:") and err.count("\n") == 1
    assert not (tmp_path / "board").exists()


@pytest.mark.parametrize("under", [False, True], ids=["a-file", "under-a-file"])
def test_an_out_that_is_a_file_is_refused_in_one_line_before_reading(tmp_path, capsys,
                                                                     monkeypatch, under):
    """Probe 6 #5b: `--out RUN/results.jsonl` printed a bare "[Errno 17] File exists"."""
    run = fake_run(tmp_path / "run", media=False)
    file = run / "results.jsonl"
    before = file.read_bytes()
    out = file / "board" if under else file
    monkeypatch.setattr("audioxai_bench.leaderboard.collect.read",
                        lambda *a, **k: pytest.fail("read the results"))
    assert main(["leaderboard", str(run), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {out}{f': {file}' if under else ''} is a file; --out must be a folder "
        "(the leaderboard writes its README.md, CSV files and index.html into it)\n")
    assert file.read_bytes() == before


# --- never replace another benchmark's leaderboard ----------------------------------------------

def _other_benchmark(root: Path) -> Path:
    store = run_store(root)
    store.append(record("audionet", "test-accuracy", 0.5, benchmark="myplugin"))
    store.append(record("audionet", "faithfulness-gap", 0.1, explainer="mine",
                        benchmark="myplugin"))
    return root


def test_another_benchmark_is_not_written_over_a_leaderboard(tmp_path, capsys):
    run = fake_run(tmp_path / "run", media=False)
    out = tmp_path / "board"
    build_leaderboard([run], out, quiet=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    other = _other_benchmark(tmp_path / "other")
    with pytest.raises(AudioXaiError, match=r"holds the leaderboard of quickstart \(synthetic\), "
                                            r"not of myplugin \(synthetic\).*--force"):
        build_leaderboard([other], out, quiet=True)
    assert main(["leaderboard", str(other), "--out", str(out)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing touched
    # the same benchmark again in place is fine; --force replaces
    build_leaderboard([run], out, quiet=True)
    assert main(["--quiet", "leaderboard", str(other), "--out", str(out), "--force"]) == 0
    assert "myplugin" in (out / "README.md").read_text()
    assert json.loads((out / ".source.json").read_text())["sources"] == [
        {"benchmark": "myplugin", "dataset": "synthetic"}]


def test_a_folder_without_manifest_is_judged_by_its_csv_or_left_alone(built, tmp_path):
    run, board, _ = built
    legacy = tmp_path / "legacy"  # a leaderboard written before the manifest existed
    shutil.copytree(board, legacy)
    (legacy / ".source.json").unlink()
    source.check(legacy, {("quickstart", "synthetic")}, force=False)  # same benchmark: fine
    with pytest.raises(AudioXaiError, match="holds the leaderboard of quickstart"):
        source.check(legacy, {("quickstart", "real-audiomnist")}, force=False)
    with pytest.raises(AudioXaiError, match="holds the leaderboard of quickstart"):
        build_leaderboard([_other_benchmark(tmp_path / "other")], legacy, quiet=True)
    stranger = tmp_path / "repo"  # e.g. --out . in a repository with its own README.md
    stranger.mkdir()
    (stranger / "README.md").write_text("# my project\n")
    with pytest.raises(AudioXaiError, match=r"repo: holds README\.md, but no \.source\.json "
                                            r"or leaderboard\.csv.*--force"):
        build_leaderboard([run], stranger, quiet=True)
    assert (stranger / "README.md").read_text() == "# my project\n"
    (stranger / ".source.json").write_text("{broken")
    with pytest.raises(AudioXaiError, match=r"\.source\.json: not a leaderboard source record"):
        build_leaderboard([run], stranger, quiet=True)


def test_a_proportion_gets_a_speaker_clustered_wilson_interval_not_a_bootstrap():
    """Hits of a pointing game (its records say ``proportion``): 48 of 48 right must not read
    [1, 1]."""
    from audioxai_bench.stats import clustered_wilson

    rows = []
    tied = [1.0] * 20 + [0.25] * 4  # expected hits: one speaker's maxima tie 1 in 4 inside
    proportion = {"proportion": True}
    for metric, scores, info in (("pointing-game", [1.0] * 24, proportion),
                                 ("gap", [0.1 * (i // 4) + 0.05 * (i % 2) for i in range(24)],
                                  {}),
                                 ("expected-hits", tied, proportion),
                                 ("undeclared", tied, {}),
                                 ("amplitude-vs-itself", [0.0] * 24, {})):
        for fold in (0, 1):
            rec = {"info": info, "benchmark": "b", "dataset": "d", "task": "digit", "model": "m",
                   "explainer": "e", "sonifier": "", "metric": metric, "fold": fold, "seed": 0,
                   "status": "ok", "value": float(np.mean(scores)), "ci_low": 0.0,
                   "ci_high": 1.0, "n": 24, "representation": "waveform",
                   "higher_is_better": True,
                   "scores": scores, "clips": [f"c{i}" for i in range(24)],
                   "speakers": [i // 4 for i in range(24)]}
            rows.append(rec | {"record": rec})
    cells = aggregate.by_cell(pd.DataFrame(rows)).set_index("metric")
    hits = cells.loc["pointing-game"]
    clusters = [f * 1000 + i // 4 for f in (0, 1) for i in range(24)]
    assert hits["value"] == 1.0
    assert (hits["ci_low"], hits["ci_high"]) == pytest.approx(
        clustered_wilson([1.0] * 48, clusters)[:2])
    # 12 (fold, speaker) units of 4 clips: 12^(4/5) 48^(1/5) = 15.8 of them, not 48 (0.926)
    assert hits["ci_low"] < 0.85
    gap = cells.loc["gap"]  # not a proportion: the clustered bootstrap
    assert 0.1 < gap["ci_low"] < gap["value"] < gap["ci_high"] < 0.5
    # fractional scores the metric declares chances of a hit: Wilson as well
    expected = cells.loc["expected-hits"]
    assert (expected["ci_low"], expected["ci_high"]) == pytest.approx(
        clustered_wilson(tied * 2, clusters)[:2])
    assert cells.loc["undeclared", "ci_low"] != pytest.approx(expected["ci_low"])
    # scores that happen to be 0 or 1 are no proportion unless the metric says so
    zeros = cells.loc["amplitude-vs-itself"]
    assert (zeros["value"], zeros["ci_low"], zeros["ci_high"]) == (0.0, 0.0, 0.0)


def test_a_proportion_s_interval_is_of_the_mean_over_splits_the_cell_shows():
    """Fold 0 keeps its 48 hits, fold 1 only 8 clips (2 hits) where the metric was defined:
    the cell's mean over splits is 0.625, and the Wilson interval of the pooled 50 of 56 read
    [0.691, 0.969], the value outside it."""
    from tests.leaderboard.records import score_rows

    speakers = [s for s in range(6) for _ in range(8)]
    fold1 = np.full(48, np.nan)
    fold1[::6] = [1, 1, 0, 0, 0, 0, 0, 0]
    rows = score_rows({"e": np.r_[np.ones(48), fold1]}, metric="pointing-game", versus=None,
                      speakers=speakers, info={"proportion": True})
    cell = aggregate.by_cell(pd.DataFrame(rows)).iloc[0]
    assert cell["value"] == 0.625
    assert cell["ci_low"] < 0.625 < cell["ci_high"]


def test_a_metric_without_an_interval_gets_none_from_the_leaderboard_either():
    """Runtime records one timing per model for every clip and ``"ci": null``: resampling its
    speakers gave 0.0273 [0.0266, 0.0283], a reweighting of a few timings."""
    from tests.leaderboard.records import score_rows

    timings = np.repeat([0.02, 0.03], 12)  # fold 0's timing, then fold 1's
    rows = score_rows({"e": timings}, metric="runtime", versus=None, ci=None)
    rows += score_rows({"e": timings}, metric="gap", versus=None, ci=[0.0, 1.0])
    cells = aggregate.by_cell(pd.DataFrame(rows)).set_index("metric")
    runtime, gap = cells.loc["runtime"], cells.loc["gap"]
    assert runtime["value"] == pytest.approx(0.025)
    assert np.isnan(runtime["ci_low"]) and np.isnan(runtime["ci_high"])
    assert gap["value"] == pytest.approx(0.025) and gap["ci_low"] < 0.025 < gap["ci_high"]


def test_an_interval_stays_in_the_range_the_metric_declares():
    """Probe F9: widened for few speakers, a Gini interval read [0.543, 1.063]."""
    from tests.leaderboard.records import score_rows

    near_one = {"e": np.array([0.3, 0.3] + [1.0] * 22)}  # one speaker far below the rest
    free = aggregate.by_cell(pd.DataFrame(score_rows(near_one, metric="gini", versus=None)))
    assert free["ci_high"].iloc[0] > 1  # the widened interval, unbounded
    kept = aggregate.by_cell(pd.DataFrame(score_rows(near_one, metric="gini", versus=None,
                                                     info={"bounds": [0.0, 1.0]})))
    assert kept["ci_high"].iloc[0] == 1.0 and kept["ci_low"].iloc[0] == free["ci_low"].iloc[0]
    record = summarize(GiniSparseness(name="gini", higher_is_better=True),
                       MetricOutput(scores=torch.tensor([0.2, 0.4])))
    assert record["info"]["bounds"] == [0.0, 1.0]  # the records carry the range


def test_an_explainer_without_a_gap_is_unranked_and_leaves_the_others_ranks_alone():
    """Its per-clip scores all NaN, an explainer read rank 1–3 beside "n/a", and the two
    explainers the tests separate read 1–2 and 2–3 (the fallback without per-sample scores
    gave "–", 1 and 2)."""
    from tests.leaderboard.records import score_rows

    rng = np.random.default_rng(0)
    scores = {"bad": rng.normal(0, 0.05, 24), "good": 0.5 + rng.normal(0, 0.05, 24),
              "none": np.full(24, np.nan)}
    section = aggregate.sections(pd.DataFrame(score_rows(scores, metric="faithfulness-gap",
                                                         versus=None)))[0]
    assert section.verdict is not None
    assert section.ranks == {"good": "1", "bad": "2", "none": "–"}


def test_the_csv_gives_no_direction_to_a_metric_that_is_not_a_grade():
    """Science audit 6, L2: Gini, the randomisation check and the low-band share read
    higher_is_better = True in leaderboard.csv although their records say ``ranked: false``;
    a reader sorting by that flag took a description for a grade."""
    import io

    from tests.leaderboard.records import score_rows

    scores = {"e": np.linspace(0.1, 0.9, 24)}
    rows = score_rows(scores, metric="faithfulness-gap", versus=None)
    rows += score_rows(scores, metric="gini", versus=None, ranked=False)
    cells = aggregate.by_cell(pd.DataFrame(rows))
    csv = pd.read_csv(io.StringIO(tables.leaderboard_csv(cells))).set_index("metric")
    assert csv["higher_is_better"].fillna("empty").to_dict() == {"faithfulness-gap": True,
                                                                 "gini": "empty"}
    assert csv["ranked"].to_dict() == {"faithfulness-gap": True, "gini": False}
    # the tables still read the direction the records state (a † column's ▲ / ▼)
    assert cells.set_index("metric")["higher_is_better"].to_dict() == {
        "faithfulness-gap": True, "gini": True}


def test_a_cell_on_fewer_trained_models_than_its_table_says_so():
    """Probe F3(c): two folders pooled, one explainer in only one of them: its row rested on
    one model, the others' on two, and only the CSV's models column told."""
    from tests.leaderboard.records import score_rows

    rows = score_rows({"both": np.full(24, 0.2), "one": np.full(24, 0.1)}, metric="gap",
                      versus=None)
    rows = [r for r in rows if not (r["explainer"] == "one" and r["fold"] == 1)]
    cells = aggregate.by_cell(pd.DataFrame(rows)).set_index("explainer")
    assert cells["section_models"].tolist() == [2, 2]
    assert tables.cell_text(cells.loc["one"]).endswith("(on 1 of the 2 trained models)")
    assert "trained models" not in tables.cell_text(cells.loc["both"])


def test_a_model_whose_record_has_no_defined_score_is_no_model_of_its_cell():
    """A record whose every per-sample score is null (n 0: the metric undefined on each clip
    of that split) counted as one of the cell's models: "0.305 [0.258, 0.360]", "models 2 of
    2", a mean over split 0 alone ranked beside means over both, and its empty split took the
    other explainers' units out of their paired tests (1–2 and 2–3 where 1 and 2 were
    separated). It now contributes no model and is said as a model missing is."""
    from tests.leaderboard.records import score_rows

    rng = np.random.default_rng(0)
    scores = {"bad": rng.normal(0, 0.05, 24), "good": 0.5 + rng.normal(0, 0.05, 24),
              "half": 0.3 + rng.normal(0, 0.05, 24), "none": np.zeros(24)}
    rows = score_rows(scores, metric="faithfulness-gap", versus=None)
    for r in rows:
        if r["explainer"] == "none" or (r["explainer"] == "half" and r["fold"] == 1):
            for fields in (r, r["record"]):
                fields.update(scores=[None] * 12, value=np.nan, n=0)
    section = aggregate.sections(pd.DataFrame(rows))[0]
    cells = section.cells.set_index("explainer")
    assert cells["models"].to_dict() == {"bad": 2, "good": 2, "half": 1, "none": 0}
    assert tables.cell_text(cells.loc["half"]) == (
        "0.305 [0.258, 0.360] (on 1 of the 2 trained models)")
    assert tables.cell_text(cells.loc["none"]) == "n/a (on 0 of the 2 trained models)"
    assert section.compared == ("bad", "good")
    assert section.ranks == {"good": "1", "half": "–", "bad": "2", "none": "–"}


def test_a_cell_with_a_record_without_scores_states_the_mean_over_splits_it_shows():
    """One record of a cell kept no per-sample scores (an older run pooled): the cell fell back
    to the plain mean of its models' values, which weighs split 0 by its two seeds, 0.333 for
    the 0.398 the same scores give (test accuracy likewise, not its clips pooled), and the
    caption said "these records kept no per-sample scores" of a table whose records but one
    did."""
    from tests.leaderboard.records import _row, score_rows

    rng = np.random.default_rng(0)
    rows = []
    for seed in (0, 1):  # split 0 run with seeds 0 and 1, split 1 with seed 0 alone
        scores = {"a": np.r_[0.2 + rng.normal(0, .02, 12), 0.6 + rng.normal(0, .02, 12)],
                  "b": np.r_[0.1 + rng.normal(0, .02, 12), 0.3 + rng.normal(0, .02, 12)]}
        rows += [r for r in score_rows(scores, metric="faithfulness-gap", versus=None,
                                       seed=seed) if seed == 0 or r["fold"] == 0]
    scored = aggregate.by_cell(pd.DataFrame(rows)).set_index("explainer")
    old = next(r for r in rows if r["explainer"] == "a" and r["seed"] == 1)
    old["record"] = {k: v for k, v in old["record"].items()
                     if k not in ("scores", "clips", "speakers")}
    section = aggregate.sections(pd.DataFrame(rows))[0]
    cell = section.cell("a", "faithfulness-gap")
    assert cell["value"] == pytest.approx(scored.loc["a", "value"]) and np.isnan(cell["ci_low"])
    assert tables.cell_text(cell) == f"{scored.loc['a', 'value']:.3f}"
    caption = tables.ranking_table(section).caption
    assert "these records kept no per-sample scores" not in caption
    assert ("shared rank: not every record of these cells kept per-sample scores to test, so two "
            "explainers share ranks where their 95 % intervals overlap or either has none.") \
        in caption
    accuracy = [_row(metric="test-accuracy", fold=f, seed=seed, value=v, n=n)
                for f, seed, v, n in ((0, 0, 0.9, 600), (1, 0, 0.6, 300), (1, 1, 0.7, 300))]
    assert aggregate.by_cell(pd.DataFrame(accuracy))["value"].item() == pytest.approx(
        (540 + 180 + 210) / 1200)  # test accuracy pools the clips of every model


def test_an_explainer_on_fewer_trained_models_is_unranked_and_the_others_still_tested():
    """One explainer's gap failed (or is missing) on one split: the paired tests then had no
    common clips, the whole table fell back to overlapping intervals under a caption saying
    its records "kept no per-sample scores", and ranked a mean over split 0 beside means over
    splits 0 and 1."""
    from tests.leaderboard.records import score_rows

    rng = np.random.default_rng(0)
    scores = {"bad": rng.normal(0, 0.05, 24), "good": 0.5 + rng.normal(0, 0.05, 24),
              "half": 0.3 + rng.normal(0, 0.05, 24)}
    rows = [r for r in score_rows(scores, metric="faithfulness-gap", versus=None)
            if not (r["explainer"] == "half" and r["fold"] == 1)]
    section = aggregate.sections(pd.DataFrame(rows))[0]
    assert section.verdict is not None and section.compared == ("bad", "good")
    assert section.ranks == {"good": "1", "half": "–", "bad": "2"}
    table = tables.ranking_table(section)
    assert "kept no per-sample scores" not in table.caption
    assert ("Not ranked (–): half, whose faithfulness gap is on fewer of the trained models "
            "than the others' (its mean is over other splits or seeds).") in table.caption
    assert table.rows[1][:3] == ["–", "half", "0.305 [0.264, 0.356] (on 1 of the 2 trained "
                                              "models)"]


def test_the_summary_table_says_a_gap_rests_on_fewer_trained_models_as_the_tables_do():
    """The project README's summary showed "–: 0.305 [0.264, 0.356]" for a gap failed on one of
    the two splits, read like its neighbours' means over both; the section table said
    "(1 of 2 models failed)"."""
    from tests.leaderboard.records import _row, score_rows

    rng = np.random.default_rng(0)
    scores = {"bad": rng.normal(0, 0.05, 24), "good": 0.5 + rng.normal(0, 0.05, 24),
              "half": 0.3 + rng.normal(0, 0.05, 24)}
    rows = [r for r in score_rows(scores, metric="faithfulness-gap", versus=None)
            if not (r["explainer"] == "half" and r["fold"] == 1)]
    failed = _row(explainer="half", metric="faithfulness-gap", fold=1, status="error",
                  value=np.nan, n=None, higher_is_better=None)
    for extra, note in (([], "(on 1 of the 2 trained models)"),
                        ([failed], "(1 of 2 models failed)")):
        section = aggregate.sections(pd.DataFrame(rows + extra))[0]
        summary = {row[0]: row[1] for row in tables.summary_table([section], "b").rows}
        assert summary["half"] == f"–: 0.305 [0.264, 0.356] {note}"
        assert summary["good"] == "1: 0.513 [0.480, 0.552]"


def test_the_summary_caption_says_what_a_dash_means_in_the_rank_and_elsewhere():
    """The summary caption said "–: not measured" of "–: 0.305 [0.264, 0.356]" as well, where
    the dash is a rank: the explainer is unranked (here on fewer trained models)."""
    from tests.leaderboard.records import _row, score_rows

    rng = np.random.default_rng(0)
    scores = {"bad": rng.normal(0, 0.05, 24), "good": 0.5 + rng.normal(0, 0.05, 24),
              "half": 0.3 + rng.normal(0, 0.05, 24)}
    rows = [r for r in score_rows(scores, metric="faithfulness-gap", versus=None)
            if not (r["explainer"] == "half" and r["fold"] == 1)]
    unranked = ("– as a rank (before a value): not ranked in that column (its section table "
                "says why: a model below the accuracy floor or failing its cue control, or an "
                "explainer without a finite mean or on fewer trained models than the others)")
    accuracy = [_row(metric="test-accuracy", fold=fold, value=0.9) for fold in (0, 1)]
    for extra, dashes in (([], f"–: not measured; {unranked}."),  # no accuracy: a dash
                          (accuracy, f"{unranked}.")):
        table = tables.summary_table(aggregate.sections(pd.DataFrame(rows + extra)), "b")
        assert {row[0]: row[1] for row in table.rows}["half"].startswith("–: 0.305")
        assert table.caption.endswith(f"not a ranking across them; {dashes}")
    table = tables.summary_table(aggregate.sections(pd.DataFrame(
        [r for r in rows if r["explainer"] != "half"])), "b")
    assert table.caption.endswith("not a ranking across them; –: not measured.")


def test_a_cell_with_a_failed_model_accounts_for_every_trained_model():
    """Of four trained models (two splits × two seeds) one failed and one left no score (no
    record, or one whose every score is undefined): the note said "(1 of 3 models failed)",
    too few models, and the model without a score unmentioned."""
    from tests.leaderboard.records import _row, score_rows

    rng = np.random.default_rng(0)
    scores = {"a": 0.3 + rng.normal(0, .05, 24), "b": 0.5 + rng.normal(0, .05, 24)}
    rows = [r for seed in (0, 1) for r in score_rows(scores, metric="faithfulness-gap",
                                                     versus=None, seed=seed)
            if not (r["explainer"] == "a" and r["fold"] == 1)]
    failed = _row(explainer="a", metric="faithfulness-gap", fold=1, seed=0, status="error",
                  value=np.nan, n=None, higher_is_better=None)
    unscored = next(r for r in score_rows(scores, metric="faithfulness-gap", versus=None,
                                          seed=1) if r["explainer"] == "a" and r["fold"] == 1)
    for fields in (unscored, unscored["record"]):
        fields.update(scores=[None] * 12, value=np.nan, n=0)
    for extra in ([failed], [failed, unscored]):
        cells = aggregate.by_cell(pd.DataFrame(rows + extra)).set_index("explainer")
        assert tables.cell_text(cells.loc["a"]).endswith(
            "(on 2 of the 4 trained models: 1 failed, 1 without a score)")
        assert "(" not in tables.cell_text(cells.loc["b"])  # on all four: no note
    # no model with a value, one failed: "error" says the three others had no score
    only_failed = [r for r in rows if r["explainer"] != "a"] + [failed]
    cells = aggregate.by_cell(pd.DataFrame(only_failed)).set_index("explainer")
    assert tables.cell_text(cells.loc["a"]) == "error (1 of 4 models failed, 3 without a score)"


def test_the_default_reads_the_quickstart_and_a_ground_truth_run_where_there_is_one(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    fake_run(tmp_path / "results" / "quickstart", media=False)
    assert main(["leaderboard", "--out", "board"]) == 0
    store = run_store(tmp_path / "results" / "ground-truth")
    store.append(record("audionet", "test-accuracy", 0.9, n=200)
                 | {"benchmark": "ground-truth", "task": "cue"})
    assert main(["leaderboard", "--out", "board", "--force"]) == 0
    sources = json.loads((tmp_path / "board" / ".source.json").read_text())["sources"]
    assert {s["benchmark"] for s in sources} == {"quickstart", "ground-truth"}
    # seed replicates, as 'run --seed N' names their folders, join by default
    for seed in (10, 2):
        replicate = run_store(tmp_path / "results" / f"quickstart-seed{seed}")
        replicate.append(record("audionet", "test-accuracy", 0.7, n=200, seed=seed))
    (tmp_path / "results" / "quickstart-seedling").mkdir()  # not a replicate's name
    assert main(["leaderboard", "--out", "board", "--force"]) == 0
    manifest = json.loads((tmp_path / "board" / ".source.json").read_text())
    assert [Path(r).parent.name for r in manifest["results"]] == [
        "quickstart", "quickstart-seed2", "quickstart-seed10", "ground-truth"]
    models = pd.read_csv(tmp_path / "board" / "models.csv")
    mine = models[(models.model == "audionet") & (models.benchmark == "quickstart")]
    assert sorted(zip(mine["fold"], mine["seed"])) == [(0, 0), (0, 2), (0, 10), (1, 0)]


def test_a_plugins_error_text_cannot_put_html_or_columns_into_the_markdown():
    from audioxai_bench.leaderboard.tables import Table, markdown

    text = markdown(Table("c", ["Reason"], [["<script>alert(1)</script> a|b & c\nd"]]))
    assert "| &lt;script&gt;alert(1)&lt;/script&gt; a\\|b &amp; c d |" in text
    assert "<script>" not in text


def test_a_partial_set_of_runs_is_refused_saying_what_it_drops_and_how_to_restore_it(
        tmp_path, monkeypatch, capsys):
    """Probe: in a fresh clone `run` then `leaderboard` (the README's sequence) was refused
    with 'holds the leaderboard of ground-truth (…), quickstart (…), not of quickstart (…)'."""
    monkeypatch.chdir(tmp_path)
    fake_run(tmp_path / "results" / "quickstart", media=False)
    truth = run_store(tmp_path / "results" / "ground-truth")
    truth.append(record("audionet", "test-accuracy", 0.9, n=200)
                 | {"benchmark": "ground-truth", "task": "cue"})
    assert main(["--quiet", "leaderboard", "--out", "board"]) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "board").iterdir()}
    shutil.rmtree(tmp_path / "results" / "ground-truth")  # a clone holds no results/
    assert main(["--quiet", "leaderboard", "--out", "board"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: board: the leaderboard there was made from ground-truth (synthetic) "
                   "and quickstart (synthetic); this makes it from quickstart (synthetic) "
                   "alone, dropping ground-truth (synthetic): run `audioxai-bench run "
                   "ground-truth` first (the default reads its results), write to another "
                   "--out, or pass --force to replace it\n")
    assert {p.name: p.read_bytes() for p in (tmp_path / "board").iterdir()} == before
    # a benchmark no `run` makes by name is to be given; more sources than before replace it
    mine = tmp_path / "mine"
    mine.mkdir()
    old = {("mine", "x"), ("quickstart", "synthetic")}
    (mine / source.MANIFEST).write_text(source.manifest_text(old, [], mine))
    with pytest.raises(AudioXaiError, match=r"dropping mine \(x\): give the results of mine "
                                            r"too, write to another --out"):
        source.check(mine, {("quickstart", "synthetic")}, force=False)
    source.check(mine, old | {("ground-truth", "synthetic")}, force=False)


def test_every_sonifier_a_plugins_too_is_heard_on_the_first_clip(tmp_path):
    """Probe: a plugin sonifier's sample-000__time-gate.wav never reached the page, which
    played spectrogram-mask, else the first sonifier by name, for every clip."""
    run = fake_run(tmp_path / "run", media=False)
    fake_run(tmp_path / "media", audio_samples=3)  # WAVs of keep-top and spectrogram-mask
    shutil.copytree(tmp_path / "media" / "audio", run / "audio")
    clips = run / "audio" / "digit-audionet-fold0" / "lrp-epsilon"
    for sample in range(3):  # a plugin's sonifier, after the built-ins by name
        shutil.copy(clips / f"sample-{sample:03d}__keep-top.wav",
                    clips / f"sample-{sample:03d}__time-gate.wav")
    build_leaderboard([run], tmp_path / "board", quiet=True)
    page = (tmp_path / "board" / "index.html").read_text()
    heard = re.findall(r'aria-label="explainer lrp-epsilon, sonifier ([\w-]+), clip '
                       r'(sample-\d+)', page)
    assert heard == [("spectrogram-mask", "sample-000"), ("keep-top", "sample-000"),
                     ("time-gate", "sample-000"), ("spectrogram-mask", "sample-001")]
    assert "<small>time-gate</small>" in page
    assert "every sonifier on sample-000, one per explainer on the other clips" in page


def test_a_failed_explainer_first_in_line_does_not_reverse_the_ranking(tmp_path):
    """A failed cell's record states no direction: read first, it turned "higher is better"
    into "lower" and ranked 0.001 above 0.179 (ecosystem audit 4, a plugin's 'deeplift')."""
    store = run_store(tmp_path / "run")
    store.append(record("audionet", "test-accuracy", 0.9, n=200))
    store.append(record("audionet", "faithfulness-gap", None, explainer="deeplift",
                        status="error", error=REASON, higher_is_better=None))
    for explainer, gap in (("gradient", 0.001), ("saliency-abs", 0.179)):
        store.append(record("audionet", "faithfulness-gap", gap, explainer=explainer))
    build_leaderboard([tmp_path / "run"], tmp_path / "board", quiet=True)
    table = section((tmp_path / "board" / "README.md").read_text(), "## digit · audionet")
    assert "Faithfulness gap ↑" in table
    assert table.index("| saliency-abs |") < table.index("| gradient |")


def test_a_metric_record_under_a_reserved_name_is_not_read_as_the_models(tmp_path):
    """Probe 5 #1: a metric (variant or plugin) named test-accuracy, from a run made before
    the names were reserved, was read as the model's accuracy: 12 "models" of fold 0, the
    section unranked as below the floor. The model's records are picked by their shape too."""
    run = fake_run(tmp_path / "run", media=False)
    clash = [record(model, "test-accuracy", 0.0, explainer=explainer, scores=[0.0] * 8)
             for model in ("audionet", "alexnet") for explainer in ("gradient", "lrp-epsilon")]
    store = run_store(run)
    for r in clash:
        store.append(r)
    board = tmp_path / "board"
    build_leaderboard([run], board, quiet=True)
    csv = pd.read_csv(board / "models.csv")
    assert sorted(zip(csv["model"], csv["fold"], csv["test_accuracy"])) == [
        ("alexnet", 0, 0.9), ("audionet", 0, 0.9), ("audionet", 1, 0.8)]
    text = (board / "README.md").read_text()
    assert "below the floor" not in text
    df = collect.read([run])
    for s in aggregate.sections(df):
        assert s.unranked is None and list(s.model_rows("test-accuracy")["value"]) == (
            [0.9, 0.8] if s.model == "audionet" else [0.9])
    cells = aggregate.by_cell(df).set_index(["model", "explainer", "metric"])
    assert cells.loc[("audionet", "", "test-accuracy"), "value"] == pytest.approx(0.85)
    assert cells.loc[("audionet", "gradient", "test-accuracy"), "value"] == 0.0
    top = top_table(load_results(run))
    assert "test accuracy 85.0 ± 7.1 % (2 folds)" in top and "test accuracy 90.0 %" in top


def test_a_runtime_timed_on_a_busy_machine_is_marked_with_its_cpu_share():
    """Runtimes timed under load (four jobs on two cores) read 1.5-2.3 times the idle ones with
    nothing to say so (session 21). A single-threaded CPU timing whose process had the CPU for
    under 90 % of the wall time is marked and its share said; with more threads, or a share
    near 1, or records that do not state it, nothing is marked."""
    from tests.leaderboard.records import score_rows

    timings = np.repeat([0.02, 0.03], 12)
    rows = []
    for explainer, info in (("busy", {"threads": 1, "cpu_share": 0.52}),
                            ("idle", {"threads": 1, "cpu_share": 0.97}),
                            ("threaded", {"threads": 2, "cpu_share": 0.6}),
                            ("unstated", {})):
        rows += score_rows({explainer: timings}, metric="runtime", versus=None, ci=None,
                           info={"device": "cpu", **info})
    rows += score_rows({"idle": timings}, metric="faithfulness-gap", versus=None,
                       ci=[0.0, 1.0])
    section = aggregate.sections(pd.DataFrame(rows))[0]
    cells = section.cells.set_index("explainer")
    runtimes = cells[cells["metric"] == "runtime"]
    assert runtimes["contended"].to_dict() == {"busy": "52 %", "idle": "", "threaded": "",
                                               "unstated": ""}
    assert tables.cell_text(runtimes.loc["busy"]).endswith(" ⧗")
    assert "⧗" not in tables.cell_text(runtimes.loc["idle"])
    caption = tables.ranking_table(section).caption
    assert "had the CPU for less than 90 % of the timed wall time" in caption
    assert "Least share: Runtime (ms/sample) of busy: 52 %." in caption
    idle = pd.DataFrame([r for r in rows if r["explainer"] != "busy"])
    assert "⧗" not in tables.ranking_table(aggregate.sections(idle)[0]).caption


def test_the_settings_table_names_the_method_a_variant_configures():
    """A definition's ``{name: saliency, base: gradient}`` is gradient under another name: the
    table says so, where the name alone would not."""
    from audioxai_bench.leaderboard.tables import settings_table

    def row(explainer: str, plugins: dict) -> dict:
        record = {"params": {"explainer": {"abs": True}}, "plugins": {"explainer": plugins}}
        return {"benchmark": "b", "explainer": explainer, "record": record}

    own = {"name": "gradient", "plugin": "builtin", "version": "0.1.0"}
    variant = {"name": "saliency", "plugin": "builtin", "version": "0.1.0", "base": "gradient"}
    rows = settings_table(pd.DataFrame([row("gradient", own), row("saliency", variant)])).rows
    assert rows == [["b", "gradient", "builtin 0.1.0", "abs True"],
                    ["b", "saliency", "builtin 0.1.0, variant of gradient", "abs True"]]
