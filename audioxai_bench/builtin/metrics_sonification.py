"""Scores of a sonifier as metrics, so each (explainer, sonifier) pair gets leaderboard records.

These metrics need ``EvalBatch.sonifier`` and ``EvalBatch.signals``; the runner runs them once per
sonifier. Definitions and reasons: :mod:`audioxai_bench.evaluation.sonification`.

Ranked (``ranked = True``): ``sonified-sufficiency-gain`` and
``sonified-comprehensiveness-gain``, the gain of the explainer's top-f units over random units of
the same number under the same sonifier, at matched kept fractions, on the explained class.
They rank (explainer, sonifier) pairs; never take a maximum over sonifiers.

Descriptive (``ranked = False``; the leaderboard does not rank by them): ``sonified-lmac``, the
L-MAC quantities at 20 % kept, to read beside Paissan et al. (2024);
``sonified-sufficiency-vs-input`` and ``sonified-comprehensiveness-vs-input``, which judge the
sonifier rather than the map: the gain under the sonifier minus the gain of the same units
applied in the model input (0: the sound carries what the units carry in the input; below 0:
less, above 0: more; a sonifier's smoothing or STFT spreads each unit into its neighbours;
review H1); and the energy-matched
listening aids ``sonified-accuracy``, ``complement-accuracy``, ``kept-energy`` and
``sonified-random-gap`` (review H1: heard at their own level they did not separate
explainers, for the model inputs ignore gain and a white random STFT mask acts as a
near-uniform gain). Every sound is heard at its clip's level
(:func:`~audioxai_bench.data.preprocess.to_model_input`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import Tensor

from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.metric import BaseMetric, BatchMemo, EvalBatch, MetricOutput
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.sonification import (
    FRACTIONS,
    PATCH,
    WAVEFORM_BLOCK,
    MatchedScores,
    SonificationScores,
    evaluate_sonifier,
    lmac_quantities,
    score_matched_masks,
)

#: Metric name -> (field of SonificationScores.as_dict(), higher is better).
SCORES: dict[str, tuple[str, bool]] = {
    "sonified-accuracy": ("sonified/accuracy", True),
    "complement-accuracy": ("complement/accuracy", False),
    "kept-energy": ("kept-energy", False),
    "sonified-random-gap": ("gap/probability", True),
}
#: Matched-size metric name -> what its per-sample score is.
MATCHED: dict[str, str] = {
    "sonified-sufficiency-gain": "sufficiency",
    "sonified-comprehensiveness-gain": "comprehensiveness",
    "sonified-lmac": "lmac",
    "sonified-sufficiency-vs-input": "sufficiency-vs-input",
    "sonified-comprehensiveness-vs-input": "comprehensiveness-vs-input",
}
#: The control of the ``-vs-input`` quantities.
INPUT_VERSUS = "the same units in the model input (silence elsewhere)"


@dataclasses.dataclass(frozen=True, kw_only=True)
class SonificationMetric(BaseMetric):
    """One field of the energy-matched scores as the per-sample score; the rest as extras.

    Descriptive: a listening aid, not ranked (review H1).
    """

    field: str
    ranked: bool = False
    memo: BatchMemo = dataclasses.field(default_factory=BatchMemo, compare=False, repr=False)

    def scores(self, batch: EvalBatch) -> SonificationScores:
        """The batch's sonification scores, computed once for all metrics sharing the memo."""
        return self.memo.get(batch, "sonification", lambda: evaluate_sonifier(
            batch.sonifier, batch.model, batch.signals, batch.relevance, batch.target,
            batch.representation, seed=batch.seed, chunk_size=batch.chunk_size,
            dtype=batch.x.dtype))

    @property
    def proportion(self) -> bool:
        """An accuracy's scores are hits (0/1): its mean is a proportion, whose interval is
        Wilson's, not a bootstrap's."""
        return self.field.endswith("/accuracy")

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        values = self.scores(batch).as_dict()
        return MetricOutput(
            scores=values[self.field], extras=values,
            info={"sonifier": str(getattr(batch.sonifier, "name", type(batch.sonifier))),
                  "ranked": self.ranked} | ({"proportion": True} if self.proportion else {}))


