"""Cross-lingual story understanding, XStoryCloze style (LF §4.1, App. B; claim LF-8).

Two data sets (:func:`cloze_data` picks one): XStoryCloze from ``--data DIR`` when that folder
holds ``xstory_cloze/``, else the **Bible cloze** shipped with the harness
(``harness.data.cloze``): 2 consecutive held-out NT verses in each language as the context, the
next verse in English against a held-out English verse of the same length from another chapter.
The claim's record names the data set it used.

XStoryCloze cannot be shipped with the harness, so it is read from ``--data DIR``::

    DIR/xstory_cloze/<lang>.jsonl     one story per line, <lang> an evaluation language code

Each line is a JSON object with

* ``context``  – the four story sentences in ``<lang>``, as one string, and
* ``ending_1``, ``ending_2`` – the two candidate endings **in English** (LF prompts the story in
  each language and always offers English endings), and
* ``label`` – ``1`` or ``2``, the right ending (XStoryCloze's ``answer_right_ending``).

Lines in XStoryCloze's own field names are accepted too: ``input_sentence_1`` … ``_4`` (joined
with spaces), ``sentence_quiz1``, ``sentence_quiz2`` and ``answer_right_ending``; for LF's setup
their quiz sentences must be the English ones (join the English file on ``story_id``). A
``story_id`` field, when present, groups a story's translations (see :func:`group_scores`).

Scoring (LF App. B): the prompt is the four sentences followed by ``The ending in English:``,
joined with spaces; each ending, preceded by a space, is scored by its summed log-likelihood
after the prompt (``Measurements.loglikelihoods``), and the ending with the higher one is the
model's answer. A tie counts as half right (the expected score of a random tie-break). The Bible
cloze is scored the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from harness.measurement_source import MeasurementSource

SUBDIR = "xstory_cloze"
XSTORY_CLOZE = "xstory_cloze"
BIBLE_CLOZE = "bible_cloze"
PROMPT_SUFFIX = "The ending in English:"
_NATIVE_CONTEXT = ("input_sentence_1", "input_sentence_2", "input_sentence_3", "input_sentence_4")


class StoryClozeFormatError(ValueError):
    """A story file does not follow the documented JSONL format."""


class StoryClozeAbsentError(LookupError):
    """``--data DIR`` has an ``xstory_cloze`` folder but no story file for the run's languages."""


@dataclass(frozen=True)
class Story:
    context: str
    endings: tuple[str, str]
    label: int  # 0 or 1: index of the right ending
    group: str | None = None  # the same story in other languages (story_id, a Bible window); None: its own


def _parse(obj: Any, where: str) -> Story:
    if not isinstance(obj, dict):
        raise StoryClozeFormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if "context" in obj:
        context = obj["context"]
        endings = (obj.get("ending_1"), obj.get("ending_2"))
        label = obj.get("label")
    elif all(k in obj for k in _NATIVE_CONTEXT):
        context = " ".join(str(obj[k]).strip() for k in _NATIVE_CONTEXT)
        endings = (obj.get("sentence_quiz1"), obj.get("sentence_quiz2"))
        label = obj.get("answer_right_ending")
    else:
        raise StoryClozeFormatError(
            f"{where}: needs 'context', 'ending_1', 'ending_2', 'label' (or XStoryCloze's input_sentence_1..4, "
            f"sentence_quiz1/2, answer_right_ending); got keys {sorted(obj)}"
        )
    if not isinstance(context, str) or not context.strip():
        raise StoryClozeFormatError(f"{where}: the context must be a non-empty string")
    if not all(isinstance(e, str) and e.strip() for e in endings):
        raise StoryClozeFormatError(f"{where}: both endings must be non-empty strings")
    try:
        label_int = int(label)
    except (TypeError, ValueError):
        label_int = -1
    if label_int not in (1, 2) or (isinstance(label, float) and not label.is_integer()) or isinstance(label, bool):
        raise StoryClozeFormatError(f"{where}: label must be 1 or 2 (the right ending), got {label!r}")
    group = obj.get("story_id")
    return Story(context.strip(), (endings[0].strip(), endings[1].strip()), label_int - 1,
                 None if group is None else str(group))


def read_stories(path: Path) -> list[Story]:
    """All stories of one JSONL file (blank lines ignored); raises on the first malformed line."""
    stories = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as error:
                raise StoryClozeFormatError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            stories.append(_parse(obj, f"{path}:{number}"))
    if not stories:
        raise StoryClozeFormatError(f"{path}: no stories")
    return stories


def available_languages(data_dir: Path | None) -> list[str]:
    """Languages with a story file under ``data_dir/xstory_cloze`` (sorted), or [] when absent."""
    if data_dir is None:
        return []
    folder = Path(data_dir) / SUBDIR
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.jsonl"))


def load_story_cloze(data_dir: Path, languages: Sequence[str] | None = None) -> dict[str, list[Story]]:
    """Stories per language for the ``languages`` that have a file (all files when None)."""
    have = available_languages(data_dir)
    wanted = [lang for lang in (languages if languages is not None else have) if lang in have]
    return {lang: read_stories(Path(data_dir) / SUBDIR / f"{lang}.jsonl") for lang in wanted}


