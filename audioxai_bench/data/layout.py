"""Reading the AudioMNIST layout: ``NN/<digit>_<NN>_<rep>.wav`` plus ``audioMNIST_meta.txt``.

The same reader serves the original recordings and the synthetic stand-in. It survives the
real meta file's quirks (ages as int or string, varying capitalisation, missing speakers)
and reports every problem as a :class:`Problem` naming the file or field, instead of
stopping at the first one.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AudioXaiError

META_FILE = "audioMNIST_meta.txt"
META_KEYS = ("accent", "age", "gender", "native speaker", "origin", "recordingdate",
             "recordingroom")
#: The corpus writes repetitions without leading zeros (``0_01_0`` .. ``0_01_49``): ``0_01_00``
#: would read as a second repetition 0, so only the canonical spelling matches (review D11).
#: ASCII digits only, the whole name (``fullmatch``): ``\d`` also takes ``٠`` or ``０`` and
#: ``$`` a trailing newline, and ``int`` reads them all, so a folder ``٠١`` or ``01\n`` would be
#: a second speaker 1 and ``0_01_1٠.wav`` a second ``0_01_10.wav``.
_CLIP_NAME = re.compile(r"(?P<digit>[0-9])_(?P<speaker>[0-9]{2})_(?P<rep>0|[1-9][0-9]*)\.wav")
_SPEAKER_DIR = re.compile(r"[0-9]{2}")
#: What the reader took for a clip name before D11: a name it matches that ``_CLIP_NAME`` does
#: not is another spelling of a clip's (digit, speaker, repetition).
_LAX_CLIP_NAME = re.compile(r"(?P<digit>\d)_(?P<speaker>\d{2})_(?P<rep>\d+)\.wav")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset; ``fatal`` problems make a file or speaker unusable."""

    where: str
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Speaker:
    id: int
    sex: str | None  # "male", "female" or None when the meta file does not say
    age: int | None
    meta: dict


@dataclass(frozen=True)
class Clip:
    path: Path
    speaker: int
    digit: int
    rep: int

    @property
    def relpath(self) -> str:
        return f"{self.speaker:02d}/{self.path.name}"


@dataclass
class DatasetIndex:
    """The clips and speakers found under ``root`` and every problem met on the way."""

    root: Path
    clips: list[Clip]
    speakers: dict[int, Speaker]
    problems: list[Problem] = field(default_factory=list)
    unlisted: list[Path] = field(default_factory=list)  # speaker folders that could not be read
    #: folders that hold .wav files but are not named as a speaker's (``7``, ``007``, ``٠٧``)
    strays: list[Path] = field(default_factory=list)

    def sex_of(self, clip: Clip) -> str | None:
        speaker = self.speakers.get(clip.speaker)
        return speaker.sex if speaker else None


