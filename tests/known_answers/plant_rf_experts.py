"""Planted concept experts and steering writers for RF-2a–2d, RF-3a/3b and RF-4a–4d (issue 14).

Every planted expert is a *concept unit*: it reads concept ``c``'s coordinate of the residual stream
(2 on the tokens that mark ``c``'s verses in any language, :mod:`scripted_world`) plus, more weakly,
``c``'s direction of the ``meaning`` block (the mean meaning code of its marker tokens, so that the
tokens that really mark ``c`` respond more than tokens that are markers only by accident), and fires
on those tokens whatever the language. Its expert score AP(c, l) is therefore high in every language
where ``c`` has marker tokens: the units of one concept are shared by the languages (alignment, MI,
top-k overlap). The random background units are language-specific token detectors, as in a real
model; they fill the rest of each top-k.

Over the checkpoints (1 early, 2 mid, 3, 4 late) the units grow in number and move:

* **RF-2a/2b/2c**: more concept units per concept at every later checkpoint (3, 9, 15, 18), so
  alignment, MI and the overlap of the top-k rise from checkpoint to checkpoint, for every concept;
* **RF-2d**: from checkpoint 3 on, some units also need a Latin-script language profile (they read the
  Latin languages' ``lang`` coordinates as well, with a threshold only both together pass), so
  same-script (Latin) pairs share more experts than cross-script pairs;
* **RF-3a/3b**: early, the concept units sit in layer 0 only; late, layer 0 keeps one, the upper
  middle (layers 4–5) holds the most, the lower middle (layer 3) has a dip below the layers around
  it, and the last layer has none.

Steering (RF-4): the concept units of one layer (:data:`WRITING_LAYER`: layer 0 early, 4 later; one
layer, so that writers do not amplify each other) write ``lang(target) + CONCEPT_WRITE · concept_c``
into the residual stream, ``target`` Spanish at checkpoints 1–3 and English late. Clamping a
concept's Spanish-derived experts (the same language-agnostic units) to their median response at
every position therefore moves the next-token distribution (``Unembedding.stay``) into Spanish at
mid-training and into English late, and (``Unembedding.concept`` = :data:`UNEMBEDDING_CONCEPT`)
towards the concept's marker tokens.
Swahili-derived experts are the same units: they never steer into Swahili (RF-4c). The units before
that layer write nothing, so the Latin units read a stream that no planted unit has changed yet.
From checkpoint 3 on, a few *Swahili* units (tokens mostly Swahili → more Swahili next) keep a text
that started in Swahili in Swahili, and a unit on the prompt token (no language profile) starts a few
texts in Swahili: the late model writes Swahili unsteered, more often than the
untrained one, which is RF-4c's premise. The writes are scaled by the number of writing units per
concept, so the push of a clamped top-k is about the same at every checkpoint.

``flat_unit_groups`` is the twin without the change over training: the early units at every checkpoint.

Known limits (issue 14 report): RF-4's language shifts need generation that langdetect can read; the
unembedding's context term (``UNEMBEDDING_CONTEXT``) at 10 drives texts into one-token loops, at 1 it
does not. RF-4d's keywords are whole words of 2–4 tokens in this tokenizer (only 5 of the 10
steering concepts have a one-token keyword), and a token-level concept term raises the pieces, not the
words: no concept keyword was seen in any steered text. A concept's top-k in one language holds its
writers only where the concept units outrank the background's token detectors there and win the
ties with the earlier layers' units; for some concepts (late, in sw: water, bread) none is clamped.
"""

from __future__ import annotations

import numpy as np
from scripted_world import UnitGroup, World

#: the shared knob this module needs: the unembedding's concept term (``Unembedding(concept=...)``)
UNEMBEDDING_CONCEPT = 1.5
#: the languages written in Latin script (``harness.data.SCRIPTS``)
LATIN = ("en", "es", "fr", "pt", "de", "vi", "id", "sw")

#: concept units per concept and layer at each checkpoint (language-agnostic units)
AGNOSTIC: dict[int, dict[int, int]] = {
    1: {0: 3},
    2: {0: 3, 1: 1, 2: 1, 4: 2, 5: 2},
    3: {0: 2, 1: 2, 2: 2, 3: 1, 4: 3, 5: 3, 6: 1},
    4: {0: 1, 1: 2, 2: 2, 3: 1, 4: 4, 5: 4, 6: 2},
}
#: units per concept and layer that also need a Latin-script token (RF-2d); at or before WRITING_LAYER
LATIN_UNITS: dict[int, dict[int, int]] = {1: {}, 2: {}, 3: {4: 1}, 4: {1: 1, 4: 1}}
#: steering target language per checkpoint (None: the units write nothing)
TARGET: dict[int, str | None] = {1: "es", 2: "es", 3: "es", 4: "en"}
#: per checkpoint, the only layer whose units write into the residual stream (writers in one layer do not
#: amplify each other; the Latin units sit at or before it)
WRITING_LAYER = {1: 0, 2: 4, 3: 4, 4: 4}
#: Swahili units (layer, count) per checkpoint: RF-4c's premise
SWAHILI_UNITS: dict[int, tuple[int, int]] = {3: (6, 2), 4: (6, 2)}
#: a unit that fires on the prompt token alone (no language profile) and writes a little Swahili
START_GAIN = 20.0
START_THRESHOLD = -0.2
START_WRITE = 0.2

