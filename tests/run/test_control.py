"""The cue control: a model that reads the cue passes, one that ignores it fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from audioxai_bench.data.cue import CUE_FREQS_HZ, plant_cues
from audioxai_bench.data.dataset import load_audiomnist
from audioxai_bench.data.splits import speaker_split
from audioxai_bench.run.control import CueControl, cue_control
from audioxai_bench.stats import wilson_interval
from tests.helpers import write_tree


class BandModel(nn.Module):
    """Logit of a class: how far the loudest moment of its cue's frequency band in the
    spectrogram rises above -60 dB; with no cue every band is below, the uniform guess."""

    def __init__(self, freqs=CUE_FREQS_HZ, floor_db=-60.0):
        super().__init__()
        self.register_buffer("rows", torch.tensor([round(f * 455 / 8000) for f in freqs]))
        self.floor_db = floor_db

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, 0, self.rows, :].amax(dim=2) - self.floor_db).clamp_min(0)


@pytest.fixture(scope="module")
def cue_data(tmp_path_factory):
    """The test speakers of split 0, two digits, four repetitions: balanced cue classes."""
    where: Path = tmp_path_factory.mktemp("control")
    plain = write_tree(where / "plain", list(speaker_split("cue", 0).test), digits=range(2),
                       reps=range(4))
    return load_audiomnist(plant_cues(plain, where / "cue").out, use_cache=False)


def test_a_model_that_reads_the_cue_passes(cue_data):
    check = cue_control(BandModel(), cue_data, 0, "spectrogram", torch.device("cpu"))
    assert check.n == len(cue_data.relpaths) == 12 * 2 * 4
    assert check.only == 1.0 and check.swapped == 1.0
    # without the cue the model answers from the speech, which is the same in every class
    assert check.removed == pytest.approx(0.25)
    assert check.passed
    # intervals count the 12 speakers, not the 96 clips: every clip right on the cue alone
    # reads as 12^(4/5) 96^(1/5) = 18.1 trials (stats.clustered_wilson)
    assert set(check.speakers) == set(speaker_split("cue", 0).test)
    assert check.interval("only") == pytest.approx(wilson_interval(1.0, 12**0.8 * 96**0.2))
    assert check.interval("only")[0] < wilson_interval(1.0, 96)[0] - 0.1


def test_a_model_that_answers_a_favourite_class_without_the_cue_fails(cue_data):
    """Science audit 6, H1: every trained cue model sent most cue-free clips to one class, so
    it was at chance without the cue while that class's clips needed none. Here the lowest
    band (500 Hz) holds a little speech: read without a floor, it wins whenever no cue is
    heard."""
    favourite = BandModel(floor_db=-200.0)
    check = cue_control(favourite, cue_data, 0, "spectrogram", torch.device("cpu"))
    assert check.removed == pytest.approx(0.25) and check.swapped == 1.0  # the old rule: pass
    p = check.p_true_without_cue()
    assert p[0] > 0.5 and max(p[1], p[2], p[3]) < 0.25
    assert not check.passed
    fair = cue_control(BandModel(), cue_data, 0, "spectrogram", torch.device("cpu"))
    assert fair.p_true_without_cue() == pytest.approx({c: 0.25 for c in range(4)})


def test_a_model_that_ignores_the_cue_fails(cue_data):
    deaf = BandModel(freqs=(200.0, 260.0, 280.0, 340.0))  # listens to the speech bands only
    check = cue_control(deaf, cue_data, 0, "spectrogram", torch.device("cpu"))
    assert check.only < 0.9 and not check.passed
    assert check.swapped < 0.9
    assert check.swapped == pytest.approx(check.removed, abs=0.1)  # it follows the speech


def test_the_rule_judges_removal_and_the_swap_not_the_burst_alone():
    def control(removed, only, swapped, p_true=0.25):
        hits = {k: np.arange(100) < round(100 * v)
                for k, v in (("removed", removed), ("only", only), ("swapped", swapped))}
        labels = np.arange(100) % 4
        return CueControl(hits=hits, speakers=np.arange(100) // 10, chance=0.25, labels=labels,
                          p_true_removed=np.where(labels == 3, p_true, 0.25))

    assert control(0.27, 0.5, 0.93).passed  # necessary and followed; alone it is off-domain
    assert not control(0.27, 1.0, 0.85).passed  # not followed in context
    assert not control(0.35, 1.0, 1.0).passed  # the speech still tells the class
    assert control(0.27, 1.0, 1.0, p_true=0.29).passed  # within 5 points of chance
    # class 3 keeps 0.41 without its cue: a favourite that wins the argmax among four classes
    assert not control(0.27, 1.0, 1.0, p_true=0.41).passed
    assert not control(0.27, 1.0, 1.0, p_true=0.31).passed