def absent_reason(data_dir: Path | None, languages: Sequence[str]) -> str | None:
    """Why LF-8 cannot run (no --data, no story files, or none in the run's languages), or None."""
    if data_dir is None:
        return (
            "LF-8 needs XStoryCloze-style data, which cannot be shipped: pass --data DIR with "
            f"DIR/{SUBDIR}/<lang>.jsonl (format: harness/analyses/story_cloze.py)"
        )
    have = available_languages(data_dir)
    if not have:
        folder = Path(data_dir) / SUBDIR
        return f"no story files in {folder} (expected <lang>.jsonl, format: harness/analyses/story_cloze.py)"
    if not any(lang in have for lang in languages):
        return f"story files exist for {', '.join(have)} but none for this run's languages ({', '.join(languages)})"
    return None


def prompt_pairs(stories: Sequence[Story]) -> tuple[list[str], list[str]]:
    """Contexts and continuations for scoring: two per story, ending 1 then ending 2."""
    contexts, continuations = [], []
    for story in stories:
        context = f"{story.context} {PROMPT_SUFFIX}"
        for ending in story.endings:
            contexts.append(context)
            continuations.append(" " + ending)
    return contexts, continuations


def score(loglikelihood: Callable[[list[str], list[str]], Any], stories: Sequence[Story]) -> np.ndarray:
    """Per story 1 (right ending more likely), 0 (wrong) or 0.5 (tie)."""
    contexts, continuations = prompt_pairs(stories)
    ll = np.asarray(loglikelihood(contexts, continuations), dtype=np.float64).reshape(-1, 2)
    labels = np.array([s.label for s in stories])
    right = ll[np.arange(len(stories)), labels]
    wrong = ll[np.arange(len(stories)), 1 - labels]
    return np.where(right > wrong, 1.0, np.where(right < wrong, 0.0, 0.5))


def scores_at(
    measurements: MeasurementSource, revision: str | None, stories: Mapping[str, Sequence[Story]]
) -> dict[str, np.ndarray]:
    """Per-language per-story scores of ``revision`` (log-likelihoods cached by Measurements)."""

    def loglikelihood(contexts: list[str], continuations: list[str]) -> np.ndarray:
        return measurements.loglikelihoods(revision, contexts, continuations).numpy()

    return {lang: score(loglikelihood, items) for lang, items in stories.items()}


@dataclass(frozen=True)
class ClozeData:
    """The stories of one LF-8 run: which data set (``name``), where from (``source``), stories per language."""

    name: str  # XSTORY_CLOZE or BIBLE_CLOZE
    source: str
    stories: dict[str, list[Story]]


def bible_stories(languages: Sequence[str], cloze: Any = None) -> dict[str, list[Story]]:
    """The Bible cloze (``harness.data.bible_cloze()`` when ``cloze`` is None) as stories per language."""
    if cloze is None:
        from harness.data import bible_cloze

        cloze = bible_cloze()
    return {
        lang: [Story(item.context, item.endings, item.label, item.window) for item in cloze.items(lang)]
        for lang in languages
    }


def cloze_data(data_dir: Path | None, languages: Sequence[str]) -> ClozeData:
    """XStoryCloze from ``data_dir`` when it holds ``xstory_cloze/``, else the Bible cloze.

    Raises :class:`StoryClozeAbsentError` (with :func:`absent_reason`) when ``data_dir/xstory_cloze``
    exists but has no file for a run language (the run meant XStoryCloze: no silent fallback), and
    :class:`StoryClozeFormatError` for a malformed story file.
    """
    if data_dir is not None and (Path(data_dir) / SUBDIR).is_dir():
        reason = absent_reason(data_dir, languages)
        if reason:
            raise StoryClozeAbsentError(reason)
        stories = load_story_cloze(Path(data_dir), languages)
        return ClozeData(XSTORY_CLOZE, str(Path(data_dir) / SUBDIR), stories)
    from harness.data import bible_cloze

    cloze = bible_cloze()
    source = (f"Bible cloze: {len(cloze.windows)} windows of {cloze.context_verses} held-out NT verses + the next "
              f"verse in English vs a length-matched distractor (harness.data.cloze; data {cloze.data_hash[:12]})")
    return ClozeData(BIBLE_CLOZE, source, bible_stories(languages, cloze))


def group_scores(scores: Mapping[str, np.ndarray], stories: Mapping[str, Sequence[Story]]) -> np.ndarray:
    """Mean score per story group over its languages, groups in first-seen order.

    A Bible window (and an XStoryCloze story with a ``story_id``) is one story told in every
    language: its translations are not independent, so paired tests run over groups. A story
    without a group is a group of its own.

    >>> ends = ("x", "y")
    >>> s = {"es": [Story("a", ends, 0, "w1"), Story("b", ends, 0)], "fr": [Story("c", ends, 0, "w1")]}
    >>> group_scores({"es": np.array([1.0, 0.0]), "fr": np.array([0.0])}, s).tolist()
    [0.5, 0.0]
    """
    totals: dict[str, list[float]] = {}
    for lang, items in stories.items():
        for i, (story, value) in enumerate(zip(items, np.asarray(scores[lang], dtype=np.float64))):
            key = f"group:{story.group}" if story.group is not None else f"story:{lang}:{i}"
            totals.setdefault(key, []).append(float(value))
    return np.array([np.mean(values) for values in totals.values()], dtype=np.float64)
