"""Where a model's MLP neurons live, found from the model's structure, and how a neuron is addressed.

A *neuron* is one unit of an MLP hidden layer after its non-linearity (CLAIMS.md, "MLP neuron").
The site is found by structure, not by the name of the architecture. The decoder layers are the
``nn.ModuleList`` whose blocks each hold an ``mlp``; in each block's MLP, in this order:

1. **mixture of experts** (an ``experts``, ``router`` or ``block_sparse_moe`` module, e.g. OLMoE,
   Mixtral, Qwen-MoE): refused. Their units exist per expert and only for routed tokens, which
   the claims' neuron rankings do not define.
2. **``down_proj``** (LLaMA, Mistral, Qwen2/3, Gemma 1–3, OLMo 1–3, StableLM, Granite, Phi-3, …):
   its *input*, which is the neuron vector whether the MLP is gated
   (``act_fn(gate_proj(x)) * up_proj(x)``) or not.
3. **an activation module** ``act``, ``gelu_impl``, ``activation_fn`` or ``act_fn`` (GPT-2,
   GPT-NeoX/Pythia, Falcon, GPT-J, BLOOM, Phi): its *output*, when the MLP is not gated (no
   ``gate_proj``/``gate_up_proj``/``gate``: a gated MLP's activation is not yet the neuron). The
   width is the output size of the MLP's first projection. Hooking BLOOM's ``mlp`` itself would
   be wrong: ``BloomMLP.forward`` returns its output with the residual already added.

Explicit entries stay where a family has no ``mlp`` module: OPT and XGLM compute
``activation_fn(fc1(x))`` in the decoder layer itself; in eval mode the dropout in between is the
identity, so the input of ``fc2`` is that activation (the input, because some builds share or
inline the activation function).

A model matching none of these is refused with one line naming what was looked for. The rule that
found the site is part of :class:`NeuronSite` (``rule``) and of the run's provenance. Recording
and intervening always use the same site, so values that are set match the values that were measured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from harness.errors import UnsupportedArchitectureError

SiteMode = Literal["output", "input"]

#: the families whose sites the core tests check on tiny saved models (tests/core/tiny_models.py)
SUPPORTED_ARCHITECTURES = (
    "bloom", "falcon", "gemma", "gemma2", "gpt2", "gpt_neox", "gptj", "llama", "mistral", "olmo", "olmo2", "opt",
    "qwen2", "qwen3", "stablelm", "xglm",
)

#: activation modules read at their output, in this order (``act_fn`` only in an ungated MLP)
ACTIVATION_NAMES = ("act", "gelu_impl", "activation_fn", "act_fn")
#: children that make an MLP gated: its activation module is then not the neuron
GATE_NAMES = ("gate_proj", "gate_up_proj", "gate", "w3")
#: modules that mark a mixture of experts
MOE_NAMES = ("experts", "router", "block_sparse_moe", "shared_expert")
_MOE_CLASS = re.compile(r"sparse_?moe|moe_?block|experts", re.IGNORECASE)

RULE_DOWN_PROJ = "structure: the layer's MLP has down_proj, read at its input"
RULE_ACTIVATION = "structure: the layer's ungated MLP has the activation module {name!r}, read at its output"
RULE_EXPLICIT = "explicit entry for {arch}: the decoder layer computes activation_fn(fc1(x)); read at the input of fc2"

LOOKED_FOR = (
    "looked for decoder layers (an nn.ModuleList of blocks with an 'mlp') whose MLP has 'down_proj' (read at its "
    f"input) or, ungated, an activation module ({', '.join(ACTIVATION_NAMES)}; read at its output), and the explicit "
    "entries opt, xglm (input of fc2)"
)


@dataclass(frozen=True)
class NeuronSite:
    """The MLP neurons of one model: one module per layer, and how to read them there.

    Neurons have an address ``(layer, unit)`` and a flat index ``layer * units_per_layer + unit``
    (layers in model order), the index used by every metric and every top-k ranking. ``rule`` says
    which rule found the site (see the module docstring); it is not part of :meth:`key`.
    """

    architecture: str
    description: str
    modules: tuple[nn.Module, ...]
    mode: SiteMode
    units_per_layer: int
    rule: str = ""

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

    def provenance(self) -> dict:
        """What the report records about the site: where the neurons are read and which rule found them."""
        return {"architecture": self.architecture, "site": self.description, "rule": self.rule,
                "n_layers": self.n_layers, "units_per_layer": self.units_per_layer}


def model_type(model: nn.Module) -> str:
    return getattr(getattr(model, "config", None), "model_type", type(model).__name__)


# ------------------------------------------------------------------------------ one layer's site
@dataclass(frozen=True)
class _LayerSite:
    name: str  # path below the layer, e.g. "mlp.down_proj"
    module: nn.Module
    mode: SiteMode
    width: int | None
    rule: str


def _out_features(module: nn.Module) -> int | None:
    """Output size of a linear map: ``nn.Linear`` (and subclasses), GPT-2's ``Conv1D`` (``nf``)."""
    if isinstance(module, nn.Linear):
        return int(module.out_features)
    nf = getattr(module, "nf", None)
    return int(nf) if isinstance(nf, int) else None


