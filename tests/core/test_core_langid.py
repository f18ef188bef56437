"""Language of a text: seeded langdetect, 'unknown' when undecidable, Chinese variants merged."""

from __future__ import annotations

import pytest
from langdetect import DetectorFactory, detect

from harness.langid import UNKNOWN, detect_language, language_distribution

AMBIGUOUS = ["Hi.", "ok", "no se", "Amen", "sale", "pan de casa"]


def test_detection_is_reproducible_whatever_the_global_seed():
    reference = [detect_language(t, seed=0) for t in AMBIGUOUS]
    for _ in range(15):
        DetectorFactory.seed = None  # someone else unseeds langdetect in between
        detect(AMBIGUOUS[0])
        assert [detect_language(t, seed=0) for t in AMBIGUOUS] == reference


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "12345 678", "3.14159", "...!!! ???"])
def test_undecidable_text_is_unknown(text):
    assert detect_language(text) == UNKNOWN


@pytest.mark.parametrize(
    "text",
    [
        "這是一個用繁體中文寫的句子，我們想知道它是甚麼語言。",  # langdetect: zh-tw
        "这是一个用简体中文写的句子，我们想知道它是什么语言。",  # langdetect: zh-cn
    ],
)
def test_chinese_variants_are_zh(text):
    DetectorFactory.seed = 0
    assert detect(text).startswith("zh-")  # what langdetect itself says
    assert detect_language(text) == "zh"


def test_clear_languages():
    assert detect_language("The quick brown fox jumps over the lazy dog and runs into the forest.") == "en"
    assert detect_language("El zorro marrón salta sobre el perro perezoso y se va corriendo al bosque.") == "es"
    assert detect_language("Mbweha wa kahawia anaruka juu ya mbwa mvivu na kukimbia msituni.") == "sw"


def test_distribution_counts_unknown_and_sums_to_one():
    texts = [
        "The quick brown fox jumps over the lazy dog and runs into the forest.",
        "It was the best of times, it was the worst of times, it was the age of wisdom.",
        "El zorro marrón salta sobre el perro perezoso y se va corriendo al bosque.",
        "1234",
    ]
    shares = language_distribution(texts)
    assert shares == {"en": 0.5, "es": 0.25, UNKNOWN: 0.25}
    assert list(shares)[0] == "en"  # sorted by share
    assert language_distribution([]) == {}
