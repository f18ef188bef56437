"""Generation: reproducible per seed, batched = alone, and steered only through the chosen units."""

from __future__ import annotations

import pytest
import torch
from tiny_models import down_projections, down_weight_columns

from harness.generation import GenerationConfig, generate, nucleus_probabilities, sorted_nucleus_probabilities
from harness.hooks import Intervention

CONFIG = GenerationConfig(top_p=0.9, temperature=0.8, max_new_tokens=10)
SEEDS = list(range(6))


@pytest.mark.parametrize("arch", ["bloom", "llama", "gpt2", "opt"])
def test_generation_is_reproducible_and_batch_independent(load_tiny, arch):
    lm = load_tiny(arch)
    batched = generate(lm, SEEDS, config=CONFIG, batch_size=len(SEEDS), progress=False)
    again = generate(lm, SEEDS, config=CONFIG, batch_size=4, progress=False)
    alone = [generate(lm, [s], config=CONFIG, batch_size=1, progress=False)[0] for s in SEEDS]
    assert batched == again == alone
    assert len(set(batched)) > 1  # the seeds matter
    assert any(text for text in batched)


def test_order_of_seeds_does_not_change_a_seed_text(load_tiny):
    lm = load_tiny("qwen2")
    forward = generate(lm, SEEDS, config=CONFIG, progress=False)
    backward = generate(lm, SEEDS[::-1], config=CONFIG, progress=False)
    assert forward == backward[::-1]


def test_an_intervention_steers_generation(load_tiny):
    lm = load_tiny("bloom")
    plain = generate(lm, SEEDS, config=CONFIG, progress=False)
    units = torch.arange(lm.site.units_per_layer, lm.site.n_units, 2)  # half of the last layer
    steered = generate(
        lm, SEEDS, config=CONFIG,
        interventions=Intervention(units, values=torch.full_like(units, 8.0, dtype=torch.float)), progress=False,
    )
    assert steered != plain


@pytest.mark.parametrize("arch", ["bloom", "llama"])
def test_steering_acts_only_through_its_units(fresh_tiny, arch):
    """Steer units whose down-projection weights are zero: generation is exactly the unsteered one."""
    lm = fresh_tiny(arch)
    site = lm.site
    units = torch.cat([torch.arange(0, site.units_per_layer, 2), torch.arange(site.units_per_layer, site.n_units, 2)])
    with torch.no_grad():
        for layer, local in site.split_by_layer(units).items():
            proj = down_projections(lm.module, arch)[layer]
            proj.weight[down_weight_columns(proj, local)] = 0.0
    steer = Intervention(units, values=torch.full((units.numel(),), 8.0))
    plain = generate(lm, SEEDS, config=CONFIG, progress=False)
    assert generate(lm, SEEDS, config=CONFIG, interventions=steer, progress=False) == plain
    # the same steering of the other (still connected) units does change the texts
    others = units + 1
    live = Intervention(others, values=torch.full((others.numel(),), 8.0))
    assert generate(lm, SEEDS, config=CONFIG, interventions=live, progress=False) != plain


def test_bloom_generation_starts_from_eos(load_tiny):
    bloom, llama = load_tiny("bloom"), load_tiny("llama")
    assert bloom.prompt_token_id() == bloom.tokenizer.convert_tokens_to_ids("</s>")
    assert llama.prompt_token_id() == llama.tokenizer.convert_tokens_to_ids("<s>")


