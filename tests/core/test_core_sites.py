"""Neuron sites: one site per supported architecture, addresses, and refusal of unknown ones."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from tiny_models import ARCHITECTURES, build_model, mlp_blocks

from harness.errors import UnsupportedArchitectureError
from harness.sites import SUPPORTED_ARCHITECTURES, NeuronSite, neuron_site


def test_fixtures_cover_every_supported_architecture():
    assert set(ARCHITECTURES) == set(SUPPORTED_ARCHITECTURES)


def _expected_width(config) -> int:
    for name in ("intermediate_size", "ffn_dim", "n_inner"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    return 4 * config.hidden_size  # BLOOM, GPT-2 without n_inner


def test_site_counts_match_the_config(lm, arch):
    site = lm.site
    config = lm.module.config
    assert site.architecture == arch
    assert site.n_layers == config.num_hidden_layers
    assert site.units_per_layer == _expected_width(config)
    assert site.n_units == site.n_layers * site.units_per_layer
    # one distinct module per layer: a shared module would fire every layer's hook in every layer
    assert len({id(m) for m in site.modules}) == site.n_layers


def test_site_modules_belong_to_their_layer(lm, arch):
    """Each site module lies inside the same decoder block as that layer's MLP (checked by name)."""
    names = {id(m): n for n, m in lm.module.named_modules()}
    blocks = mlp_blocks(lm.module, arch)
    for layer, module in enumerate(lm.site.modules):
        site_name = names[id(module)]
        block_name = names[id(blocks[layer][0])]
        prefix = block_name.rsplit(".", 1)[0]
        assert site_name.startswith(prefix + "."), (site_name, block_name)
        assert f".{layer}." in site_name


def _site(n_layers: int, units: int) -> NeuronSite:
    return NeuronSite("test", "test", tuple(torch.nn.Identity() for _ in range(n_layers)), "output", units)


@given(st.integers(1, 40), st.integers(1, 5000), st.data())
def test_address_and_flat_index_round_trip(n_layers, units, data):
    site = _site(n_layers, units)
    flat = data.draw(st.integers(0, site.n_units - 1))
    layer, unit = site.address(flat)
    assert 0 <= layer < n_layers and 0 <= unit < units
    assert site.flat_index(layer, unit) == flat
    assert flat == layer * units + unit  # layers in model order, units within a layer


def test_address_refuses_out_of_range():
    site = _site(3, 10)
    for bad in (-1, 30, 31):
        with pytest.raises(IndexError):
            site.address(bad)
    for layer, unit in ((3, 0), (0, 10), (-1, 0), (0, -1)):
        with pytest.raises(IndexError):
            site.flat_index(layer, unit)


def test_split_by_layer_groups_units():
    site = _site(3, 10)
    groups = site.split_by_layer(torch.tensor([25, 3, 11, 0, 29]))
    assert sorted(groups) == [0, 1, 2]
    assert groups[0].tolist() == [3, 0]
    assert groups[1].tolist() == [1]
    assert groups[2].tolist() == [5, 9]
    with pytest.raises(IndexError):
        site.split_by_layer(torch.tensor([30]))


def test_unsupported_architecture_lists_the_supported_ones(tokenizer):
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(
        "gpt_neox", hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        vocab_size=len(tokenizer),
    )
    model = AutoModelForCausalLM.from_config(config)
    with pytest.raises(UnsupportedArchitectureError) as info:
        neuron_site(model)
    message = str(info.value)
    assert "gpt_neox" in message
    for supported in SUPPORTED_ARCHITECTURES:
        assert supported in message


def test_unsupported_architecture_is_refused_at_load(tmp_path, tokenizer):
    from transformers import AutoConfig, AutoModelForCausalLM

    from harness.loading import load_model

    config = AutoConfig.for_model(
        "gpt_neox", hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        vocab_size=len(tokenizer),
    )
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(UnsupportedArchitectureError, match="supported: .*bloom"):
        load_model(str(tmp_path), device="cpu")


def test_a_model_without_config_is_unsupported():
    with pytest.raises(UnsupportedArchitectureError, match="Linear"):
        neuron_site(torch.nn.Linear(2, 2))


def test_build_model_helper_builds_distinct_seeds(tokenizer):
    """Sanity check of the fixtures themselves: the seed changes the weights."""
    a = build_model("bloom", tokenizer, seed=0)
    b = build_model("bloom", tokenizer, seed=1)
    assert not torch.equal(a.transformer.h[0].mlp.dense_h_to_4h.weight, b.transformer.h[0].mlp.dense_h_to_4h.weight)
