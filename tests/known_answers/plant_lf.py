"""Planted units of the Lingua Franca claims (LF-1a … LF-5, LF-7) in the scripted series.

What is planted, per checkpoint (1 = early … 4 = late), in a model of 8 layers whose LF quarters
are first [0, 1], middle [2 … 5] and last [6, 7]:

* **language units** read one language's coordinate of the ``lang`` block and fire on tokens mostly
  of that language (share > ½). They sit only in the outer quarters (LF-2: outer layers are
  language-specific; LF-5: key neurons sit there) and make same-language sentences alike (LF-1a).
  Layers 0–1 keep ``FIRST_QUARTER_UNITS`` per language at every checkpoint; layers 6–7 shrink from
  ``LAST_QUARTER_UNITS[1]`` to ``LAST_QUARTER_UNITS[4]`` per language over training, so the key
  regions shrink (LF-4's SKLR), LRDS falls (LF-4) and the first quarter's share of the key neurons
  rises (LF-5). vi, ar and zh get ``DISTINCT_FACTOR`` times as many writers and
  ``DISTINCT_FIRST_FACTOR`` times as many first-quarter units (LF-7: larger key regions, by a margin that
  beats the untrained model's own size gap between these scripts).
* **language writers**: the language units of the last quarter write onto their language's
  coordinate of the ``free`` block, which the unembedding reads as log p(v | language) − log p(v):
  together they move the unigram part of the way to that language's unigram (``WRITE``: about a
  third of the way late). Zeroing a language's key region removes it for its own tokens only, so its
  perplexity rises and the others' do not (LF-3a); as many random units, almost all silent
  background, change nothing (LF-3b). The LF series' unembedding has no "stay in the language" term
  (``UNEMBEDDING_STAY`` = 0): with it, the writers counted the language twice and the model was
  better without them (zeroing a key region *lowered* its language's log-PPL by 0.40).
* **meaning units** in the middle quarter read random directions of the ``meaning`` block (codes
  shared by translations) above a threshold: same-meaning sentences activate them alike in every
  language and script (LF-1b, LF-2's semantic middle). Their number grows over training (LF-4's
  SADS rises).
* **a context head** (LF-8): layer 0's attention head averages the meaning codes of the text so far
  (the first 12 coordinates of the ``meaning`` block, which translations share) into the
  ``context`` block, and the unembedding prefers tokens of that meaning, so of two English endings
  the translation of the context is the likelier. Its gain grows over training (``CONTEXT_GAIN``;
  none at the early checkpoint): the cloze gets easier. The cloze is :func:`translation_cloze`,
  given to LF-8 through ``--data`` in XStoryCloze's format: the shipped Bible cloze (consecutive
  verses) cannot carry a planted effect in the scripted 3,000-token vocabulary, whose tokens do not
  tell chapters apart (``scripted_world.TokenStatistics``).
* **Romance units** in every layer read fr + es + pt together (LF-1c). They fire in three
  languages, so their contribution's z-score stays below 2: they are no language's key neurons.

The *flat* twin keeps the early units (and embedding) at every checkpoint: nothing changes over training.
"""

from __future__ import annotations

import json
from pathlib import Path

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
DISTINCT_FIRST_FACTOR = 10.0
#: a distinct language's writer is this many times weaker (its writers are DISTINCT_FACTOR times as many)
DISTINCT_WRITE_DIVISOR = 15.0
ROMANCE = ("fr", "es", "pt")
ROMANCE_UNITS = 6
#: activation → written onto the unit's language's ``free`` coordinate (last quarter). Measured on
#: the late model (Δlog PPL of a language when its writers are zeroed): 0.035 gives en +0.24,
#: es +0.04, zh +2.25, sw +0.26 and lowers every other language's; 0.06 over-sharpens (es −0.003)
WRITE = 0.035
#: no "stay in the language" logit term: the writers are the LF model's only language model
UNEMBEDDING_STAY = 0.0
#: the context head's gain per checkpoint, and the unembedding's weight on the context topic
CONTEXT_GAIN = {1: 0.0, 2: 1.0, 3: 2.0, 4: 4.0}
#: (measured on the late model: LF-8's translation cloze 0.78–0.86 in es, zh, sw at gain 4 against 0.64
#: without the head; 1.0 gave 0.52–0.56 before the head skipped English tokens)
UNEMBEDDING_CONTEXT = 15.0
LANGUAGE_GAIN = 2.0
MEANING_GAIN = 64.0
MEANING_THRESHOLD = 0.2


