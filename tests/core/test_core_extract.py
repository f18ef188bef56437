"""Batched extraction equals a brute-force, one-sentence-at-a-time computation from the definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import SENTENCES, neurons_by_definition

from harness.errors import NonFiniteActivationError
from harness.extract import (
    bloom_gelu_inplace,
    fast_exact_gelu,
    hidden_states_at,
    hidden_states_at_seeds,
    length_sorted_batches,
    pooled_responses,
    tokenize,
)
from harness.hooks import Intervention

ATOL = 1e-5


def _ids(lm, texts):
    return [lm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def test_pooled_responses_equal_brute_force(lm, arch):
    got = pooled_responses(lm, SENTENCES, batch_size=5, progress=False)
    assert got.max.shape == got.mean.shape == (len(SENTENCES), lm.site.n_units)
    for row, ids in enumerate(_ids(lm, SENTENCES)):
        full = neurons_by_definition(lm.module, arch, ids)  # [layers, tokens, units]
        assert full.shape[1] == len(ids)
        expected_max = full.amax(dim=1).reshape(-1)
        expected_mean = full.mean(dim=1).reshape(-1)
        torch.testing.assert_close(got.max[row], expected_max, atol=ATOL, rtol=0)
        torch.testing.assert_close(got.mean[row], expected_mean, atol=ATOL, rtol=0)
        assert int(got.n_tokens[row]) == len(ids)


def test_same_result_alone_padded_and_at_any_batch_size(lm):
    alone = [pooled_responses(lm, [s], progress=False) for s in SENTENCES]
    for batch_size in (1, 3, len(SENTENCES)):
        batched = pooled_responses(lm, SENTENCES, batch_size=batch_size, progress=False)
        for row, single in enumerate(alone):
            torch.testing.assert_close(batched.max[row], single.max[0], atol=ATOL, rtol=0)
            torch.testing.assert_close(batched.mean[row], single.mean[0], atol=ATOL, rtol=0)


def test_padding_never_enters_the_pooling(load_tiny):
    """A short sentence padded next to a long one: shifting the pad token id changes nothing."""
    lm = load_tiny("bloom")
    texts = ["Hi.", SENTENCES[9]]
    reference = pooled_responses(lm, texts, batch_size=2, progress=False)
    original = lm.tokenizer.pad_token_id
    try:
        lm.tokenizer.pad_token_id = 42
        other_pad = pooled_responses(lm, texts, batch_size=2, progress=False)
    finally:
        lm.tokenizer.pad_token_id = original
    torch.testing.assert_close(other_pad.max, reference.max, atol=ATOL, rtol=0)
    torch.testing.assert_close(other_pad.mean, reference.mean, atol=ATOL, rtol=0)


def test_layer_view_and_single_pooling(load_tiny):
    lm = load_tiny("llama")
    both = pooled_responses(lm, SENTENCES[:4], progress=False)
    only_max = pooled_responses(lm, SENTENCES[:4], poolings=("max",), progress=False)
    assert only_max.mean is None
    torch.testing.assert_close(only_max.max, both.max, atol=0, rtol=0)
    view = both.layer_view("mean", lm.site.n_layers)
    assert view.shape == (4, lm.site.n_layers, lm.site.units_per_layer)
    layer, unit = lm.site.address(lm.site.units_per_layer + 3)
    assert torch.equal(view[:, layer, unit], both.mean[:, lm.site.units_per_layer + 3])
    with pytest.raises(ValueError):
        pooled_responses(lm, SENTENCES[:2], poolings=("median",), progress=False)


def test_long_texts_are_truncated_with_a_warning(load_tiny):
    arch = "bloom"
    lm = load_tiny(arch)
    long_text = " ".join(SENTENCES)
    with pytest.warns(UserWarning, match="truncated"):
        got = pooled_responses(lm, [long_text, SENTENCES[0]], max_length=10, progress=False)
    ids = _ids(lm, [long_text])[0][:10]
    full = neurons_by_definition(lm.module, arch, ids)
    assert int(got.n_tokens[0]) == 10
    torch.testing.assert_close(got.max[0], full.amax(dim=1).reshape(-1), atol=ATOL, rtol=0)


def test_tokenize_refuses_bad_input(load_tiny):
    lm = load_tiny("gpt2")
    with pytest.raises(TypeError):
        tokenize(lm, "one string", 8)
    with pytest.raises(ValueError, match="no tokens"):
        tokenize(lm, ["fine", ""], 8)


def test_length_sorted_batches_cover_every_index_once():
    lengths = [3, 9, 1, 9, 4, 7, 2]
    batches = length_sorted_batches(lengths, 3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert [len(b) for b in batches] == [3, 3, 1]
    seen = [lengths[i] for i in flat]
    assert seen == sorted(lengths, reverse=True)
    with pytest.raises(ValueError):
        length_sorted_batches(lengths, 0)


def test_recorded_responses_see_the_intervention(lm):
    """Recording and intervening use the same site: set units read back as the set values."""
    site = lm.site
    units = torch.tensor([1, site.units_per_layer + 2, site.n_units - 1])
    values = torch.tensor([3.5, -1.25, 7.0])
    got = pooled_responses(lm, SENTENCES[:5], interventions=Intervention(units, values=values), progress=False)
    for pooling in (got.max, got.mean):
        torch.testing.assert_close(pooling[:, units], values.expand(5, -1), atol=ATOL, rtol=0)
    zeroed = pooled_responses(lm, SENTENCES[:5], interventions=Intervention(units, scale=0.0), progress=False)
    assert torch.equal(zeroed.max[:, units], torch.zeros(5, 3))


def test_non_finite_activations_are_refused(fresh_tiny):
    lm = fresh_tiny("bloom")
    with torch.no_grad():
        lm.module.transformer.h[1].mlp.dense_h_to_4h.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteActivationError, match="NaN"):
        pooled_responses(lm, SENTENCES[:3], progress=False)
    with pytest.raises(NonFiniteActivationError):
        hidden_states_at(lm, SENTENCES[:3], progress=False)


# --- hidden states -----------------------------------------------------------------------------


def test_hidden_states_shapes_and_positions(lm):
    texts = SENTENCES[:7]
    lengths = [len(i) for i in _ids(lm, texts)]
    states, positions = hidden_states_at(lm, texts, seed=3, batch_size=3, progress=False)
    hidden = lm.module.config.hidden_size
    assert states.shape == (lm.module.config.num_hidden_layers + 1, len(texts), hidden)
    assert positions.shape == (len(texts),)
    assert all(0 <= p < n for p, n in zip(positions, lengths))
    again, positions_again = hidden_states_at(lm, texts, seed=3, batch_size=7, progress=False)
    assert np.array_equal(positions, positions_again)
    torch.testing.assert_close(again, states, atol=ATOL, rtol=0)
    _, other_positions = hidden_states_at(lm, texts, seed=4, progress=False)
    assert not np.array_equal(other_positions, positions)


@torch.inference_mode()
def test_hidden_state_at_p_equals_running_the_prefix(lm):
    texts = SENTENCES[:6]
    ids = _ids(lm, texts)
    positions = [min(len(i) - 1, k * 2) for k, i in enumerate(ids)]
    states, _ = hidden_states_at(lm, texts, positions=positions, batch_size=4, progress=False)
    for row, (seq, p) in enumerate(zip(ids, positions)):
        out = lm.module(input_ids=torch.tensor([seq[: p + 1]]), output_hidden_states=True, use_cache=False)
        expected = torch.stack([h[0, -1] for h in out.hidden_states]).float()
        torch.testing.assert_close(states[:, row], expected, atol=ATOL, rtol=0)


def test_hidden_states_refuse_bad_positions(load_tiny):
    lm = load_tiny("qwen2")
    with pytest.raises(ValueError, match="positions"):
        hidden_states_at(lm, ["Hi."], positions=[50], progress=False)
    with pytest.raises(ValueError, match="positions"):
        hidden_states_at(lm, ["Hi.", "Hi."], positions=[0], progress=False)


def test_states_for_several_seeds_equal_one_seed_at_a_time(lm):
    texts = SENTENCES[:7]
    many, positions = hidden_states_at_seeds(lm, texts, [3, 4, 3], batch_size=3, progress=False)
    assert many.shape[0] == 3 and positions.shape == (3, len(texts))
    for i, seed in enumerate((3, 4, 3)):
        one, one_positions = hidden_states_at(lm, texts, seed=seed, batch_size=5, progress=False)
        assert np.array_equal(positions[i], one_positions)
        torch.testing.assert_close(many[i], one, atol=ATOL, rtol=0)
    assert not np.array_equal(positions[0], positions[1])


# --- tokenizers that put a BOS before every text (LLaMA, Gemma, OPT, XGLM) ---------------------


@pytest.fixture(scope="module")
def bos_lm(tmp_path_factory):
    """A tiny LLaMA whose tokenizer adds ``<s>`` before every text, as LLaMA's does."""
    from tiny_models import build_model, build_tokenizer, save_model
    from tokenizers import processors

    from harness.loading import load_model

    tokenizer = build_tokenizer(tmp_path_factory.mktemp("bos-tokenizer"))
    bos = tokenizer.bos_token_id
    tokenizer._tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    path = save_model(build_model("llama", tokenizer), tokenizer, tmp_path_factory.mktemp("bos-llama"))
    return load_model(str(path), device="cpu")