GAIN = 4.0
THRESHOLD = 1.0  # the concept coordinate of a marker token is 2 (Embedding.concept = 1)
MEANING_WEIGHT = 0.7  # of the concept's meaning direction in a concept unit's read direction
LATIN_WEIGHT = 0.7  # of each Latin language's coordinate in a Latin unit's read direction
LATIN_THRESHOLD = 1.2
#: the total language write of a concept's writing units when all of them fire at about ACTIVATION
PUSH = 8.0
ACTIVATION = 4.0
CONCEPT_WRITE = 1.0  # concept coordinate written per unit of language written
SWAHILI_THRESHOLD = 0.6  # on the sw coordinate (2 × lang scale × the token's sw share; late scale 0.6)
SWAHILI_WRITE = 0.5


def meaning_direction(world: World, concept: str) -> np.ndarray:
    """The unit-norm mean meaning code of ``concept``'s marker tokens (chosen per language)."""
    stats = world.stats
    ids = sorted({t for lang in stats.languages for t in stats.markers_by_language[concept][lang]})
    if not ids:
        return np.zeros(stats.meaning.shape[1])
    v = stats.meaning[ids].sum(axis=0)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def concept_reads(world: World, concept: str):
    """A concept unit's read direction: the concept coordinate and its meaning direction."""
    return world.concept_vector(concept) + MEANING_WEIGHT * world.layout.vector(
        "meaning", meaning_direction(world, concept))


def _writes(world: World, concept: str, checkpoint: int, n_writers: int):
    target = TARGET[checkpoint]
    if target is None or n_writers == 0:
        return None
    per_unit = PUSH / (n_writers * ACTIVATION)
    return per_unit * (world.lang_vector({target: 1.0}) + CONCEPT_WRITE * world.concept_vector(concept))


def _groups(world: World, checkpoint: int, placement: int) -> list[UnitGroup]:
    """The concept units placed as at checkpoint ``placement``, writing as at ``checkpoint``."""
    agnostic, latin = AGNOSTIC[placement], LATIN_UNITS[placement]
    writing = WRITING_LAYER[checkpoint]
    n_writers = agnostic.get(writing, 0) + latin.get(writing, 0)
    latin_read = LATIN_WEIGHT * world.lang_vector({lang: 1.0 for lang in LATIN if lang in world.stats.languages})
    groups = []
    for concept in world.stats.concepts:
        writes = _writes(world, concept, checkpoint, n_writers)
        reads = concept_reads(world, concept)

        def written(layer: int):
            return writes if layer == writing else None

        for layer, count in sorted(agnostic.items()):
            groups.append(UnitGroup(layer, count, reads, gain=GAIN, threshold=THRESHOLD, writes=written(layer),
                                    name=f"rf-expert {concept}"))
        for layer, count in sorted(latin.items()):
            groups.append(UnitGroup(layer, count, reads + latin_read, gain=GAIN, threshold=LATIN_THRESHOLD,
                                    writes=written(layer), name=f"rf-expert latin {concept}"))
    if placement in SWAHILI_UNITS and "sw" in world.stats.languages:
        layer, count = SWAHILI_UNITS[placement]
        sw = world.lang_vector({"sw": 1.0})
        groups.append(UnitGroup(layer, count, sw, gain=GAIN, threshold=SWAHILI_THRESHOLD,
                                writes=SWAHILI_WRITE * sw, name="rf-steer swahili"))
        no_language = -world.lang_vector({lang: 1.0 for lang in world.stats.languages})
        groups.append(UnitGroup(layer, 1, no_language, gain=START_GAIN, threshold=START_THRESHOLD,
                                writes=START_WRITE * sw, spread=0.0, name="rf-steer swahili start"))
    return groups


def unit_groups(world: World, checkpoint: int) -> list[UnitGroup]:
    """The planted units at ``checkpoint`` (1 early, 2 mid, 3, 4 late)."""
    return _groups(world, checkpoint, checkpoint)


def flat_unit_groups(world: World, checkpoint: int) -> list[UnitGroup]:
    """The early units at every checkpoint: nothing changes over training."""
    return _groups(world, 1, 1)