def _write(lang: str) -> float:
    """A writer's weight: a distinct language's writers are ``DISTINCT_FACTOR`` times as many, each
    ``DISTINCT_WRITE_DIVISOR`` times weaker, so that zeroing each language's writers costs it a
    comparable Δlog PPL (LF-3b's t test over languages needs that). Their scripts make their PMI
    large: measured late, zeroing the writers raised log-PPL by vi 0.97, ar 1.32, zh 1.72 at a divisor
    of 3 and by 0.36, 0.62, 0.74 at 9 (en 0.21, es 0.05, fr 0.10, pt 0.04, sw 0.37)."""
    return WRITE / (DISTINCT_WRITE_DIVISOR if lang in DISTINCT else 1.0)


def _count(base: float, lang: str, factor: float) -> int:
    return int(round(base * (factor if lang in DISTINCT else 1.0)))


def _language_units(world: World, layer: int, per_language: float, scale: float, *, writes: bool) -> list[UnitGroup]:
    # x·reads = 2·scale·share for a token with ``share`` of its occurrences in the language: fire above ½
    factor = DISTINCT_FACTOR if writes else DISTINCT_FIRST_FACTOR
    return [
        UnitGroup(layer, _count(per_language, lang, factor), world.lang_vector({lang: 1.0}),
                  gain=LANGUAGE_GAIN / scale,
                  threshold=scale, name=f"language {lang}",
                  writes=_write(lang) * world.layout.vector("free", index=world.language(lang)) if writes else None)
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


def translation_cloze(data, languages, tokenizer) -> dict[str, list[dict]]:
    """LF-8's planted cloze, per language: XStoryCloze-format stories from the parallel similarity sample.

    Story r: the context is verse r of the ``similarity`` split in the story's language; the right
    ending is the same verse in English, the distractor the English verse of the split nearest to it
    in length in ``tokenizer``'s tokens, then in characters (the next longer one; the longest takes the
    next shorter): each ending is scored by its summed log-likelihood, whose normaliser grows with the
    ending's token count, so unequal counts would decide the cloze. The right ending's position
    alternates (balanced), and each story is the same in every language (``story_id``). The context
    head makes it easier: it carries the meaning codes that translations share.
    """
    english = data.texts("similarity", "en")
    n_tokens = [len(ids) for ids in tokenizer([" " + t for t in english], add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(english)), key=lambda r: (n_tokens[r], len(english[r]), r))
    rank = {r: i for i, r in enumerate(order)}

    def distractor(r: int) -> int:
        i = rank[r]
        return order[i + 1] if i + 1 < len(order) else order[i - 1]

    out: dict[str, list[dict]] = {}
    for lang in languages:
        texts = data.texts("similarity", lang)
        out[lang] = []
        for r in range(len(english)):
            label = 1 + r % 2
            pair = (english[r], english[distractor(r)])
            endings = pair if label == 1 else pair[::-1]
            out[lang].append({"story_id": f"similarity-{r}", "context": texts[r], "ending_1": endings[0],
                              "ending_2": endings[1], "label": label})
    return out


def write_translation_cloze(data, languages, tokenizer, folder: Path) -> Path:
    """:func:`translation_cloze` as ``folder/xstory_cloze/<lang>.jsonl`` (what ``--data folder`` reads)."""
    target = folder / "xstory_cloze"
    target.mkdir(parents=True, exist_ok=True)
    for lang, stories in translation_cloze(data, languages, tokenizer).items():
        (target / f"{lang}.jsonl").write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in stories))
    return folder