def test_nucleus_probabilities_keep_the_smallest_set_reaching_top_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    kept = nucleus_probabilities(logits, top_p=0.8, temperature=1.0)
    torch.testing.assert_close(kept, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    kept = nucleus_probabilities(logits, top_p=0.81, temperature=1.0)
    torch.testing.assert_close(kept, torch.tensor([[0.5, 0.3, 0.15, 0.0]]) / 0.95)
    everything = nucleus_probabilities(logits, top_p=1.0, temperature=1.0)
    torch.testing.assert_close(everything, probs)
    # temperature sharpens before the cut: at T=0.5 the top token alone holds 0.5²/Σp² ≈ 0.685 ≥ 0.6
    sharp = nucleus_probabilities(logits, top_p=0.6, temperature=0.5)
    torch.testing.assert_close(sharp, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    assert int((nucleus_probabilities(logits, top_p=0.6, temperature=1.0) > 0).sum()) == 2


@pytest.mark.parametrize("vocab", [300, 50_000])
@pytest.mark.parametrize("scale", [0.3, 2.0, 8.0])
@pytest.mark.parametrize("top_p", [0.5, 0.9, 1.0])
def test_nucleus_probabilities_equal_the_full_sort_on_random_logits(vocab, scale, top_p):
    """Bit for bit the full-sort reference, from peaked rows (a few candidates) to flat ones (most of the vocab)."""
    generator = torch.Generator().manual_seed(vocab + int(10 * scale))
    logits = torch.randn(16, vocab, generator=generator) * scale
    logits[0] *= 20  # one nearly one-hot row next to the others
    fast = nucleus_probabilities(logits, top_p, 0.8)
    assert torch.equal(fast, sorted_nucleus_probabilities(logits, top_p, 0.8))
    # so the same seed draws the same tokens
    draws = [torch.multinomial(p, 5, replacement=True, generator=torch.Generator().manual_seed(7)) for p in (
        fast, sorted_nucleus_probabilities(logits, top_p, 0.8))]
    assert torch.equal(*draws)


def test_nucleus_sampling_never_sorts_the_full_vocabulary_when_the_nucleus_is_small(monkeypatch):
    """The structural reason for the sampler's speed: at BLOOM's vocabulary and a peaked distribution it
    ranks a few hundred candidates (topk), never all 250,880 entries."""
    asked: list[int] = []
    topk = torch.Tensor.topk

    def counting_topk(self, k, *args, **kwargs):
        asked.append(int(k))
        return topk(self, k, *args, **kwargs)

    def no_sort(*_args, **_kwargs):
        raise AssertionError("the full vocabulary was sorted")

    logits = torch.randn(4, 250_880, generator=torch.Generator().manual_seed(0)) * 6
    expected = sorted_nucleus_probabilities(logits, 0.9, 0.8)
    monkeypatch.setattr(torch.Tensor, "topk", counting_topk)
    monkeypatch.setattr(torch.Tensor, "sort", no_sort)
    monkeypatch.setattr(torch, "sort", no_sort)
    kept = nucleus_probabilities(logits, 0.9, 0.8)
    assert asked and max(asked) <= 4096, asked
    assert int((kept > 0).sum(dim=-1).max()) <= max(asked)
    assert torch.equal(kept, expected)


def test_generation_config_validates():
    for bad in (dict(top_p=0.0), dict(top_p=1.5), dict(temperature=0.0), dict(max_new_tokens=0)):
        with pytest.raises(ValueError):
            GenerationConfig(**bad)


@pytest.mark.parametrize(("busy", "threads"), [(True, {1}), (False, {2})])
def test_a_small_model_generates_on_one_thread_while_the_machine_is_busy(load_tiny, monkeypatch, busy, threads):
    """Tiny models' operations are too small to share between threads when other processes compete (on a
    loaded 2-core machine two spinning OpenMP threads made generation 16× slower); on an idle machine
    both threads are used. The caller's setting comes back after."""
    import harness.generation as generation

    monkeypatch.setattr(generation, "machine_is_busy", lambda: busy)
    lm = load_tiny("bloom")
    seen: list[int] = []
    handle = lm.module.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        generate(lm, [0, 1], config=CONFIG, progress=False)
        assert torch.get_num_threads() == 2
    finally:
        handle.remove()
        torch.set_num_threads(before)
    assert seen and set(seen) == threads


def test_the_machine_is_busy_when_its_load_exceeds_its_cores(monkeypatch):
    import harness.generation as generation

    monkeypatch.setattr(generation.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(generation.os, "getloadavg", lambda: (6.0, 5.0, 4.0))
    assert generation.machine_is_busy()
    monkeypatch.setattr(generation.os, "getloadavg", lambda: (2.0, 5.0, 4.0))
    assert not generation.machine_is_busy()
