"""The scripted BLOOMs do what their construction says (``scripted_world.py``), checked by brute force in CI.

The known-answer series are only as good as their construction: that a LayerNorm is the identity
on the embeddings, that a planted unit computes exactly ``GELU(gain · (x·r − threshold))``, that
the context head averages the meaning with BLOOM's ALiBi weights, passing over English tokens,
that common-mode writes are invisible to every unit, and that a saved series loads through the harness as
distinct checkpoints.
"""

from __future__ import annotations

import math

import plant_rf_lid
import pytest
import scripted_world as W
import torch


def _ids(world, text: str) -> torch.Tensor:
    return world.tokenizer(text, return_tensors="pt")["input_ids"]


def _gelu(x: torch.Tensor) -> torch.Tensor:  # BLOOM's tanh approximation
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


@pytest.fixture(scope="module")
def spanish(eval_data) -> str:
    return eval_data.texts("similarity", "es")[0]


@torch.no_grad()
def test_without_writes_every_hidden_state_is_the_embedding(world, spanish):
    model = world.build(W.WorldSpec(n_layer=3))
    ids = _ids(world, spanish)
    states = model(input_ids=ids, output_hidden_states=True).hidden_states
    embedding = model.transformer.word_embeddings(ids)
    assert embedding.mean(-1).abs().max() < 1e-5
    assert (embedding.var(-1, unbiased=False) - 1).abs().max() < 1e-4
    for state in states[:-1]:  # the last one is after ln_f, also the identity here
        torch.testing.assert_close(state, embedding, atol=2e-4, rtol=0)


@torch.no_grad()
def test_a_planted_unit_computes_its_formula_and_fires_on_its_language(world, eval_data, spanish):
    group = W.UnitGroup(1, 3, world.lang_vector({"es": 1.0}), gain=4.0, threshold=1.0, spread=0.0)
    model = world.build(W.WorldSpec(n_layer=2, groups=(group,)))
    recorded = []
    handle = model.transformer.h[1].mlp.gelu_impl.register_forward_hook(lambda m, i, o: recorded.append(o))
    try:
        for text in (spanish, eval_data.texts("similarity", "en")[0]):
            model(input_ids=_ids(world, text))
    finally:
        handle.remove()
    x = model.transformer.word_embeddings(_ids(world, spanish))[0]
    reads = group.reads / group.reads.norm()
    torch.testing.assert_close(recorded[0][0, :, 0], _gelu(4.0 * (x @ reads - 1.0)), atol=1e-4, rtol=1e-4)
    es_mean, en_mean = recorded[0][0, :, :3].mean(), recorded[1][0, :, :3].mean()
    assert es_mean > 0.5 and en_mean < 0.1 * es_mean


@torch.no_grad()
def test_the_context_head_averages_the_meaning_and_passes_over_english_tokens(world, spanish):
    gain = 2.0
    model = world.build(W.WorldSpec(n_layer=2, context=gain))  # hidden state 1 of 2: before ln_f
    english = world.tokenizer(" And he said unto them", add_special_tokens=False)["input_ids"]
    ids = torch.cat([_ids(world, spanish), torch.tensor([english])], dim=1)
    state = model(input_ids=ids, output_hidden_states=True).hidden_states[1][0]
    embedded = model.transformer.word_embeddings(ids)[0]
    meaning = embedded[:, world.layout.blocks["meaning"]][:, : W.TOPIC_DIM]
    anchor = embedded[:, world.layout.blocks["anchor"].start]
    en_share = embedded[:, world.layout.blocks["lang"].start + world.stats.languages.index("en")]
    n_head = model.config.n_head
    head_dim = model.config.hidden_size // n_head
    slope = 2 ** (-8 / n_head * (W.CONTEXT_HEAD + 1))  # BLOOM's ALiBi slope of that head
    positions = torch.arange(len(meaning), dtype=torch.float32)
    expected = []
    for i in range(len(meaning)):
        # score of key j from query i: ALiBi plus query (the anchor) · key (−CONTEXT_SKIP_ENGLISH × English share)
        scores = slope * positions[: i + 1] - anchor[i] * W.CONTEXT_SKIP_ENGLISH * en_share[: i + 1] / head_dim**0.5
        weights = torch.softmax(scores, dim=0)
        expected.append((weights[:, None] * meaning[: i + 1]).sum(0))
    torch.testing.assert_close(state[:, world.layout.blocks["context"]], gain * torch.stack(expected),
                               atol=1e-4, rtol=1e-4)
    # on the English words at the end the head still carries the Spanish context: they are passed over
    last_spanish = state[ids.shape[1] - len(english) - 1, world.layout.blocks["context"]]
    assert torch.allclose(state[-1, world.layout.blocks["context"]], last_spanish, atol=0.05 * gain)


@torch.no_grad()
def test_common_mode_writes_change_the_raw_stream_but_no_unit(world, spanish):
    """RF-1's plant: writes along the all-ones vector, which every LayerNorm removes."""
    probe = W.UnitGroup(7, 4, world.lang_vector({"es": 1.0}), gain=4.0, threshold=0.5)
    plain = world.build(W.WorldSpec(groups=(probe,)))
    written = world.build(W.WorldSpec(groups=(probe, *plant_rf_lid.unit_groups(world, 4))))
    ids = _ids(world, spanish)
    outputs = {}
    for name, model in (("plain", plain), ("written", written)):
        recorded = []
        handle = model.transformer.h[7].mlp.gelu_impl.register_forward_hook(lambda m, i, o: recorded.append(o))
        try:
            out = model(input_ids=ids, output_hidden_states=True)
        finally:
            handle.remove()
        outputs[name] = (recorded[0], out.hidden_states[4], out.logits)
    (units_a, raw_a, logits_a), (units_b, raw_b, logits_b) = outputs["plain"], outputs["written"]
    assert (raw_b - raw_a).abs().max() > 10  # the probe's raw stream is swamped
    torch.testing.assert_close(units_b[..., :4], units_a[..., :4], atol=1e-2, rtol=1e-3)
    torch.testing.assert_close(logits_b, logits_a, atol=2e-2, rtol=1e-3)


def test_a_saved_series_loads_through_the_harness_as_distinct_checkpoints(world, tmp_path):
    from harness.loading import checkpoint_dirs, load_model

    specs = {step: W.WorldSpec(n_layer=2, seed=step) for step in (1, 2)}
    run = world.save_series(specs, tmp_path / "run")
    assert sorted(checkpoint_dirs(run)) == [1, 2]
    loaded = [load_model(str(run), f"step{step}", device="cpu", dtype="float32") for step in (1, 2)]
    assert loaded[0].weights_hash != loaded[1].weights_hash
    assert loaded[0].site.n_layers == 2 and loaded[0].site.units_per_layer == 4 * world.layout.hidden
