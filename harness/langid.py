"""Language of a text with langdetect, seeded, and never dropping what it cannot classify."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from langdetect import DetectorFactory, detect
from langdetect.lang_detect_exception import LangDetectException

UNKNOWN = "unknown"


def detect_language(text: str, *, seed: int = 0) -> str:
    """ISO code of ``text``'s language; ``zh-cn``/``zh-tw`` become ``zh``; undecidable → ``unknown``."""
    if not text or not text.strip():
        return UNKNOWN
    # langdetect samples n-grams at random; its global seed makes each call reproducible.
    DetectorFactory.seed = seed
    try:
        code = detect(text)
    except LangDetectException:
        return UNKNOWN
    return "zh" if code.startswith("zh") else code


def language_distribution(texts: Iterable[str], *, seed: int = 0) -> dict[str, float]:
    """Share of each detected language (``unknown`` included), sorted by share."""
    codes = [detect_language(t, seed=seed) for t in texts]
    if not codes:
        return {}
    counts = Counter(codes)
    return {code: counts[code] / len(codes) for code, _ in counts.most_common()}