def test_special_prefix_is_the_tokenizers_bos(bos_lm, load_tiny):
    assert bos_lm.special_prefix == (bos_lm.tokenizer.bos_token_id,)
    assert load_tiny("bloom").special_prefix == ()  # BLOOM's tokenizer adds nothing


def test_pooling_runs_after_the_bos_and_leaves_it_out(bos_lm):
    bos = bos_lm.tokenizer.bos_token_id
    got = pooled_responses(bos_lm, SENTENCES[:6], batch_size=4, progress=False)
    for row, ids in enumerate(_ids(bos_lm, SENTENCES[:6])):
        full = neurons_by_definition(bos_lm.module, "llama", [bos] + ids)[:, 1:]  # the text's tokens, seen after <s>
        torch.testing.assert_close(got.max[row], full.amax(dim=1).reshape(-1), atol=ATOL, rtol=0)
        torch.testing.assert_close(got.mean[row], full.mean(dim=1).reshape(-1), atol=ATOL, rtol=0)
        assert int(got.n_tokens[row]) == len(ids)
    without = neurons_by_definition(bos_lm.module, "llama", _ids(bos_lm, SENTENCES[:1])[0])
    assert not torch.allclose(got.mean[0], without.mean(dim=1).reshape(-1), atol=1e-3)  # the BOS matters


