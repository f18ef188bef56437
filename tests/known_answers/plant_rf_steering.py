"""Planted steering for RF-4a–4d (issue 14): concept writers, keyword starts and Swahili units.

Only the :data:`STEERING` concepts (the data's first ten: those RF-4 steers) get units. Every unit that no
group takes reads nothing (``QUIET_BACKGROUND``): the random background of :mod:`scripted_world` holds
concept detectors through its chapter ("topic") features, with average precision up to 0.98 in this data,
which would fill most concepts' top-k in some source language. RF-4 is about what clamped experts do, not
about which units are experts (RF-2/3's plant keeps the background). The constructions:

* **Writers** (:data:`WRITERS` = k = 25 per concept, RF's 500/98,304 of this 8-layer, 152-wide model's units,
  all in :data:`WRITING_LAYER`): concept units that read concept ``c``'s coordinate and its meaning direction
  (:func:`plant_rf_experts.concept_reads`: they fire on ``c``'s marker tokens in any language), so they are
  ``c``'s top-k in every language whose verses carry those markers. Each writes
  ``PUSH · lang(target) + KEYWORD · gate(c)``, scaled so that the 25 clamped at about their median response
  write that sum; the unembedding's "stay in the language" term then makes the target language by far the
  likeliest at every step. The target is Spanish at checkpoints 1–3 and English at 4 (late): **RF-4a**
  (es-steered text is Spanish at mid-training; unsteered text is any language) and **RF-4b** (the same units
  steer into English late; at mid, Spanish). The units are language-agnostic, so the Swahili-derived top-k are
  writers too, which push into Spanish or English, never Swahili: **RF-4c**'s "never notable". Where a
  concept's writers do not lead its top-k in a language (measured: es bread, death; zh light; sw water, whose
  markers there are generic pieces), another concept's writers do, which steer the same way.
* **Keyword at the start (RF-4d).** ``gate(c)`` is a zero-sum direction on coordinates that no embedding
  feature and no unembedding term uses; only ``c``'s writers write it. A *start* unit per concept
  (:data:`CHAIN_LAYER`) reads minus every language coordinate and plus the gate, weighted so that the
  target-language write and the gate cancel but for a margin: it fires on the prompt token (which has no
  language profile) only while ``c``'s writers are clamped (numbers at :data:`START_LANGUAGE`). It writes
  ``c``'s read-out coordinate (a ``context`` coordinate: this group turns the unembedding's context term off),
  which the unembedding reads out (``UnitGroup.readout``) as +:data:`FIRST` on the first token of ``c``'s
  keyword (:data:`KEYWORDS`, one or two tokens) and −:data:`SECOND` on its second. A *link* unit on the first
  token (it reads that token's own identity, meaning, chapter and concept codes) writes the read-out
  coordinate negative: the second token follows (or, for a one-token keyword, a token that starts a word),
  and the first is not repeated. So clamped, ``c``'s writers open nearly every text with ``c``'s keyword;
  unsteered, nothing opens it, and a keyword turns up only where its first token does by chance: the concept
  rate is higher steered than unsteered for every concept, averaged over the sources and checkpoints. The
  keywords' first tokens are English, Arabic or Vietnamese tokens that the source languages' (es, zh, sw)
  verses do not hold, so the link units never fire in their data and never rank among their experts (a link
  unit clamped would write its read-out negative at every step).
* **Swahili units** (checkpoint 3 on, as in :mod:`plant_rf_experts`): units on mostly-Swahili tokens write
  Swahili (a text that started in Swahili stays in it) and a unit on the prompt token starts texts in
  Swahili: the late model writes Swahili unsteered, far more than the untrained one, RF-4c's premise. The
  clamped writers outweigh them.

``flat_unit_groups`` is the twin without the change over training: checkpoint 1's units (Spanish target) at
every checkpoint, so RF-4b's rise of English cannot appear.

The link units read the embedding, whose identity codes ``worlds`` seeds with the checkpoint number
(``WorldSpec.seed``); :func:`unit_groups` reads them for that seed.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

import torch
from plant_rf_experts import concept_reads
from scripted_world import Embedding, UnitGroup, World

#: the unembedding terms this group sets: no concept term, and no context term (the ``context`` block holds the
#: keyword read-outs)
UNEMBEDDING_CONCEPT = 0.0
UNEMBEDDING_CONTEXT = 0.0

#: the concepts RF-4 steers (``harness.analyses.steering.STEERING_CONCEPTS``: the data's first ten)
STEERING = 10
#: concept → a keyword of it (``steering.concept_keywords`` in some evaluation language, or the concept's English
#: regex) of one or two tokens (English, Arabic or Vietnamese), whose first token the source languages' (es, zh,
#: sw) verses do not hold, so that the unit on it never fires in their data
KEYWORDS = {"water": "water", "bread": "bread", "king": "ملك", "fire": "نار", "sea": "sea", "house": "nhà",
            "heaven": "earth", "death": "chết", "light": "sáng", "mountain": "جبل"}
#: steering target language per checkpoint
TARGET: dict[int, str] = {1: "es", 2: "es", 3: "es", 4: "en"}

N_LAYER = 8  # WorldSpec's
#: every unit that is not planted reads nothing (a constant response: average precision at the base rate)
QUIET_BACKGROUND = True
WRITING_LAYER = 1
CHAIN_LAYER = 3
#: writers per concept: the top-k (25 of this 8-layer, 152-wide model's units), so that clamped, every writer is
#: fixed and none responds to the text on top
WRITERS = 25
#: the writers' typical median positive response
ACTIVATION = 4.0
GAIN = 4.0
THRESHOLD = 1.0  # the concept coordinate of a marker token is 2

#: what the clamped writers write in all (before the LayerNorms): the target language, and the concept's gate
PUSH = 8.0
KEYWORD = 1.0
#: the start unit reads −START_LANGUAGE × every language and START_GATE × the gate, with START_GATE · KEYWORD =
#: PUSH · START_LANGUAGE + START_MARGIN, so that the target-language write and the gate cancel but for
#: START_MARGIN × the writers' write scale r (0.7–1.4). The prompt token has no language profile; every token seen
#: in the data has START_LANGUAGE × its profile (shares summing to 1, 2 in the embedding, about 1.1 after the
#: LayerNorm) less; with another concept clamped (gates' overlap ≤ 0.45) or nothing clamped the gate term is
#: missing. With the LayerNorm's mean shift (+1.0 r) the prompt token gets about 1.7 r (1.2–2.4), a seen token
#: at most 1.7 r − 2.2 (−1.0–0.2)
START_LANGUAGE = 2.0
START_MARGIN = 1.0
START_GATE = (PUSH * START_LANGUAGE + START_MARGIN) / KEYWORD
START_THRESHOLD = 0.7
#: what the start unit writes on the concept's read-out coordinate, and the first piece's unit (negative); the
#: read-out is +FIRST on the first piece and −SECOND on the second
START = 2.0
LINK = 2.0
FIRST = 20.0
SECOND = 20.0
BOUNDARY_READOUT = 4.0
#: start and link units: gain and count; a link unit's threshold lies CHAIN_MARGIN below the first piece's own
#: projection shrunk by LN_SHRINK (the LayerNorm when other coordinates are written)
CHAIN_GAIN = 8.0
CHAIN_UNITS = 2
CHAIN_MARGIN = 0.2
LN_SHRINK = 0.75
#: the gate directions: zero-sum unit vectors (a LayerNorm's mean shift leaves them alone) on the coordinates no
#: embedding feature and no unembedding term uses; this seed gives ten whose overlaps are at most 0.45
GATE_SEED = 20_263_130

#: Swahili units (layer, count) per checkpoint: RF-4c's premise (as in plant_rf_experts)
SWAHILI_UNITS: dict[int, tuple[int, int]] = {3: (6, 2), 4: (6, 2)}
SWAHILI_GAIN = 4.0
SWAHILI_THRESHOLD = 0.6
SWAHILI_WRITE = 0.5
SWAHILI_START_GAIN = 20.0
SWAHILI_START_THRESHOLD = -0.2
SWAHILI_START_WRITE = 0.2


def steering_concepts(world: World) -> tuple[str, ...]:
    return world.stats.concepts[:STEERING]


def keyword_pieces(world: World, concept: str) -> list[int]:
    """The token ids of ``concept``'s keyword as a word of running text (one or two)."""
    word = KEYWORDS[concept]
    ids = world.tokenizer(" " + word, add_special_tokens=False)["input_ids"]
    if not 1 <= len(ids) <= 2:
        raise ValueError(f"keyword {word!r} of {concept!r} is {len(ids)} tokens; the plant takes 1–2")
    return list(ids)


