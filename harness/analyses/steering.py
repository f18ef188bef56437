"""Steering generation with concept expert neurons (RF §8, App. E): the numbers RF-4a…4d decide on.

Protocol (CLAIMS.md "steering", "generation protocol"): the top-k experts of concept ``c`` in a
source language ``l`` are fixed to their median max-pooled response over ``c``'s positives in
``l`` at every position, prompt included; the prompt is the BOS token alone (``</s>`` for BLOOM);
nucleus sampling top_p 0.9, temperature 0.8, 64 new tokens; one sample per seed.

Three conditions per revision and source language, all with the same seeds:

* ``steered`` – concept ``c``'s top-k experts in ``l`` set to their own positive medians;
* ``random_units`` – as many units drawn uniformly from the units that are *not* among those
  experts, each set to **its own** median positive response for ``c`` in ``l`` (so the control
  clamps the same number of units to values of the same kind, just not the experts);
* ``unsteered`` – no intervention (independent of ``c`` and ``l``); concept ``i`` gets its own
  block of seeds ``i·S … i·S+S-1`` so that unsteered samples are independent across concepts.

Language of a text: ``harness.langid.detect_language`` (seeded langdetect; "unknown" is kept as a
category). Concept relevance is *measured*: a text is about concept ``c`` when it contains one of
``c``'s keywords in any evaluation language, and the keywords are derived from the concept data
themselves (the words most enriched in ``c``'s positive verses over its negative verses, per
language; for English also the concept's own regex). The same keywords score every condition.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from harness.generation import GenerationConfig
from harness.langid import UNKNOWN, detect_language
from harness.measurement_source import MeasurementSource
from harness.metrics import topk_units
from harness.profiles import ModelProfile

SOURCE_LANGUAGES = ("es", "zh", "sw")  # RF §8 and App. E
CONDITIONS = ("steered", "random_units", "unsteered")
#: concepts steered per source language (the first ones of the data: concrete nouns first)
STEERING_CONCEPTS = 10
RANDOM_UNITS_SEED = 20_250_101

_WORD = re.compile(r"\w+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
#: keyword selection: share of positives containing the word ≥ MIN_POSITIVE_SHARE and at least
#: MIN_RATIO times its share among negatives; at most KEYWORDS_PER_LANGUAGE words per language
MIN_POSITIVE_SHARE = 0.2
MIN_RATIO = 10.0
KEYWORDS_PER_LANGUAGE = 2


# --------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class SteeringPlan:
    k: int
    k_rule: str
    concepts: tuple[str, ...]
    seeds_per_concept: int
    config: GenerationConfig = GenerationConfig()

    def to_record(self) -> dict:
        return {
            "k": self.k,
            "k_rule": self.k_rule,
            "concepts": list(self.concepts),
            "seeds_per_concept": self.seeds_per_concept,
            "samples_per_condition": self.seeds_per_concept * len(self.concepts),
            "top_p": self.config.top_p,
            "temperature": self.config.temperature,
            "max_new_tokens": self.config.max_new_tokens,
        }


def steering_plan(measurements: MeasurementSource) -> SteeringPlan:
    """k, concepts and seeds for this run (``--top-k`` and ``--generation-seeds`` override)."""
    config, profile = measurements.config, measurements.plan.profile
    n_units = measurements.loaded_model(measurements.plan.revision).site.n_units
    if config.k:
        k, rule = int(config.k), "--top-k"
    elif profile is not None and profile.steering_fraction:
        fraction = profile.steering_fraction
        k, rule = max(1, round(fraction * n_units)), f"profile {profile.name}: {fraction:.1%} of {n_units} units"
    else:
        k, rule = measurements.top_k(), f"paper's fraction 500/98,304 of {n_units} units"
    seeds = config.generation_seeds or (profile.generation_seeds if profile else ModelProfile.generation_seeds)
    concepts = tuple(measurements.data.concept_names[:STEERING_CONCEPTS])
    return SteeringPlan(k=k, k_rule=rule, concepts=concepts, seeds_per_concept=int(seeds))


# ------------------------------------------------------------------------------ interventions
def expert_units(
    measurements: MeasurementSource, revision: str | None, lang: str, concept: str, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-k experts of ``concept`` in ``lang`` and their median positive responses."""
    index = measurements.data.concept_names.index(concept)
    units = topk_units(measurements.expert_scores(revision, lang)[index], k)
    values = measurements.positive_medians(revision, lang, concept)[units]
    return units, values


