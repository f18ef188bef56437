"""Interventions act on the model only through the chosen units."""

from __future__ import annotations

import pytest
import torch
from tiny_models import SENTENCES, down_projections, down_weight_columns, neurons_by_definition

from harness.hooks import Intervention, intervene

ATOL = 1e-5


def _batch(lm):
    ids = [lm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in SENTENCES[:4]]
    width = max(map(len, ids))
    input_ids = torch.full((len(ids), width), lm.tokenizer.pad_token_id)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return input_ids, mask


@torch.inference_mode()
def _logits(lm, input_ids, mask=None):
    return lm.module(input_ids=input_ids, attention_mask=mask, use_cache=False).logits.float()


@pytest.mark.parametrize("layer", [0, 1])
def test_zeroing_a_layer_equals_zeroing_the_down_projection_input(lm, arch, layer):
    input_ids, mask = _batch(lm)
    plain = _logits(lm, input_ids, mask)
    units = torch.arange(lm.site.units_per_layer) + layer * lm.site.units_per_layer
    with intervene(lm.site, Intervention(units, scale=0.0)):
        via_harness = _logits(lm, input_ids, mask)

    proj = down_projections(lm.module, arch)[layer]
    handle = proj.register_forward_pre_hook(lambda _m, args: (torch.zeros_like(args[0]), *args[1:]))
    try:
        by_hand = _logits(lm, input_ids, mask)
    finally:
        handle.remove()
    real = mask.bool()
    torch.testing.assert_close(via_harness[real], by_hand[real], atol=ATOL, rtol=0)
    assert (via_harness[real] - plain[real]).abs().max() > 1e-3  # the ablation does something


def test_setting_units_to_their_own_values_changes_nothing(lm, arch):
    """On the prompt token alone each unit has one value; writing it back leaves the logits as they are."""
    prompt = [lm.prompt_token_id()]
    neurons = neurons_by_definition(lm.module, arch, prompt)[:, 0]  # [layers, units]
    units = torch.tensor([0, 5, lm.site.units_per_layer + 7, lm.site.n_units - 1])
    values = neurons.reshape(-1)[units]
    input_ids = torch.tensor([prompt])
    plain = _logits(lm, input_ids)
    with intervene(lm.site, Intervention(units, values=values)):
        same = _logits(lm, input_ids)
    torch.testing.assert_close(same, plain, atol=ATOL, rtol=0)
    with intervene(lm.site, Intervention(units, values=values + 3.0)):
        moved = _logits(lm, input_ids)
    assert (moved - plain).abs().max() > 1e-3


def test_scaling_by_one_changes_nothing_and_scaling_by_two_does(lm):
    input_ids, mask = _batch(lm)
    plain = _logits(lm, input_ids, mask)
    units = torch.arange(0, lm.site.n_units, 3)
    with intervene(lm.site, Intervention(units, scale=1.0)):
        torch.testing.assert_close(_logits(lm, input_ids, mask), plain, atol=ATOL, rtol=0)
    with intervene(lm.site, Intervention(units, scale=2.0)):
        assert (_logits(lm, input_ids, mask) - plain).abs().max() > 1e-3


def test_units_cut_from_the_down_projection_have_no_effect(fresh_tiny, arch):
    """Once the weights reading some units are zero, setting those units changes nothing; others still do."""
    lm = fresh_tiny(arch)
    input_ids, mask = _batch(lm)
    site = lm.site
    cut = torch.tensor([2, 9, site.units_per_layer + 4, site.n_units - 2])
    kept = torch.tensor([3, site.units_per_layer + 5])
    with torch.no_grad():
        for layer, units in site.split_by_layer(cut).items():
            proj = down_projections(lm.module, arch)[layer]
            proj.weight[down_weight_columns(proj, units)] = 0.0
    plain = _logits(lm, input_ids, mask)
    with intervene(lm.site, Intervention(cut, values=torch.full((4,), 25.0))):
        torch.testing.assert_close(_logits(lm, input_ids, mask), plain, atol=ATOL, rtol=0)
    with intervene(lm.site, Intervention(kept, values=torch.full((2,), 25.0))):
        assert (_logits(lm, input_ids, mask) - plain).abs().max() > 1e-3


def test_values_and_scale_together_set_then_scale(load_tiny):
    lm = load_tiny("bloom")
    prompt = torch.tensor([[lm.prompt_token_id()]])
    units = torch.tensor([1, 40])
    with intervene(lm.site, Intervention(units, values=torch.tensor([2.0, -4.0]), scale=0.5)):
        both = _logits(lm, prompt)
    with intervene(lm.site, Intervention(units, values=torch.tensor([1.0, -2.0]))):
        halved = _logits(lm, prompt)
    torch.testing.assert_close(both, halved, atol=ATOL, rtol=0)


def test_several_interventions_compose(load_tiny):
    lm = load_tiny("llama")
    input_ids, mask = _batch(lm)
    a = Intervention(torch.tensor([0, 1]), scale=0.0)
    b = Intervention(torch.tensor([lm.site.units_per_layer + 3]), values=torch.tensor([1.5]))
    with intervene(lm.site, [a, b]):
        combined = _logits(lm, input_ids, mask)
    with intervene(lm.site, a), intervene(lm.site, b):
        nested = _logits(lm, input_ids, mask)
    torch.testing.assert_close(combined, nested, atol=ATOL, rtol=0)
