"""Training the toy: data order, determinism, layout, atomicity, and recovery from corruption."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BloomForCausalLM
from transformers.models.bloom.modeling_bloom import BloomGelu

import harness.toy.store as store
import harness.toy.train as train
from harness.cache import sha256_file
from harness.toy import ensure_toy, read_manifest, toy_checkpoint_steps, train_toy
from harness.toy.batches import draw_windows
from harness.toy.model import FusedTanhGelu
from harness.toy.recipe import EOS_ID
from harness.toy.tokenizer import train_tokenizer

STEPS = [0, 1, 2, 4, 8]


def weights_of(root: Path) -> dict[int, str]:
    return {step: sha256_file(root / f"step{step}" / "model.safetensors") for step in toy_checkpoint_steps(root)}


@pytest.fixture
def trained(tiny_recipe, tiny_corpus) -> Path:
    return ensure_toy(seed=0, recipe=tiny_recipe, corpus=tiny_corpus, progress=False)


def test_fused_gelu_is_bloom_gelu():
    x = torch.linspace(-8, 8, 4001, dtype=torch.float32).repeat(3, 1).requires_grad_()
    y = x.detach().clone().requires_grad_()
    ref, fused = BloomGelu()(x), FusedTanhGelu()(y)
    torch.testing.assert_close(fused, ref, atol=2e-6, rtol=1e-5)
    grad = torch.randn_like(ref)
    ref.backward(grad)
    fused.backward(grad)
    # same formula, different float32 evaluation order: differences at the rounding level
    torch.testing.assert_close(y.grad, x.grad, atol=1e-5, rtol=1e-5)


def test_windows_start_with_eos_follow_the_weights_and_the_seed(tiny_corpus, tiny_recipe):
    import dataclasses

    recipe = dataclasses.replace(tiny_recipe, steps=300)
    tok = train_tokenizer(tiny_corpus, recipe)
    first = draw_windows(tiny_corpus, recipe, tok, seed=0)
    assert first.tokens.shape == (300 * recipe.batch_size, recipe.seq_len)
    assert (first.tokens[:, 0] == EOS_ID).all() and not (first.tokens[:, 1:] == EOS_ID).any()
    share = (first.languages == recipe.languages.index("en")).float().mean().item()
    assert share == pytest.approx(3 / 14, abs=0.03)
    assert torch.equal(draw_windows(tiny_corpus, recipe, tok, seed=0).tokens, first.tokens)
    assert not torch.equal(draw_windows(tiny_corpus, recipe, tok, seed=1).tokens, first.tokens)
    # every window starts at the first token of a verse
    starts = {tuple(tok(v)["input_ids"][:3]) for verses in tiny_corpus.values() for v in verses}
    assert all(tuple(row[1:4]) in starts for row in first.tokens[:200].tolist())


def test_layout_and_loading(trained, tiny_recipe):
    assert toy_checkpoint_steps(trained) == STEPS
    manifest = read_manifest(trained)
    assert manifest["seed"] == 0 and manifest["recipe"] == tiny_recipe.to_dict()
    assert len(manifest["log"]) == tiny_recipe.steps
    assert {"loss", "lr", "tokens_per_s"} <= set(manifest["log"][0])
    assert {"torch", "transformers"} <= set(manifest["versions"])
    assert len(manifest["data_hash"]) == 64 and manifest["timing"]["wall_s"] > 0
    for step in STEPS:
        folder = trained / f"step{step}"
        assert manifest["checkpoints"][str(step)]["weights_sha256"] == sha256_file(folder / "model.safetensors")
        model = BloomForCausalLM.from_pretrained(str(folder))
        tok = AutoTokenizer.from_pretrained(str(folder))
        assert model.config.n_layer == 2 and model.config.hidden_size == 32
        assert model.config.eos_token_id == tok.eos_token_id == EOS_ID
        with torch.no_grad():
            logits = model(**tok(["In the beginning"], return_tensors="pt")).logits
        assert torch.isfinite(logits).all()
    assert AutoTokenizer.from_pretrained(str(trained / "tokenizer")).eos_token == "</s>"
    weights = weights_of(trained)
    assert len(set(weights.values())) == len(STEPS)  # every checkpoint differs


def test_same_seed_same_weights_other_seed_other_weights(trained, tiny_recipe, tiny_corpus, tmp_path):
    train._PREPARED.clear()  # tokenizer and windows derived again, not reused from the first run
    again = train_toy(tiny_recipe, tmp_path / "again", seed=0, progress=False, corpus=tiny_corpus)
    other = train_toy(tiny_recipe, tmp_path / "other", seed=1, progress=False, corpus=tiny_corpus)
    assert weights_of(tmp_path / "again") == weights_of(trained)
    assert again["log"] == [
        {**row, "tokens_per_s": again["log"][i]["tokens_per_s"]} for i, row in enumerate(read_manifest(trained)["log"])
    ]
    assert all(weights_of(tmp_path / "other")[s] != weights_of(trained)[s] for s in STEPS)
    assert other["seed"] == 1


def test_cached_run_is_reused(trained, tiny_recipe, tiny_corpus, monkeypatch):
    calls = []
    monkeypatch.setattr(store, "train_toy", lambda *a, **k: calls.append(a))
    store._VERIFIED.clear()  # verify from the files, not from this process's memory
    assert ensure_toy(seed=0, recipe=tiny_recipe, corpus=tiny_corpus, progress=False) == trained
    assert calls == []


def test_failure_mid_training_leaves_nothing(tiny_recipe, tiny_corpus, private_cache, monkeypatch):
    real = train._save_checkpoint

    def failing(model, tokenizer_dir, out):
        if out.name == "step4":
            raise RuntimeError("disk on fire")
        return real(model, tokenizer_dir, out)

    monkeypatch.setattr(train, "_save_checkpoint", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ensure_toy(seed=0, recipe=tiny_recipe, corpus=tiny_corpus, progress=False)
    toy = private_cache / "toy"
    assert [p.name for p in toy.iterdir() if not p.name.endswith(".lock")] == []


def _corrupt_manifest(root: Path) -> None:
    (root / "manifest.json").write_text('{"format": 1, "recipe"', encoding="utf-8")


def _drop_manifest(root: Path) -> None:
    (root / "manifest.json").unlink()


def _corrupt_weights(root: Path) -> None:
    path = root / "step4" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))


def _drop_checkpoint(root: Path) -> None:
    import shutil

    shutil.rmtree(root / "step2")


@pytest.mark.parametrize("damage", [_corrupt_manifest, _drop_manifest, _corrupt_weights, _drop_checkpoint])
def test_damaged_run_is_detected_and_retrained(trained, tiny_recipe, tiny_corpus, damage, monkeypatch):
    before = weights_of(trained)
    damage(trained)
    calls = []
    real = store.train_toy
    monkeypatch.setattr(store, "train_toy", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert ensure_toy(seed=0, recipe=tiny_recipe, corpus=tiny_corpus, progress=False) == trained
    assert calls == [1]
    assert weights_of(trained) == before  # retrained to the same weights
    assert store.check_root(trained, tiny_recipe, 0, read_manifest(trained)["data_hash"]) is None


def test_root_is_named_by_recipe_data_and_seed(trained, tiny_recipe, private_cache):
    manifest = read_manifest(trained)
    assert trained == private_cache / "toy" / f"{manifest['recipe_id']}-seed0"
    assert manifest["recipe_id"] == tiny_recipe.identity(manifest["data_hash"])


def test_threads_are_restored(tiny_recipe, tiny_corpus, tmp_path):
    before = torch.get_num_threads()
    train_toy(tiny_recipe, tmp_path / "run", seed=3, progress=False, corpus=tiny_corpus)
    assert torch.get_num_threads() == before


def test_cli_prints_the_root(monkeypatch, capsys, tmp_path):
    import harness.toy as toy
    from harness.toy.__main__ import main

    seen = {}

    def fake(seed=None, recipe=None, progress=True, force=False):
        seen.update(seed=seed, force=force, recipe=recipe)
        return tmp_path

    monkeypatch.setattr(toy, "ensure_toy", fake)
    assert main(["--seed", "1", "--force", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path)
    assert seen == {"seed": 1, "force": True, "recipe": None}
    assert main(["--size", "toy-s", "--quiet"]) == 0
    assert seen["recipe"] == toy.toy_recipe("toy-s") and seen["recipe"].n_layer < toy.load_recipe().n_layer
    assert main(["--size", "toy-xl", "--quiet"]) == 2
    assert "not a toy size" in capsys.readouterr().err


def test_leftovers_of_a_killed_run_are_removed(tiny_recipe, tiny_corpus, private_cache):
    from harness.toy.batches import corpus_hash

    root = store.toy_root(tiny_recipe, 0, corpus_hash(tiny_corpus, tiny_recipe.languages))
    stale = root.parent / f".{root.name}.abc123.tmp"
    (stale / "step0").mkdir(parents=True)
    assert ensure_toy(seed=0, recipe=tiny_recipe, corpus=tiny_corpus, progress=False) == root
    assert not stale.exists()


def test_training_leaves_the_global_random_state_alone(tiny_recipe, tiny_corpus, tmp_path):
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    train_toy(tiny_recipe, tmp_path / "run", seed=0, progress=False, corpus=tiny_corpus)
    assert torch.equal(torch.rand(3), expected)


# ------------------------------------------------------------------ speed-ups that change no result


class _FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


def test_steady_heap_sets_and_resets_glibc_thresholds_even_on_failure(monkeypatch):
    fake = _FakeLibc()
    monkeypatch.setattr(train, "_glibc", lambda: fake)
    with pytest.raises(RuntimeError, match="boom"), train.steady_heap(keep_bytes=1 << 20):
        assert fake.calls == [("mallopt", -3, 1 << 20), ("mallopt", -1, 2 << 20)]
        raise RuntimeError("boom")
    assert fake.calls[2:] == [("mallopt", -3, 32 << 20), ("mallopt", -1, 64 << 20), ("malloc_trim", 0)]
    monkeypatch.setattr(train, "_glibc", lambda: None)  # not glibc: nothing to set
    with train.steady_heap():
        pass


def test_steady_heap_changes_no_weight(trained, tiny_recipe, tiny_corpus, tmp_path, monkeypatch):
    import contextlib

    monkeypatch.setattr(train, "steady_heap", contextlib.nullcontext)
    train_toy(tiny_recipe, tmp_path / "default-heap", seed=0, progress=False, corpus=tiny_corpus)
    assert weights_of(tmp_path / "default-heap") == weights_of(trained)


def test_a_verified_run_is_not_parsed_again_until_a_file_changes(trained, tiny_recipe, tiny_corpus, monkeypatch):
    import os

    reads = []
    real = store.read_manifest
    monkeypatch.setattr(store, "read_manifest", lambda root: reads.append(1) or real(root))
    data_hash = real(trained)["data_hash"]
    assert store.check_root(trained, tiny_recipe, 0, data_hash) is None
    assert store.check_root(trained, tiny_recipe, 0, data_hash) is None
    assert reads == []  # verified when trained, in this process
    assert store.check_root(trained, tiny_recipe, 1, data_hash) == "its seed or data hash differs"
    manifest = trained / "manifest.json"
    stat = manifest.stat()
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert store.check_root(trained, tiny_recipe, 0, data_hash) is None
    assert reads == [1]


def test_default_corpus_reads_the_verses_only_while_unhashed(data_cache, monkeypatch):
    import harness.data as data

    if data_cache is None:
        monkeypatch.delenv("LINGUA_CLAIMS_CACHE", raising=False)
    else:
        monkeypatch.setenv("LINGUA_CLAIMS_CACHE", data_cache)
    languages = ("en", "sw")
    calls = []
    real = data.training_corpus
    monkeypatch.setattr(data, "training_corpus", lambda langs: calls.append(tuple(langs)) or real(langs))
    monkeypatch.setattr(store, "_DATA_HASHES", {})
    corpus, data_hash = store._default_corpus(languages)
    assert calls == [languages]
    again, same_hash = store._default_corpus(languages)
    assert same_hash == data_hash and calls == [languages]  # hashed already: nothing read
    assert list(again["sw"]) == list(corpus["sw"]) and sorted(again) == sorted(corpus) and len(again) == 2
    assert calls == [languages, languages]  # read on first use, once
    assert list(again["en"]) == list(corpus["en"]) and len(calls) == 2


def test_another_size_reuses_the_tokenizer_and_windows_with_the_same_result(trained, tiny_recipe, tiny_corpus, tmp_path,
                                                                             monkeypatch):
    import dataclasses

    small = dataclasses.replace(tiny_recipe, hidden_size=16, n_layer=1)
    calls = []
    real_tokenizer, real_windows = train.train_tokenizer, train.draw_windows
    monkeypatch.setattr(train, "train_tokenizer", lambda *a: calls.append("tokenizer") or real_tokenizer(*a))
    monkeypatch.setattr(train, "draw_windows", lambda *a: calls.append("windows") or real_windows(*a))
    reused = train_toy(small, tmp_path / "reused", seed=0, progress=False, corpus=tiny_corpus)
    assert calls == []  # trained right before (the fixture): same data, tokenizer and data order
    train._PREPARED.clear()
    fresh = train_toy(small, tmp_path / "fresh", seed=0, progress=False, corpus=tiny_corpus)
    assert calls == ["tokenizer", "windows"]
    assert reused["tokenizer"] == fresh["tokenizer"] and reused["corpus"] == fresh["corpus"]
    assert weights_of(tmp_path / "reused") == weights_of(tmp_path / "fresh")
    assert [r["loss"] for r in reused["log"]] == [r["loss"] for r in fresh["log"]]
    train_toy(small, tmp_path / "other-seed", seed=1, progress=False, corpus=tiny_corpus)
    assert calls == ["tokenizer", "windows", "tokenizer", "windows"]  # another seed: another data order
