"""Where an architecture's MLP neurons live, and how a neuron is addressed.

A *neuron* is one unit of an MLP hidden layer after its non-linearity (CLAIMS.md, "MLP neuron").
Each architecture exposes that tensor at a different place:

- BLOOM: the output of ``transformer.h[l].mlp.gelu_impl``. Hooking ``mlp`` itself would be wrong:
  ``BloomMLP.forward`` returns its output with the residual already added.
- gated MLPs (LLaMA, Mistral, Qwen2, Gemma): ``act_fn(gate_proj(x)) * up_proj(x)``, which exists
  only as the *input* of ``down_proj``.
- GPT-2: the output of ``transformer.h[l].mlp.act``.
- OPT, XGLM: ``activation_fn(fc1(x))``; in eval mode the dropout in between is the identity, so
  the input of ``fc2`` is that activation. The input is used because some builds share or inline
  the activation function.

Recording and intervening always use the same site, so values that are set match the values
that were measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch
from torch import nn

from harness.errors import UnsupportedArchitectureError

SiteMode = Literal["output", "input"]


@dataclass(frozen=True)
class _SiteRule:
    description: str
    layers: Callable[[nn.Module], nn.ModuleList]
    module: Callable[[nn.Module], nn.Module]
    mode: SiteMode
    width: Callable[[nn.Module], int]


def _bloom_layers(model):
    return model.transformer.h


def _gated_layers(model):
    return model.model.layers


def _opt_layers(model):
    return model.model.decoder.layers


def _gated_rule(description: str) -> _SiteRule:
    return _SiteRule(
        description,
        _gated_layers,
        lambda block: block.mlp.down_proj,
        "input",
        lambda block: block.mlp.down_proj.in_features,
    )


_RULES: dict[str, _SiteRule] = {
    "bloom": _SiteRule(
        "output of transformer.h[l].mlp.gelu_impl",
        _bloom_layers,
        lambda block: block.mlp.gelu_impl,
        "output",
        lambda block: block.mlp.dense_h_to_4h.out_features,
    ),
    "llama": _gated_rule("input of model.layers[l].mlp.down_proj"),
    "mistral": _gated_rule("input of model.layers[l].mlp.down_proj"),
    "qwen2": _gated_rule("input of model.layers[l].mlp.down_proj"),
    "gemma": _gated_rule("input of model.layers[l].mlp.down_proj"),
    "gpt2": _SiteRule(
        "output of transformer.h[l].mlp.act",
        _bloom_layers,
        lambda block: block.mlp.act,
        "output",
        lambda block: block.mlp.c_fc.nf,
    ),
    "opt": _SiteRule(
        "input of model.decoder.layers[l].fc2",
        _opt_layers,
        lambda block: block.fc2,
        "input",
        lambda block: block.fc2.in_features,
    ),
    "xglm": _SiteRule(
        "input of model.layers[l].fc2",
        _gated_layers,
        lambda block: block.fc2,
        "input",
        lambda block: block.fc2.in_features,
    ),
}

SUPPORTED_ARCHITECTURES = tuple(sorted(_RULES))


@dataclass(frozen=True)
class NeuronSite:
    """The MLP neurons of one model: one module per layer, and how to read them there.

    Neurons have an address ``(layer, unit)`` and a flat index ``layer * units_per_layer + unit``
    (layers in model order), the index used by every metric and every top-k ranking.
    """

    architecture: str
    description: str
    modules: tuple[nn.Module, ...]
    mode: SiteMode
    units_per_layer: int

    @property
    def n_layers(self) -> int:
        return len(self.modules)

    @property
    def n_units(self) -> int:
        return self.n_layers * self.units_per_layer

    def address(self, flat_index: int) -> tuple[int, int]:
        if not 0 <= flat_index < self.n_units:
            raise IndexError(f"neuron index {flat_index} outside 0..{self.n_units - 1}")
        return divmod(int(flat_index), self.units_per_layer)

    def flat_index(self, layer: int, unit: int) -> int:
        if not (0 <= layer < self.n_layers and 0 <= unit < self.units_per_layer):
            raise IndexError(f"neuron ({layer}, {unit}) outside {self.n_layers} × {self.units_per_layer}")
        return layer * self.units_per_layer + unit

    def split_by_layer(self, flat_indices: torch.Tensor) -> dict[int, torch.Tensor]:
        """Group flat indices by layer: ``{layer: unit indices within that layer}``."""
        flat_indices = torch.as_tensor(flat_indices, dtype=torch.long).flatten()
        if flat_indices.numel() and (flat_indices.min() < 0 or flat_indices.max() >= self.n_units):
            raise IndexError(f"neuron indices must lie in 0..{self.n_units - 1}")
        layers = torch.div(flat_indices, self.units_per_layer, rounding_mode="floor")
        return {
            int(layer): flat_indices[layers == layer] - int(layer) * self.units_per_layer
            for layer in torch.unique(layers)
        }

    def key(self) -> str:
        """A stable description used in cache keys."""
        return f"{self.architecture}:{self.description}:{self.n_layers}x{self.units_per_layer}"


def model_type(model: nn.Module) -> str:
    return getattr(getattr(model, "config", None), "model_type", type(model).__name__)


def neuron_site(model: nn.Module) -> NeuronSite:
    """The neuron site of ``model``, or an error listing the supported architectures."""
    arch = model_type(model)
    rule = _RULES.get(arch)
    if rule is None:
        raise UnsupportedArchitectureError(
            f"no MLP neuron site is known for architecture {arch!r}; "
            f"supported: {', '.join(SUPPORTED_ARCHITECTURES)}"
        )
    blocks = rule.layers(model)
    modules = tuple(rule.module(block) for block in blocks)
    widths = {rule.width(block) for block in blocks}
    if len(widths) != 1:
        raise UnsupportedArchitectureError(f"{arch}: MLP widths differ between layers: {sorted(widths)}")
    return NeuronSite(arch, rule.description, modules, rule.mode, widths.pop())
