"""Neuron sites: found by structure in every tested family, addresses, and refusal of what has none."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from tiny_models import ARCHITECTURES, build_model, mlp_blocks, save_model

from harness.errors import UnsupportedArchitectureError
from harness.sites import SUPPORTED_ARCHITECTURES, NeuronSite, neuron_site


def test_fixtures_cover_every_supported_architecture():
    assert set(ARCHITECTURES) == set(SUPPORTED_ARCHITECTURES)


def _expected_width(config) -> int:
    for name in ("intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size"):
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


# The rule that finds each family's site (harness.sites, module docstring), checked on the tiny models.
EXPECTED_SITES = {
    "bloom": ("output of transformer.h[l].mlp.gelu_impl", "'gelu_impl'"),
    "gpt2": ("output of transformer.h[l].mlp.act", "'act'"),
    "gpt_neox": ("output of gpt_neox.layers[l].mlp.act", "'act'"),
    "falcon": ("output of transformer.h[l].mlp.act", "'act'"),
    "gptj": ("output of transformer.h[l].mlp.act", "'act'"),
    "opt": ("input of model.decoder.layers[l].fc2", "explicit entry for opt"),
    "xglm": ("input of model.layers[l].fc2", "explicit entry for xglm"),
    **{arch: ("input of model.layers[l].mlp.down_proj", "has down_proj")
       for arch in ("llama", "mistral", "qwen2", "gemma", "olmo", "olmo2", "qwen3", "gemma2", "stablelm")},
}


def test_every_family_has_its_expected_site_and_rule():
    assert set(EXPECTED_SITES) == set(ARCHITECTURES)


def test_site_and_rule_are_found_by_structure(lm, arch):
    description, rule = EXPECTED_SITES[arch]
    assert lm.site.description == description
    assert rule in lm.site.rule
    assert lm.site.mode == ("output" if description.startswith("output") else "input")
    record = lm.provenance()
    assert record["neuron_site"] == lm.site.provenance()
    assert rule in record["neuron_site"]["rule"] and record["neuron_site"]["site"] == description


def test_the_cache_key_does_not_carry_the_rule(load_tiny):
    """The key stays what it was before sites were found by structure, so cached measurements stay valid."""
    assert load_tiny("bloom").site.key() == "bloom:output of transformer.h[l].mlp.gelu_impl:2x128"
    assert load_tiny("llama").site.key() == "llama:input of model.layers[l].mlp.down_proj:2x48"


def _meta_model(model_type: str, **kwargs):
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(
        model_type, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
        vocab_size=64, pad_token_id=0, bos_token_id=1, eos_token_id=2, **kwargs,
    )
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


@pytest.mark.parametrize("model_type", ["mixtral", "olmoe", "qwen2_moe", "qwen3_moe", "granitemoe"])
def test_a_mixture_of_experts_is_refused(model_type):
    with pytest.raises(UnsupportedArchitectureError, match=f"^{model_type}: .*mixture of experts.*refused"):
        neuron_site(_meta_model(model_type, num_local_experts=2, num_experts=2))


@pytest.mark.parametrize("model_type", ["phi3", "granite", "olmo3", "gemma3_text"])
def test_further_down_proj_families_are_found_by_the_same_rule(model_type):
    site = neuron_site(_meta_model(model_type))
    assert (site.description, site.units_per_layer, site.n_layers) == ("input of model.layers[l].mlp.down_proj", 48, 2)


def test_an_ungated_act_fn_is_read_at_its_output_and_a_gated_one_is_not():
    class Block(torch.nn.Module):
        def __init__(self, gated: bool):
            super().__init__()
            self.mlp = torch.nn.Module()
            self.mlp.up = torch.nn.Linear(4, 6)
            self.mlp.act_fn = torch.nn.GELU()
            self.mlp.out = torch.nn.Linear(6, 4)
            if gated:
                self.mlp.gate_proj = torch.nn.Linear(4, 6)

    class Model(torch.nn.Module):
        def __init__(self, gated: bool):
            super().__init__()
            self.blocks = torch.nn.ModuleList([Block(gated), Block(gated)])

    site = neuron_site(Model(False))
    assert (site.description, site.mode, site.units_per_layer) == ("output of blocks[l].mlp.act_fn", "output", 6)
    with pytest.raises(UnsupportedArchitectureError, match="no MLP neuron site found in 'Model'"):
        neuron_site(Model(True))


def test_an_activation_module_shared_by_the_layers_is_refused(tokenizer):
    model = build_model("gpt2", tokenizer)
    shared = model.transformer.h[0].mlp.act
    model.transformer.h[1].mlp.act = shared
    with pytest.raises(UnsupportedArchitectureError, match="share one mlp.act"):
        neuron_site(model)


def test_a_model_without_a_site_names_what_was_looked_for(tmp_path, tokenizer):
    """A saved model with no recognisable site is refused at load and by the config-only check."""
    from harness.loading import load_model
    from harness.sites import check_saved_site

    model = build_model("gpt2", tokenizer)
    for block in model.transformer.h:  # an MLP with neither down_proj nor an activation module
        del block.mlp.act
        block.mlp.act = None
    with pytest.raises(UnsupportedArchitectureError) as info:
        neuron_site(model)
    message = str(info.value)
    assert "\n" not in message and "'gpt2'" in message
    for looked_for in ("mlp", "down_proj", "act", "gelu_impl", "activation_fn", "act_fn", "fc2"):
        assert looked_for in message
    save_model(build_model("gpt2", tokenizer), tokenizer, tmp_path)
    assert check_saved_site(str(tmp_path)).description == "output of transformer.h[l].mlp.act"
    assert check_saved_site(str(tmp_path / "absent")) is None  # unreadable config: the load says what is missing
    assert load_model(str(tmp_path), device="cpu").site.rule


def test_a_model_without_config_is_unsupported():
    with pytest.raises(UnsupportedArchitectureError, match="'Linear': looked for decoder layers"):
        neuron_site(torch.nn.Linear(2, 2))


def test_build_model_helper_builds_distinct_seeds(tokenizer):
    """Sanity check of the fixtures themselves: the seed changes the weights."""
    a = build_model("bloom", tokenizer, seed=0)
    b = build_model("bloom", tokenizer, seed=1)
    assert not torch.equal(a.transformer.h[0].mlp.dense_h_to_4h.weight, b.transformer.h[0].mlp.dense_h_to_4h.weight)
