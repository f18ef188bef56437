"""A cross-lingual cloze from the verse-aligned Bible: LF-8's default data, in the spirit of XStoryCloze.

Every verse used is held out of the toy's training: the evaluation splits (``perplexity``,
``probe``, ``similarity``, ``concepts``) hold 1,908 aligned NT verses, and the training corpus
holds none of them (nor any verse with the same text in the same language; ``fixtures/README.md``).

An item is a **window** of ``context_verses + 1`` consecutive held-out verses (one book and
chapter, consecutive verse numbers) whose last verse can be an ending (in English at most
:data:`MAX_ENDING_CHARS` characters, like a story's last sentence, and not mostly in capitals: the
toy's 64-token window must hold it with some context), cut left to right without overlap from the
runs of consecutive held-out verses (the ``perplexity`` split is whole chapters, so most windows
come from it). In each language X the item reads:

* context: the window's first ``context_verses`` verses in X, joined with spaces;
* endings, both **in English** (as LF's XStoryCloze setup): the window's last verse (right) and
  a distractor (wrong): another held-out English verse that can be an ending, from another
  chapter, the unused one nearest in character length (ties in seeded order; windows with the
  longest endings pick first), that shares fewer than half of the right ending's words (no
  parallel passage of another gospel);
* label: the right ending's position, 1 for exactly half of the windows (seeded), the same
  window in every language.

With 2 context verses the committed data give 157 windows per language. The construction is
deterministic: a function of the evaluation data and :data:`CLOZE_SEED` only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .clean import VerseKey
from .spec import SPLITS
from .store import EvalData, check_languages, load_eval_data

CLOZE_SEED = 20250611
CONTEXT_VERSES = 2
ENDING_LANGUAGE = "en"
#: a distractor sharing at least this share of the right ending's words is too close to it
MAX_SHARED_WORDS = 0.5
#: an ending (right or distractor) has at most this many characters in English ...
MAX_ENDING_CHARS = 150
#: ... and at most this share of its letters in capitals (``MYSTERY, BABYLON THE GREAT, ...``)
MAX_CAPITALS = 0.25
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class ClozeWindow:
    """One item: context verses, the right ending's verse, the distractor's verse, the right position."""

    context: tuple[VerseKey, ...]
    ending: VerseKey
    distractor: VerseKey
    label: int  # 0: the right ending is ending 1; 1: it is ending 2

    @property
    def name(self) -> str:
        """The right ending's verse, ``book:chapter:verse`` (the window's id, the same in every language)."""
        return ":".join(map(str, self.ending))

    @property
    def keys(self) -> tuple[VerseKey, ...]:
        """Every verse the item shows."""
        return (*self.context, self.ending, self.distractor)


@dataclass(frozen=True)
class ClozeItem:
    """A window in one language: context in that language, the two English endings, the right one's index."""

    window: str
    context: str
    endings: tuple[str, str]
    label: int


@dataclass(frozen=True, eq=False)
class BibleCloze:
    """The windows of the Bible cloze over ``data`` (see the module's docstring)."""

    windows: tuple[ClozeWindow, ...]
    data: EvalData
    context_verses: int

    @property
    def data_hash(self) -> str:
        return self.data.data_hash

    def items(self, lang: str) -> list[ClozeItem]:
        """Every window with its context in ``lang`` (endings in English)."""
        (lang,) = check_languages((lang,))
        text, english = held_out_texts(self.data, lang), held_out_texts(self.data, ENDING_LANGUAGE)
        out = []
        for w in self.windows:
            right, wrong = english[w.ending], english[w.distractor]
            endings = (right, wrong) if w.label == 0 else (wrong, right)
            out.append(ClozeItem(w.name, " ".join(text[k] for k in w.context), endings, w.label))
        return out


def held_out_texts(data: EvalData, lang: str) -> dict[VerseKey, str]:
    """Every verse of the evaluation splits in ``lang``, by key."""
    out: dict[VerseKey, str] = {}
    for split in SPLITS:
        out.update(zip(data.split_keys(split), data.texts(split, lang)))
    return out


