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

Statistics (issue 14): the unit that is intervened on is the concept, so every comparison is made
over concepts, never over the pooled texts (texts of one concept share its clamped units and are
not independent). Per concept, a share (of a language, or of texts about the concept) is computed
from its ``S`` samples; two conditions are compared by a paired sign-flip test over concepts
(:func:`concept_paired_test`, exact for ≤ 16 concepts) with a cluster-bootstrap interval of the mean
difference; "``code`` is among the largest languages" is an intersection–union of such tests
(:func:`largest_share_test`); "the share stays below a bound" is decided on a cluster-adjusted
(Korn–Graubard) exact upper bound (:func:`share_upper_bound`), with the samples per concept that
bound needs (:func:`seeds_needed`).
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np
import torch
from scipy import stats as sps

from harness.generation import GenerationConfig
from harness.langid import UNKNOWN, detect_language
from harness.measurement_source import MeasurementSource
from harness.metrics import ALPHA, Decision, bootstrap_ci, detectable_effect, paired_permutation_test, topk_units
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
    if source is None:
        raise ValueError(f"condition {condition!r} needs a source language")
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


def concept_rates(generations: Generations, matchers: dict[str, ConceptMatcher]) -> dict[str, float]:
    """Per concept, the share of its texts that are about it (contain one of its keywords)."""
    return {c: sum(matchers[c].matches(t) for t in texts) / len(texts) for c, texts in generations.texts.items()
            if texts}


def concept_hits(generations: Generations, matchers: dict[str, ConceptMatcher]) -> tuple[int, int]:
    """(texts about their own concept, texts) over all concepts of ``generations``."""
    hits = n = 0
    for concept, texts in generations.texts.items():
        matcher = matchers[concept]
        hits += sum(matcher.matches(t) for t in texts)
        n += len(texts)
    return hits, n


# ------------------------------------------------------------------------- per-concept shares
def concept_language_counts(generations: Generations, measurements: MeasurementSource | None = None
                            ) -> dict[str, Counter]:
    """Per concept, the detected languages of its texts (see :func:`language_counts`)."""
    return {concept: language_counts(texts, measurements) for concept, texts in generations.texts.items()}


def share_by_concept(counts: Mapping[str, Counter], code: str, concepts: Sequence[str]) -> np.ndarray:
    """The share of ``code`` among each concept's texts, in the order of ``concepts``."""
    out = []
    for concept in concepts:
        n = sum(counts[concept].values())
        if n == 0:
            raise ValueError(f"concept {concept!r} has no generations")
        out.append(counts[concept][code] / n)
    return np.asarray(out, dtype=np.float64)


# ------------------------------------------------------------------------------- decisions
def concept_paired_test(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *, statistic: str,
                        alpha: float = ALPHA,
                        seed: int = 0) -> Decision:
    """One-sided paired sign-flip test over concepts that ``mean(x) > mean(y)`` (n = concepts).

    ``x[i]`` and ``y[i]`` are two conditions' shares for concept ``i``. The p-value is exact for up
    to 16 concepts (10 concepts: smallest p = 1/1024). ``ci`` is the percentile cluster bootstrap
    interval of the mean difference over concepts (confidence ``1 - 2 alpha``, so its lower end is
    the one-sided bound), reported beside the test.
    """
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    decision = paired_permutation_test(xa, ya, alternative="greater", alpha=alpha, statistic=statistic, seed=seed)
    ci = bootstrap_ci(xa - ya, confidence=1 - 2 * alpha, seed=seed)
    return replace(decision, ci=ci, detail={
        **decision.detail, "unit": "concept", "difference": float(np.mean(xa - ya)),
        "ci_of": f"mean difference over concepts (percentile cluster bootstrap, {1 - 2 * alpha:.0%})",
    })


