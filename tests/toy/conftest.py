"""Fixtures for the toy-model tests: a small real corpus, a tiny recipe, a private cache per test.

The corpus is a strided subset of ``harness.data.training_corpus()`` read once per session from
the data cache the toy itself uses (built there on first use); each test then sets its own empty
``LINGUA_CLAIMS_CACHE`` so toy runs never touch the user's cache.
"""

from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from harness.toy import STEPS_ENV, ToyRecipe  # noqa: E402

VERSES_PER_LANGUAGE = 120
# the cache root of the session before any test changes it: where the built data are read from
_DATA_CACHE = os.environ.get("LINGUA_CLAIMS_CACHE")


@pytest.fixture(scope="session")
def data_cache() -> str | None:
    """``$LINGUA_CLAIMS_CACHE`` as the session found it (None: unset), for child processes."""
    return _DATA_CACHE


@pytest.fixture(scope="session")
def full_corpus() -> dict[str, list[str]]:
    from harness.data import training_corpus

    return training_corpus()


@pytest.fixture(scope="session")
def tiny_corpus(full_corpus) -> dict[str, list[str]]:
    out = {}
    for lang, verses in full_corpus.items():
        stride = max(1, len(verses) // VERSES_PER_LANGUAGE)
        out[lang] = verses[::stride][:VERSES_PER_LANGUAGE]
    return out


@pytest.fixture(scope="session")
def tiny_recipe() -> ToyRecipe:
    """8 steps of a 2-layer, 32-wide BLOOM on all 12 languages: checkpoints 0, 1, 2, 4, 8."""
    return ToyRecipe(
        vocab_size=512, tokenizer_fraction=1.0, hidden_size=32, n_layer=2, n_head=2,
        seq_len=32, batch_size=4, steps=8, warmup_steps=2, threads=1,
    )


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LINGUA_CLAIMS_CACHE", str(cache))
    monkeypatch.delenv(STEPS_ENV, raising=False)
    return cache
