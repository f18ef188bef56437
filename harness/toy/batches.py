"""The training data order: every batch of the run, drawn and tokenized once before training.

A training sequence is ``</s>`` followed by ``seq_len - 1`` tokens of one language's running text
(its verses in corpus order joined with ``"\\n\\n"``, wrapping around at the end), starting at the
first token of a verse: ``</s>`` plays the role of BLOOM's document boundary, and generation is
prompted with it. Row ``r`` of the result is sequence ``r % batch_size`` of step ``r // batch_size
+ 1``. The language of each row is drawn with the recipe's weights, its first verse uniformly, from
one generator seeded with the training seed, so the order depends on nothing else.

Only the verses that some window reaches are tokenized (about a quarter of the corpus for the
default recipe), which keeps the host work before training short and leaves none per step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

from .recipe import EOS_ID, ToyRecipe
from .tokenizer import separator_ids


def corpus_hash(corpus: Mapping[str, Sequence[str]], languages: Sequence[str]) -> str:
    """sha256 of the training text of ``languages``, in that order (names, counts and verses)."""
    digest = hashlib.sha256()
    for lang in languages:
        verses = corpus[lang]
        digest.update(f"{lang}\t{len(verses)}\n".encode())
        digest.update("\n".join(verses).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class Windows:
    tokens: torch.Tensor  # int32 [steps * batch_size, seq_len], column 0 is </s>
    languages: torch.Tensor  # int64 [steps * batch_size], index into recipe.languages
    tokens_per_language: dict[str, int]
    verses_tokenized: int


def data_generator(seed: int) -> torch.Generator:
    # Offset from the seed torch.manual_seed gets, so data order and initialisation do not share
    # a stream.
    return torch.Generator().manual_seed(1_000_003 * (seed + 1))


def _verse_counts(corpus: Mapping[str, Sequence[str]], languages: Sequence[str]) -> torch.Tensor:
    """Verses per language (float64), refusing a language with none."""
    counts = torch.tensor([len(corpus[lang]) for lang in languages], dtype=torch.float64)
    if (counts == 0).any():
        empty = [lang for lang, n in zip(languages, counts.tolist()) if n == 0]
        raise ValueError(f"toy training corpus has no verses for {', '.join(empty)}")
    return counts


def draw_windows(corpus: Mapping[str, Sequence[str]], recipe: ToyRecipe, tokenizer, seed: int) -> Windows:
    n_rows = recipe.steps * recipe.batch_size
    need = recipe.seq_len - 1
    counts = _verse_counts(corpus, recipe.languages)
    gen = data_generator(seed)
    weights = torch.tensor(recipe.language_weights, dtype=torch.float64)
    langs = torch.multinomial(weights, n_rows, replacement=True, generator=gen)
    firsts = (torch.rand(n_rows, generator=gen, dtype=torch.float64) * counts[langs]).long()
    firsts = torch.minimum(firsts, counts[langs].long() - 1)

    sep = separator_ids(tokenizer)
    backend = tokenizer.backend_tokenizer
    encoded: list[dict[int, list[int]]] = [{} for _ in recipe.languages]

    def encode(li: int, indices) -> None:
        todo = sorted(set(indices) - encoded[li].keys())
        if todo:
            verses = corpus[recipe.languages[li]]
            out = backend.encode_batch([verses[i] for i in todo], add_special_tokens=False)
            encoded[li].update((i, enc.ids) for i, enc in zip(todo, out))

    langs_list, firsts_list = langs.tolist(), firsts.tolist()
    # rows still short of tokens: (row, language, next verse index, tokens so far)
    pending = [(r, li, v, []) for r, (li, v) in enumerate(zip(langs_list, firsts_list))]
    rows: list[list[int] | None] = [None] * n_rows
    for _ in range(10_000):  # each round tokenizes the next verse of every unfinished row
        if not pending:
            break
        by_lang: dict[int, list[int]] = {}
        for _, li, v, _ in pending:
            by_lang.setdefault(li, []).append(v)
        for li, indices in by_lang.items():
            encode(li, indices)
        still = []
        for r, li, v, acc in pending:
            if acc:
                acc.extend(sep)
            acc.extend(encoded[li][v])
            if len(acc) >= need:
                rows[r] = acc[:need]
            else:
                still.append((r, li, (v + 1) % len(corpus[recipe.languages[li]]), acc))
        pending = still
    else:  # pragma: no cover - only a corpus of empty strings gets here
        raise ValueError("toy training corpus is too short to fill one sequence")

    tokens = torch.empty((n_rows, recipe.seq_len), dtype=torch.int32)
    tokens[:, 0] = EOS_ID
    tokens[:, 1:] = torch.tensor(rows, dtype=torch.int32)
    per_lang = torch.bincount(langs, minlength=len(recipe.languages)) * recipe.seq_len
    return Windows(
        tokens=tokens,
        languages=langs,
        tokens_per_language=dict(zip(recipe.languages, map(int, per_lang.tolist()))),
        verses_tokenized=sum(len(e) for e in encoded),
    )