def random_units(
    measurements: MeasurementSource, revision: str | None, lang: str, concept: str, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` random non-expert units, each with its own median positive response (the control)."""
    experts, _ = expert_units(measurements, revision, lang, concept, k)
    medians = measurements.positive_medians(revision, lang, concept)
    pool = np.setdiff1d(np.arange(medians.numel()), experts.numpy())
    seed = RANDOM_UNITS_SEED + zlib.crc32(f"{lang}/{concept}".encode())
    chosen = np.sort(np.random.default_rng(seed).choice(pool, size=k, replace=False))
    units = torch.as_tensor(chosen, dtype=torch.long)
    return units, medians[units]


# ------------------------------------------------------------------------------- generation
@dataclass
class Generations:
    """Texts of one condition at one revision: ``texts[concept]`` (seeds in order)."""

    revision: str | None
    condition: str
    source: str | None
    texts: dict[str, list[str]] = field(default_factory=dict)

    def all(self) -> list[str]:
        return [t for texts in self.texts.values() for t in texts]


def generate_condition(
    measurements: MeasurementSource, revision: str | None, condition: str, plan: SteeringPlan, source: str | None = None
) -> Generations:
    """Generate ``plan.seeds_per_concept`` samples per concept under one condition."""
    if condition not in CONDITIONS:
        raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")
    out = Generations(revision, condition, source)
    s = plan.seeds_per_concept
    if condition == "unsteered":
        texts = measurements.generations(revision, range(len(plan.concepts) * s), config=plan.config)
        for i, concept in enumerate(plan.concepts):
            out.texts[concept] = texts[i * s : (i + 1) * s]
        return out
    for concept in plan.concepts:
        pick = expert_units if condition == "steered" else random_units
        units, values = pick(measurements, revision, source, concept, plan.k)
        texts = measurements.generations(revision, range(s), units=units, values=values, config=plan.config)
        out.texts[concept] = texts
    return out


# ------------------------------------------------------------------------------- languages
def text_language(text: str, measurements: MeasurementSource | None = None) -> str:
    """``detect_language(text)``, memoised per run in ``measurements`` when given (texts repeat
    across the steering claims: the unsteered samples and the shared checkpoints)."""
    if measurements is None:
        return detect_language(text)
    return measurements.memo(("language", text), lambda: detect_language(text))


def language_counts(texts: Sequence[str], measurements: MeasurementSource | None = None) -> Counter:
    """Detected language of each text, counted ("unknown" kept); see :func:`text_language`."""
    return Counter(text_language(t, measurements) for t in texts)


def shares(counts: Counter) -> dict[str, float]:
    n = sum(counts.values())
    return {code: counts[code] / n for code, _ in counts.most_common()} if n else {}


def rank_of(code: str, counts: Counter, *, include_unknown: bool) -> int:
    """1-based rank of ``code`` by count (ties share the better rank); 0 when absent."""
    if counts.get(code, 0) == 0:
        return 0
    others = [n for c, n in counts.items() if c != code and (include_unknown or c != UNKNOWN)]
    return 1 + sum(n > counts[code] for n in others)


# ------------------------------------------------------------------------ concept relevance
def _tokens(text: str, lang: str) -> set[str]:
    text = text.lower()
    if lang in ("zh", "ja"):
        chars = _CJK.findall(text)
        return set(chars) | {a + b for a, b in zip(chars, chars[1:])}
    return {w for w in _WORD.findall(text) if len(w) >= 3 and not w.isdigit()}


def concept_keywords(data, concept: str, languages: Sequence[str]) -> dict[str, list[str]]:
    """Per language, the words that mark ``concept``'s positive verses (derived, not assumed).

    A word qualifies when at least 20 % of the positives contain it and its share among positives
    is at least 10× its share among negatives; the (up to) two most enriched words are kept. Chinese
    is scored on characters and character bigrams.
    """
    out: dict[str, list[str]] = {}
    for lang in languages:
        texts, labels = data.concept_texts(concept, lang)
        pos = [_tokens(t, lang) for t, y in zip(texts, labels) if y]
        neg = [_tokens(t, lang) for t, y in zip(texts, labels) if not y]
        cp = Counter(w for s in pos for w in s)
        cn = Counter(w for s in neg for w in s)
        scored = []
        for word, n in cp.items():
            share_pos, share_neg = n / len(pos), cn[word] / len(neg)
            if share_pos >= MIN_POSITIVE_SHARE and share_pos >= MIN_RATIO * share_neg:
                scored.append((share_pos - share_neg, word))
        scored.sort(key=lambda t: (-t[0], t[1]))
        out[lang] = [w for _, w in scored[:KEYWORDS_PER_LANGUAGE]]
    return out


@dataclass(frozen=True)
class ConceptMatcher:
    concept: str
    keywords: dict[str, list[str]]
    regex: str = ""

    def matches(self, text: str) -> bool:
        if self.regex and re.search(self.regex, text, flags=re.IGNORECASE):
            return True
        lowered = text.lower()
        for lang, words in self.keywords.items():
            if not words:
                continue
            if lang in ("zh", "ja"):
                if any(w in lowered for w in words):
                    return True
            elif _tokens(lowered, lang) & set(words):
                return True
        return False


def concept_matcher(data, concept: str, languages: Sequence[str]) -> ConceptMatcher:
    return ConceptMatcher(concept, concept_keywords(data, concept, languages), data.concept(concept).regex)


def concept_hits(generations: Generations, matchers: dict[str, ConceptMatcher]) -> tuple[int, int]:
    """(texts about their own concept, texts) over all concepts of ``generations``."""
    hits = n = 0
    for concept, texts in generations.texts.items():
        matcher = matchers[concept]
        hits += sum(matcher.matches(t) for t in texts)
        n += len(texts)
    return hits, n
