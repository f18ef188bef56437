"""Hooks on neuron sites, each inside a context manager that removes exactly what it added.

No function here touches hooks it did not register (never ``_forward_hooks.clear()``), and every
handle is removed in ``finally``, so an exception inside the ``with`` block leaves the model as it
was. Interventions apply at every position, prompt included (RF App. E, LF §4.3).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import torch

from harness.sites import NeuronSite


@contextlib.contextmanager
def site_hooks(site: NeuronSite, transform: Callable[[int, torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
    """Call ``transform(layer, activation)`` on each layer's neuron tensor during forward passes.

    ``activation`` is ``[batch, tokens, units_per_layer]``. If ``transform`` returns a tensor it
    replaces the activation (for an input site, the module's first positional argument).
    """
    handles = []
    try:
        for layer, module in enumerate(site.modules):
            if site.mode == "output":

                def hook(_module, _args, output, layer=layer):
                    return transform(layer, output)

                handles.append(module.register_forward_hook(hook))
            else:

                def pre_hook(_module, args, layer=layer):
                    replaced = transform(layer, args[0])
                    if replaced is None:
                        return None
                    return (replaced, *args[1:])

                handles.append(module.register_forward_pre_hook(pre_hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class PooledBatch:
    """Per-layer pooled responses of the current batch, filled by :func:`record_pooled`."""

    mask: torch.Tensor | None = None  # [batch, tokens] bool, True on real tokens
    max: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> [batch, units]
    mean: dict[int, torch.Tensor] = field(default_factory=dict)


@contextlib.contextmanager
def record_pooled(site: NeuronSite, *, want_max: bool = True, want_mean: bool = True) -> Iterator[PooledBatch]:
    """Record max- and mean-pooled responses over real tokens, per sentence and layer.

    Set ``batch.mask`` ([batch, tokens], True on real tokens) before each forward pass. Padding is
    masked out of both poolings (ml-selfcond's max included pad positions). Pooling happens inside
    the hook, so memory is O(batch × units), never O(batch × tokens × units) across layers.
    """
    batch = PooledBatch()

    def pool(layer: int, act: torch.Tensor) -> None:
        mask = batch.mask
        if mask is None:
            raise RuntimeError("record_pooled: set batch.mask before the forward pass")
        mask3 = mask.to(act.device).unsqueeze(-1)
        if want_max:
            lowest = torch.finfo(act.dtype).min
            batch.max[layer] = act.masked_fill(~mask3, lowest).amax(dim=1)
        if want_mean:
            counts = mask3.sum(dim=1).clamp_min(1).to(torch.float32)
            batch.mean[layer] = (act.float() * mask3).sum(dim=1) / counts
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


@contextlib.contextmanager
def intervene(site: NeuronSite, interventions: Intervention | Sequence[Intervention] | None) -> Iterator[None]:
    """Apply interventions to the site's neurons for the duration of the block."""
    if interventions is None:
        yield
        return
    if isinstance(interventions, Intervention):
        interventions = [interventions]
    plan: dict[int, list[tuple[torch.Tensor, torch.Tensor | None, float | None]]] = {}
    for item in interventions:
        by_layer = site.split_by_layer(item.units)
        for layer, units in by_layer.items():
            values = None
            if item.values is not None:
                layer_of = torch.div(item.units, site.units_per_layer, rounding_mode="floor")
                values = item.values[layer_of == layer]
            plan.setdefault(layer, []).append((units, values, item.scale))

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

    with site_hooks(site, apply):
        yield
