"""RF §8 / App. E: steering generation with concept expert neurons (RF-4a, RF-4b, RF-4c, RF-4d).

Protocol and conditions: ``harness.analyses.steering`` (concept experts of a source language fixed
to their median positive response at every position; BOS prompt; top_p 0.9, temperature 0.8, 64
new tokens; one sample per seed). Controls, same seeds and sample sizes: unsteered generation, and
as many random non-expert units each set to its own median positive response (``random_units``).
Language shares come from seeded langdetect with "unknown" kept; shares are compared with
one-sided two-proportion tests (z, or Fisher's exact test for small counts), α = 0.01.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from harness.analyses import steering
from harness.analyses.experts import series_points
from harness.claim_registry import ClaimOutcome, Figure, RecordedClaim, claim
from harness.metrics import ALPHA, Decision, all_of, binomial_greater, two_proportion_test
from harness.report import figures_rf
from harness.report.figures import rev_label
from harness.report.text import pct

#: RF-4c: a share of at most this much Swahili is "not notable" (the paper's Figure 20 shows a few %)
NOTABLE_SHARE = 0.10

STEERING_LANGUAGES = Figure("rf4_steering", "language of steered generations (RF Fig. 7, 18–20)",
                            figures_rf.steering_languages)
CONCEPT_RATE = Figure("rf4d_concept_rate", "concept rate of steered generations (RF Table 1)", figures_rf.concept_rate)


@dataclass(frozen=True)
class SteeringNumbers:
    """Language shares of generations steered by one source language's concept experts, with controls."""

    steering: dict[str, Any]  # source language → revision → {detected language or "unknown": share}
    controls: dict[str, Any]  # "unsteered" / "random_units" → revision → {detected language or "unknown": share}
    plan: dict[str, Any]  # the steering plan (SteeringPlan.to_record: k, seeds, concepts, generation settings)
    source_language: str


@dataclass(frozen=True)
class SwahiliSteeringNumbers(SteeringNumbers):
    notable_share: float  # the largest share of sw that is "not notable"


@dataclass(frozen=True)
class ConceptRateNumbers:
    concept_rate: dict[str, float]  # condition → share of generations with a keyword of their concept (pooled)
    by_condition: dict[str, float]  # "condition/revision/source" → that share
    keywords: dict[str, dict[str, list[str]]]  # concept → language → its keywords
    plan: dict[str, Any]
    sources: list[str]  # the source languages steered from


def _need(measurements, lang: str) -> None:
    languages = measurements.plan.languages
    if lang not in languages:
        pytest.skip(f"steering from {lang} needs {lang} among the evaluation languages ({', '.join(languages)})")


def _gen(measurements, rev, condition, source=None) -> steering.Generations:
    return steering.generate_condition(measurements, rev, condition, steering.steering_plan(measurements), source)


def _counts(measurements, rev, condition, source=None):
    return steering.language_counts(_gen(measurements, rev, condition, source).all(), measurements)


def _share_test(code, counts_a, counts_b, statistic) -> Decision:
    return two_proportion_test(counts_a[code], sum(counts_a.values()), counts_b[code], sum(counts_b.values()),
                               alternative="greater", alpha=ALPHA, statistic=statistic)


def _rank_rule(code, counts, max_rank, include_unknown, statistic) -> Decision:
    rank = steering.rank_of(code, counts, include_unknown=include_unknown)
    n = sum(counts.values())
    return Decision(statistic=statistic, value=float(rank), control=float(max_rank), effect_size=None, p_value=None,
                    ci=None, n=n, alternative="less", alpha=ALPHA, supported=0 < rank <= max_rank,
                    detail={"test": "rank rule", "rank": rank, "share": counts[code] / n if n else None,
                            "unknown_counted": include_unknown})


