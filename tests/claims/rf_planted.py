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

from collections import Counter
from pathlib import Path
from typing import Sequence

import torch

HIDDEN = 128
N_LAYER = 4
N_HEAD = 4
VOCAB = 3000
PLANT_DIM = 0
ALPHA = 0.06
BETA = 4.0
THRESHOLD = 1.5
MARKER_RULES = ((0.05, 20.0), (0.1, 10.0))


def build_tokenizer(texts: Sequence[str], path: Path, vocab_size: int = VOCAB):
    """Byte-level BPE trained on ``texts``, saved as a PreTrainedTokenizerFast with ``</s>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    fast.save_pretrained(path)
    return fast


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


def concept_token_ids(tokenizer, data, concept: str, languages: Sequence[str]) -> dict[str, list[int]]:
    """Per language, the token ids that mark ``concept``'s positive verses.

    A token qualifies when its share among the positives is at least ``share`` and at least
    ``ratio`` times its share among all other verses of the concept pool, for (share, ratio) in
    ``MARKER_RULES`` (a rare, very specific token or a frequent, fairly specific one).
    """
    concept_data = data.concept(concept)
    positives = {tuple(k) for k, y in zip(concept_data.keys, concept_data.labels) if y}
    is_pos = [tuple(k) in positives for k in data.split_keys("concepts")]
    out = {}
    for lang in languages:
        ids = tokenizer(data.texts("concepts", lang), add_special_tokens=False)["input_ids"]
        pos = [set(x) for x, p in zip(ids, is_pos) if p]
        rest = [set(x) for x, p in zip(ids, is_pos) if not p]
        cp, cr = Counter(t for s in pos for t in s), Counter(t for s in rest for t in s)
        out[lang] = sorted(
            t
            for t, n in cp.items()
            if any(n / len(pos) >= share and n / len(pos) >= ratio * cr[t] / len(rest) for share, ratio in MARKER_RULES)
        )
    return out


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
