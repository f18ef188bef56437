"""The toy tokenizer: exact round trip in every language, BLOOM's specials, nothing added."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from harness.toy.recipe import SPECIAL_TOKENS
from harness.toy.tokenizer import VERSE_SEPARATOR, save_tokenizer, separator_ids, train_tokenizer

EDGE_CASES = ["", " ", "  two  spaces ", "a\n\nb\n", "\n\n\n", "tab\there", "émoji 🙂 ok", "混合 text, ١٢٣ и ещё"]


@pytest.fixture(scope="module")
def tokenizer(tiny_corpus, tiny_recipe):
    return train_tokenizer(tiny_corpus, tiny_recipe)


@pytest.fixture(scope="module")
def saved(tokenizer, tmp_path_factory):
    path = tmp_path_factory.mktemp("tok")
    save_tokenizer(tokenizer, path)
    return AutoTokenizer.from_pretrained(str(path))


def test_round_trip_in_every_language(saved, tiny_corpus):
    assert len(tiny_corpus) == 12
    for lang, verses in tiny_corpus.items():
        for text in verses:
            ids = saved(text)["input_ids"]
            assert saved.decode(ids) == text, lang


@pytest.mark.parametrize("text", EDGE_CASES)
def test_round_trip_edge_cases(saved, text):
    assert saved.decode(saved(text)["input_ids"]) == text


def test_specials_like_bloom_and_nothing_added(saved, tiny_corpus):
    for token_id, token in enumerate(SPECIAL_TOKENS):
        assert saved.convert_tokens_to_ids(token) == token_id
    assert saved.eos_token == saved.bos_token == "</s>"
    assert saved.eos_token_id == saved.bos_token_id == 2
    assert saved.pad_token == "<pad>" and saved.unk_token == "<unk>"
    ids = saved(tiny_corpus["en"][0])["input_ids"]
    assert not set(ids) & {0, 1, 2, 3}
    assert saved("</s>", add_special_tokens=False)["input_ids"] == [2]
    assert saved.decode([2] + ids, skip_special_tokens=True) == tiny_corpus["en"][0]


def test_saved_tokenizer_gives_the_same_ids(tokenizer, saved, tiny_corpus):
    for verses in tiny_corpus.values():
        assert tokenizer(verses[:5])["input_ids"] == saved(verses[:5])["input_ids"]


def test_training_is_deterministic(tokenizer, tiny_corpus, tiny_recipe):
    again = train_tokenizer(tiny_corpus, tiny_recipe)
    assert again.backend_tokenizer.to_str() == tokenizer.backend_tokenizer.to_str()
    assert len(tokenizer) == tiny_recipe.vocab_size


def test_verses_joined_with_blank_lines_tokenize_as_the_concatenation(saved, tiny_corpus):
    """The training windows are built verse by verse; held-out text is measured joined."""
    sep = separator_ids(saved)
    for verses in tiny_corpus.values():
        parts = []
        for i, verse in enumerate(verses[:30]):
            parts += (sep if i else []) + saved(verse)["input_ids"]
        assert saved(VERSE_SEPARATOR.join(verses[:30]))["input_ids"] == parts
