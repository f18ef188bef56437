"""The toy's tokenizer: byte-level BPE trained on the training verses, saved as a HF tokenizer.

Like BLOOM's: byte level (every string round-trips exactly), no normaliser, specials ``<unk>``,
``<s>``, ``</s>``, ``<pad>`` at ids 0–3, nothing added automatically (no BOS, no EOS), and
``</s>`` is the token generation is prompted with (our ``bos_token`` and ``eos_token``).

Runs of newlines are isolated before byte-level splitting, so tokenizing verses one by one and
joining them with the token(s) of ``"\\n\\n"`` gives exactly the tokens of the joined text (the way
held-out text is measured: verses joined with blank lines).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from .recipe import EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID, ToyRecipe

VERSE_SEPARATOR = "\n\n"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def tokenizer_sample(corpus: Mapping[str, Sequence[str]], recipe: ToyRecipe) -> list[str]:
    """Evenly spaced verses of each language, ``tokenizer_fraction`` × its relative weight.

    Verses are joined in groups of eight with the verse separator, so the separator is learnt.
    """
    base = min(recipe.language_weights)
    texts = []
    for lang, weight in zip(recipe.languages, recipe.language_weights):
        verses = corpus[lang]
        n = min(len(verses), max(1, math.ceil(len(verses) * recipe.tokenizer_fraction * weight / base)))
        picked = [verses[(i * len(verses)) // n] for i in range(n)] if verses else []
        texts.extend(VERSE_SEPARATOR.join(picked[i : i + 8]) for i in range(0, len(picked), 8))
    return texts


def _empty_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\n+"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(corpus: Mapping[str, Sequence[str]], recipe: ToyRecipe):
    """A ``PreTrainedTokenizerFast`` trained deterministically on ``tokenizer_sample``."""
    tok = _empty_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=recipe.vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(tokenizer_sample(corpus, recipe), trainer=trainer)
    for token_id, token in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(token) != token_id:  # pragma: no cover - the trainer puts specials first
            raise RuntimeError(f"special token {token} got id {tok.token_to_id(token)}, not {token_id}")
    return wrap(tok)


def wrap(tok: Tokenizer):
    """The HF tokenizer around a trained ``tokenizers.Tokenizer``: BLOOM's specials and padding side."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=SPECIAL_TOKENS[EOS_ID],
        eos_token=SPECIAL_TOKENS[EOS_ID],
        unk_token=SPECIAL_TOKENS[UNK_ID],
        pad_token=SPECIAL_TOKENS[PAD_ID],
        padding_side="left",
        clean_up_tokenization_spaces=False,
        add_bos_token=False,
        add_eos_token=False,
        model_max_length=1_000_000,
    )


def save_tokenizer(tokenizer, out_dir: Path) -> list[str]:
    """Save in the HF layout; returns the names of the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out_dir))
    return sorted(p.name for p in out_dir.iterdir() if p.is_file())


def separator_ids(tokenizer) -> list[int]:
    return tokenizer(VERSE_SEPARATOR, add_special_tokens=False)["input_ids"]