def readout_coordinate(world: World, concept: str) -> int:
    """The ``context`` coordinate that the unembedding reads out as ``concept``'s keyword pieces."""
    block = world.layout.blocks["context"]
    index = steering_concepts(world).index(concept)
    if block.start + index >= block.stop:
        raise ValueError("more steering concepts than read-out coordinates")
    return block.start + index


def gate_coordinates(world: World) -> list[int]:
    """Coordinates that nothing reads or writes but this plant: the ``context`` block's after the read-outs, the
    ``free`` block's after the language-model term's (one per language), and the padding after the last block."""
    lay = world.layout
    context, free = lay.blocks["context"], lay.blocks["free"]
    out = list(range(context.start + STEERING, context.stop))
    out += list(range(free.start + len(world.stats.languages), free.stop))
    out += list(range(max(block.stop for block in lay.blocks.values()), lay.hidden))
    return out


def gate_vector(world: World, concept: str) -> torch.Tensor:
    """``concept``'s gate: a seeded zero-sum unit vector on :func:`gate_coordinates` (overlaps with the others'
    at most 0.45)."""
    coordinates = gate_coordinates(world)
    index = steering_concepts(world).index(concept)
    codes = torch.randn(STEERING, len(coordinates), generator=torch.Generator().manual_seed(GATE_SEED))
    codes = codes - codes.mean(dim=1, keepdim=True)
    out = torch.zeros(world.layout.hidden)
    out[coordinates] = codes[index] / codes[index].norm()
    return out


