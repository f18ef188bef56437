"""The toy's model: a stock ``BloomForCausalLM`` built from the recipe."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from transformers import BloomConfig, BloomForCausalLM

from .recipe import EOS_ID, PAD_ID, ToyRecipe


def toy_config(recipe: ToyRecipe, vocab_size: int | None = None) -> BloomConfig:
    return BloomConfig(
        vocab_size=vocab_size or recipe.vocab_size,
        hidden_size=recipe.hidden_size,
        n_layer=recipe.n_layer,
        n_head=recipe.n_head,
        bos_token_id=EOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        tie_word_embeddings=True,
        use_cache=True,
    )


def build_model(recipe: ToyRecipe, seed: int, vocab_size: int | None = None) -> BloomForCausalLM:
    """A freshly initialised model; the initial weights depend only on the recipe and ``seed``.

    The global torch generator is seeded inside a fork, so the caller's random state is untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BloomForCausalLM(toy_config(recipe, vocab_size))


class FusedTanhGelu(torch.nn.Module):
    """BLOOM's GELU, ``0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))``, as torch's single kernel.

    ``BloomGelu`` evaluates the same formula (√(2/π) rounded to 0.79788456) with a hand-written
    backward of about a dozen element-wise ops; the fused kernel gives the same values to float32
    rounding and trains about 15 % faster here. It is used for training only: checkpoints hold
    weights, and every loaded checkpoint runs BLOOM's own module.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x, approximate="tanh")


@contextlib.contextmanager
def fused_gelu(model: BloomForCausalLM, enabled: bool = True) -> Iterator[BloomForCausalLM]:
    """Swap every block's ``mlp.gelu_impl`` for :class:`FusedTanhGelu`, and back on exit."""
    if not enabled:
        yield model
        return
    originals = [block.mlp.gelu_impl for block in model.transformer.h]
    try:
        for block in model.transformer.h:
            block.mlp.gelu_impl = FusedTanhGelu()
        yield model
    finally:
        for block, original in zip(model.transformer.h, originals):
            block.mlp.gelu_impl = original


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices (embeddings included), none on biases and layer-norm parameters."""
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (decay if param.ndim >= 2 else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
