"""Training in a child process with passive OpenMP waiting, used when the machine is busy."""

from __future__ import annotations

import dataclasses
import os

import pytest

import harness.toy.store as store
import harness.toy.worker as worker
from harness.cache import sha256_file
from harness.errors import HarnessError
from harness.toy import ensure_toy, toy_checkpoint_steps, train_toy
from harness.toy.batches import corpus_hash


def _weights(root):
    return {s: sha256_file(root / f"step{s}" / "model.safetensors") for s in toy_checkpoint_steps(root)}


def test_child_gives_the_same_weights_as_in_process(tiny_recipe, full_corpus, data_cache, tmp_path, monkeypatch):
    # The child reads the real training corpus from the data cache the session started with.
    if data_cache is None:
        monkeypatch.delenv("LINGUA_CLAIMS_CACHE")
    else:
        monkeypatch.setenv("LINGUA_CLAIMS_CACHE", data_cache)
    recipe = dataclasses.replace(tiny_recipe, tokenizer_fraction=0.005, threads=2)
    worker.train_in_child(recipe, tmp_path / "child", seed=0, progress=False)
    train_toy(recipe, tmp_path / "here", seed=0, progress=False, corpus=full_corpus)
    assert _weights(tmp_path / "child") == _weights(tmp_path / "here")
    assert not list(tmp_path.glob(".*.recipe.json"))


def test_child_failure_is_one_line(tiny_recipe, tmp_path, monkeypatch):
    monkeypatch.setattr(worker, "_CHILD", "import sys; sys.exit(3)")
    with pytest.raises(HarnessError, match="exit status 3"):
        worker.train_in_child(tiny_recipe, tmp_path / "run", seed=0, progress=False)
    assert not (tmp_path / "run").exists()


def test_busy_machine_trains_in_a_child(tiny_recipe, tiny_corpus, monkeypatch):
    data_hash = corpus_hash(tiny_corpus, tiny_recipe.languages)
    monkeypatch.setattr(store, "_default_corpus", lambda languages: (tiny_corpus, data_hash))
    calls = []

    def child(recipe, root, seed, progress):
        calls.append(seed)
        train_toy(recipe, root, seed, progress, corpus=tiny_corpus)

    monkeypatch.setattr(store, "train_in_child", child)
    monkeypatch.setattr(store, "machine_is_busy", lambda threads: True)
    root = ensure_toy(seed=2, recipe=tiny_recipe, progress=False)
    assert calls == [2] and toy_checkpoint_steps(root) == [0, 1, 2, 4, 8]
    monkeypatch.setattr(store, "machine_is_busy", lambda threads: False)
    ensure_toy(seed=3, recipe=tiny_recipe, progress=False)
    assert calls == [2]


def test_machine_is_busy(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (50.0, 50.0, 50.0))
    assert worker.machine_is_busy(2)
    assert not worker.machine_is_busy(1)
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    assert not worker.machine_is_busy(2)
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not worker.machine_is_busy(2)