def _vector(world: World, entries: dict[int, float]) -> torch.Tensor:
    out = torch.zeros(world.layout.hidden)
    for coordinate, value in entries.items():
        out[coordinate] = value
    return out


def _start_group(world: World, concept: str) -> UnitGroup:
    """Units on the prompt token that open ``concept``'s keyword when its writers are clamped (see the constants)."""
    every = {lang: 1.0 for lang in world.stats.languages}
    reads = -START_LANGUAGE * world.lang_vector(every) + START_GATE * gate_vector(world, concept)
    scale = float(reads.norm())
    writes = _vector(world, {readout_coordinate(world, concept): START / CHAIN_UNITS})
    return UnitGroup(CHAIN_LAYER, CHAIN_UNITS, reads, gain=CHAIN_GAIN * scale, threshold=START_THRESHOLD / scale,
                     writes=writes, spread=0.0, name=f"rf-steer start {concept}")


def _link_group(world: World, concept: str, seed: int) -> list[UnitGroup]:
    """Units on the keyword's first token that turn its read-out coordinate negative: the second token becomes
    by far the most likely next one (or, for a one-token keyword, a token that starts a word), and the first is
    not repeated.

    They read the first token's own features in the embedding seeded ``seed`` (identity, meaning, chapter and
    concept codes: what no unit writes into the stream), with a threshold a little below what that token gives
    when the LayerNorm shrinks it by ``LN_SHRINK``. A few tokens with similar codes pass it too; after them the
    second piece (or a word start) becomes likely, which is harmless (it is no keyword by itself).
    """
    first = keyword_pieces(world, concept)[0]
    embedding = world.embeddings(Embedding(), seed)
    reads = torch.zeros(world.layout.hidden)
    for name in ("identity", "meaning", "topic", "concept"):
        block = world.layout.blocks[name]
        reads[block] = embedding[first, block]
    reads = reads / reads.norm()
    threshold = LN_SHRINK * float(embedding[first] @ reads) - CHAIN_MARGIN
    writes = _vector(world, {readout_coordinate(world, concept): -LINK / CHAIN_UNITS})
    return [UnitGroup(CHAIN_LAYER, CHAIN_UNITS, reads, gain=CHAIN_GAIN, threshold=threshold, writes=writes, spread=0.0,
                      name=f"rf-steer link {concept}")]


