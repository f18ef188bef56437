"""A small BLOOM with planted language-specific units, for the Lingua Franca known-answer tests.

Six synthetic languages, each written in its own script (Latin, Cyrillic, Greek, Hebrew,
Georgian, Armenian). Word ``j`` of every language has the same random "content" embedding, and
the sentences are transliterations of the same word-index sequences, so the languages differ
only in their script. A word-level tokenizer makes every word one token.

Hidden dimensions ``0..5`` carry the script of the input token (the embedding of every token of
script ``l`` has a spike on dimension ``l``) and dimensions ``6..11`` carry the script the model
predicts (the untied ``lm_head`` row of every token of script ``l`` reads dimension ``6 + l``).
Only planted MLP units connect the two:

* two **key units** per language (one in each layer) read dimension ``l`` and write dimension
  ``6 + l``: they fire on that script's tokens only (exactly 0 elsewhere: the tanh-GELU of a
  pre-activation below about −10 is 0 in float32), and without them the model has no idea which
  script comes next, so zeroing them raises that language's perplexity and no other's;
* fifteen **pair units** fire on two scripts each (z = √2 ≈ 1.41 across 6 languages, never key)
  and write nothing;
* every other unit is dead (weights 0, bias −30: exactly 0 everywhere, z = 0).

Attention and the content dimensions keep their random (seeded) weights; attention and MLP
outputs never write to dimensions ``0..11`` except through the key units.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import torch

SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyz",
    "cyrillic": "абвгдежзийклмнопрстуфхцчшщ",
    "greek": "αβγδεζηθικλμνξοπρστυφχψω",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "georgian": "აბგდევზთიკლმნოპჟრსტუფქღყშჩ",
    "armenian": "աբգդեզէըթժիլխծկհձղճմյնշոչպ",
}
LANGUAGES = tuple(SCRIPTS)
N_WORDS = 16
HIDDEN = 48
N_LAYERS = 2
UNITS_PER_LAYER = 4 * HIDDEN
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]

# planted weights
SPIKE = 3.0  # embedding spike on the script dimension
READ = 6.0  # key/pair unit weight on a script dimension
BIAS = -12.0  # key/pair unit bias: far below 0 off-script (GELU exactly 0)
WRITE = (0.5, 2.0)  # key unit write strength into the predicted-script dimension, per layer
OUT = 1.5  # lm_head weight on the predicted-script dimension
DEAD_BIAS = -30.0


def word(lang: str, j: int) -> str:
    letters = SCRIPTS[lang]
    a = len(letters)
    return letters[j % a] + letters[(j // a + 3 * j + 1) % a] + letters[(5 * j + 2) % a]


def vocabulary() -> dict[str, int]:
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for lang in LANGUAGES:
        words = [word(lang, j) for j in range(N_WORDS)]
        assert len(set(words)) == N_WORDS, lang
        for w in words:
            vocab[w] = len(vocab)
    return vocab


def sequences(n: int, seed: int, min_len: int = 4, max_len: int = 10) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, N_WORDS, size=int(rng.integers(min_len, max_len + 1))).tolist() for _ in range(n)]


def texts(lang: str, seqs: list[list[int]]) -> list[str]:
    return [" ".join(word(lang, j) for j in seq) for seq in seqs]


def parallel_sample(n: int = 40, seed: int = 0) -> dict[str, list[str]]:
    """The same ``n`` word sequences in every language (meaning ``m`` = sequence ``m``)."""
    seqs = sequences(n, seed)
    return {lang: texts(lang, seqs) for lang in LANGUAGES}


def heldout_text(n: int = 60, seed: int = 1) -> dict[str, list[str]]:
    seqs = sequences(n, seed)
    return {lang: texts(lang, seqs) for lang in LANGUAGES}


def build_tokenizer(path: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab=vocabulary(), unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    fast.save_pretrained(path)
    return fast


def planted_units() -> dict[str, list[int]]:
    """Flat indices (layer * units_per_layer + unit) of each language's key units."""
    return {lang: [layer * UNITS_PER_LAYER + i for layer in range(N_LAYERS)] for i, lang in enumerate(LANGUAGES)}


def pair_units() -> dict[tuple[str, str], int]:
    """Flat index of the unit shared by each pair of languages (layer 0, after the key units)."""
    return {pair: len(LANGUAGES) + k for k, pair in enumerate(itertools.combinations(LANGUAGES, 2))}


@torch.no_grad()
def build_model(seed: int = 0):
    from transformers import BloomConfig, BloomForCausalLM

    vocab = vocabulary()
    config = BloomConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        n_layer=N_LAYERS,
        n_head=4,
        tie_word_embeddings=False,
        pad_token_id=vocab["<pad>"],
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
    )
    torch.manual_seed(seed)
    model = BloomForCausalLM(config).eval()
    gen = torch.Generator().manual_seed(seed)
    L = len(LANGUAGES)
    in_dims, out_dims = list(range(L)), list(range(L, 2 * L))
    script_dims = in_dims + out_dims

    content = torch.randn(N_WORDS, HIDDEN, generator=gen) * 0.5
    content[:, script_dims] = 0.0
    emb = model.transformer.word_embeddings.weight
    head = model.lm_head.weight
    emb.copy_(torch.randn(emb.shape, generator=gen) * 0.5)
    emb[:, script_dims] = 0.0
    head.copy_(torch.randn(head.shape, generator=gen) * 0.05)
    head[:, script_dims] = 0.0
    for lang_index, lang in enumerate(LANGUAGES):
        for j in range(N_WORDS):
            t = vocab[word(lang, j)]
            emb[t] = content[j]
            emb[t, lang_index] = SPIKE
            head[t, L + lang_index] = OUT

    planted = planted_units()
    pairs = pair_units()
    for layer, block in enumerate(model.transformer.h):
        block.self_attention.dense.weight[script_dims, :] = 0.0
        block.self_attention.dense.bias[script_dims] = 0.0
        up, down = block.mlp.dense_h_to_4h, block.mlp.dense_4h_to_h
        up.weight.zero_()
        up.bias.fill_(DEAD_BIAS)
        down.weight[script_dims, :] = 0.0
        down.bias[script_dims] = 0.0
        for lang_index, lang in enumerate(LANGUAGES):
            unit = planted[lang][layer] - layer * UNITS_PER_LAYER
            up.weight[unit, lang_index] = READ
            up.bias[unit] = BIAS
            down.weight[L + lang_index, unit] = WRITE[layer]
        if layer == 0:
            for (a, b), unit in pairs.items():
                up.weight[unit, LANGUAGES.index(a)] = READ
                up.weight[unit, LANGUAGES.index(b)] = READ
                up.bias[unit] = BIAS
                down.weight[:, unit] = 0.0
    return model


def save_planted(path: Path, seed: int = 0) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    build_tokenizer(path)
    build_model(seed).save_pretrained(path)
    (path / "planted.json").write_text(json.dumps({"languages": LANGUAGES, "planted": planted_units()}))
    return path