def consecutive_windows(
    keys: Sequence[VerseKey], size: int, can_end: Callable[[VerseKey], bool] = lambda key: True
) -> list[tuple[VerseKey, ...]]:
    """Non-overlapping windows of ``size`` consecutive verses (one chapter) whose last verse passes
    ``can_end``, left to right in each run of consecutive verses.

    >>> consecutive_windows([(1, 1, 1), (1, 1, 2), (1, 1, 3), (1, 1, 5), (1, 2, 6), (1, 2, 7)], 2)
    [((1, 1, 1), (1, 1, 2)), ((1, 2, 6), (1, 2, 7))]
    >>> consecutive_windows([(1, 1, 1), (1, 1, 2), (1, 1, 3)], 2, lambda key: key[2] != 2)
    [((1, 1, 2), (1, 1, 3))]
    """
    windows: list[tuple[VerseKey, ...]] = []
    run: list[VerseKey] = []
    for key in sorted(set(keys)):
        if run and key[:2] == run[-1][:2] and key[2] == run[-1][2] + 1:
            run.append(key)
        else:
            run = [key]
        if len(run) >= size and can_end(key):
            windows.append(tuple(run[-size:]))
            run = []
    return windows


def can_be_ending(text: str) -> bool:
    """An English verse short enough for an ending and not mostly in capitals.

    >>> can_be_ending("Jesus wept."), can_be_ending("MYSTERY, BABYLON THE GREAT"), can_be_ending("")
    (True, False, False)
    """
    letters = [c for c in text if c.isalpha()]
    capitals = sum(c.isupper() for c in letters)
    return bool(letters) and len(text) <= MAX_ENDING_CHARS and capitals <= MAX_CAPITALS * len(letters)


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _too_close(candidate: str, right_words: set[str]) -> bool:
    return bool(right_words) and len(_words(candidate) & right_words) >= MAX_SHARED_WORDS * len(right_words)


def _distractors(
    windows: Sequence[tuple[VerseKey, ...]], english: dict[VerseKey, str], rank: dict[VerseKey, int]
) -> list[VerseKey]:
    """For each window, the unused held-out verse of another chapter nearest in English length to its ending."""
    pool = sorted((k for k in english if can_be_ending(english[k])), key=lambda k: rank[k])
    lengths = np.array([len(english[k]) for k in pool])
    used = np.zeros(len(pool), dtype=bool)
    order = sorted(range(len(windows)), key=lambda i: (-len(english[windows[i][-1]]), rank[windows[i][-1]]))
    picked: list[VerseKey | None] = [None] * len(windows)
    for i in order:
        ending = windows[i][-1]
        right_words = _words(english[ending])
        # nearest length first, ties in the pool's seeded order (argsort is stable)
        for j in np.argsort(np.abs(lengths - len(english[ending])), kind="stable"):
            key = pool[j]
            if used[j] or key[:2] == ending[:2] or _too_close(english[key], right_words):
                continue
            used[j], picked[i] = True, key
            break
        if picked[i] is None:  # pragma: no cover - 1,908 held-out verses for under 200 windows
            raise ValueError(f"no distractor left for the window ending at {ending}")
    return [key for key in picked if key is not None]


def bible_cloze(data: EvalData | None = None, *, context_verses: int = CONTEXT_VERSES) -> BibleCloze:
    """The Bible cloze over the evaluation data (loaded, and built on first use, when None)."""
    if context_verses < 1:
        raise ValueError(f"context_verses must be at least 1, got {context_verses}")
    data = load_eval_data() if data is None else data
    english = held_out_texts(data, ENDING_LANGUAGE)
    windows = consecutive_windows(list(english), context_verses + 1, lambda key: can_be_ending(english[key]))
    if len(windows) < 2:
        raise ValueError(
            f"the evaluation data hold {len(windows)} window(s) of {context_verses + 1} consecutive verses; 2 needed"
        )
    rng = np.random.default_rng(CLOZE_SEED)
    keys = sorted(english)
    rank = {key: int(r) for key, r in zip(keys, rng.permutation(len(keys)))}
    distractors = _distractors(windows, english, rank)
    labels = np.zeros(len(windows), dtype=int)
    labels[rng.permutation(len(windows))[: len(windows) // 2]] = 1
    return BibleCloze(
        windows=tuple(
            ClozeWindow(window[:-1], window[-1], distractor, int(label))
            for window, distractor, label in zip(windows, distractors, labels)
        ),
        data=data,
        context_verses=context_verses,
    )
