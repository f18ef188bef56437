"""Planted units of the Lingua Franca claims (LF-1a … LF-5, LF-7) in the scripted series.

What is planted, per checkpoint (1 = early … 4 = late), in a model of 8 layers whose LF quarters
are first [0, 1], middle [2 … 5] and last [6, 7]:

* **language units** read one language's coordinate of the ``lang`` block and fire on tokens mostly
  of that language (share > ½). They sit only in the outer quarters (LF-2: outer layers are
  language-specific; LF-5: key neurons sit there) and make same-language sentences alike (LF-1a).
  Layers 0–1 keep ``FIRST_QUARTER_UNITS`` per language at every checkpoint; layers 6–7 shrink from
  ``LAST_QUARTER_UNITS[1]`` to ``LAST_QUARTER_UNITS[4]`` per language over training, so the key
  regions shrink (LF-4's SKLR), LRDS falls (LF-4) and the first quarter's share of the key neurons
  rises (LF-5). vi, ar and zh get ``DISTINCT_FACTOR`` times as many (LF-7: larger key regions).
* **language writers**: the language units of the last quarter write onto their language's
  coordinate of the ``free`` block, which the unembedding reads as log p(v | language) − log p(v):
  together they turn the unigram into that language's unigram. Zeroing a language's key region
  removes it for its own tokens only, so its perplexity rises and the others' do not (LF-3a); as
  many random units, almost all silent background, change nothing (LF-3b).
* **meaning units** in the middle quarter read random directions of the ``meaning`` block (codes
  shared by translations) above a threshold: same-meaning sentences activate them alike in every
  language and script (LF-1b, LF-2's semantic middle). Their number grows over training (LF-4's
  SADS rises).
* **a context head** (LF-8): layer 0's attention head averages the topic codes of the text so far
  (the chapter codes of ``scripted_world``) into the ``context`` block, and the unembedding
  prefers tokens of that topic, so the ending that continues the context's chapter is the likelier
  one. Its gain grows over training (``CONTEXT_GAIN``; none at the early checkpoint): the cloze
  gets easier.
* **Romance units** in every layer read fr + es + pt together (LF-1c). They fire in three
  languages, so their contribution's z-score stays below 2: they are no language's key neurons.

The *flat* twin keeps the early units (and embedding) at every checkpoint: nothing changes over training.
"""

from __future__ import annotations

from scripted_world import UnitGroup, World

from harness.layer_groups import lf_quarters

LATE = 4
#: layers of LF-6's smaller model (the family's larger one is the series' late model, 8 layers)
SMALL_LAYERS = 6
#: its outer quarters are one layer each (two in the 8-layer model): twice the language units per layer
SMALL_LANGUAGE_FACTOR = 2.0
#: the embedding's language-profile scale per checkpoint (shared with the RF LID plant: a weaker
#: language signal in the late embedding); units below read relative to it
LANG_SCALE = {1: 1.5, 2: 1.2, 3: 0.9, 4: 0.6}
FIRST_QUARTER_UNITS = 6
LAST_QUARTER_UNITS = {1: 12, 2: 10, 3: 7, 4: 4}
MEANING_UNITS = {1: 16, 2: 40, 3: 70, 4: 96}
DISTINCT = ("vi", "ar", "zh")
DISTINCT_FACTOR = 3.0
ROMANCE = ("fr", "es", "pt")
ROMANCE_UNITS = 6
#: activation → written onto the unit's language's ``free`` coordinate (last quarter); late, the
#: writers of a language sum to about 1 on a token of it (its unigram, not a sharper one)
WRITE = 0.06
#: the context head's gain per checkpoint, and the unembedding's weight on the context topic
CONTEXT_GAIN = {1: 0.0, 2: 1.0, 3: 2.0, 4: 4.0}
UNEMBEDDING_CONTEXT = 1.0
LANGUAGE_GAIN = 2.0
MEANING_GAIN = 64.0
MEANING_THRESHOLD = 0.2


def _count(base: float, lang: str) -> int:
    return int(round(base * (DISTINCT_FACTOR if lang in DISTINCT else 1.0)))


def _language_units(world: World, layer: int, per_language: float, scale: float, *, writes: bool) -> list[UnitGroup]:
    # x·reads = 2·scale·share for a token with ``share`` of its occurrences in the language: fire above ½
    return [
        UnitGroup(layer, _count(per_language, lang), world.lang_vector({lang: 1.0}), gain=LANGUAGE_GAIN / scale,
                  threshold=scale, name=f"language {lang}",
                  writes=WRITE * world.layout.vector("free", index=world.language(lang)) if writes else None)
        for lang in world.stats.languages
    ]


def _groups(world: World, checkpoint: int, counts_at: int, n_layer: int = 8,
            language_factor: float = 1.0) -> list[UnitGroup]:
    scale = LANG_SCALE[checkpoint]
    first, middle, last = lf_quarters(n_layer)
    groups: list[UnitGroup] = []
    for layer in first:
        groups += _language_units(world, layer, FIRST_QUARTER_UNITS * language_factor, scale, writes=False)
    for layer in last:
        groups += _language_units(world, layer, LAST_QUARTER_UNITS[counts_at] * language_factor, scale, writes=True)
    for layer in middle:
        groups += [
            UnitGroup(layer, 1, world.random_vector("meaning", seed=1000 * layer + i), gain=MEANING_GAIN,
                      threshold=MEANING_THRESHOLD, name="meaning")
            for i in range(MEANING_UNITS[counts_at])
        ]
    romance = world.lang_vector({lang: 1.0 for lang in ROMANCE})
    # x·reads = 2·scale·(share of fr+es+pt)/√3: fire when most of a token's occurrences are Romance
    groups += [UnitGroup(layer, ROMANCE_UNITS, romance, gain=LANGUAGE_GAIN / scale, threshold=scale * 0.6,
                         name="romance") for layer in range(n_layer)]
    return groups


def unit_groups(world: World, checkpoint: int) -> list[UnitGroup]:
    return _groups(world, checkpoint, checkpoint)


def flat_unit_groups(world: World, checkpoint: int) -> list[UnitGroup]:
    """The early model's units at every checkpoint (the series differs only in its background seed)."""
    return _groups(world, 1, 1)


def smaller_model_groups(world: World) -> list[UnitGroup]:
    """LF-6's smaller model (``SMALL_LAYERS`` layers): the early model's mix of language and meaning units.

    The family's larger member is the series' late model: in the positive series it has fewer
    language units and more meaning units, so LRDS falls and SADS rises with size; in the flat twin
    it has the same mix as this one.
    """
    return _groups(world, 1, 1, n_layer=SMALL_LAYERS, language_factor=SMALL_LANGUAGE_FACTOR)
