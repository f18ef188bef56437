"""The steering plant does what its docstring says (``plant_rf_steering.py``), checked on one model in CI.

The RF-4 known answers themselves run the claims (``test_known_answers.py``, minutes of CPU); these checks
take a second: with one concept's writers clamped, the prompt token is followed by that concept's keyword
and the text goes on in the checkpoint's target language; unclamped, or with another concept clamped, it is
not; and the unembedding read-out knob of ``scripted_world`` changes nothing when unused.
"""

from __future__ import annotations

import plant_rf_steering as P
import pytest
import scripted_world as W
import torch


def _model(world, checkpoint: int):
    spec = W.WorldSpec(groups=tuple(P.unit_groups(world, checkpoint)), seed=checkpoint,
                       unembedding=W.Unembedding(concept=P.UNEMBEDDING_CONCEPT, context=P.UNEMBEDDING_CONTEXT))
    return spec, world.build(spec)


def _writers(world, spec, concept: str) -> list[int]:
    index = next(i for i, g in enumerate(spec.groups) if g.name == f"rf-steer writer {concept}")
    return world.assign_units(spec)[index]


@torch.no_grad()
def _next_logits(model, token: int, clamped: list[int]) -> torch.Tensor:
    """Next-token logits after ``token`` with ``clamped`` units of the writing layer fixed at ACTIVATION."""
    def fix(module, inputs, output):
        output = output.clone()
        output[..., clamped] = P.ACTIVATION
        return output

    handle = model.transformer.h[P.WRITING_LAYER].mlp.gelu_impl.register_forward_hook(fix)
    try:
        return model(input_ids=torch.tensor([[token]])).logits[0, -1]
    finally:
        handle.remove()


def test_the_readout_knob_is_inert_when_unused(world):
    plain = world.build(W.WorldSpec(n_layer=2))
    empty = world.build(W.WorldSpec(n_layer=2, groups=(W.UnitGroup(0, 0, torch.zeros(world.layout.hidden)),)))
    assert torch.equal(plain.lm_head.weight, empty.lm_head.weight)
    entry = W.UnitGroup(0, 0, torch.zeros(world.layout.hidden), readout=((7, 3, 2.5),))
    read = world.build(W.WorldSpec(n_layer=2, groups=(entry,)))
    assert read.lm_head.weight[7, 3].item() == pytest.approx(plain.lm_head.weight[7, 3].item() + 2.5)


@pytest.mark.parametrize(("checkpoint", "target"), [(2, "es"), (4, "en")])
def test_clamped_writers_open_the_text_with_their_keyword(world, checkpoint, target):
    spec, model = _model(world, checkpoint)
    prompt = world.tokenizer.eos_token_id
    for concept in P.steering_concepts(world):
        pieces = P.keyword_pieces(world, concept)
        writers = _writers(world, spec, concept)
        assert int(_next_logits(model, prompt, writers).argmax()) == pieces[0], concept
        if len(pieces) > 1:
            assert int(_next_logits(model, pieces[0], writers).argmax()) == pieces[1], concept
        assert int(_next_logits(model, prompt, []).argmax()) != pieces[0], concept
    # another concept's writers open with their own keyword, not this one's
    first, second = P.steering_concepts(world)[:2]
    assert int(_next_logits(model, prompt, _writers(world, spec, second)).argmax()) != P.keyword_pieces(world, first)[0]
    # after a common word of the target language, clamped text stays in it
    share = torch.as_tensor(world.stats.lang_share[:, world.stats.languages.index(target)])
    word = world.tokenizer(" Dios" if target == "es" else " God", add_special_tokens=False)["input_ids"][0]
    probs = torch.softmax(_next_logits(model, word, _writers(world, spec, first)), -1)
    assert float(probs @ share.float()) > 0.8
