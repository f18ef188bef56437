"""Planted concept experts for RF-2a–2d and RF-3a/3b (issue 14).

Every planted expert is a *concept unit*: it reads concept ``c``'s coordinate of the residual stream
(2 on the tokens that mark ``c``'s verses in any language, :mod:`scripted_world`) plus, more weakly,
``c``'s direction of the ``meaning`` block (the mean meaning code of its marker tokens, so that the
tokens that really mark ``c`` respond more than tokens that are markers only by accident), and fires
on those tokens whatever the language. Its expert score AP(c, l) is therefore high in every language
where ``c`` has marker tokens: the units of one concept are shared by the languages (alignment, MI,
top-k overlap). Each unit also reads a small seeded random direction of the ``identity`` block
(:data:`IDENTITY_NOISE`), so that no two units rank the sentences exactly alike: exact copies would
tie in AP, and the top-k would break the tie by unit index, i.e. always in favour of the earlier layer.
The random background units are language-specific token detectors, as in a real model; they fill
the rest of each top-k.

Nothing writes into the residual stream here (steering is RF-4's own plant, ``plant_rf_steering``):
a unit that writes on concept tokens changes what every later layer's background reads, and a
write at layer 0 made the whole background align across languages (alignment 0.35 in layers 1–7
against 0.11 without it), which swamped the planted change.

Over the checkpoints (1 early, 2 mid, 4 late; :data:`EXPERTS` per concept and layer):

* **RF-2a/2b/2c**: 8 concept units per concept early, 20 at mid, 27 late, so alignment, MI and the
  overlap of the top-k rise from checkpoint to checkpoint for (nearly) every concept;
* **RF-2d**: late, two units per concept also need a Latin-script language profile (they read the
  Latin languages' ``lang`` coordinates as well, with a threshold only both together pass), so
  same-script (Latin) pairs share more experts than cross-script pairs;
* **RF-3a**: early, all concept units sit in layer 0; late, layer 0 keeps one, the lower layers
  (1–2) and the upper middle (4–5) hold most, the lower middle (layer 3) holds none (the dip), the
  layer after the middle (6) some and the last layer none;
* **RF-3b**: the same placement puts the shared experts of the late model in the middle layers
  (4–5) and not in the first or last layer, and the middle holds none of them early.

``flat_unit_groups`` is the twin without the change over training: the early units at every checkpoint.
"""

from __future__ import annotations

import numpy as np
from scripted_world import UnitGroup, World

#: the languages written in Latin script (``harness.data.SCRIPTS``)
LATIN = ("en", "es", "fr", "pt", "de", "vi", "id", "sw")

#: language-agnostic concept units per concept and layer at each checkpoint (8 layers; at most ~10 per
#: concept fit in one layer: 48 concepts, 608 units per layer)
EXPERTS: dict[int, dict[int, int]] = {
    1: {0: 8},
    2: {0: 6, 1: 2, 2: 2, 4: 4, 5: 4, 6: 2},
    4: {0: 1, 1: 4, 2: 4, 4: 8, 5: 8, 6: 6},
}
#: units per concept and layer that also need a Latin-script token (RF-2d)
LATIN_EXPERTS: dict[int, dict[int, int]] = {1: {}, 2: {}, 4: {1: 1, 4: 1}}

GAIN = 4.0
THRESHOLD = 1.0  # the concept coordinate of a marker token is 2 (Embedding.concept = 1)
MEANING_WEIGHT = 0.7  # of the concept's meaning direction in a concept unit's read direction
LATIN_WEIGHT = 0.7  # of each Latin language's coordinate in a Latin unit's read direction
LATIN_THRESHOLD = 1.2
#: weight of each unit's own random ``identity`` direction: breaks AP ties between units of one concept
IDENTITY_NOISE = 0.1


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


def _units(world: World, concept_index: int, reads, layer: int, count: int, threshold: float, name: str,
           salt: int) -> list[UnitGroup]:
    """``count`` units of ``layer`` reading ``reads``, each with its own seeded identity direction."""
    return [
        UnitGroup(layer, 1, reads + IDENTITY_NOISE * world.random_vector(
            "identity", seed=((salt * 1000 + concept_index) * 16 + layer) * 64 + i),
            gain=GAIN, threshold=threshold, name=name)
        for i in range(count)
    ]


def _groups(world: World, placement: int) -> list[UnitGroup]:
    """The concept units placed as at checkpoint ``placement``."""
    latin_read = LATIN_WEIGHT * world.lang_vector({lang: 1.0 for lang in LATIN if lang in world.stats.languages})
    groups: list[UnitGroup] = []
    for index, concept in enumerate(world.stats.concepts):
        reads = concept_reads(world, concept)
        for layer, count in sorted(EXPERTS[placement].items()):
            groups += _units(world, index, reads, layer, count, THRESHOLD, f"rf-expert {concept}", salt=1)
        for layer, count in sorted(LATIN_EXPERTS[placement].items()):
            groups += _units(world, index, reads + latin_read, layer, count, LATIN_THRESHOLD,
                             f"rf-expert latin {concept}", salt=2)
    return groups


def unit_groups(world: World, checkpoint: int) -> list[UnitGroup]:
    """The planted units at ``checkpoint`` (1 early, 2 mid, 4 late)."""
    return _groups(world, checkpoint)


def flat_unit_groups(world: World, checkpoint: int) -> list[UnitGroup]:
    """The early units at every checkpoint: nothing changes over training."""
    return _groups(world, 1)