def _in_features(module: nn.Module) -> int | None:
    if isinstance(module, nn.Linear):
        return int(module.in_features)
    weight = getattr(module, "weight", None)
    if type(module).__name__ == "Conv1D" and isinstance(weight, torch.Tensor):
        return int(weight.shape[0])  # Conv1D stores [in, out]
    return None


def _moe_part(model: nn.Module) -> str | None:
    """The path of the first mixture-of-experts module in ``model``, else None."""
    for name, module in model.named_modules():
        if name and (name.rsplit(".", 1)[-1] in MOE_NAMES or _MOE_CLASS.search(type(module).__name__)):
            return name
    return None


def _activation_site(mlp: nn.Module) -> _LayerSite | None:
    if any(isinstance(getattr(mlp, gate, None), nn.Module) for gate in GATE_NAMES):
        return None
    for name in ACTIVATION_NAMES:
        act = getattr(mlp, name, None)
        if isinstance(act, nn.Module):
            projections = [w for w in (_out_features(m) for m in mlp.children()) if w is not None]
            width = projections[0] if projections else None
            return _LayerSite(f"mlp.{name}", act, "output", width, RULE_ACTIVATION.format(name=name))
    return None


def _block_site(block: nn.Module) -> _LayerSite | None:
    """The neuron site of one decoder block by structure (module docstring, rules 2 and 3), else None."""
    mlp = getattr(block, "mlp", None)
    if not isinstance(mlp, nn.Module):
        return None
    down = getattr(mlp, "down_proj", None)
    if isinstance(down, nn.Module) and _in_features(down) is not None:
        return _LayerSite("mlp.down_proj", down, "input", _in_features(down), RULE_DOWN_PROJ)
    return _activation_site(mlp)


# ------------------------------------------------------------------------------ the decoder layers
def _decoder_layers(model: nn.Module, has: str) -> tuple[str, nn.ModuleList] | None:
    """``(path, layers)`` of the longest ``nn.ModuleList`` whose every block has the attribute ``has``."""
    found = [
        (name, module) for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and len(module) and all(hasattr(b, has) for b in module)
    ]
    return max(found, key=lambda item: len(item[1])) if found else None


def _explicit(model: nn.Module, arch: str) -> tuple[str, nn.ModuleList, list[_LayerSite]] | None:
    if arch not in ("opt", "xglm"):
        return None
    layers = _decoder_layers(model, "fc2")
    if layers is None:
        return None
    sites = [_LayerSite("fc2", b.fc2, "input", _in_features(b.fc2), RULE_EXPLICIT.format(arch=arch))
             for b in layers[1]]
    return layers[0], layers[1], sites


def _structural(model: nn.Module, arch: str) -> tuple[str, nn.ModuleList, list[_LayerSite]] | None:
    layers = _decoder_layers(model, "mlp")
    if layers is None:
        return None
    path, blocks = layers
    sites = [_block_site(block) for block in blocks]
    if any(site is None for site in sites):
        return None
    return path, blocks, [site for site in sites if site is not None]


def neuron_site(model: nn.Module) -> NeuronSite:
    """The neuron site of ``model`` found by structure (see the module docstring).

    Raises :class:`UnsupportedArchitectureError` with one line naming what was looked for when
    no site is found, for a mixture of experts, or when the layers disagree.
    """
    arch = model_type(model)
    moe = _moe_part(model)
    if moe is not None:
        raise UnsupportedArchitectureError(
            f"{arch}: {moe} is a mixture of experts; its units exist per expert and only for routed tokens, so "
            "the claims' neurons (the units of one dense MLP per layer) are not defined: refused"
        )
    found = _explicit(model, arch) or _structural(model, arch)
    if found is None:
        raise UnsupportedArchitectureError(f"no MLP neuron site found in {arch!r}: {LOOKED_FOR}")
    path, _blocks, sites = found
    kinds = {(s.name, s.mode, s.rule) for s in sites}
    widths = {s.width for s in sites}
    if len(kinds) != 1:
        raise UnsupportedArchitectureError(f"{arch}: the layers' MLPs differ: {sorted(k[0] for k in kinds)}")
    if len({id(s.module) for s in sites}) != len(sites):
        # one module shared by the layers would run every layer's hook in each layer
        raise UnsupportedArchitectureError(f"{arch}: the layers share one {sites[0].name} module; no per-layer site")
    if None in widths:
        raise UnsupportedArchitectureError(f"{arch}: the width of {path}[l].{sites[0].name} is not known")
    if len(widths) != 1:
        raise UnsupportedArchitectureError(f"{arch}: MLP widths differ between layers: {sorted(widths)}")
    first = sites[0]
    return NeuronSite(
        arch, f"{first.mode} of {path}[l].{first.name}", tuple(s.module for s in sites), first.mode,
        int(widths.pop() or 0), first.rule,
    )


def check_saved_site(weights: str, revision: str | None = None) -> NeuronSite | None:
    """The neuron site of the saved model ``weights`` (a folder or hub id) from its config alone.

    Builds the architecture on the ``meta`` device (no weights are read or allocated), so a run can
    refuse an unsupported architecture before any claim. Returns None when the config cannot be
    read or built here (not cached, hub unreachable, not a causal LM): loading the model later says
    what is wrong.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(weights, revision=revision)
    except (OSError, ValueError):
        return None
    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except Exception:  # noqa: BLE001 - a config that cannot be built here: loading the weights reports it
        return None
    return neuron_site(model)
