"""Hooks as context managers: nothing survives the block, and nobody else's hooks are touched."""

from __future__ import annotations

import pytest
import torch
from tiny_models import all_hooks

from harness.hooks import Intervention, intervene, record_pooled, site_hooks
from harness.sites import NeuronSite


class Boom(Exception):
    pass


def _contexts(site):
    """Every hook context of harness.hooks, each entered on ``site``."""
    return {
        "site_hooks": lambda: site_hooks(site, lambda layer, act: None),
        "record_pooled": lambda: record_pooled(site),
        "intervene_values": lambda: intervene(site, Intervention(units=[0, site.n_units - 1], values=[1.0, 2.0])),
        "intervene_scale": lambda: intervene(site, Intervention(units=list(range(site.units_per_layer)), scale=0.0)),
    }


@torch.inference_mode()
def _forward(lm, with_mask_for=None):
    ids = torch.tensor([[5, 6, 7, 8]])
    if with_mask_for is not None:
        with_mask_for.mask = torch.ones_like(ids, dtype=torch.bool)
    return lm.module(input_ids=ids, use_cache=False).logits


@pytest.mark.parametrize("kind", ["site_hooks", "record_pooled", "intervene_values", "intervene_scale"])
def test_no_hook_survives_an_exception(lm, kind):
    before = all_hooks(lm.module)
    inside = {}
    with pytest.raises(Boom):
        with _contexts(lm.site)[kind]() as handle:
            inside = all_hooks(lm.module)
            _forward(lm, handle)
            raise Boom
    assert all_hooks(lm.module) == before
    # the context did register something, so the check above is not vacuous
    assert sum(len(v) for v in inside.values()) >= sum(len(v) for v in before.values()) + lm.site.n_layers


@pytest.mark.parametrize("kind", ["site_hooks", "record_pooled", "intervene_values", "intervene_scale"])
def test_no_hook_survives_an_exception_inside_a_hook(lm, kind):
    """An exception raised during the forward pass (from another hook) also leaves nothing behind."""
    before = all_hooks(lm.module)
    module = lm.site.modules[-1]

    def explode(*_args):
        raise Boom

    foreign = module.register_forward_hook(explode)
    try:
        with pytest.raises(Boom):
            with _contexts(lm.site)[kind]() as handle:
                _forward(lm, handle)
    finally:
        foreign.remove()
    assert all_hooks(lm.module) == before


@pytest.mark.parametrize("kind", ["site_hooks", "record_pooled", "intervene_values", "intervene_scale"])
def test_other_hooks_are_never_removed(lm, kind):
    calls = []
    module = lm.site.modules[0]
    before_mine = module.register_forward_hook(lambda *_: calls.append("fwd"))
    pre_before = module.register_forward_pre_hook(lambda *_: calls.append("pre"))
    try:
        with _contexts(lm.site)[kind]() as handle:
            # a hook someone registers while ours are active must outlive our block too
            during = lm.module.register_forward_hook(lambda *_: calls.append("model"))
            _forward(lm, handle)
        calls.clear()
        _forward(lm)
        assert sorted(calls) == ["fwd", "model", "pre"]
    finally:
        before_mine.remove()
        pre_before.remove()
        during.remove()


def test_nested_contexts_unwind_in_order(lm):
    before = all_hooks(lm.module)
    with record_pooled(lm.site) as batch:
        with intervene(lm.site, Intervention(units=[0], scale=0.0)):
            _forward(lm, batch)
        after_inner = all_hooks(lm.module)
        assert after_inner != before  # the recorder is still there
    assert all_hooks(lm.module) == before


def test_site_hooks_replace_the_activation(load_tiny):
    """A transform's return value replaces the activation: doubling layer 0 changes the logits."""
    lm = load_tiny("bloom")
    plain = _forward(lm)
    with site_hooks(lm.site, lambda layer, act: act * 2 if layer == 0 else None):
        doubled = _forward(lm)
    assert not torch.allclose(plain, doubled, atol=1e-4)
    assert torch.equal(_forward(lm), plain)


def test_record_pooled_needs_a_mask(load_tiny):
    lm = load_tiny("llama")
    with record_pooled(lm.site):
        with pytest.raises(RuntimeError, match="mask"):
            lm.module(input_ids=torch.tensor([[5, 6]]), use_cache=False)


def test_intervention_validates_its_input():
    with pytest.raises(ValueError, match="values"):
        Intervention(units=[1, 2], values=[1.0])
    with pytest.raises(ValueError, match="finite"):
        Intervention(units=[1], values=[float("nan")])
    with pytest.raises(ValueError):
        Intervention(units=[1])


def test_intervene_none_is_a_no_op(lm):
    before = all_hooks(lm.module)
    with intervene(lm.site, None):
        assert all_hooks(lm.module) == before


def test_a_recorder_entered_first_sees_a_later_intervention(lm):
    """Record and intervene at the same site: the recorder reads the values the model computes with."""
    units = torch.tensor([2, lm.site.n_units - 3])
    values = torch.tensor([4.0, -2.5])
    with record_pooled(lm.site) as batch, intervene(lm.site, Intervention(units, values=values)):
        _forward(lm, batch)
    layers = [lm.site.address(int(u)) for u in units]
    for (layer, unit), value in zip(layers, values):
        assert float(batch.max[layer][0, unit]) == pytest.approx(float(value))
        assert float(batch.mean[layer][0, unit]) == pytest.approx(float(value))


def _identity_site(units: int) -> NeuronSite:
    return NeuronSite("test", "identity", (torch.nn.Identity(),), "output", units)


def _pool_by_loop(act, mask):
    maxes, means = [], []
    for row in range(act.shape[0]):
        real = act[row][mask[row]]  # [n_real, units]
        maxes.append(real.max(dim=0).values)
        means.append(real.double().mean(dim=0).float())
    return torch.stack(maxes), torch.stack(means)


@pytest.mark.parametrize(
    "mask_rows",
    [
        [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]],  # right padding
        [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]],  # left padding
        [[1, 0, 1, 0, 1], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1]],  # holes
        [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1]],  # no padding
    ],
)
def test_record_pooled_masks_any_pattern(mask_rows):
    generator = torch.Generator().manual_seed(0)
    act = torch.randn(3, 5, 7, generator=generator)
    act[~torch.tensor(mask_rows, dtype=torch.bool)] = 100.0  # padding would win a max, and move a mean
    mask = torch.tensor(mask_rows, dtype=torch.bool)
    site = _identity_site(7)
    with record_pooled(site) as batch:
        batch.mask = mask
        site.modules[0](act)
    expected_max, expected_mean = _pool_by_loop(act, mask)
    assert torch.equal(batch.max[0], expected_max)
    torch.testing.assert_close(batch.mean[0], expected_mean, atol=1e-6, rtol=1e-6)


def test_record_pooled_new_mask_each_batch():
    """Derived masking state is rebuilt when the mask changes between forward passes."""
    site = _identity_site(4)
    act = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)
    with record_pooled(site) as batch:
        batch.mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.bool)
        site.modules[0](act)
        first = batch.max[0].clone()
        batch.mask = torch.tensor([[1, 0, 0], [1, 1, 1]], dtype=torch.bool)
        site.modules[0](act)
        second = batch.max[0]
    assert torch.equal(first, torch.stack([act[0, 2], act[1, 0]]))
    assert torch.equal(second, torch.stack([act[0, 0], act[1, 2]]))
