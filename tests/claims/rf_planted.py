"""A small random BLOOM with concept experts planted by hand, for the RF known-answer tests.

The planted units fire on the tokens of one concept's word in every language, so their expert
score AP(c, l) is high in every language and they must appear in every language's top-k: a known
cross-lingual overlap. How the planting works (layer 0, where the MLP reads almost the token
embedding):

1. every token embedding gets 0 on a dedicated coordinate ``PLANT_DIM``, except the concept's
   tokens, whose embedding is set to ``ALPHA`` (3 × the init std 0.02) on it: after the embedding
   LayerNorm those tokens have ≈ 2.7 on that coordinate, all others ≈ 0;
2. the chosen units of layer 0 read only that coordinate: ``dense_h_to_4h`` row = ``BETA · e``,
   bias = ``-BETA · THRESHOLD``, so GELU gives ≈ BETA·(2.7 − THRESHOLD) on a concept token and ≈ 0
   elsewhere. Random attention (std 0.02) barely moves the residual stream in between.

The concept's tokens in each language are read off the data (``concept_token_ids``). A random
BLOOM already has units that act as detectors of single tokens (AP up to ≈ 0.95 for "water" in a
language, from the token's random embedding), so the planted units must cover nearly all
positives to beat them; they do in every language, which the random ones never do.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import torch

# the tokenizer and the concept marker tokens are the scripted worlds' (one definition)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "known_answers"))
from scripted_world import build_tokenizer, concept_token_ids  # noqa: E402,F401

HIDDEN = 128
N_LAYER = 4
N_HEAD = 4
PLANT_DIM = 0
ALPHA = 0.06
BETA = 4.0
THRESHOLD = 1.5


def build_bloom(tokenizer, *, seed: int = 0):
    """A randomly initialised BLOOM (4 layers × 512 MLP units), seeded, in eval mode."""
    from transformers import BloomConfig, BloomForCausalLM

    config = BloomConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        n_layer=N_LAYER,
        n_head=N_HEAD,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return BloomForCausalLM(config).eval()


@torch.no_grad()
def plant(model, token_ids: Sequence[int], units: Sequence[int]) -> None:
    """Make layer-0 ``units`` fire on ``token_ids`` (see the module docstring), in place."""
    emb = model.transformer.word_embeddings.weight
    emb[:, PLANT_DIM] = 0.0
    emb[list(token_ids), PLANT_DIM] = ALPHA
    mlp = model.transformer.h[0].mlp.dense_h_to_4h
    for unit in units:
        mlp.weight[unit] = 0.0
        mlp.weight[unit, PLANT_DIM] = BETA
        mlp.bias[unit] = -BETA * THRESHOLD


def save(model, tokenizer, path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
