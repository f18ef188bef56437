"""Hooks on neuron sites, each inside a context manager that removes exactly what it added.

No function here touches hooks it did not register (never ``_forward_hooks.clear()``), and every
handle is removed in ``finally``, so an exception inside the ``with`` block leaves the model as it
was. Interventions apply at every position, prompt included (RF App. E, LF §4.3).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch

from harness.sites import NeuronSite


@contextlib.contextmanager
def site_hooks(
    site: NeuronSite, transform: Callable[[int, torch.Tensor], torch.Tensor | None], *, prepend: bool = False
) -> Iterator[None]:
    """Call ``transform(layer, activation)`` on each layer's neuron tensor during forward passes.

    ``activation`` is ``[batch, tokens, units_per_layer]``, or ``[batch * tokens, units_per_layer]``
    where the model flattens tokens before its MLP (OPT). If ``transform`` returns a tensor it
    replaces the activation (for an input site, the module's first positional argument).
    ``prepend`` runs the hooks before hooks already registered on the site's modules.
    """
    handles = []
    try:
        for layer, module in enumerate(site.modules):
            if site.mode == "output":

                def hook(_module, _args, output, layer=layer):
                    return transform(layer, output)

                handles.append(module.register_forward_hook(hook, prepend=prepend))
            else:

                def pre_hook(_module, args, layer=layer):
                    replaced = transform(layer, args[0])
                    if replaced is None:
                        return None
                    return (replaced, *args[1:])

                handles.append(module.register_forward_pre_hook(pre_hook, prepend=prepend))
        yield
    finally:
        for handle in handles:
            handle.remove()


class PooledBatch:
    """Per-layer pooled responses of the current batch, filled by :func:`record_pooled`.

    ``mask`` ([batch, tokens] bool, True on real tokens) is set before each forward pass; what the
    hooks need from it is derived once per batch, not once per layer: ``_head``, the number of
    leading positions that are real in every row (with right padding, the shortest length), an
    additive -inf bias on padding for the positions after it, and per-token mean weights.
    ``max`` and ``mean`` map layer -> [batch, units].
    """

    def __init__(self) -> None:
        self._mask: torch.Tensor | None = None
        self._head = 0
        self._derived: dict[tuple, torch.Tensor] = {}
        self.max: dict[int, torch.Tensor] = {}
        self.mean: dict[int, torch.Tensor] = {}

    @property
    def mask(self) -> torch.Tensor | None:
        return self._mask

    @mask.setter
    def mask(self, mask: torch.Tensor | None) -> None:
        self._mask = None if mask is None else torch.as_tensor(mask).bool()
        self._derived = {}
        if self._mask is not None:
            all_real = self._mask.all(dim=0)  # per position: real in every row
            self._head = int(all_real.shape[0] if bool(all_real.all()) else torch.argmin(all_real.int()))

    def _tail_bias(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """[batch, tokens - head, 1]: 0 on real tokens, -inf on padding (cheaper than masked_fill)."""
        key = ("bias", device, dtype)
        if key not in self._derived:
            pad = ~self._mask[:, self._head :].to(device)
            self._derived[key] = (
                torch.zeros(pad.shape, dtype=dtype, device=device).masked_fill(pad, float("-inf")).unsqueeze(-1)
            )
        return self._derived[key]

    def _masked_max(self, act: torch.Tensor) -> torch.Tensor:
        """Max over real tokens of [batch, tokens, units]. The leading positions real in every row
        need no masking; only the rest is copied with the bias added, so a length-sorted batch
        makes a small temporary instead of one as large as the activation."""
        head, width = self._head, act.shape[1]
        if head == width:
            return act.amax(dim=1)
        tail = (act[:, head:] + self._tail_bias(act.device, act.dtype)).amax(dim=1)
        return tail if head == 0 else torch.maximum(act[:, :head].amax(dim=1), tail)

    def _mean_weights(self, device: torch.device) -> torch.Tensor:
        """[batch, 1, tokens] float32: 1/n on each of a sentence's n real tokens, 0 on padding."""
        key = ("weights", device)
        if key not in self._derived:
            mask = self._mask.to(device).float()
            self._derived[key] = (mask / mask.sum(dim=1, keepdim=True).clamp_min(1)).unsqueeze(1)
        return self._derived[key]


@contextlib.contextmanager
def record_pooled(site: NeuronSite, *, want_max: bool = True, want_mean: bool = True) -> Iterator[PooledBatch]:
    """Record max- and mean-pooled responses over real tokens, per sentence and layer.

    Set ``batch.mask`` ([batch, tokens], True on real tokens) before each forward pass. Padding is
    masked out of both poolings (ml-selfcond's max included pad positions); padding positions must
    hold finite activations (true of right-padded causal LMs), since NaN there would propagate.
    Pooling happens inside the hook, so memory is O(batch × units), never O(batch × tokens × units)
    across layers. A sentence without real tokens pools to -inf (max) and 0 (mean).
    """
    batch = PooledBatch()

    def pool(layer: int, act: torch.Tensor) -> None:
        mask = batch.mask
        if mask is None:
            raise RuntimeError("record_pooled: set batch.mask before the forward pass")
        if act.dim() == 2:  # OPT runs its MLP on [batch * tokens, units]
            act = act.view(mask.shape[0], mask.shape[1], act.shape[-1])
        if want_max:
            batch.max[layer] = batch._masked_max(act)
        if want_mean:
            # a batched [1, tokens] × [tokens, units] product: no [batch, tokens, units] temporary
            batch.mean[layer] = torch.bmm(batch._mean_weights(act.device), act.float()).squeeze(1)
        return None

    with site_hooks(site, pool):
        yield batch


@dataclass(frozen=True)
class Intervention:
    """Set and/or scale chosen neurons at every position.

    ``units``: flat neuron indices [k]. ``values``: [k] values to write (RF steering), or None.
    ``scale``: a factor for the chosen units (0 zeroes them, LF deactivation), or None.
    With both, units are set first and then scaled.
    """

    units: torch.Tensor
    values: torch.Tensor | None = None
    scale: float | None = None

    def __post_init__(self):
        units = torch.as_tensor(self.units, dtype=torch.long).flatten()
        object.__setattr__(self, "units", units)
        if self.values is not None:
            values = torch.as_tensor(self.values).flatten()
            if values.shape != units.shape:
                raise ValueError(f"intervention: {units.numel()} units but {values.numel()} values")
            if not torch.isfinite(values).all():
                raise ValueError("intervention: values must be finite")
            object.__setattr__(self, "values", values)
        if self.values is None and self.scale is None:
            raise ValueError("intervention: give values, scale, or both")


_LayerPlan = dict[int, list[tuple[torch.Tensor, torch.Tensor | None, float | None]]]


def _plan_by_layer(site: NeuronSite, interventions: Intervention | Sequence[Intervention]) -> _LayerPlan:
    """Group the interventions' (units, values, scale) by the layer their units belong to."""
    if isinstance(interventions, Intervention):
        interventions = [interventions]
    plan: _LayerPlan = {}
    for item in interventions:
        by_layer = site.split_by_layer(item.units)
        for layer, units in by_layer.items():
            values = None
            if item.values is not None:
                layer_of = torch.div(item.units, site.units_per_layer, rounding_mode="floor")
                values = item.values[layer_of == layer]
            plan.setdefault(layer, []).append((units, values, item.scale))
    return plan


@contextlib.contextmanager
def intervene(site: NeuronSite, interventions: Intervention | Sequence[Intervention] | None) -> Iterator[None]:
    """Apply interventions to the site's neurons for the duration of the block."""
    if interventions is None:
        yield
        return
    plan = _plan_by_layer(site, interventions)

    def apply(layer: int, act: torch.Tensor) -> torch.Tensor | None:
        steps = plan.get(layer)
        if not steps:
            return None
        act = act.clone()
        for units, values, scale in steps:
            units = units.to(act.device)
            if values is not None:
                act[..., units] = values.to(device=act.device, dtype=act.dtype)
            if scale is not None:
                act[..., units] = act[..., units] * scale
        return act

    # Interventions run before any other hook on the site (a recorder entered earlier included), so
    # what is recorded is what the model computes with.
    with site_hooks(site, apply, prepend=True):
        yield
