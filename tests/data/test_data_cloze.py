"""The Bible cloze (LF-8's default data): held out of training, well formed, balanced, deterministic, at chance
for untrained models."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import harness.data.cloze as cloze_module
from harness.data import LANGUAGES, bible_cloze, training_corpus, training_keys
from harness.data.cloze import MAX_SHARED_WORDS, consecutive_windows, held_out_texts
from harness.metrics import paired_permutation_test


@pytest.fixture
def cloze(data):
    return bible_cloze(data)


def test_doctests():
    assert doctest.testmod(cloze_module).failed == 0


def test_windows_are_consecutive_held_out_verses_of_one_chapter(cloze, data):
    held = set(held_out_texts(data, "en"))
    assert len(cloze.windows) >= 150
    for w in cloze.windows:
        verses = (*w.context, w.ending)
        assert len(w.context) == cloze.context_verses == 2
        assert all(k in held for k in w.keys)
        assert len({k[:2] for k in verses}) == 1  # one book and chapter
        assert [k[2] for k in verses] == list(range(verses[0][2], verses[0][2] + len(verses)))
        assert w.distractor[:2] != w.ending[:2]  # the distractor comes from another chapter
    shown = [k for w in cloze.windows for k in (*w.context, w.ending)]
    assert len(shown) == len(set(shown))  # windows never overlap
    distractors = [w.distractor for w in cloze.windows]
    assert len(distractors) == len(set(distractors))


def test_no_verse_of_the_cloze_is_in_the_training_corpus(cloze):
    keys = {k for w in cloze.windows for k in w.keys}
    trained = training_keys()
    corpus = training_corpus()
    for lang in LANGUAGES:
        assert not keys & set(trained[lang]), lang
        texts = set(corpus[lang])
        for item in cloze.items(lang):
            assert item.context not in texts
            if lang == "en":
                assert not set(item.endings) & texts
    # and the verse texts one by one (a context joins two of them)
    for lang in LANGUAGES:
        text = held_out_texts(cloze.data, lang)
        assert not {text[k] for k in keys if text[k]} & set(corpus[lang]), lang


def test_answer_positions_are_balanced_and_the_same_window_in_every_language(cloze):
    labels = np.array([w.label for w in cloze.windows])
    assert abs(int((labels == 0).sum()) - int((labels == 1).sum())) <= 1
    english = cloze.items("en")
    for lang in ("es", "zh", "ar"):
        items = cloze.items(lang)
        assert [i.label for i in items] == labels.tolist()
        assert [i.endings for i in items] == [i.endings for i in english]  # the endings are English everywhere
        assert [i.window for i in items] == [w.name for w in cloze.windows]
    right = [item.endings[item.label] for item in english]
    text = held_out_texts(cloze.data, "en")
    assert right == [text[w.ending] for w in cloze.windows]


def test_distractors_are_matched_in_length_and_not_a_copy_of_the_right_ending(cloze):
    text = held_out_texts(cloze.data, "en")
    diff = np.array([len(text[w.distractor]) - len(text[w.ending]) for w in cloze.windows])
    assert np.median(np.abs(diff)) == 0 and np.abs(diff).max() <= 5
    assert abs(int((diff > 0).sum()) - int((diff < 0).sum())) <= 5  # no side is systematically longer
    for w in cloze.windows:
        assert cloze_module.can_be_ending(text[w.ending]) and cloze_module.can_be_ending(text[w.distractor])
        assert len(text[w.ending]) <= cloze_module.MAX_ENDING_CHARS
        right = cloze_module._words(text[w.ending])
        assert len(cloze_module._words(text[w.distractor]) & right) < MAX_SHARED_WORDS * len(right)


def test_construction_is_deterministic(cloze, data):
    from harness.data import store

    store.clear_memo()
    again = bible_cloze()  # a fresh load of the same data
    assert again.data is not data and again.windows == cloze.windows
    assert again.items("hi") == cloze.items("hi")
    three = bible_cloze(data, context_verses=3)
    assert len(three.windows) < len(cloze.windows) and all(len(w.context) == 3 for w in three.windows)


def test_bad_context_length_is_refused(data):
    with pytest.raises(ValueError, match="at least 1"):
        bible_cloze(data, context_verses=0)
    assert consecutive_windows([(1, 1, 1), (1, 1, 2)], 3) == []


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory, session_build):
    """A BPE tokenizer of the training verses (a sample), saved once for the random models."""
    from harness.toy import ToyRecipe
    from harness.toy.tokenizer import save_tokenizer, train_tokenizer

    folder = tmp_path_factory.mktemp("tokenizer")
    sample = {lang: verses[:: max(1, len(verses) // 100)] for lang, verses in training_corpus().items()}
    save_tokenizer(train_tokenizer(sample, ToyRecipe(vocab_size=1024, tokenizer_fraction=1.0)), folder)
    return folder


def _random_bloom(folder, tokenizer_dir, seed: int) -> None:
    """A 2-layer, 32-wide BLOOM at initialisation (seeded), saved with the tokenizer into ``folder``."""
    import shutil

    from transformers import BloomConfig, BloomForCausalLM

    shutil.copytree(tokenizer_dir, folder, dirs_exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = BloomConfig(vocab_size=1024, hidden_size=32, n_layer=2, n_head=4, initializer_range=0.2,
                             bos_token_id=2, eos_token_id=2, pad_token_id=3)
        BloomForCausalLM(config).save_pretrained(str(folder))


@pytest.mark.parametrize(("seed", "languages"), [(0, ("en", "zh")), (1, ("ar", "sw"))])
def test_untrained_models_score_at_chance(cloze, tokenizer_dir, tmp_path, seed, languages):
    """A random BLOOM (a local folder, as any model) scores the set at chance: no length or position cue."""
    from harness.analyses.story_cloze import bible_stories, group_scores, score
    from harness.loading import load_model
    from harness.loglikelihood import continuation_loglikelihoods
    from harness.toy.train import torch_threads

    _random_bloom(tmp_path, tokenizer_dir, seed)
    lm = load_model(str(tmp_path), device="cpu", dtype="float32")
    stories = bible_stories(languages, cloze)
    with torch_threads(1):  # a 32-wide model: one thread is as fast, and far faster on busy cores
        scores = {lang: score(lambda c, k: continuation_loglikelihoods(lm, c, k).numpy(), items)
                  for lang, items in stories.items()}
    per_window = group_scores(scores, stories)
    assert len(per_window) == len(cloze.windows)
    test = paired_permutation_test(per_window, np.full(len(per_window), 0.5), alternative="two-sided")
    assert test.p_value > 0.01, (per_window.mean(), test.p_value)
    assert abs(per_window.mean() - 0.5) < 0.1
