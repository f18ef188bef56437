"""Perplexity: non-overlapping windows, exp of the token-weighted mean NLL, with or without ablation."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import SENTENCES, down_projections

from harness.errors import NonFiniteActivationError
from harness.hooks import Intervention
from harness.perplexity import perplexity, windows


def test_windows_are_non_overlapping_and_drop_the_remainder():
    ids = list(range(10))
    assert windows(ids, 4).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert windows(ids, 5).tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert windows(ids, 10).tolist() == [ids]
    assert windows(ids, 32).tolist() == [ids]  # a lone shorter text is one window
    assert windows([7, 8], 2).tolist() == [[7, 8]]
    with pytest.raises(ValueError):
        windows(ids, 1)
    with pytest.raises(ValueError):
        windows([1], 4)


@torch.inference_mode()
def _perplexity_by_hand(lm, texts, window, zero_layer=None, arch=None):
    ids = lm.tokenizer("\n\n".join(texts), add_special_tokens=False)["input_ids"]
    n_windows = max(1, len(ids) // window)
    handle = None
    if zero_layer is not None:
        proj = down_projections(lm.module, arch)[zero_layer]
        handle = proj.register_forward_pre_hook(lambda _m, args: (torch.zeros_like(args[0]), *args[1:]))
    total, count = 0.0, 0
    try:
        for w in range(n_windows):
            chunk = ids[w * window : (w + 1) * window] if len(ids) >= window else ids
            logits = lm.module(input_ids=torch.tensor([chunk]), use_cache=False).logits[0].double()
            log_probs = logits.log_softmax(dim=-1)  # position t predicts token t + 1
            total -= float(log_probs[torch.arange(len(chunk) - 1), torch.tensor(chunk[1:])].sum())
            count += len(chunk) - 1
    finally:
        if handle is not None:
            handle.remove()
    return math.exp(total / count), count, n_windows


@pytest.mark.parametrize("arch", ["bloom", "llama", "opt"])
def test_perplexity_equals_exp_mean_nll_by_hand(load_tiny, arch):
    lm = load_tiny(arch)
    expected, count, n_windows = _perplexity_by_hand(lm, SENTENCES, window=16)
    got = perplexity(lm, SENTENCES, window=16, batch_size=3)
    assert got.n_windows == n_windows > 3
    assert got.n_predicted == count == n_windows * 15
    assert got.perplexity == pytest.approx(expected, rel=1e-5)
    assert got.mean_nll == pytest.approx(math.log(expected), rel=1e-5)
    # the batch size of windows does not matter
    assert perplexity(lm, SENTENCES, window=16, batch_size=1).perplexity == pytest.approx(got.perplexity, rel=1e-5)


@pytest.mark.parametrize("arch", ["bloom", "gemma"])
def test_zeroing_a_layer_changes_perplexity_as_by_hand(load_tiny, arch):
    lm = load_tiny(arch)
    base = perplexity(lm, SENTENCES, window=16)
    layer_units = torch.arange(lm.site.units_per_layer)  # every unit of layer 0
    ablated = perplexity(lm, SENTENCES, window=16, interventions=Intervention(layer_units, scale=0.0))
    expected, _, _ = _perplexity_by_hand(lm, SENTENCES, window=16, zero_layer=0, arch=arch)
    assert ablated.perplexity == pytest.approx(expected, rel=1e-5)
    assert abs(ablated.perplexity / base.perplexity - 1) > 1e-3
    # and the ablation is gone afterwards
    assert perplexity(lm, SENTENCES, window=16).perplexity == pytest.approx(base.perplexity, rel=1e-6)


@pytest.mark.parametrize("arch", ["opt", "gpt2", "bloom"])
def test_default_window_fits_the_model(load_tiny, arch):
    """Without a profile the default window must not exceed the model's positions (OPT: learned, 128)."""
    lm = load_tiny(arch)
    long_texts = SENTENCES * 4  # several hundred tokens, more than 128
    n_tokens = len(lm.tokenizer("\n\n".join(long_texts), add_special_tokens=False)["input_ids"])
    assert n_tokens > 2 * 128
    got = perplexity(lm, long_texts)
    assert got.n_windows >= 1 and math.isfinite(got.perplexity)
    limit = getattr(lm.module.config, "n_positions", None) or getattr(lm.module.config, "max_position_embeddings", None)
    if limit:
        assert got.n_predicted <= got.n_windows * (limit - 1)


def test_perplexity_refuses_empty_input_and_nan(load_tiny, fresh_tiny):
    with pytest.raises(ValueError):
        perplexity(load_tiny("bloom"), [])
    lm = fresh_tiny("bloom")
    with torch.no_grad():
        lm.module.transformer.h[0].mlp.dense_h_to_4h.bias[0] = float("nan")
    with pytest.raises(NonFiniteActivationError):
        perplexity(lm, SENTENCES, window=16)


def _source(profile, config):
    """A stand-in MeasurementSource: the run's profile and a model with ``config``; counts perplexity calls."""
    from types import SimpleNamespace

    calls = []

    def ppl(revision, lang, *, zeroed=None, label="full", max_windows=None):
        calls.append(max_windows)
        from harness.perplexity import Perplexity

        return Perplexity(2.0, 1.0, 10, 1)

    source = SimpleNamespace(plan=SimpleNamespace(profile=profile),
                             loaded_model=lambda revision=None: SimpleNamespace(module=SimpleNamespace(config=config)),
                             perplexity=ppl)
    return source, calls


@pytest.mark.parametrize("positions, expected", [(None, 2), (128, 16), (4096, 2), (16, 128)])
def test_lf3_measures_a_model_without_profile_on_2048_tokens_in_its_config_windows(positions, expected):
    """The structural reason LF-3 is cheap on a small saved model: a few windows, not 32 of 1024 tokens each."""
    from types import SimpleNamespace

    from harness.analyses.key_regions import PPL_TOKENS_UNPROFILED, PPL_WINDOWS, perplexity_windows
    from harness.profiles import ModelProfile

    config = SimpleNamespace(n_positions=positions)  # BLOOM (ALiBi) declares none: 1024
    n, budget = perplexity_windows(_source(None, config)[0], None)
    assert (n, PPL_TOKENS_UNPROFILED) == (expected, 2048)
    assert "without a profile" in budget and f"{expected} window(s)" in budget
    profiled = ModelProfile("m", None, perplexity_window=64)
    assert perplexity_windows(_source(profiled, config)[0], None)[0] == PPL_WINDOWS


def test_lf3s_perplexities_of_a_model_without_profile_all_use_the_small_budget(monkeypatch):
    """Every one of the L² + 3L perplexity runs asks for the same few windows (12 languages: 180 runs of 2 windows)."""
    from types import SimpleNamespace

    from harness.analyses import key_regions

    languages = ("en", "es", "fr", "pt", "de", "ru", "zh", "ar", "hi", "vi", "id", "sw")
    mask = torch.zeros(len(languages), 40, dtype=torch.bool)
    for i in range(len(languages)):
        mask[i, 3 * i: 3 * i + 2] = True
    regions = key_regions.KeyRegions(languages, mask, n_layers=2)
    monkeypatch.setattr(key_regions, "key_regions_at", lambda measurements, revision: (regions, None))
    source, calls = _source(None, SimpleNamespace())
    source.memo = lambda key, compute: compute()
    result = key_regions.deactivation_at(source, None)
    assert result.text["max_windows"] == 2 and "2048" in result.text["budget"]
    assert len(calls) == 12 * 12 + 3 * 12 + 12 and set(calls) == {2}