def _steering_numbers(measurements, source, revs, counts_by_condition) -> SteeringNumbers:
    return SteeringNumbers(
        steering={source: {rev: steering.shares(counts_by_condition[("steered", rev)]) for rev in revs}},
        controls={
            "unsteered": {rev: steering.shares(counts_by_condition[("unsteered", rev)]) for rev in revs},
            "random_units": {rev: steering.shares(counts_by_condition[("random_units", rev)]) for rev in revs},
        },
        plan=steering.steering_plan(measurements).to_record(),
        source_language=source,
    )


def _all_counts(measurements, source, revs):
    return {(cond, rev): _counts(measurements, rev, cond, None if cond == "unsteered" else source)
            for rev in revs for cond in steering.CONDITIONS}


def _top_shares(dist: dict[str, float]) -> str:
    top = sorted(dist.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
    return ", ".join(f"{lang} {pct(share, 0)}" for lang, share in top)


def _steering_summary(claim: RecordedClaim, which: str) -> str | None:
    """The source language's steered shares: the top four at the claim's early or late checkpoint, or
    the source's own share at every checkpoint (``which`` = "early", "late" or "all")."""
    source = claim.numbers.source_language
    by_rev = claim.numbers.steering.get(source)
    if not isinstance(by_rev, dict):
        return None
    revs = claim.ordered(by_rev)
    if not revs:
        return None
    picks = {"early": [claim.own_revision(revs, late=False)], "late": [claim.own_revision(revs, late=True)],
             "all": revs}[which]
    parts = []
    for rev in picks:
        dist = {k: float(v) for k, v in (by_rev[rev] or {}).items() if v is not None}
        if which == "all":
            parts.append(f"{rev_label(rev)}: {source} {pct(dist.get(source, 0.0), 0)}")
        else:
            parts.append(f"{rev_label(rev)}: {_top_shares(dist)}")
    return "; ".join(parts)


@claim("RF-4a", numbers=SteeringNumbers, summary=lambda c: _steering_summary(c, "early"), figures=(STEERING_LANGUAGES,))
def test_rf_4a_spanish_neurons_steer_into_spanish_mid_training(measurements) -> ClaimOutcome[SteeringNumbers]:
    """Mid-training, Spanish-derived concept neurons steer generation into Spanish."""
    _need(measurements, "es")
    rev = measurements.plan.mid
    if rev is None:
        pytest.skip("the model profile names no mid-training checkpoint; pass --checkpoints")
    c = _all_counts(measurements, "es", [rev])
    steered, unsteered, rand = c[("steered", rev)], c[("unsteered", rev)], c[("random_units", rev)]
    parts = {
        "es share steered > unsteered": _share_test("es", steered, unsteered, "share of es, steered vs unsteered"),
        "es share steered > random units": _share_test("es", steered, rand, "share of es, steered vs random units"),
        "es among the two largest languages": _rank_rule(
            "es", steered, 2, False, "rank of es among detected languages"),
    }
    decision = all_of(
        parts["es share steered > unsteered"], parts,
        rule="with es-derived concept experts fixed at the mid-training checkpoint, the es share exceeds the unsteered "
        "and the random-unit shares (one-sided two-proportion tests, α=0.01 each) and es is the largest or "
        "second-largest detected language (unknown not counted as a language)",
    )
    return ClaimOutcome(decision, _steering_numbers(measurements, "es", [rev], c), checkpoints=(rev,), failure=(
        f"at {rev}: steered {steering.shares(steered)}; unsteered es {steering.shares(unsteered).get('es', 0):.2f}; "
        f"random es {steering.shares(rand).get('es', 0):.2f} — fails: {decision.detail['failed']}"
    ))


@claim("RF-4b", numbers=SteeringNumbers, summary=lambda c: _steering_summary(c, "late"), figures=(STEERING_LANGUAGES,))
def test_rf_4b_same_neurons_steer_into_english_late(measurements) -> ClaimOutcome[SteeringNumbers]:
    """Late in training, the same Spanish-derived neurons steer generation into English."""
    _need(measurements, "es")
    points = series_points(measurements)
    if points is None:
        pytest.skip("needs distinct early and late checkpoints in the series")
    mid = measurements.plan.mid if measurements.plan.mid in points.revisions else points.early
    if mid == points.late:
        pytest.skip("needs a mid-training checkpoint before the late one")
    revs = [mid, points.late]
    c = _all_counts(measurements, "es", revs)
    late, early = c[("steered", points.late)], c[("steered", mid)]
    parts = {
        "en share late > mid-training (steered)": _share_test(
            "en", late, early, "share of en in es-steered generations, late vs mid-training"),
        "en share steered > unsteered (late)": _share_test(
            "en", late, c[("unsteered", points.late)], "share of en, steered vs unsteered (late)"),
        "en share steered > random units (late)": _share_test(
            "en", late, c[("random_units", points.late)], "share of en, steered vs random units (late)"),
        "en is the largest category (late)": _rank_rule(
            "en", late, 1, True, "rank of en among detected languages and unknown"),
    }
    decision = all_of(
        parts["en share late > mid-training (steered)"], parts,
        rule="with es-derived concept experts fixed, the en share at late exceeds the en share at mid-training, and at "
        "late exceeds the unsteered and the random-unit en shares (one-sided two-proportion tests, α=0.01 each), and "
        "en is the most frequent category late (unknown counted as a category)",
    )
    return ClaimOutcome(decision, _steering_numbers(measurements, "es", revs, c), checkpoints=tuple(revs), failure=(
        f"es-steered: {mid} {steering.shares(early)}; {points.late} {steering.shares(late)}; unsteered late "
        f"{steering.shares(c[('unsteered', points.late)])} — fails: {decision.detail['failed']}"
    ))


def _swahili_numbers(measurements, revs, steered) -> SwahiliSteeringNumbers:
    plan = measurements.plan
    controls_revs = [r for r in dict.fromkeys((plan.mid, plan.late)) if r in revs]
    return SwahiliSteeringNumbers(
        steering={"sw": {rev: steering.shares(steered[rev]) for rev in revs}},
        controls={
            "unsteered": {rev: steering.shares(_counts(measurements, rev, "unsteered")) for rev in controls_revs},
            "random_units": {rev: steering.shares(_counts(measurements, rev, "random_units", "sw"))
                             for rev in controls_revs},
        },
        plan=steering.steering_plan(measurements).to_record(),
        source_language="sw",
        notable_share=NOTABLE_SHARE,
    )


@claim("RF-4c", numbers=SwahiliSteeringNumbers, summary=lambda c: _steering_summary(c, "all"),
       figures=(STEERING_LANGUAGES,))
def test_rf_4c_swahili_neurons_never_yield_swahili(measurements) -> ClaimOutcome[SwahiliSteeringNumbers]:
    """Swahili-derived neurons never yield notable Swahili."""
    _need(measurements, "sw")
    points = series_points(measurements)
    revs = list(points.revisions) if points else [measurements.plan.revision]
    parts, steered = {}, {}
    for rev in revs:
        counts = _counts(measurements, rev, "steered", "sw")
        steered[rev] = counts
        n = sum(counts.values())
        not_sw = n - counts["sw"]
        parts[f"sw share < {NOTABLE_SHARE:.0%} at {rev}"] = binomial_greater(
            not_sw, n, 1 - NOTABLE_SHARE, alpha=ALPHA,
            statistic=f"share of non-sw text in sw-steered generations at {rev}")
    weakest = max(parts.values(), key=lambda d: d.p_value)  # the checkpoint closest to notable Swahili
    decision = all_of(
        weakest, parts,
        rule="at every checkpoint of the series, the share of sw in sw-steered generations is below "
        f"{NOTABLE_SHARE:.0%} (exact binomial test that the non-sw share exceeds {1 - NOTABLE_SHARE:.0%}, α=0.01 each)",
    )
    return ClaimOutcome(decision, _swahili_numbers(measurements, revs, steered), checkpoints=tuple(revs), failure=(
        "sw share in sw-steered generations: "
        + ", ".join(f"{r}: {steering.shares(steered[r]).get('sw', 0):.2f}" for r in revs)
        + f" — fails: {decision.detail['failed']}"
    ))


def _concept_tallies(measurements, revs, sources, matchers) -> dict:
    """(condition, revision, source or None) → (generations about their concept, generations)."""
    tallies = {}
    for rev in revs:
        tallies[("unsteered", rev, None)] = steering.concept_hits(_gen(measurements, rev, "unsteered"), matchers)
        for src in sources:
            for cond in ("steered", "random_units"):
                tallies[(cond, rev, src)] = steering.concept_hits(_gen(measurements, rev, cond, src), matchers)
    return tallies


def _pooled(tallies: dict, condition: str) -> tuple[int, int]:
    hits = sum(h for (c, _, _), (h, n) in tallies.items() if c == condition)
    total = sum(n for (c, _, _), (h, n) in tallies.items() if c == condition)
    return hits, total


def _concept_rate_summary(claim: RecordedClaim) -> str | None:
    r = claim.numbers.concept_rate or {}
    if r.get("steered") is None:
        return None
    return (f"about the concept: steered {pct(r.get('steered'))}, unsteered {pct(r.get('unsteered'))}, "
            f"random units {pct(r.get('random_units'))}")


@claim("RF-4d", numbers=ConceptRateNumbers, summary=_concept_rate_summary, figures=(CONCEPT_RATE,))
def test_rf_4d_steered_generations_are_about_the_concept(measurements) -> ClaimOutcome[ConceptRateNumbers]:
    """Steered generations are about the concept."""
    languages = measurements.plan.languages
    sources = [lang for lang in steering.SOURCE_LANGUAGES if lang in languages]
    if not sources:
        pytest.skip(f"none of the steering languages {steering.SOURCE_LANGUAGES} is among {languages}")
    plan = measurements.plan
    revs = list(dict.fromkeys(r for r in (plan.mid, plan.late) if r is not None)) or [plan.revision]
    steering_plan = steering.steering_plan(measurements)
    matchers = {c: steering.concept_matcher(measurements.data, c, languages) for c in steering_plan.concepts}
    tallies = _concept_tallies(measurements, revs, sources, matchers)
    s, u, r = _pooled(tallies, "steered"), _pooled(tallies, "unsteered"), _pooled(tallies, "random_units")
    parts = {
        "concept rate steered > unsteered": two_proportion_test(
            *s, *u, alternative="greater", alpha=ALPHA,
            statistic="share of texts with a keyword of their concept, steered vs unsteered"),
        "concept rate steered > random units": two_proportion_test(
            *s, *r, alternative="greater", alpha=ALPHA,
            statistic="share of texts with a keyword of their concept, steered vs random units"),
    }
    decision = all_of(
        parts["concept rate steered > unsteered"], parts,
        rule="the share of steered generations that contain a keyword of the steered concept (in any evaluation "
        "language; keywords derived from the concept data) exceeds the same share among unsteered generations and "
        f"among random-unit generations (pooled over sources {sources} and checkpoints {revs}; one-sided "
        "two-proportion tests, α=0.01 each)",
    )
    numbers = ConceptRateNumbers(
        concept_rate={"steered": s[0] / s[1], "unsteered": u[0] / u[1], "random_units": r[0] / r[1]},
        by_condition={f"{c}/{rev}/{src or '-'}": h / n for (c, rev, src), (h, n) in tallies.items()},
        keywords={c: m.keywords for c, m in matchers.items()},
        plan=steering_plan.to_record(),
        sources=sources,
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(revs), failure=(
        f"concept rate steered {s[0]}/{s[1]}, unsteered {u[0]}/{u[1]}, random units {r[0]}/{r[1]} — "
        f"fails: {decision.detail['failed']}"
    ))
