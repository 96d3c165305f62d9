"""The leaderboard generator on a tiny fake run: ranking, intervals, failures, CSV, the
self-contained page, determinism and clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audioxai_bench.errors import AudioXaiError
from audioxai_bench.leaderboard import build_leaderboard, top_table
from audioxai_bench.results import ResultStore, load_results

GRID = [0.0, 0.1, 0.3, 0.5]
#: (model, explainer) -> faithfulness gap; the ranking differs between the models and from the
#: alphabetical order.
GAPS = {("audionet", "lrp-epsilon"): 0.30, ("audionet", "gradient"): 0.10,
        ("alexnet", "lrp-epsilon"): 0.20, ("alexnet", "gradient"): 0.40}
SHAPES = {"audionet": (1, 8000), "alexnet": (1, 227, 227)}
REASON = "CUDA out of memory while explaining"


def record(model: str, metric: str, value: float | None, *, explainer: str | None = None,
           sonifier: str | None = None, fold: int = 0, **extra) -> dict:
    """A record as the runner writes it."""
    r = {"benchmark": "quickstart", "dataset": "synthetic", "task": "digit", "model": model,
         "representation": "waveform" if model == "audionet" else "spectrogram", "fold": fold,
         "explainer": explainer, "sonifier": sonifier, "metric": metric, "status": "ok",
         "error": None, "value": value,
         "ci": None if value is None else [value - 0.05, value + 0.05], "n": 8,
         "higher_is_better": metric not in ("runtime", "model-randomisation"),
         "wall_seconds": 1.5, "device": "cpu", "seed": 0, "config_hash": "abc123",
         "git_revision": "0123456789abcdef", "versions": {"torch": "2.11.0", "numpy": "2.0"},
         "plugins": {"explainer": {"name": explainer, "plugin": "builtin", "version": "0.1.0"}},
         "params": {}, "created": "2030-01-01T00:00:00", "python": "3.11.7"}
    r.update(extra)
    return r


def explainer_records(model: str, explainer: str, fold: int = 0) -> list[dict]:
    gap = GAPS[model, explainer] + 0.2 * fold
    top = 1.0 - 2 * gap
    curves = {f"{kind}/{order}": [1.0, start, start - 0.1, start - 0.2]
              for kind in ("probability", "accuracy")
              for order, start in (("most-relevant", top), ("least-relevant", 0.95),
                                   ("random", 0.8), ("amplitude", 0.7))}
    out = [record(model, "faithfulness-gap", gap, explainer=explainer, fold=fold, grid=GRID,
                  curves=curves)]
    if fold:
        return out
    out += [record(model, "aopc", 0.5 * gap, explainer=explainer, grid=GRID, curves=curves),
            record(model, "runtime", 0.012, explainer=explainer),
            record(model, "model-randomisation", 0.9, explainer=explainer,
                   summary={"insensitive": explainer == "gradient"})]
    for sonifier, value in (("keep-top", 0.6), ("spectrogram-mask", 0.7)):
        out.append(record(model, "sonified-accuracy", value, explainer=explainer,
                          sonifier=sonifier))
    if model == "alexnet":
        out.append(record(model, "frequency-bands", 0.25, explainer=explainer,
                          summary={"densest_band_hz": [0, 300],
                                   "most_harmful_band_hz": [300, 700],
                                   "spearman_density_vs_accuracy_drop": 0.8}))
    return out


def fake_run(root: Path, *, media: bool = True) -> Path:
    """Records for 2 explainers x 2 models (a second fold for AudioNet), one failed cell, an
    examples file per model and a few WAVs."""
    store = ResultStore(root / "results.jsonl")
    for model in ("audionet", "alexnet"):
        store.append(record(model, "test-accuracy", 0.9, extras={"val-accuracy": {"value": 0.91}},
                            info={"preset": "cpu", "width": 0.25, "iterations": 300}, n=200))
        for explainer in ("gradient", "lrp-epsilon"):
            for r in explainer_records(model, explainer):
                store.append(r)
    store.append(record("audionet", "test-accuracy", 0.8, fold=1, n=200))
    for explainer in ("gradient", "lrp-epsilon"):
        store.append(explainer_records("audionet", explainer, fold=1)[0])
    store.append(record("alexnet", "gini", None, explainer="gradient", status="error",
                        error=REASON))
    if media:
        rng = np.random.default_rng(0)
        (root / "examples").mkdir()
        for model, shape in SHAPES.items():
            arrays = {"signals": rng.normal(size=(3, 8000)).astype(np.float32),
                      "inputs": rng.normal(size=(3, *shape)).astype(np.float32),
                      "target": np.array([3, 1, 4])}
            for explainer in ("gradient", "lrp-epsilon"):
                arrays[f"relevance__{explainer}"] = rng.normal(size=(3, *shape)).astype(
                    np.float32)
            np.savez(root / "examples" / f"digit-{model}-fold0.npz", **arrays)
        folder = root / "audio" / "digit-audionet-fold0" / "lrp-epsilon"
        folder.mkdir(parents=True)
        for suffix in ("original", "keep-top", "spectrogram-mask", "spectrogram-mask__complement"):
            sf.write(folder / f"sample-000__{suffix}.wav", 0.1 * rng.normal(size=800), 8000,
                     subtype="PCM_16")
    return root


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


def test_writes_the_four_files(built):
    _, out, written = built
    assert [p.name for p in written] == ["README.md", "leaderboard.csv", "models.csv",
                                         "index.html"]
    assert all(p.parent == out and p.stat().st_size > 0 for p in written)


def test_ranks_by_faithfulness_gap_per_model_with_intervals(built):
    _, out, _ = built
    readme = (out / "README.md").read_text()
    audionet = section(readme, "## digit · audionet")
    alexnet = section(readme, "## digit · alexnet")
    # by value, not by name: lrp-epsilon leads on AudioNet, gradient on AlexNet; AudioNet's
    # two folds are averaged: (0.3 + 0.5) / 2
    assert audionet.index("| 1 | lrp-epsilon |") < audionet.index("| 2 | gradient |")
    assert alexnet.index("| 1 | gradient |") < alexnet.index("| 2 | lrp-epsilon |")
    assert "0.400 [0.350, 0.450]" in audionet
    assert "0.400 [0.350, 0.450]" in alexnet
    assert "insensitive" in audionet.split("| gradient |")[1].split("\n")[0]
    assert "insensitive" not in audionet.split("| lrp-epsilon |")[1].split("\n")[0]
    assert "0.700 [0.650, 0.750] spectrogram-mask" in audionet  # the best sonifier
    assert "Frequency bands" in alexnet and "Frequency bands" not in audionet
    assert "0–300 Hz" in alexnet and "300–700 Hz" in alexnet
    assert "mean of the per-fold values" in readme


def test_models_table_has_paper_numbers_and_fold_spread(built):
    _, out, _ = built
    models = section((out / "README.md").read_text(), "## Models")
    assert "92.5 ± 2.0 %" in models and "95.8 ± 1.5 %" in models
    assert "85.0 ± 7.1 %" in models  # folds 0.9 and 0.8: mean, sample std
    csv = pd.read_csv(out / "models.csv")
    assert sorted(zip(csv["model"], csv["fold"])) == [("alexnet", 0), ("audionet", 0),
                                                      ("audionet", 1)]


def test_failed_cell_is_listed_with_its_reason(built):
    _, out, _ = built
    failed = section((out / "README.md").read_text(), "## Failed cells")
    assert REASON in failed and "| alexnet | 0 | gradient |" in failed
    assert REASON in (out / "index.html").read_text()
    alexnet = section((out / "README.md").read_text(), "## digit · alexnet")
    assert "| error |" in alexnet.split("| gradient |")[1].split("\n")[0]  # its gini cell


def test_csv_round_trips_with_the_expected_rows(built):
    _, out, _ = built
    csv = pd.read_csv(out / "leaderboard.csv", keep_default_na=False, na_values=[""])
    assert list(csv.columns[:7]) == ["benchmark", "dataset", "task", "model", "explainer",
                                     "sonifier", "metric"]
    per_model = {"audionet": 2 * 6 + 1, "alexnet": 2 * 7 + 1 + 1}  # + accuracy, + error
    assert csv["model"].value_counts().to_dict() == per_model
    gap = csv[(csv.model == "audionet") & (csv.explainer == "lrp-epsilon")
              & (csv.metric == "faithfulness-gap")].iloc[0]
    assert (gap.value, gap.ci_low, gap.ci_high, gap.n, gap.folds) == pytest.approx(
        (0.4, 0.35, 0.45, 16, 2))
    error = csv[csv.metric == "gini"].iloc[0]
    assert np.isnan(error.value) and error.errors == 1 and error.folds == 0
    sonified = csv[csv.metric == "sonified-accuracy"]
    assert set(sonified.sonifier) == {"keep-top", "spectrogram-mask"}


def test_page_is_self_contained_with_pictures_and_audio(built):
    _, out, _ = built
    page = (out / "index.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert re.search(r"<(link|script)[^>]*(src|href)=", page) is None
    assert "<img" in page and "data:image/png;base64," in page
    # one sample: the original and one sonifier (spectrogram-mask preferred over keep-top)
    assert page.count("data:audio/wav;base64,") == 2
    assert "<small>spectrogram-mask</small>" in page and "<small>keep-top</small>" not in page
    # at most two examples per model, though the files hold three
    examples = re.findall(r'<img alt="digit · (\w+), fold 0, example (\d)', page)
    assert sorted(examples) == [("alexnet", "0"), ("alexnet", "1"), ("audionet", "0"),
                                ("audionet", "1")]
    assert "No audio/ folder" in page  # AlexNet has none


def test_output_is_deterministic_and_path_free(built, tmp_path):
    run, out, _ = built
    again = build_leaderboard([run / "results.jsonl"], tmp_path / "again", quiet=True)
    for path in again:
        assert path.read_bytes() == (out / path.name).read_bytes(), path.name
        assert str(run) not in path.read_text()


def test_bad_results_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(AudioXaiError, match=re.escape(str(bad))):
        build_leaderboard([bad], tmp_path / "board", quiet=True)
    wrong = tmp_path / "wrong" / "results.jsonl"
    ResultStore(wrong).append(record("audionet", "aopc", None, explainer="x") | {"value": "hi"})
    with pytest.raises(AudioXaiError, match=r"wrong/results\.jsonl.*'value'"):
        build_leaderboard([wrong.parent], tmp_path / "board", quiet=True)
    with pytest.raises(AudioXaiError, match="nowhere"):
        build_leaderboard([tmp_path / "nowhere"], tmp_path / "board", quiet=True)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(AudioXaiError, match="no result records"):
        build_leaderboard([empty], tmp_path / "board", quiet=True)


def test_broken_media_files_are_named(tmp_path):
    run = fake_run(tmp_path / "run", media=False)
    wav = run / "audio" / "digit-alexnet-fold0" / "gradient" / "sample-000__keep-top.wav"
    wav.parent.mkdir(parents=True)
    wav.write_bytes(b"RIFF nonsense")
    with pytest.raises(AudioXaiError, match=re.escape(str(wav))):
        build_leaderboard([run], tmp_path / "board", quiet=True)
    wav.unlink()
    (run / "examples").mkdir()
    npz = run / "examples" / "digit-alexnet-fold0.npz"
    np.savez(npz, signals=np.zeros((1, 8000)), inputs=np.zeros((1, 1, 227, 227)),
             target=np.zeros(1, dtype=int), relevance__gradient=np.zeros((1, 1, 8000)))
    with pytest.raises(AudioXaiError, match=re.escape(str(npz)) + ".*relevance__gradient"):
        build_leaderboard([run], tmp_path / "board", quiet=True)


def test_without_media_and_with_a_later_file_that_wins(tmp_path):
    run = fake_run(tmp_path / "run", media=False)
    rerun = tmp_path / "rerun" / "results.jsonl"
    ResultStore(rerun).append(record("alexnet", "gini", 0.5, explainer="gradient"))
    out = tmp_path / "board"
    written = build_leaderboard([run, rerun.parent], out, quiet=True)
    page = written[-1].read_text()
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