def load_meta(path: Path) -> tuple[dict[int, Speaker], list[Problem]]:
    """Parse the meta file; malformed entries become problems, not exceptions."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as err:
        raise AudioXaiError(f"{path}: meta file not found") from err
    if not stat.S_ISREG(mode):  # reading a FIFO would block forever
        raise AudioXaiError(f"{path}: meta file is not a regular file")

    def unique_keys(pairs: list[tuple[str, object]]) -> dict:
        """A JSON object; a key it names twice is refused (``json`` keeps the last silently,
        so a second ``"gender"`` or speaker entry would override the first unseen)."""
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise AudioXaiError(f"{path}: meta file is ambiguous: key {key!r} appears twice "
                                    "in one object")
            seen.add(key)
        return dict(pairs)

    try:
        raw = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=unique_keys)
    except FileNotFoundError as err:
        raise AudioXaiError(f"{path}: meta file not found") from err
    except RecursionError as err:
        raise AudioXaiError(f"{path}: meta file is not valid JSON (nested too deeply)") from err
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, huge integers
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise AudioXaiError(f"{path}: meta file is not valid JSON ({first})") from err
    if not isinstance(raw, dict):
        raise AudioXaiError(f"{path}: meta file must hold a JSON object keyed by speaker id")
    speakers: dict[int, Speaker] = {}
    spelling: dict[int, str] = {}  # the key each speaker was read from
    problems: list[Problem] = []
    for key, entry in raw.items():
        where = f"{path.name}[{key!r}]"
        if not (isinstance(key, str) and key.strip().isdigit()):
            problems.append(Problem(where, "speaker id is not a number"))
            continue
        if not isinstance(entry, dict):
            problems.append(Problem(where, "entry is not an object"))
            continue
        speaker_id = int(key)
        gender = str(entry.get("gender", "")).strip().lower()
        sex = gender if gender in ("male", "female") else None
        if sex is None:
            problems.append(Problem(f"{where}.gender",
                                    f"expected 'male' or 'female', got {entry.get('gender')!r}"))
        first = speakers.get(speaker_id)
        if first is not None:  # '02' and '2': one speaker, two entries
            same = first.sex == sex
            problems.append(Problem(where, f"speaker {speaker_id:02d} is also given as "
                                           f"{spelling[speaker_id]!r}; "
                                           + ("the first entry is kept" if same else
                                              "their genders differ, so its sex is unknown")))
            if not same:
                speakers[speaker_id] = Speaker(speaker_id, None, first.age, first.meta)
            continue
        spelling[speaker_id] = key
        age, age_problem = _parse_age(entry.get("age"))
        if age_problem:
            problems.append(Problem(f"{where}.age", age_problem, fatal=False))
        speakers[speaker_id] = Speaker(speaker_id, sex, age, entry)
    return speakers, problems


def _parse_age(value: object) -> tuple[int | None, str | None]:
    """Ages come as int or string in the original file; implausible ones are kept as None."""
    try:
        age = int(str(value).strip())
    except ValueError:
        return None, f"age {value!r} is not a number"
    if not 5 <= age <= 110:
        return None, f"implausible age {value!r} ignored"
    return age, None


def name_problem(name: str) -> str:
    """Why ``name`` is not a clip name; another spelling of one (``0_01_00.wav``, non-ASCII
    digits) names the clip it would collide with, so the user sees why it is refused."""
    problem = "name is not <digit>_<NN>_<rep>.wav (ASCII digits, rep without leading zeros)"
    lax = _LAX_CLIP_NAME.fullmatch(name)
    if lax is None:
        return problem
    return (f"{problem}; it would read as {int(lax['digit'])}_{int(lax['speaker']):02d}_"
            f"{int(lax['rep'])}.wav")


def _speaker_dirs(root: Path) -> Iterator[Path]:
    return (p for p in root.iterdir() if p.is_dir() and _SPEAKER_DIR.fullmatch(p.name))


def tree_problem(root: Path) -> str | None:
    """Why ``root`` cannot be an AudioMNIST tree (no such directory, not a directory, no
    speaker folders), or None; cheap (it stops at the first speaker folder), so a run can
    refuse a folder before it makes its own."""
    if not root.is_dir():
        return "not a directory" if root.exists() else "no such directory"
    if next(_speaker_dirs(root), None) is None:
        return "not an AudioMNIST dataset (no speaker folders 01..60)"
    return None


def scan_dataset(root: Path | str) -> DatasetIndex:
    """Index ``root`` by file names alone (fast); audio content is checked by ``check``."""
    root = Path(root)
    problem = tree_problem(root)
    if problem:
        raise AudioXaiError(f"{root}: {problem}")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    speaker_dirs = [p for p in folders if _SPEAKER_DIR.fullmatch(p.name)]
    meta_path = root / META_FILE
    problems: list[Problem] = []
    if meta_path.exists():
        speakers, meta_problems = load_meta(meta_path)
        problems += meta_problems
    else:
        speakers = {}
        problems.append(Problem(str(meta_path), "meta file missing: speaker sex unknown"))
    clips: list[Clip] = []
    unlisted: list[Path] = []
    for folder in speaker_dirs:
        speaker_id = int(folder.name)
        if meta_path.exists() and speaker_id not in speakers:
            problems.append(Problem(f"{META_FILE}[{folder.name!r}]",
                                    "speaker missing from meta file: sex unknown", fatal=False))
        try:
            entries = sorted(folder.iterdir())
        except OSError as err:  # e.g. no read permission: the other speakers are still usable
            reason = err.strerror or str(err)
            problems.append(Problem(str(folder), f"cannot list this speaker folder ({reason}); "
                                                 "its clips are left out"))
            unlisted.append(folder)
            continue
        for path in entries:
            if path.suffix.lower() != ".wav":
                continue  # e.g. speaker 36's notes.txt
            match = _CLIP_NAME.fullmatch(path.name)
            if not match:
                problems.append(Problem(str(path), name_problem(path.name)))
                continue
            if int(match["speaker"]) != speaker_id:
                problems.append(Problem(str(path), f"speaker in name differs from folder "
                                                   f"{folder.name}"))
                continue
            clips.append(Clip(path, speaker_id, int(match["digit"]), int(match["rep"])))
    strays = _stray_folders(p for p in folders if p not in speaker_dirs)
    problems += [Problem(str(folder), "holds .wav files but is not a speaker folder (two ASCII "
                                      "digits, as 07); its clips are left out")
                 for folder in strays]
    return DatasetIndex(root, clips, speakers, problems, unlisted, strays)


def _stray_folders(others: Iterable[Path]) -> list[Path]:
    """The folders of ``others`` (a tree's folders that are not speaker folders) with .wav
    files: a speaker's clips under another spelling of its folder, which would otherwise be
    left out without a word."""
    strays = []
    for folder in others:
        try:
            if any(p.suffix.lower() == ".wav" for p in folder.iterdir()):
                strays.append(folder)
        except OSError:
            continue  # not a speaker folder, and nothing known of its files
    return strays


def existing_tree(out: Path | str, marker: str, made_from: dict) -> bool:
    """Whether ``out`` already holds the tree that ``made_from`` describes (its root file
    ``marker`` says it was made so); False when ``out`` is missing or empty.

    Writing into any other non-empty folder is refused in one line: new clips over an old tree
    mix two datasets and leave the old ground truth and meta entries beside them.
    """
    out = Path(out)
    try:
        entries = os.listdir(out)
    except FileNotFoundError:
        return False
    except OSError as err:
        raise AudioXaiError(f"{out}: cannot write a tree here ({err.strerror or err})") from None
    if not entries:
        return False
    try:
        found = json.loads((out / marker).read_text(encoding="utf-8"))
    except FileNotFoundError:
        found = None
    except (OSError, ValueError) as err:
        raise AudioXaiError(f"{out / marker}: unreadable ({type(err).__name__}); choose a new "
                            "folder for the tree or remove this one") from None
    if found == made_from:
        return True
    if isinstance(found, dict):
        differ = ", ".join(k for k in {**made_from, **found}
                           if found.get(k) != made_from.get(k)) or "format"
        what = f"holds a tree made with other settings ({differ})"
    else:
        what = "is not empty"
    raise AudioXaiError(f"{out}: {what}; choose a new folder or remove this one")