@torch.inference_mode()
def test_probe_positions_index_the_text_after_the_bos(bos_lm):
    bos = bos_lm.tokenizer.bos_token_id
    texts = SENTENCES[:5]
    states, positions = hidden_states_at(bos_lm, texts, seed=2, batch_size=2, progress=False)
    for row, (seq, p) in enumerate(zip(_ids(bos_lm, texts), positions)):
        out = bos_lm.module(input_ids=torch.tensor([[bos] + seq[: p + 1]]), output_hidden_states=True, use_cache=False)
        want = torch.stack([h[0, -1] for h in out.hidden_states]).float()
        torch.testing.assert_close(states[:, row], want, atol=ATOL, rtol=0)


@torch.inference_mode()
def test_continuation_loglikelihood_is_scored_after_the_bos(bos_lm):
    from harness.loglikelihood import continuation_loglikelihoods

    bos = bos_lm.tokenizer.bos_token_id
    contexts, continuations = ["The water is", ""], [" cold.", "Hello"]
    got = continuation_loglikelihoods(bos_lm, contexts, continuations, batch_size=1)
    for i, (c, k) in enumerate(zip(contexts, continuations)):
        ctx = bos_lm.tokenizer(c, add_special_tokens=False)["input_ids"] if c else []
        cont = bos_lm.tokenizer(k, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([[bos] + ctx + cont])
        logp = torch.log_softmax(bos_lm.module(input_ids=ids).logits[0, :-1].double(), dim=-1)
        expected = sum(float(logp[1 + len(ctx) + t - 1, tok]) for t, tok in enumerate(cont))
        assert float(got[i]) == pytest.approx(expected, abs=1e-4)


# ------------------------------------------------------------------ BLOOM's GELU in place (speed only)


@pytest.mark.parametrize("shape", [(1, 1, 7), (3, 5, 64), (2, 37, 512)])
def test_inplace_bloom_gelu_is_bit_identical(shape):
    from transformers.models.bloom.modeling_bloom import bloom_gelu_forward

    x = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape))) * 4
    flat = x.view(-1)
    flat[: min(6, flat.numel())] = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), 1e30, -1e-30])[: flat.numel()]
    before = x.clone()
    got, expected = bloom_gelu_inplace(x), bloom_gelu_forward(x)
    assert torch.equal(got.view(torch.int32), expected.view(torch.int32))  # bits, NaN (-inf · 0) included
    assert torch.equal(x, before)


def test_fast_gelu_gives_the_same_bits_and_restores_the_model(load_tiny):
    lm = load_tiny("bloom")
    gelus = [m for m in lm.module.modules() if type(m).__name__ == "BloomGelu"]
    assert gelus
    inside = []
    real = bloom_gelu_inplace

    def counting(x):
        inside.append(1)
        return real(x)

    import harness.extract as extract

    with torch.inference_mode():
        ids = torch.tensor([lm.tokenizer(SENTENCES[3], add_special_tokens=False)["input_ids"]])
        reference = lm.module(input_ids=ids).logits
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(extract, "bloom_gelu_inplace", counting)
        with pytest.raises(RuntimeError, match="boom"), fast_exact_gelu(lm.module):
            with torch.inference_mode():
                fast = lm.module(input_ids=ids).logits
            x = torch.randn(4, 8, requires_grad=True)
            gelus[0](x).sum().backward()  # a gradient is needed: the module's own forward, no in-place error
            raise RuntimeError("boom")
    assert len(inside) == len(gelus)
    assert torch.equal(fast, reference)
    assert all("forward" not in vars(m) for m in gelus)


def test_pooled_responses_and_states_do_not_change_with_the_fast_gelu(load_tiny, monkeypatch):
    import contextlib

    import harness.extract as extract

    lm = load_tiny("bloom")
    fast = pooled_responses(lm, SENTENCES, batch_size=4, progress=False)
    fast_states, _ = hidden_states_at(lm, SENTENCES, seed=1, batch_size=4, progress=False)
    monkeypatch.setattr(extract, "fast_exact_gelu", lambda model: contextlib.nullcontext(model))
    plain = pooled_responses(lm, SENTENCES, batch_size=4, progress=False)
    plain_states, _ = hidden_states_at(lm, SENTENCES, seed=1, batch_size=4, progress=False)
    assert torch.equal(fast.max, plain.max) and torch.equal(fast.mean, plain.mean)
    assert torch.equal(fast_states, plain_states)
