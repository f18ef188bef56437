"""Scripted BLOOMs: small models whose MLP units, residual stream and next-token distribution are set by hand.

The known-answer tests (issue 14) need models in which a claim's effect is true *by construction*,
so that the claim's own test, run through ``pytest claims/ --model <folder>``, must say
"supported" on them and must not on their twin without the effect. Training cannot guarantee that;
a model written by hand can. The construction makes every quantity the claims measure a known
function of the token at hand:

* **No attention.** Every attention output projection is zero, so a position's hidden state
  depends on its own token only; max- and mean-pooled responses are the max and mean over a
  sentence's tokens of a per-token function.
* **Embeddings as named features.** The residual space is split into named coordinate blocks
  (:class:`Layout`): a constant ``anchor`` (the bias of the unembedding), two ``balance``
  coordinates, the token's language profile (``lang``: the share of its occurrences in each
  language of the data), a ``meaning`` code (a random projection of the parallel verses it occurs
  in, so translations get similar codes whatever their script), ``concept`` markers (1 on concept
  c's coordinate for the tokens that mark c's verses in any language), an ``identity`` part
  (token-specific noise) and ``free`` coordinates that only units write to. The two balance
  coordinates give every embedding mean 0 and variance 1, so every LayerNorm on the way is the
  identity as long as no unit writes into the stream: the inputs of every layer's units are
  exactly the embedding.
* **Units are planted in groups** (:class:`UnitGroup`): ``count`` units of one layer that read a
  direction of the residual (``GELU(gain · (x·d) − gain · threshold)``, zero below threshold) and
  optionally write a direction back. Units not planted keep a random, BLOOM-like initialisation (the
  background every real model has).
* **The unembedding is untied** and reads the same features: unigram log-frequency on the anchor,
  "stay in the language" on the ``lang`` block, and, when asked, a concept's marker tokens on that
  concept's coordinate. A unit that writes a language's profile or a concept's coordinate into the
  stream therefore moves the next-token distribution towards that language or concept, which is
  what zeroing (LF-3) and clamping (RF-4) then measure.

A :class:`WorldSpec` is one model; a series is a list of them saved as ``step<N>/`` folders of one
run folder. Everything is seeded: the same spec gives bit-identical weights.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

#: languages and concepts: the shipped data's (``harness.data``)
VOCAB_SIZE = 3000
#: (share of the concept's positives, ratio over the rest): a token marks a concept when it passes one rule
MARKER_RULES = ((0.05, 20.0), (0.1, 10.0))
MEANING_DIM = 24
IDENTITY_DIM = 24
FREE_DIM = 16
TOPIC_DIM = 12
#: the attention head that carries the context's meaning (BLOOM's smallest ALiBi slope: nearly uniform)
CONTEXT_HEAD = 3
#: the context head's key weight on the English share (see ``World._context_head``)
CONTEXT_SKIP_ENGLISH = 20.0
#: the anchor's value in every embedding; the unembedding's unigram term reads it
ANCHOR = 4.0
#: the positions the saved config declares (the perplexity window and the longest scored text)
POSITIONS = 256
#: the random background's input-weight std, on the scale of embeddings with variance 1
BACKGROUND_STD = 0.02


# ------------------------------------------------------------------------------ tokenizer and data
def build_tokenizer(texts: Sequence[str], path: Path, vocab_size: int = VOCAB_SIZE):
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


def concept_token_ids(tokenizer, data, concept: str, languages: Sequence[str], *,
                      token_ids: Mapping[str, list[list[int]]] | None = None) -> dict[str, list[int]]:
    """Per language, the token ids that mark ``concept``'s positive verses.

    A token qualifies when its share among the positives is at least ``share`` and at least
    ``ratio`` times its share among all other verses of the concept pool, for (share, ratio) in
    ``MARKER_RULES`` (a rare, very specific token or a frequent, fairly specific one).
    ``token_ids`` (language → the concept split's verses, tokenised) saves tokenising them again.
    """
    concept_data = data.concept(concept)
    positives = {tuple(k) for k, y in zip(concept_data.keys, concept_data.labels) if y}
    is_pos = [tuple(k) in positives for k in data.split_keys("concepts")]
    out = {}
    for lang in languages:
        if token_ids is not None:
            ids = token_ids[lang]
        else:
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


SPLITS = ("concepts", "similarity", "perplexity", "probe")
#: the verses whose codes make up the meaning features: the parallel sample LF's similarity claims
#: measure, so the planted model "knows" what those verses mean in every language (a token found in
#: few of them gets a distinctive code; over all splits, subword tokens occur in too many verses)
MEANING_SPLITS = ("similarity",)


@dataclass
class TokenStatistics:
    """What the embeddings are made of, read off the shipped data once per tokenizer.

    ``lang_share [V, L]``: share of a token's occurrences in each language (0 for unseen tokens);
    ``meaning [V, MEANING_DIM]``: the mean of random unit codes of the ``MEANING_SPLITS`` verses a
    token occurs in (in any language; rescaled to mean squared norm 1), so a token and its
    translations point the same way and tokens found everywhere are near 0; ``log_unigram [V]``;
    ``lang_pmi [V, L]``: log p(v | language) − log p(v), smoothed (add ½): what knowing the
    language adds to the unigram; ``topic [V, TOPIC_DIM]``: the same construction over the
    chapters (book, chapter) a token occurs in; a feature of the embedding that no plant reads any more
    (a token of this 3,000-token vocabulary occurs in 51 or more of the data's 254 chapters in nine
    cases out of ten, so even exact chapter sets scored the Bible cloze's right ending only 59 % of the
    time; kept so that the other blocks' measurements stay as measured); ``markers``: concept →
    token ids marking it in any language.
    """

    languages: tuple[str, ...]
    concepts: tuple[str, ...]
    lang_share: np.ndarray
    meaning: np.ndarray
    log_unigram: np.ndarray
    lang_pmi: np.ndarray
    topic: np.ndarray
    markers: dict[str, list[int]]
    markers_by_language: dict[str, dict[str, list[int]]]

    @classmethod
    def from_data(cls, tokenizer, data, *, concepts: Sequence[str], seed: int = 0) -> "TokenStatistics":
        languages = tuple(data.languages)
        vocab = len(tokenizer)
        counts = np.zeros((vocab, len(languages)))
        verse_index: dict[tuple, int] = {}
        rows: list[list[int]] = [[] for _ in range(vocab)]
        chapter_index: dict[tuple, int] = {}
        chapters: list[list[int]] = [[] for _ in range(vocab)]
        concept_ids: dict[str, list[list[int]]] = {}
        for split in SPLITS:
            keys = [tuple(k) for k in data.split_keys(split)]
            for li, lang in enumerate(languages):
                ids = tokenizer(data.texts(split, lang), add_special_tokens=False)["input_ids"]
                if split == "concepts":
                    concept_ids[lang] = ids
                for key, seq in zip(keys, ids):
                    np.add.at(counts[:, li], seq, 1)
                    chapter = chapter_index.setdefault(key[:2], len(chapter_index))
                    for t in set(seq):
                        chapters[t].append(chapter)
                    if split in MEANING_SPLITS:
                        verse = verse_index.setdefault(key, len(verse_index))
                        for t in set(seq):
                            rows[t].append(verse)
        total = counts.sum(1, keepdims=True)
        lang_share = np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)
        rng = np.random.default_rng(seed)
        projection = rng.standard_normal((len(verse_index), MEANING_DIM))
        meaning = np.zeros((vocab, MEANING_DIM))
        projection /= np.linalg.norm(projection, axis=1, keepdims=True)
        for t, verses in enumerate(rows):
            if verses:
                # the mean of the verse codes: a rare (content) token is close to its few verses' codes, a
                # token found everywhere averages out towards 0 and carries little meaning
                meaning[t] = projection[np.unique(verses)].mean(0)
        meaning /= np.sqrt(np.mean(np.sum(meaning**2, axis=1)[np.any(meaning != 0, axis=1)]))
        log_unigram = np.log((counts.sum(1) + 0.5) / (counts.sum() + 0.5 * vocab))
        topic = _mean_codes(chapters, len(chapter_index), TOPIC_DIM, np.random.default_rng(seed + 1))
        by_lang = (counts + 0.5) / (counts.sum(0, keepdims=True) + 0.5 * vocab)
        lang_pmi = np.log(by_lang) - log_unigram[:, None]
        by_language = {c: concept_token_ids(tokenizer, data, c, languages, token_ids=concept_ids) for c in concepts}
        markers = {c: sorted({t for ids in per.values() for t in ids}) for c, per in by_language.items()}
        return cls(languages, tuple(concepts), lang_share, meaning, log_unigram, lang_pmi, topic, markers, by_language)


def _mean_codes(occurrences: Sequence[Sequence[int]], n_items: int, dim: int, rng) -> np.ndarray:
    """Per token, the mean of random unit codes of the items it occurs in; rescaled to mean squared norm 1."""
    codes = rng.standard_normal((n_items, dim))
    codes /= np.linalg.norm(codes, axis=1, keepdims=True)
    out = np.zeros((len(occurrences), dim))
    for t, items in enumerate(occurrences):
        if items:
            out[t] = codes[np.unique(items)].mean(0)
    seen = np.any(out != 0, axis=1)
    return out / np.sqrt(np.mean(np.sum(out[seen] ** 2, axis=1))) if seen.any() else out


# ------------------------------------------------------------------------------ the residual layout
@dataclass(frozen=True)
class Layout:
    """Named coordinate blocks of the residual stream (see the module docstring)."""

    n_languages: int
    n_concepts: int

    @cached_property
    def blocks(self) -> dict[str, slice]:
        sizes = {
            "anchor": 1, "balance": 2, "lang": self.n_languages, "meaning": MEANING_DIM,
            "concept": self.n_concepts, "identity": IDENTITY_DIM, "free": FREE_DIM, "topic": TOPIC_DIM,
            "context": TOPIC_DIM,
        }
        out, start = {}, 0
        for name, size in sizes.items():
            out[name] = slice(start, start + size)
            start += size
        return out

    @property
    def hidden(self) -> int:
        width = self.blocks["context"].stop
        return int(math.ceil(width / 8) * 8)  # heads of equal width

    def vector(self, block: str, values: Sequence[float] | np.ndarray | None = None, *, index: int | None = None):
        """A residual-space vector that is ``values`` on ``block`` (or 1 at ``index`` of it), 0 elsewhere."""
        out = torch.zeros(self.hidden)
        part = self.blocks[block]
        if index is not None:
            out[part.start + index] = 1.0
        else:
            out[part] = torch.as_tensor(np.asarray(values, dtype=np.float32))
        return out


# ------------------------------------------------------------------------------ the model spec
@dataclass(frozen=True)
class UnitGroup:
    """``count`` units of ``layer`` with activation ``GELU(gain · (x·reads − threshold))``.

    ``reads`` is a residual-space direction (:meth:`Layout.vector`); ``writes`` (optional) is
    added to the residual stream scaled by each unit's activation (``dense_4h_to_h`` column).
    ``spread`` jitters each unit's gain by ± that fraction (seeded) so units are not exact copies.
    """

    layer: int
    count: int
    reads: torch.Tensor
    gain: float = 4.0
    threshold: float = 0.5
    writes: torch.Tensor | None = None
    spread: float = 0.1
    name: str = ""
    #: extra unembedding entries ``(token id, residual coordinate, weight)``: ``logit(token) += weight · h[coordinate]``
    #: (how a plant reads out a coordinate that its units write; empty: the unembedding is left as it is)
    readout: tuple[tuple[int, int, float], ...] = ()


@dataclass(frozen=True)
class Embedding:
    """Scales of the embedding's feature blocks (all relative: the embedding is normalised after)."""

    lang: float = 1.0
    meaning: float = 1.0
    concept: float = 1.0
    identity: float = 1.0
    topic: float = 1.0


@dataclass(frozen=True)
class Unembedding:
    """Scales of the next-token logit's terms: ``unigram · log p(v) + stay · lang(x)·share(v) + concept``."""

    unigram: float = 1.0
    stay: float = 6.0
    concept: float = 0.0
    context: float = 1.0  # ⟨context block of h, meaning(v)[:12]⟩: continue with what the context means
    #: ⟨free[:L] of h, lang_pmi(v)⟩: a unit that writes c on language l's free coordinate turns the
    #: unigram into c·log p(v | l) + (1 − c)·log p(v): the language model of that language at c = 1
    language_model: float = 1.0


@dataclass(frozen=True)
class WorldSpec:
    """One scripted model: its layer count, features, planted unit groups and unembedding."""

    n_layer: int = 8
    embedding: Embedding = Embedding()
    unembedding: Unembedding = Unembedding()
    groups: tuple[UnitGroup, ...] = ()
    #: gain of layer 0's context head: it averages the meaning codes (first 12 coordinates) of the tokens
    #: so far (ALiBi, no query or key) into the ``context`` block; 0: no attention at all
    context: float = 0.0
    seed: int = 0  # of the background units and the identity features
    background_std: float = BACKGROUND_STD


class World:
    """The shared part of every scripted model of a test: tokenizer, data statistics, layout."""

    def __init__(self, tokenizer, stats: TokenStatistics):
        self.tokenizer = tokenizer
        self.stats = stats
        self.layout = Layout(len(stats.languages), len(stats.concepts))

    @classmethod
    def from_data(cls, data, folder: Path, *, concepts: Sequence[str] | None = None) -> "World":
        texts = [t for split in SPLITS for lang in data.languages for t in data.texts(split, lang)]
        tokenizer = build_tokenizer(texts, folder)
        names = tuple(concepts if concepts is not None else data.concept_names)
        return cls(tokenizer, TokenStatistics.from_data(tokenizer, data, concepts=names))

    # ---- directions
    def language(self, lang: str) -> int:
        return self.stats.languages.index(lang)

    def lang_vector(self, weights: Mapping[str, float]) -> torch.Tensor:
        """A direction on the ``lang`` block: ``weights[l]`` on language l's coordinate."""
        values = np.zeros(len(self.stats.languages))
        for lang, w in weights.items():
            values[self.language(lang)] = w
        return self.layout.vector("lang", values)

    def concept_vector(self, concept: str) -> torch.Tensor:
        return self.layout.vector("concept", index=self.stats.concepts.index(concept))

    def random_vector(self, block: str, seed: int) -> torch.Tensor:
        """A seeded unit-norm random direction on ``block``."""
        size = self.layout.blocks[block].stop - self.layout.blocks[block].start
        v = np.random.default_rng(seed).standard_normal(size)
        return self.layout.vector(block, v / np.linalg.norm(v))

    # ---- embeddings
    def embeddings(self, spec: Embedding, seed: int) -> torch.Tensor:
        """``[V, hidden]`` embeddings with mean 0 and variance 1 per token (LayerNorm's identity)."""
        s, lay = self.stats, self.layout
        vocab = len(self.tokenizer)
        raw = np.zeros((vocab, lay.hidden))
        raw[:, lay.blocks["anchor"]] = ANCHOR
        # a token's profile over languages (its shares sum to 1, however often it occurs)
        raw[:, lay.blocks["lang"]] = spec.lang * 2.0 * s.lang_share
        raw[:, lay.blocks["meaning"]] = spec.meaning * s.meaning
        for ci, concept in enumerate(s.concepts):
            raw[s.markers[concept], lay.blocks["concept"].start + ci] = spec.concept * 2.0
        raw[:, lay.blocks["topic"]] = spec.topic * s.topic
        identity = np.random.default_rng(seed + 7919).standard_normal((vocab, IDENTITY_DIM))
        raw[:, lay.blocks["identity"]] = spec.identity * identity / math.sqrt(IDENTITY_DIM) * 2.0
        return torch.as_tensor(_normalise(raw, lay.blocks["balance"]), dtype=torch.float32)

    def unembedding(self, spec: Unembedding) -> torch.Tensor:
        """``[V, hidden]`` rows of the untied unembedding.

        logit(v) = unigram·log p(v) + stay·⟨lang(x), share(v)⟩ + concept·⟨concept(x), marks(v)⟩
        + context·⟨context(x), meaning(v)[:12]⟩ + language_model·⟨free(x)[:L], pmi(v)⟩.
        """
        s, lay = self.stats, self.layout
        rows = np.zeros((len(self.tokenizer), lay.hidden))
        rows[:, lay.blocks["anchor"].start] = spec.unigram * s.log_unigram / ANCHOR
        rows[:, lay.blocks["lang"]] = spec.stay * s.lang_share
        for ci, concept in enumerate(s.concepts):
            rows[s.markers[concept], lay.blocks["concept"].start + ci] = spec.concept
        rows[:, lay.blocks["context"]] = spec.context * s.meaning[:, :TOPIC_DIM]
        free = lay.blocks["free"].start
        rows[:, free : free + len(s.languages)] = spec.language_model * s.lang_pmi
        return torch.as_tensor(rows, dtype=torch.float32)

    # ---- the model
    def build(self, spec: WorldSpec):
        """The BLOOM of ``spec`` (eval mode, fp32)."""
        from transformers import BloomConfig, BloomForCausalLM

        tok = self.tokenizer
        config = BloomConfig(
            vocab_size=len(tok), hidden_size=self.layout.hidden, n_layer=spec.n_layer, n_head=4,
            # BLOOM (ALiBi) has no position limit; declaring one keeps perplexity windows at this
            # length (``harness.perplexity``), whose attention would otherwise cost 2,048² per window
            n_positions=POSITIONS, tie_word_embeddings=False, pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        )
        torch.manual_seed(spec.seed)
        model = BloomForCausalLM(config).eval()
        with torch.no_grad():
            self._script(model, spec)
        return model

    def _script(self, model, spec: WorldSpec) -> None:
        tr = model.transformer
        tr.word_embeddings.weight.copy_(self.embeddings(spec.embedding, spec.seed))
        model.lm_head.weight.copy_(self.unembedding(spec.unembedding))
        for norm in [tr.word_embeddings_layernorm, tr.ln_f] + [m for b in tr.h for m in
                                                               (b.input_layernorm, b.post_attention_layernorm)]:
            norm.weight.fill_(1.0)
            norm.bias.zero_()
        generator = torch.Generator().manual_seed(spec.seed + 104_729)
        for block in tr.h:
            block.self_attention.dense.weight.zero_()
            block.self_attention.dense.bias.zero_()
            mlp = block.mlp
            # background: random input weights on the features a real model's units read, no output
            mlp.dense_h_to_4h.weight.copy_(
                torch.randn(mlp.dense_h_to_4h.weight.shape, generator=generator) * spec.background_std
            )
            mlp.dense_h_to_4h.bias.zero_()
            mlp.dense_4h_to_h.weight.zero_()
            mlp.dense_4h_to_h.bias.zero_()
        for group, units in zip(spec.groups, self.assign_units(spec)):
            _plant(tr.h[group.layer].mlp, group, units, seed=spec.seed + 31 * group.layer)
            for token, coordinate, weight in group.readout:
                model.lm_head.weight[token, coordinate] += weight
        if spec.context:
            self._context_head(tr.h[0].self_attention, spec.context)

    def _context_head(self, attention, gain: float) -> None:
        """Head ``CONTEXT_HEAD`` of ``attention``: scores are ALiBi's minus a penalty on English tokens,
        values = the first ``TOPIC_DIM`` coordinates of the ``meaning`` block, output = ``gain`` × those
        values into the ``context`` block (the meaning of the text so far, its English words left out)."""
        d = attention.head_dim
        rows = slice(CONTEXT_HEAD * 3 * d, (CONTEXT_HEAD + 1) * 3 * d)  # the head's q, k, v rows (fused layout)
        attention.query_key_value.weight[rows] = 0.0
        attention.query_key_value.bias[rows] = 0.0
        meaning, context = self.layout.blocks["meaning"], self.layout.blocks["context"]
        # query: the anchor (the same on every token); key: −CONTEXT_SKIP_ENGLISH × the English share, so
        # the head passes over English tokens (LF-8's endings) and averages the context's meaning
        # instead of priming an ending with its own words
        attention.query_key_value.weight[CONTEXT_HEAD * 3 * d, self.layout.blocks["anchor"].start] = 1.0
        english = self.layout.blocks["lang"].start + self.stats.languages.index("en")
        attention.query_key_value.weight[CONTEXT_HEAD * 3 * d + d, english] = -CONTEXT_SKIP_ENGLISH
        values = CONTEXT_HEAD * 3 * d + 2 * d
        for i in range(TOPIC_DIM):
            attention.query_key_value.weight[values + i, meaning.start + i] = 1.0
            attention.dense.weight[context.start + i, CONTEXT_HEAD * d + i] = gain

    def assign_units(self, spec: WorldSpec) -> list[list[int]]:
        """The unit indices of each group: consecutive within its layer, in the order of ``spec.groups``."""
        width = 4 * self.layout.hidden
        used: Counter = Counter()
        out = []
        for group in spec.groups:
            start = used[group.layer]
            if start + group.count > width:
                raise ValueError(f"layer {group.layer} has {width} units; the groups ask for more")
            out.append(list(range(start, start + group.count)))
            used[group.layer] += group.count
        return out

    def save(self, spec: WorldSpec, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.build(spec).save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        return folder

    def save_series(self, specs: Mapping[int, WorldSpec], run_folder: Path) -> Path:
        """``run_folder/step<N>/`` for each ``N → spec`` (a checkpoint series the loader reads)."""
        for step, spec in specs.items():
            self.save(spec, run_folder / f"step{step}")
        return run_folder


def _normalise(raw: np.ndarray, balance: slice) -> np.ndarray:
    """Each row rescaled and completed on the two ``balance`` coordinates to mean 0 and variance 1.

    With ``d`` coordinates, mean 0 and variance 1 mean Σx = 0 and Σx² = d. The features are first
    scaled so that Σx² ≤ d/2; the balance pair (p, q) then solves p + q = −Σx, p² + q² = d − Σx².
    """
    d = raw.shape[1]
    out = raw.copy()
    out[:, balance] = 0.0
    sq = (out**2).sum(1)
    scale = np.minimum(1.0, np.sqrt(0.45 * d / np.maximum(sq, 1e-12)))
    out *= scale[:, None]
    s, sq = out.sum(1), (out**2).sum(1)
    root = np.sqrt(np.maximum(2 * (d - sq) - s**2, 0.0))
    out[:, balance.start] = (-s + root) / 2
    out[:, balance.start + 1] = (-s - root) / 2
    return out


def _plant(mlp, group: UnitGroup, units: Sequence[int], *, seed: int) -> None:
    rng = np.random.default_rng(seed + units[0] if units else seed)
    reads = group.reads / group.reads.norm().clamp_min(1e-12)
    for unit in units:
        gain = group.gain * (1 + group.spread * float(rng.uniform(-1, 1)))
        mlp.dense_h_to_4h.weight[unit] = gain * reads
        mlp.dense_h_to_4h.bias[unit] = -gain * group.threshold
        if group.writes is not None:
            mlp.dense_4h_to_h.weight[:, unit] = group.writes
