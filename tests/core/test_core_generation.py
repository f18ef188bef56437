"""Generation: reproducible per seed, batched = alone, and steered only through the chosen units."""

from __future__ import annotations

import pytest
import torch
from tiny_models import down_projections, down_weight_columns

from harness.generation import GenerationConfig, generate, nucleus_probabilities
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


def test_generation_config_validates():
    for bad in (dict(top_p=0.0), dict(top_p=1.5), dict(temperature=0.0), dict(max_new_tokens=0)):
        with pytest.raises(ValueError):
            GenerationConfig(**bad)