def largest_share_test(shares: Mapping[str, np.ndarray], code: str, *, excused: int = 0, alpha: float = ALPHA,
                       statistic: str = "") -> Decision:
    """``code``'s share exceeds that of every other category in ``shares`` except at most ``excused``.

    ``shares`` maps each category (language, or "unknown" when it counts) to its per-concept shares.
    Each competitor is tested with :func:`concept_paired_test` at level ``alpha / (excused + 1)``; the
    claim holds when all but the ``excused`` weakest comparisons reject. Under the null at least
    ``excused + 1`` competitors are truly at least as large, and one of them must be rejected, so the
    level is ``alpha`` (union bound). The p-value is ``(excused + 1)`` times the ``(excused + 1)``-th
    largest competitor p-value. With fewer than ``excused + 1`` competitors, zero-share stand-ins
    ("(none)") take their place, so that ``code`` must at least occur. It is contradicted when more
    than ``excused`` competitors are significantly larger than ``code`` (opposite p-values,
    Bonferroni over all competitors).
    """
    own = np.asarray(shares[code], dtype=np.float64)
    competitors = {k: np.asarray(v, dtype=np.float64) for k, v in shares.items() if k != code}
    for i in range(excused + 1 - len(competitors)):
        competitors[f"(none {i + 1})" if excused else "(none)"] = np.zeros_like(own)
    level = alpha / (excused + 1)
    tests = {k: concept_paired_test(own, v, statistic=f"share of {code} vs {k}", alpha=level)
             for k, v in competitors.items()}
    p_of = {k: 1.0 if d.p_value is None else d.p_value for k, d in tests.items()}
    by_p = sorted(tests, key=lambda k: (-p_of[k], k))
    waived, binding = by_p[:excused], by_p[excused:]
    p = min(1.0, (excused + 1) * p_of[binding[0]])
    # the opposite: more than `excused` competitors are significantly larger (Bonferroni over all of them)
    opposite = sorted(1.0 if d.p_value_opposite is None else d.p_value_opposite for d in tests.values())
    p_opposite = min(1.0, len(tests) * opposite[excused]) if len(opposite) > excused else 1.0
    rank = 1 + sum(float(v.mean()) > float(own.mean()) for v in competitors.values())
    supported = all(tests[k].supported for k in binding)
    return Decision(
        statistic=statistic or f"rank of {code} by share", value=float(rank), control=float(excused + 1),
        effect_size=None, p_value=p, ci=None, n=int(own.size), alternative="less", alpha=alpha,
        supported=supported, contradicted=not supported and p_opposite <= alpha, p_value_opposite=p_opposite,
        detail={
            "test": "intersection-union of paired sign-flip tests over concepts"
            + (f", {excused} competitor(s) excused (Bonferroni level α/{excused + 1})" if excused else ""),
            "share": float(own.mean()),
            "excused": waived,
            "binding": binding[0],
            "level_per_comparison": level,
            "competitors": {k: {"share": float(competitors[k].mean()), "p_value": tests[k].p_value}
                            for k in by_p},
        },
    )


def _df_factor(n_texts: int, n_concepts: int, alpha: float) -> float:
    """Korn–Graubard's degrees-of-freedom factor (t quantile of the texts over that of the concepts)²."""
    if n_concepts < 2 or n_texts < 2:
        return 1.0
    return float((sps.t.ppf(1 - alpha, n_texts - 1) / sps.t.ppf(1 - alpha, n_concepts - 1)) ** 2)


def _beta_upper(share: float, n_eff: float, alpha: float) -> float:
    """Clopper–Pearson one-sided upper bound for ``share`` of ``n_eff`` (possibly fractional) texts."""
    if share >= 1:
        return 1.0
    return float(sps.beta.ppf(1 - alpha, n_eff * share + 1, n_eff * (1 - share)))