@dataclasses.dataclass(frozen=True, kw_only=True)
class MatchedSonificationMetric(BaseMetric):
    """Matched-size sonification scores (:func:`score_matched_masks`) as one metric.

    Parameters
    ----------
    quantity : str
        The per-sample score: ``"sufficiency"`` (mean over fractions of p(masked-in) minus the
        random controls' mean), ``"comprehensiveness"`` (the controls' p(masked-out) minus the
        explainer's), ``"lmac"`` (Fid-In at ``lmac_fraction``, the other L-MAC quantities
        as extras), or ``"sufficiency-vs-input"`` / ``"comprehensiveness-vs-input"``: that gain
        under the sonifier minus the same gain with the same unit sets applied in the model
        input (review H1: how much of what the units carry the sound keeps; 0 = all of it).
    fractions : tuple of float
        Kept fractions of each sample's active units.
    controls : int
        Random unit masks per fraction (their mean is the control).
    waveform_block : int
        Samples per waveform unit (80 = 10 ms).
    patch : tuple of int
        Bins x frames per spectrogram unit.
    lmac_fraction : float
        The fraction (on the grid) at which the L-MAC quantities are read.
    ranked : bool
        Whether the leaderboard may rank by this metric (the L-MAC quantities are descriptive).
    """

    quantity: str
    fractions: tuple[float, ...] = FRACTIONS
    controls: int = 4
    waveform_block: int = WAVEFORM_BLOCK
    patch: tuple[int, int] = PATCH
    lmac_fraction: float = 0.2
    ranked: bool = True
    memo: BatchMemo = dataclasses.field(default_factory=BatchMemo, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.quantity not in MATCHED.values():
            raise AudioXaiError(f"metric {self.name!r}: quantity must be one of "
                                f"{', '.join(sorted(set(MATCHED.values())))}, "
                                f"got {self.quantity!r}")
        fractions = tuple(self.fractions)
        if not fractions or list(fractions) != sorted(set(fractions)) or not (
                0 < fractions[0] and fractions[-1] <= 1):
            raise AudioXaiError(f"metric {self.name!r}: fractions must rise within (0, 1], "
                                f"got {fractions}")
        if self.lmac_fraction not in fractions:
            raise AudioXaiError(f"metric {self.name!r}: lmac_fraction {self.lmac_fraction} "
                                f"must be one of the fractions {fractions}")
        if self.controls < 1 or self.waveform_block < 1 or min(self.patch) < 1:
            raise AudioXaiError(f"metric {self.name!r}: controls, waveform_block and patch "
                                f"must be positive")

    @property
    def versus(self) -> str | None:
        """The scores' control: random units of the same number, or for the ``-vs-input``
        quantities the same units in the model input (None: the L-MAC quantities)."""
        if self.quantity == "lmac":
            return None
        return INPUT_VERSUS if self.quantity.endswith("-vs-input") else (
            "random units of the same number")

    def scores(self, batch: EvalBatch, *, in_input: bool = False) -> MatchedScores:
        """The batch's matched scores under its sonifier, computed once for the metrics sharing
        the memo; or ``in_input``, with the unit sets applied in the model input, computed once
        for every sonifier of the same relevance (the runner gives an explainer's batches for
        each sonifier the same relevance tensor; ``batch.shared`` holds the latest)."""
        setting = (tuple(self.fractions), self.controls, self.waveform_block, tuple(self.patch))

        def compute() -> MatchedScores:
            return score_matched_masks(
                None if in_input else batch.sonifier, batch.model, batch.signals, batch.x,
                batch.target, batch.relevance, batch.representation, fractions=self.fractions,
                controls=self.controls, block=self.waveform_block, patch=tuple(self.patch),
                seed=batch.seed, chunk_size=batch.chunk_size, reuse=batch.reuse)

        if not in_input:
            return self.memo.get(batch, ("matched", setting), compute)
        key = ("sonified-in-input", setting)
        held = None if batch.shared is None else batch.shared.get(key)
        if held is None or held[0] is not batch.relevance:
            held = (batch.relevance, compute())
            if batch.shared is not None:
                batch.shared[key] = held
        return held[1]

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        s = self.scores(batch)
        explained = (batch.target.cpu() == s.predicted).double()
        info: dict[str, Any] = {
            "sonifier": str(getattr(batch.sonifier, "name", type(batch.sonifier))),
            "units": s.units,
            "unit-score": "(relevance sum - mean per active feature x size) / sqrt(size)",
            "fractions": list(s.fractions), "controls": self.controls,
            "class": "explained", "ranked": self.ranked}
        common = {"probability/original": s.p_clean, "explains-predicted-class": explained,
                  "active-units": s.n_active.double()}
        if self.quantity == "lmac":
            return self._lmac(s, common, info)
        if self.quantity.endswith("-vs-input"):
            return self._versus_input(s, self.scores(batch, in_input=True), common, info)
        part = "in" if self.quantity == "sufficiency" else "out"
        gain = s.sufficiency_gain if part == "in" else s.comprehensiveness_gain
        random = s.random.mean_over_controls()
        sign = 1.0 if part == "in" else -1.0
        mine, rand, amp = (getattr(v, f"p_{part}") for v in (s.explainer, random, s.amplitude))
        curves = {
            f"probability/masked-{part}": mine, f"probability/random-{part}": rand,
            f"probability/amplitude-{part}": amp,
            "gain/random": sign * (mine - rand), "gain/amplitude": sign * (mine - amp),
            "kept-energy/masked-in": s.explainer.kept_in, "kept-energy/random-in": random.kept_in,
        }
        amplitude_gain = sign * (amp - rand).mean(dim=1)
        extras = common | {
            "gain/amplitude": gain("amplitude"),
            "amplitude/gain": amplitude_gain.where(s.n_active > 0,
                                                   torch.full_like(amplitude_gain, math.nan)),
        }
        return MetricOutput(scores=gain("random"), curves=curves,
                            grid=torch.tensor(s.fractions, dtype=torch.float64),
                            extras=extras, info=info)

    def _versus_input(self, sonified: MatchedScores, direct: MatchedScores, common: dict,
                      info: dict) -> MetricOutput:
        """The gain under the sonifier minus the gain of the same unit sets in the model input
        (both over their own random controls, drawn alike), per fraction and averaged."""
        quantity = self.quantity.removesuffix("-vs-input")
        part, sign = ("in", 1.0) if quantity == "sufficiency" else ("out", -1.0)

        def curve(s: MatchedScores) -> Tensor:
            p = getattr(s.explainer, f"p_{part}")
            return sign * (p - getattr(s.random.mean_over_controls(), f"p_{part}"))

        gains = [getattr(s, f"{quantity}_gain")() for s in (sonified, direct)]
        curves = {"gain/sonified": curve(sonified), "gain/input": curve(direct)}
        curves["gain/sonified-minus-input"] = curves["gain/sonified"] - curves["gain/input"]
        extras = common | {"gain/sonified": gains[0], "gain/input": gains[1],
                           "kept-loudness/input-in": direct.explainer.kept_in.mean(dim=1)}
        return MetricOutput(scores=gains[0] - gains[1], curves=curves,
                            grid=torch.tensor(sonified.fractions, dtype=torch.float64),
                            extras=extras, info=info | {"reference": "model input"})

    def _lmac(self, s: MatchedScores, common: dict, info: dict) -> MetricOutput:
        j = s.at(self.lmac_fraction)
        mine = lmac_quantities(s.p_clean, s.explainer.p_in[:, j], s.explainer.hit_in[:, j],
                               s.explainer.p_out[:, j])
        controls = [lmac_quantities(s.p_clean, s.random.p_in[:, c, j], s.random.hit_in[:, c, j],
                                    s.random.p_out[:, c, j]) for c in range(self.controls)]
        amplitude = lmac_quantities(s.p_clean, s.amplitude.p_in[:, j], s.amplitude.hit_in[:, j],
                                    s.amplitude.p_out[:, j])
        extras = dict(common)
        for key in mine:
            extras[key] = mine[key]
            extras[f"random/{key}"] = torch.stack([c[key] for c in controls]).mean(dim=0)
            extras[f"amplitude/{key}"] = amplitude[key]
        undefined = torch.full_like(mine["fid-in"], math.nan)
        extras = {k: v.where(s.n_active > 0, undefined) for k, v in extras.items()}
        return MetricOutput(scores=extras["fid-in"], extras=extras,
                            info=info | {"fraction": self.lmac_fraction,
                                         "proportion": True})


def matched_metrics() -> list[MatchedSonificationMetric]:
    """The matched-size metrics, sharing one computation per batch."""
    memo = BatchMemo()
    needs = frozenset({"signals", "sonifier"})
    return [
        MatchedSonificationMetric(
            name="sonified-sufficiency-gain", quantity="sufficiency", higher_is_better=True,
            display_name="Sonified sufficiency gain over random units (matched size)",
            needs=needs, memo=memo),
        MatchedSonificationMetric(
            name="sonified-comprehensiveness-gain", quantity="comprehensiveness",
            higher_is_better=True,
            display_name="Sonified comprehensiveness gain over random units (matched size)",
            needs=needs, memo=memo),
        MatchedSonificationMetric(
            name="sonified-lmac", quantity="lmac", higher_is_better=True, ranked=False,
            display_name="L-MAC quantities at 20 % kept (score: Fid-In)", needs=needs,
            memo=memo),
        *(MatchedSonificationMetric(
            name=f"sonified-{quantity}-vs-input", quantity=f"{quantity}-vs-input",
            higher_is_better=True, ranked=False, needs=needs, memo=memo,
            display_name=f"Sonified {quantity} gain minus the same units' in the model input")
          for quantity in ("sufficiency", "comprehensiveness")),
    ]


@hookimpl
def audioxai_bench_metrics() -> list[BaseMetric]:
    """Matched-size gains and L-MAC quantities; the energy-matched listening aids."""
    memo = BatchMemo()
    needs = frozenset({"signals", "sonifier"})
    old = [SonificationMetric(name=name, higher_is_better=better, field=field, memo=memo,
                              needs=needs) for name, (field, better) in SCORES.items()]
    return [*matched_metrics(), *old]