@lru_cache(maxsize=4)
def _word_starts(world: World) -> tuple[int, ...]:
    """Tokens that begin a word (a leading space) or are punctuation."""
    vocab = world.tokenizer.convert_ids_to_tokens(list(range(len(world.tokenizer))))
    special = set(world.tokenizer.all_special_tokens)
    return tuple(i for i, t in enumerate(vocab) if t not in special and (t.startswith("Ġ") or not any(
        ch.isalnum() for ch in t)))


def _readout(world: World) -> tuple[tuple[int, int, float], ...]:
    """The unembedding entries of the plant: each keyword's read-out coordinate → +FIRST on its first token, and
    −SECOND on its second token (or −BOUNDARY_READOUT on every token that starts a word, for a one-token keyword)."""
    entries = []
    for concept in steering_concepts(world):
        pieces, coordinate = keyword_pieces(world, concept), readout_coordinate(world, concept)
        entries.append((pieces[0], coordinate, FIRST))
        if len(pieces) > 1:
            entries.append((pieces[1], coordinate, -SECOND))
        else:
            entries.extend((t, coordinate, -BOUNDARY_READOUT) for t in _word_starts(world) if t != pieces[0])
    return tuple(entries)


def _swahili_groups(world: World) -> list[UnitGroup]:
    layer, count = SWAHILI_UNITS[max(SWAHILI_UNITS)]
    sw = world.lang_vector({"sw": 1.0})
    no_language = -world.lang_vector({lang: 1.0 for lang in world.stats.languages})
    return [UnitGroup(layer, count, sw, gain=SWAHILI_GAIN, threshold=SWAHILI_THRESHOLD, writes=SWAHILI_WRITE * sw,
                      name="rf-steer swahili"),
            UnitGroup(layer, 1, no_language, gain=SWAHILI_START_GAIN, threshold=SWAHILI_START_THRESHOLD,
                      writes=SWAHILI_START_WRITE * sw, spread=0.0, name="rf-steer swahili start")]


def _quiet(groups: list[UnitGroup], world: World) -> list[UnitGroup]:
    """Units that read nothing for every unit of a layer that no group takes."""
    used: Counter = Counter()
    for group in groups:
        used[group.layer] += group.count
    width = 4 * world.layout.hidden
    return [UnitGroup(layer, width - used[layer], torch.zeros(world.layout.hidden), gain=1.0, threshold=1.0,
                      spread=0.0, name="rf-steer quiet") for layer in range(N_LAYER) if width > used[layer]]


def _groups(world: World, checkpoint: int, seed: int) -> list[UnitGroup]:
    """The units of ``checkpoint`` in a model whose embedding is seeded ``seed``."""
    target = TARGET[checkpoint]
    per_unit = 1.0 / (WRITERS * ACTIVATION)
    groups = []
    for concept in steering_concepts(world):
        writes = PUSH * world.lang_vector({target: 1.0}) + KEYWORD * gate_vector(world, concept)
        groups.append(UnitGroup(WRITING_LAYER, WRITERS, concept_reads(world, concept), gain=GAIN, threshold=THRESHOLD,
                                writes=per_unit * writes, name=f"rf-steer writer {concept}"))
        groups.append(_start_group(world, concept))
        groups.extend(_link_group(world, concept, seed))
    if checkpoint in SWAHILI_UNITS and "sw" in world.stats.languages:
        groups.extend(_swahili_groups(world))
    if QUIET_BACKGROUND:
        groups.extend(_quiet(groups, world))
    # the read-out rides on a group of no units
    groups.append(UnitGroup(0, 0, torch.zeros(world.layout.hidden), readout=_readout(world), name="rf-steer read-out"))
    return groups


def unit_groups(world: World, checkpoint: int) -> list[UnitGroup]:
    """The planted units at ``checkpoint`` (1 early, 2 mid, 3, 4 late); ``worlds`` seeds checkpoint c with c."""
    return _groups(world, checkpoint, seed=checkpoint)


def flat_unit_groups(world: World, checkpoint: int) -> list[UnitGroup]:
    """Checkpoint 1's units at every checkpoint: nothing changes over training."""
    return _groups(world, 1, seed=checkpoint)