def attainable_upper_bound(share: float, n_concepts: int, seeds: int, icc: float = 0.0,
                           alpha: float = ALPHA) -> float:
    """The upper bound :func:`share_upper_bound` reaches when the observed share is ``share`` exactly,
    with ``seeds`` texts per concept and intra-concept correlation ``icc`` (design effect
    ``1 + (seeds - 1) icc``)."""
    n = n_concepts * seeds
    n_eff = n / max(1.0, 1 + (seeds - 1) * icc) * _df_factor(n, n_concepts, alpha)
    return _beta_upper(share, n_eff, alpha)


def seeds_needed(bound: float, share: float, n_concepts: int, icc: float = 0.0, alpha: float = ALPHA,
                 max_seeds: int = 100_000) -> int | None:
    """Fewest texts per concept for which a true share ``share`` yields an upper bound below ``bound``.

    ``None`` when no number up to ``max_seeds`` does (with ``icc > 0`` the effective size is capped
    at ``n_concepts / icc``: more samples per concept cannot make up for too few concepts).
    """
    if attainable_upper_bound(share, n_concepts, max_seeds, icc, alpha) >= bound:
        return None
    lo, hi = 0, max_seeds  # attainable(lo) >= bound > attainable(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid >= 1 and attainable_upper_bound(share, n_concepts, mid, icc, alpha) < bound:
            hi = mid
        else:
            lo = mid
    return hi


def share_upper_bound(counts: Sequence[int], seeds: int, bound: float, *, alpha: float = ALPHA,
                      statistic: str = "share", with_power: bool = True) -> Decision:
    """Non-inferiority: the share of a category stays below ``bound``, texts clustered in concepts.

    ``counts[i]`` texts of concept ``i`` (of ``seeds`` each) fall in the category. The upper bound
    is Korn and Graubard's (1998) Clopper–Pearson bound with an effective sample size: the
    cluster-robust variance of the share (between-concept variance / n concepts) gives
    ``n_eff = p (1 - p) / var``, capped at the number of texts (design effect ≥ 1, and the cap
    when p = 0), times the t-quantile factor for ``n_concepts - 1`` degrees of freedom. The claim
    holds when the one-sided ``1 - alpha`` upper bound is below ``bound`` (``ci`` holds both one-sided
    bounds); the p-value tests ``share ≥ bound`` on the same effective binomial; it is contradicted
    when the lower bound is above ``bound``. ``detail["power"]`` gives what the run could
    show at all: the bound reached if the true share were half of ``bound``, and the samples per
    concept needed for that (with the observed intra-concept correlation, and with none); it is left
    out with ``with_power=False``.
    """
    k = np.asarray(counts, dtype=np.float64)
    c, n = k.size, k.size * seeds
    if c == 0 or seeds <= 0 or np.any(k < 0) or np.any(k > seeds):
        raise ValueError(f"need 0 <= count <= {seeds} for at least one concept, got {list(counts)}")
    per_concept = k / seeds
    p = float(per_concept.mean())
    var = float(per_concept.var(ddof=1)) / c if c > 1 else 0.0
    n_design = n if var <= 0 or p in (0.0, 1.0) else min(float(n), p * (1 - p) / var)
    deff = n / n_design
    icc = min(1.0, max(0.0, (deff - 1) / (seeds - 1))) if seeds > 1 else 0.0
    n_eff = n_design * _df_factor(n, c, alpha)
    upper = _beta_upper(p, n_eff, alpha)
    p_value = 1.0 if p >= 1 else float(sps.beta.sf(bound, n_eff * p + 1, n_eff * (1 - p)))
    # the opposite (the share is notable): the exact lower bound above ``bound``
    lower = 0.0 if p <= 0 else float(sps.beta.ppf(alpha, n_eff * p, n_eff * (1 - p) + 1))
    p_opposite = 1.0 if p <= 0 else float(sps.beta.cdf(bound, n_eff * p, n_eff * (1 - p) + 1))
    return Decision(
        statistic=statistic, value=p, control=bound, effect_size=p - bound, p_value=p_value, ci=(lower, upper), n=c,
        alternative="less", alpha=alpha, supported=upper < bound, contradicted=lower > bound,
        p_value_opposite=p_opposite, detectable_effect=detectable_effect(math.sqrt(bound * (1 - bound) / n_eff), alpha),
        detail={
            "test": "cluster-adjusted exact bounds (Korn–Graubard), concepts as clusters",
            "upper_bound": upper, "lower_bound": lower, "texts": n, "concepts": c, "seeds_per_concept": seeds,
            "per_concept": per_concept.tolist(), "design_effect": deff, "icc": icc, "n_effective": n_eff,
            **({"power": _power(bound, c, seeds, icc, alpha)} if with_power else {}),
        },
    )


