"""The page's Listen table: each explainer's sonified clips beside their originals, with a
caption that says what a sound is, how loud it plays and why some are near silent."""

from __future__ import annotations

import math
from collections.abc import Sequence

from . import figures, media
from .aggregate import Section
from .markup import escape, figure, player

#: What the preferred sonifier plays, by the section's input representation.
MASK_TEXT = {
    "spectrogram": "each sound is the explainer's whole relevance map (its positive part, scaled "
                   "to a maximum of 1) used as a soft mask on the clip's STFT magnitude, "
                   "inverted with the clip's own phase: bins of high relevance keep their "
                   "sound, bins of none are silenced, nothing is cut at a threshold",
    "waveform": "each sound is a soft mask on the clip's STFT magnitude, inverted with the "
                "clip's own phase: per bin, the share of the clip's magnitude that comes from "
                "the clip weighted sample by sample by its whole relevance map (its positive "
                "part, scaled to a maximum of 1); nothing is cut at a threshold",
}
#: Why the 0 dB reference (-0db) variants are near silent, where the levels show it.
ZERO_DB_NOTE = ("The -0db variants take relevance relative to 0 dB, the loudest level, so the "
                "loud bins, whose level is close to that reference, get almost none: their mask "
                "is near zero where the sound is, and they are near silent")
#: An original's peak: the runner writes a clip's sounds at the gain that brings the loudest of
#: the original, a sonified sound and its complement to it (:func:`run.folder.write_sonified`).
PEAK_DBFS = -1.0


def _level(db: float) -> str:
    """``"−13 dB"``: a level in whole dB, signed (0 for less than half a dB either way)."""
    if db == -math.inf:
        return "silent"
    rounded = round(db) + 0  # + 0: no "−0"
    return f"{rounded:+d} dB".replace("-", "\u2212") if rounded else "0 dB"


def _span(levels: Sequence[float]) -> str:
    """The range of relative levels, loudest first: "−31 dB to −34 dB", or one level."""
    high, low = _level(max(levels)), _level(min(levels))
    return high if high == low else f"{high} to {low}"


def listen(section: Section, skipped: list[media.Skipped] | None = None) -> str:
    """The section's Listen table; a sound that cannot be read is left out with a note (and
    added to ``skipped``)."""
    mine: list[media.Skipped] = []
    audio = media.find_audio(section, mine)
    if skipped is not None:
        skipped += mine
    if audio is None:
        return ('<p class="note">No audio/ folder for this model in the run folder: no '
                "sonified examples.</p>")
    explainers = {e for e, _ in audio.sonified}
    order = [e for e in section.explainers if e in explainers] + sorted(
        explainers - set(section.explainers))
    header = "".join(f'<th scope="col">{escape(s)}</th>' for s in audio.samples)
    where = f"{section.title}, fold {audio.model}"
    original = {s: media.levels(wav) for s, wav in audio.originals.items()}
    rows = ['<tr><th scope="row">original</th>' + "".join(
        f"<td>{player(audio.originals[s], f'original of {s} ({where})')}</td>"
        if s in audio.originals else "<td>–</td>" for s in audio.samples) + "</tr>"]
    heard: dict[str, list[float]] = {}  # the preferred sonifier's levels, per explainer
    for explainer in order:
        cells = []
        for sample in audio.samples:
            sounds = []
            for sonifier, wav in audio.sonified.get((explainer, sample), ()):
                label = f"explainer {explainer}, sonifier {sonifier}, clip {sample} ({where})"
                level = ""
                if sample in original:  # the sound's level against its original's
                    db = media.levels(wav)[0] - original[sample][0]
                    level = (' <small class="level" title="level (RMS) relative to the '
                             f'original">{_level(db)}</small>')
                    if sonifier == media.PREFERRED_SONIFIER:
                        heard.setdefault(explainer, []).append(db)
                sounds.append(f"{player(wav, label)}<small>{escape(sonifier)}</small>{level}")
            cells.append(f"<td>{''.join(sounds) or '–'}</td>")
        rows.append(f'<tr><th scope="row">{escape(explainer)}</th>{"".join(cells)}</tr>')
    caption = (f"Sonified test clips of {section.title}, explained for the model trained on "
               f"fold {audio.model}, at 8 kHz: every sonifier on {audio.samples[0]}, one per "
               f"explainer on the other clips; {media.PREFERRED_SONIFIER} first where the run "
               f"has it. {_listen_note(section, original, heard)}")
    notes = "".join(f'<p class="note">{escape(s.note)}</p>\n' for s in mine)
    return notes + figure(escape(caption), "", f'<thead><tr><th scope="col">explainer</th>'
                          f"{header}</tr></thead>\n<tbody>\n" + "\n".join(rows)
                          + "\n</tbody>", f"{section.anchor}-listen")


def _listen_note(section: Section, original: dict[str, tuple[float, float]],
                 heard: dict[str, list[float]]) -> str:
    """What the sounds are, how loud, and why some are near silent, as far as the files show:
    ``original``, each clip's RMS and peak; ``heard``, the levels of each explainer's sounds
    by :data:`media.PREFERRED_SONIFIER` relative to their originals (dB)."""
    sentences = []
    mask = MASK_TEXT.get(section.representation or "")
    if heard and mask:
        sentences.append(f"With {media.PREFERRED_SONIFIER}, {mask}")
    gain = ("All sounds of a clip share one gain, set so that the loudest of the original, "
            f"the sound and its complement peaks at {_level(PEAK_DBFS)}FS")
    if original and all(abs(peak - PEAK_DBFS) < 0.1 for _, peak in original.values()):
        gain += (": here always the original, so each sound plays at its original's gain "
                 "and a quiet one kept little of the clip's energy")
    sentences.append(gain + "; beside each player its level (RMS) relative to the original")
    zero = [db for e, dbs in heard.items() if e.endswith(figures.ZERO_DB) for db in dbs]
    other = [db for e, dbs in heard.items() if not e.endswith(figures.ZERO_DB) for db in dbs]
    if zero and other and all(math.isfinite(db) for db in zero + other):
        ranges = f"{_span(zero)} against {_span(other)} for the others"
        if max(zero) < min(other):
            sentences.append(f"{ZERO_DB_NOTE} ({ranges})")
        else:
            sentences.append(f"The -0db variants: {ranges}")
    return ". ".join(sentences) + "."


