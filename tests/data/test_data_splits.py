"""The built evaluation splits, concept datasets and training corpus satisfy the contract."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from harness.data import LANGUAGES, MIN_POSITIVES, SCRIPTS, SPLITS, training_corpus, training_keys

SIZES = {"probe": 120, "similarity": 100, "perplexity": 300}


def test_languages_and_scripts(data):
    assert data.languages == LANGUAGES
    assert set(SCRIPTS) == set(LANGUAGES)
    assert {SCRIPTS[lang] for lang in ("ru", "zh", "ar", "hi")} == {"Cyrillic", "Han", "Arabic", "Devanagari"}
    assert SCRIPTS["en"] == "Latin"


def test_data_hash_matches_manifest(data, entry):
    manifest = json.loads((entry / "manifest.json").read_text(encoding="utf-8"))
    assert re.fullmatch(r"[0-9a-f]{64}", data.data_hash)
    assert data.data_hash == manifest["data_hash"]


@pytest.mark.parametrize("split", list(SIZES))
def test_split_sizes(data, split):
    assert len(data.split_keys(split)) == SIZES[split]


def test_splits_are_disjoint_sorted_and_new_testament(data):
    seen: set = set()
    for split in SPLITS:
        keys = data.split_keys(split)
        assert keys == sorted(set(keys)), f"{split} keys are not sorted and unique"
        assert all(isinstance(k, tuple) and len(k) == 3 and k[0] >= 40 for k in keys)
        assert not seen & set(keys), f"{split} overlaps another split"
        seen |= set(keys)


@pytest.mark.parametrize("split", SPLITS)
def test_texts_are_aligned_in_every_language(data, split):
    n = len(data.split_keys(split))
    for lang in LANGUAGES:
        texts = data.texts(split, lang)
        assert len(texts) == n
        assert all(isinstance(t, str) and t.strip() == t and t for t in texts)
    # Aligned texts differ between languages (not a copy of English).
    assert data.texts(split, "en") != data.texts(split, "es")


def test_texts_are_length_consistent_across_languages(data, entry):
    # The alignment filter: no evaluation verse is far from its language's median length ratio.
    medians = json.loads((entry / "meta.json").read_text(encoding="utf-8"))["alignment"]
    for split in SPLITS:
        en = np.array([len(t) for t in data.texts(split, "en")])
        for lang in LANGUAGES[1:]:
            other = np.array([len(t) for t in data.texts(split, lang)])
            dev = np.abs(np.log(other / en) - medians[lang]["median_log_ratio"])
            assert dev.max() <= 0.5 + 1e-3, (split, lang)


def test_perplexity_split_is_running_text(data):
    keys = data.split_keys("perplexity")
    chapters = {k[:2] for k in keys}
    assert len(chapters) <= 20  # whole chapters, not 300 scattered verses


def test_concepts_enough_and_small_union(data):
    names = data.concept_names
    assert len(names) >= 40
    assert names[:3] == ["water", "bread", "king"]  # fixture order, concrete nouns first
    union = set()
    for name in names:
        union |= set(data.concept(name).keys)
    assert union == set(data.split_keys("concepts"))
    assert len(union) <= 1500




@pytest.mark.parametrize("index", range(40))
def test_concept_positives_and_negatives(data, index):
    name = data.concept_names[index]
    concept = data.concept(name)
    assert concept.name == name
    labels = concept.labels
    assert labels.dtype == np.bool_ and labels.shape == (len(concept.keys),)
    assert len(set(concept.keys)) == len(concept.keys)
    n_pos = int(labels.sum())
    assert MIN_POSITIVES <= n_pos <= 60
    assert int((~labels).sum()) == n_pos
    assert list(labels) == sorted(labels, reverse=True)  # positives first

    english, labels_en = data.concept_texts(name, "en")
    assert np.array_equal(labels_en, labels)
    rx = re.compile(concept.regex, re.IGNORECASE)
    assert all(rx.search(t) for t, y in zip(english, labels) if y)
    assert not any(rx.search(t) for t, y in zip(english, labels) if not y)

    pos_len = np.median([len(t) for t, y in zip(english, labels) if y])
    neg_len = np.median([len(t) for t, y in zip(english, labels) if not y])
    assert abs(neg_len / pos_len - 1) <= 0.10


def test_concept_texts_are_the_same_verses_in_every_language(data):
    name = data.concept_names[0]
    keys = data.concept(name).keys
    pool_keys = data.split_keys("concepts")
    for lang in LANGUAGES:
        texts, labels = data.concept_texts(name, lang)
        pool = dict(zip(pool_keys, data.texts("concepts", lang)))
        assert texts == [pool[k] for k in keys]
        assert len(labels) == len(texts)


def test_length_matching_holds_in_every_language(data):
    # Matched on English length; aligned translations stay matched (pooled over concepts).
    for lang in LANGUAGES:
        ratios = []
        for name in data.concept_names:
            texts, labels = data.concept_texts(name, lang)
            lengths = np.array([len(t) for t in texts])
            ratios.append(np.median(lengths[~labels]) / np.median(lengths[labels]))
        assert abs(np.median(ratios) - 1) <= 0.10, lang


def test_concept_is_frozen_and_read_only(data):
    concept = data.concept(data.concept_names[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        concept.name = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        concept.labels[0] = False


def test_training_corpus_excludes_evaluation_verses_by_key(data):
    eval_keys = {k for split in SPLITS for k in data.split_keys(split)}
    keys = training_keys()
    corpus = training_corpus()
    for lang in LANGUAGES:
        assert len(keys[lang]) == len(corpus[lang]) > 25_000
        assert not eval_keys & set(keys[lang]), lang
        assert any(k[0] < 40 for k in keys[lang]) and any(k[0] >= 40 for k in keys[lang])
        assert keys[lang] == sorted(keys[lang])


def test_training_corpus_excludes_evaluation_verses_by_text(data):
    corpus = training_corpus()
    for lang in LANGUAGES:
        eval_texts = {t for split in SPLITS for t in data.texts(split, lang)}
        assert not eval_texts & set(corpus[lang]), lang


def test_training_corpus_languages_argument(data):
    assert list(training_corpus(("zh", "en"))) == ["zh", "en"]
    assert list(training_corpus("sw")) == ["sw"]
    assert training_corpus(["en"])["en"] == training_corpus()["en"]


RESIDUE = {
    "renumbering mark": re.compile(r"\(\s*\d{1,3}\s*[:\-]\s*\d{1,3}[a-z]?\s*\)"),
    "square bracket": re.compile(r"[\[\]]"),
    "backtick": re.compile(r"`"),
    "direction or control mark": re.compile("[\u200e\u200f\u200d\u007f\u00ad\ufeff\t\n]"),
    "double space": re.compile(r"  "),
    "KJV insertion": re.compile(r"MISSING|KJV|Schlachter|dummy verses"),
}
LANG_RESIDUE = {
    "zh": {
        "space next to CJK": re.compile(r"[\u4e00-\u9fff，。；：！？“”]\s|\s[\u4e00-\u9fff，。；：！？“”]"),
        "translator note": re.compile(r"（[^（）]*(?:原文|抄本|或译|引自)[^（）]*）"),
    },
    "hi": {"reference": re.compile(r"\([^()]*\d[^()]*\)"), "star": re.compile(r"\*")},
    "ar": {"star": re.compile(r"\*"), "subscription": re.compile(r"آمين\.? .{0,40}كتبت")},
    "de": {"star": re.compile(r"\*")},
    "es": {"all-caps first word at a chapter start": re.compile(r"^(?:LIBRO|ENTONCES|DESPUÉS) ")},
    "vi": {"₫": re.compile("₫")},
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_noise_left_in_built_texts(data, lang):
    texts = [t for split in SPLITS for t in data.texts(split, lang)] + training_corpus(lang)[lang]
    patterns = {**RESIDUE, **LANG_RESIDUE.get(lang, {})}
    for what, rx in patterns.items():
        hits = [t for t in texts if rx.search(t)]
        assert not hits, f"{lang}: {len(hits)} texts with {what}, e.g. {hits[0][:80]!r}"