def _power(bound: float, n_concepts: int, seeds: int, icc: float, alpha: float) -> dict:
    """What :func:`share_upper_bound` could show if the true share were half of ``bound``."""
    half = bound / 2
    attainable = attainable_upper_bound(half, n_concepts, seeds, icc, alpha)
    return {
        "true_share": half,
        "attainable_bound": attainable,
        "attainable_bound_independent": attainable_upper_bound(half, n_concepts, seeds, 0.0, alpha),
        "seeds_needed": seeds_needed(bound, half, n_concepts, icc, alpha),
        "seeds_needed_independent": seeds_needed(bound, half, n_concepts, 0.0, alpha),
        "reachable": attainable < bound,
    }


# ------------------------------------------------------------------------- tallies per condition
# What the steering claims count: a condition's generations, their languages per concept, pooled.


def condition_generations(measurements: MeasurementSource, revision: str | None, condition: str,
                          source: str | None = None, plan: SteeringPlan | None = None) -> Generations:
    """The generations of one condition at ``revision`` (the run's steering plan unless ``plan``)."""
    plan = plan or steering_plan(measurements)
    return generate_condition(measurements, revision, condition, plan, source)


def language_counts_by_concept(measurements: MeasurementSource, revision: str | None, condition: str,
                               source: str | None = None, plan: SteeringPlan | None = None) -> dict[str, Counter]:
    """Concept → detected languages of its generations under one condition."""
    generations = condition_generations(measurements, revision, condition,
                                        None if condition == "unsteered" else source, plan)
    return concept_language_counts(generations, measurements)


def pooled_counts(by_concept: Mapping[str, Counter]) -> Counter:
    """The language counts of every concept together."""
    return sum(by_concept.values(), Counter())


def counts_by_condition(measurements: MeasurementSource, source: str, revisions: Sequence[str]) -> dict:
    """(condition, revision) → concept → language counts, for every condition of :data:`CONDITIONS`."""
    return {(condition, rev): language_counts_by_concept(measurements, rev, condition, source)
            for rev in revisions for condition in CONDITIONS}


def concept_rates_by_condition(measurements: MeasurementSource, revisions: Sequence[str], sources: Sequence[str],
                               matchers: dict[str, ConceptMatcher]) -> tuple[dict, dict]:
    """Per condition, concept → rate of texts about it (mean over sources and checkpoints); and the
    pooled (hits, texts) per (condition, revision, source)."""
    rates: dict[str, dict[str, list[float]]] = {}
    tallies = {}
    for rev in revisions:
        runs = [("unsteered", None)] + [(cond, src) for src in sources for cond in ("steered", "random_units")]
        for condition, source in runs:
            generations = condition_generations(measurements, rev, condition, source)
            tallies[(condition, rev, source)] = concept_hits(generations, matchers)
            for concept, rate in concept_rates(generations, matchers).items():
                rates.setdefault(condition, {}).setdefault(concept, []).append(rate)
    return {cond: {c: float(np.mean(v)) for c, v in by.items()} for cond, by in rates.items()}, tallies


def pooled_rate(tallies: dict, condition: str) -> tuple[int, int]:
    """(hits, texts) of one condition over every revision and source of ``tallies``."""
    hits = sum(h for (c, _, _), (h, n) in tallies.items() if c == condition)
    total = sum(n for (c, _, _), (h, n) in tallies.items() if c == condition)
    return hits, total
