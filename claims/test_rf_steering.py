"""RF §8 / App. E: steering generation with concept expert neurons (RF-4a, RF-4b, RF-4c, RF-4d).

Protocol and conditions: ``harness.analyses.steering`` (concept experts of a source language fixed
to their median positive response, ``np.percentile(q=50)`` as ml-selfcond's ``on_p50``, at every
position; BOS prompt; top_p 0.9, temperature 0.8, 64 new tokens; one sample per seed). Controls,
same seeds and sample sizes: unsteered generation, and as many random non-expert units each set to
its own median positive response (``random_units``). Language shares come from seeded langdetect
with "unknown" kept.

The unit of every test is the concept (10 concepts × S seeds): the texts of one concept share its
clamped units, so shares are computed per concept and compared over concepts (paired sign-flip
tests, exact for ≤ 16 concepts, with a cluster-bootstrap interval; a cluster-adjusted exact upper
bound for RF-4c), α = 0.01. Each decision tests what RF states (CLAIMS.md); comparisons RF does not
state (random units everywhere, unsteered English for RF-4b) are run the same way and *reported*
beside the decision (``reported_controls``), not decided on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from harness.analyses import steering
from harness.analyses.experts import series_points
from harness.analyses.steering import (
    concept_rates_by_condition,
    counts_by_condition,
    language_counts_by_concept,
    pooled_counts,
    pooled_rate,
)
from harness.analyses.untrained import untrained_record, untrained_revision
from harness.claim_registry import ClaimOutcome, Figure, RecordedClaim, claim
from harness.langid import UNKNOWN
from harness.metrics import ALPHA, Decision, all_of, two_proportion_test
from harness.metrics.stats import fmt_number
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

    steering: dict[str, Any]  # source language → revision → {detected language or "unknown": share} (pooled)
    controls: dict[str, Any]  # "unsteered" / "random_units" → revision → {detected language or "unknown": share}
    plan: dict[str, Any]  # the steering plan (SteeringPlan.to_record: k, seeds, concepts, generation settings)
    source_language: str
    target_language: str  # the language the claim is about (es, en, sw)
    concept_shares: dict[str, Any]  # condition → revision → concept → share of target_language (the tested unit)
    reported_controls: dict[str, Any]  # comparison RF does not state → its test (Decision.to_dict); not decided


@dataclass(frozen=True)
class SwahiliSteeringNumbers(SteeringNumbers):
    notable_share: float  # the largest share of sw that is "not notable"
    upper_bounds: dict[str, float]  # revision → one-sided 99 % cluster-adjusted upper bound of the sw share
    power: dict[str, Any]  # seeds per concept used and needed; the bound reachable if the true share were half
    untrained: dict[str, Any] | None = None  # the unsteered sw share late and at initialisation (the premise)


@dataclass(frozen=True)
class ConceptRateNumbers:
    concept_rate: dict[str, float]  # condition → share of generations with a keyword of their concept (pooled)
    by_condition: dict[str, float]  # "condition/revision/source" → that share
    by_concept: dict[str, dict[str, float]]  # condition → concept → its rate (mean over sources, checkpoints)
    keywords: dict[str, dict[str, list[str]]]  # concept → language → its keywords
    plan: dict[str, Any]
    sources: list[str]  # the source languages steered from
    reported_controls: dict[str, Any]  # comparison RF does not state → its test (Decision.to_dict); not decided


def _need(measurements, lang: str) -> None:
    languages = measurements.plan.languages
    if lang not in languages:
        pytest.skip(f"steering from {lang} needs {lang} among the evaluation languages ({', '.join(languages)})")


def _categories(by_concept: dict[str, Counter], code: str, *, include_unknown: bool) -> dict[str, np.ndarray]:
    """Per-concept shares of every category seen (``code`` always; "unknown" only when it counts)."""
    seen = {lang for counts in by_concept.values() for lang in counts if include_unknown or lang != UNKNOWN}
    return {lang: steering.share_by_concept(by_concept, lang, list(by_concept)) for lang in sorted(seen | {code})}


def _concept_shares(c: dict, code: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for (cond, rev), by_concept in c.items():
        shares = steering.share_by_concept(by_concept, code, list(by_concept))
        out.setdefault(cond, {})[rev] = dict(zip(by_concept, shares.tolist()))
    return out


def _steering_numbers(measurements, source, target, revs, c, controls) -> dict[str, Any]:
    return dict(
        steering={source: {rev: steering.shares(pooled_counts(c[("steered", rev)])) for rev in revs}},
        controls={
            "unsteered": {rev: steering.shares(pooled_counts(c[("unsteered", rev)])) for rev in revs},
            "random_units": {rev: steering.shares(pooled_counts(c[("random_units", rev)])) for rev in revs},
        },
        plan=steering.steering_plan(measurements).to_record(),
        source_language=source,
        target_language=target,
        concept_shares=_concept_shares(c, target),
        reported_controls={name: d.to_dict() for name, d in controls.items()},
    )


def _share(c: dict, code: str, cond: str, rev: str) -> np.ndarray:
    by_concept = c[(cond, rev)]
    return steering.share_by_concept(by_concept, code, list(by_concept))


def _with_controls(decision: Decision, controls: dict[str, Decision]) -> Decision:
    """The decision, with the reported controls' outcomes in its detail (they do not enter it)."""
    reported = {name: {"supported": d.supported, "p_value": d.p_value, "value": d.value, "control": d.control}
                for name, d in controls.items()}
    return replace(decision, detail={**decision.detail, "reported_controls": reported})


# --------------------------------------------------------------------------------------- summary
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
    bounds = getattr(claim.numbers, "upper_bounds", None) or {}
    for rev in picks:
        dist = {k: float(v) for k, v in (by_rev[rev] or {}).items() if v is not None}
        if which == "all":
            bound = f" (99 % bound {pct(bounds[rev], 0)})" if bounds.get(rev) is not None else ""
            parts.append(f"{rev_label(rev)}: {source} {pct(dist.get(source, 0.0), 0)}{bound}")
        else:
            parts.append(f"{rev_label(rev)}: {_top_shares(dist)}{_target_text(claim, by_rev, revs, rev, which)}")
    return "; ".join(parts) + _controls_summary(claim)


def _target_text(claim: RecordedClaim, by_rev: dict, revs: list[str], rev: str, which: str) -> str:
    """The claim's language at ``rev``, beside unsteered (early) or the claim's first checkpoint (late)."""
    target = getattr(claim.numbers, "target_language", None) or claim.numbers.source_language
    share = (by_rev.get(rev) or {}).get(target, 0.0)
    if which == "late":
        first = claim.own_revision(revs, late=False)
        other, label = (by_rev.get(first) or {}).get(target, 0.0), rev_label(first)
    else:
        unsteered = (claim.numbers.controls or {}).get("unsteered", {}).get(rev) or {}
        other, label = unsteered.get(target, 0.0), "unsteered"
    return f"; {target} {pct(share, 0)} ({label} {pct(other, 0)})"


def _controls_summary(claim: RecordedClaim) -> str:
    """The reported controls: their two values and p-value (not part of the decision)."""
    controls = getattr(claim.numbers, "reported_controls", None) or {}
    bits = []
    for name, d in controls.items():
        if not isinstance(d, dict):
            continue
        p = d.get("p_value")
        bits.append(f"{name}: {fmt_number(d.get('value'))} vs {fmt_number(d.get('control'))}"
                    + (f", p = {p:.2g}" if p is not None else ""))
    return f". Controls (reported, not decided): {'; '.join(bits)}" if bits else ""


# ------------------------------------------------------------------------------------------ RF-4a
@claim("RF-4a", numbers=SteeringNumbers, summary=lambda c: _steering_summary(c, "early"), figures=(STEERING_LANGUAGES,))
def test_rf_4a_spanish_neurons_steer_into_spanish_mid_training(measurements) -> ClaimOutcome[SteeringNumbers]:
    """Mid-training, Spanish-derived concept neurons steer generation into Spanish.

    RF (Fig. 7, CLAIMS.md): at the mid-training checkpoint the share of es in es-steered generations
    is the largest or near-largest. Decided, over concepts: the es share is above the unsteered
    es share (the steering moves generation *into* Spanish), and es is the largest or second-largest
    detected language (unknown is not a language): es exceeds every other language but at most one
    (intersection–union, Bonferroni over the excused one). Reported: es share vs random units.
    """
    _need(measurements, "es")
    rev = measurements.plan.mid
    if rev is None:
        pytest.skip("no mid-training checkpoint in the series: pass --mid (one of --checkpoints)")
    c = counts_by_condition(measurements, "es", [rev])
    steered = _share(c, "es", "steered", rev)
    into = steering.concept_paired_test(steered, _share(c, "es", "unsteered", rev),
                                        statistic="share of es per concept, steered vs unsteered")
    rank = steering.largest_share_test(_categories(c[("steered", rev)], "es", include_unknown=False), "es",
                                       excused=1, statistic="rank of es among detected languages (steered)")
    controls = {"es share steered > random units": steering.concept_paired_test(
        steered, _share(c, "es", "random_units", rev), statistic="share of es per concept, steered vs random units")}
    decision = _with_controls(all_of(
        into, {"es share steered > unsteered": into, "es the largest or near-largest language": rank},
        rule="at the mid-training checkpoint, with es-derived concept experts fixed: the es share exceeds the "
        "unsteered es share, and es exceeds every other detected language but at most one (unknown not counted); "
        "per-concept shares, paired sign-flip tests over concepts (α=0.01; α/2 per competitor for the rank)",
    ), controls)
    numbers = SteeringNumbers(**_steering_numbers(measurements, "es", "es", [rev], c, controls))
    return ClaimOutcome(decision, numbers, checkpoints=(rev,), failure=(
        f"at {rev}: steered {steering.shares(pooled_counts(c[('steered', rev)]))}; unsteered es "
        f"{steering.shares(pooled_counts(c[('unsteered', rev)])).get('es', 0):.2f} — fails: {decision.detail['failed']}"
    ))


# ------------------------------------------------------------------------------------------ RF-4b
@claim("RF-4b", numbers=SteeringNumbers, summary=lambda c: _steering_summary(c, "late"), figures=(STEERING_LANGUAGES,))
def test_rf_4b_same_neurons_steer_into_english_late(measurements) -> ClaimOutcome[SteeringNumbers]:
    """Late in training, the same Spanish-derived neurons steer generation into English.

    RF (CLAIMS.md): the share of en in es-steered generations is higher late than mid-training and
    is the largest late. Decided, over concepts: en share late > mid-training (paired by concept),
    and en exceeds every other category late ("unknown" counted, so unclassifiable text cannot
    outweigh English). RF does not compare with unsteered or random-unit English: those are reported.
    """
    _need(measurements, "es")
    points = series_points(measurements)
    if points is None:
        pytest.skip("needs distinct early and late checkpoints in the series")
    mid = measurements.plan.mid if measurements.plan.mid in points.revisions else points.early
    if mid == points.late:
        pytest.skip("needs a mid-training checkpoint before the late one")
    late_rev = points.late
    revs = [mid, late_rev]
    c = counts_by_condition(measurements, "es", revs)
    late = _share(c, "en", "steered", late_rev)
    rises = steering.concept_paired_test(
        late, _share(c, "en", "steered", mid), statistic="share of en per concept in es-steered generations, "
        "late vs mid-training")
    largest = steering.largest_share_test(_categories(c[("steered", late_rev)], "en", include_unknown=True), "en",
                                          statistic="rank of en among detected languages and unknown (late)")
    controls = {
        f"en share steered > {cond.replace('_', ' ')} (late)": steering.concept_paired_test(
            late, _share(c, "en", cond, late_rev), statistic=f"share of en per concept, steered vs {cond} (late)")
        for cond in ("unsteered", "random_units")
    }
    decision = _with_controls(all_of(
        rises, {"en share late > mid-training (steered)": rises, "en is the largest category (late)": largest},
        rule="with es-derived concept experts fixed, the en share at late exceeds the en share at mid-training, and "
        "late it exceeds the share of every other category (detected languages and unknown); per-concept shares, "
        "paired sign-flip tests over concepts, α=0.01 each",
    ), controls)
    numbers = SteeringNumbers(**_steering_numbers(measurements, "es", "en", revs, c, controls))
    return ClaimOutcome(decision, numbers, checkpoints=tuple(revs), failure=(
        f"es-steered: {mid} {steering.shares(pooled_counts(c[('steered', mid)]))}; {late_rev} "
        f"{steering.shares(pooled_counts(c[('steered', late_rev)]))} — fails: {decision.detail['failed']}"
    ))


# ------------------------------------------------------------------------------------------ RF-4c
def swahili_seeds(plan: steering.SteeringPlan) -> int:
    """Samples per concept for RF-4c: the plan's, raised to what the bound needs to be reachable.

    "Never notable" is shown by an upper bound below ``NOTABLE_SHARE``; with independent samples a
    true share of half the bound reaches it only from ``seeds_needed`` samples per concept (10
    concepts, α = 0.01: 28). The paper's 100 seeds need no more; the toy's 10 are raised to 28,
    which costs 920 more generations at 4 checkpoints (≈ 0.03 s each on 2 CPU cores).
    """
    needed = steering.seeds_needed(NOTABLE_SHARE, NOTABLE_SHARE / 2, len(plan.concepts), 0.0, ALPHA)
    return max(plan.seeds_per_concept, needed or plan.seeds_per_concept)


def _swahili_power(parts: dict[str, Decision], plan_seeds: int, seeds: int) -> dict[str, Any]:
    """Whether the run could show "never notable": per checkpoint, the bound a true share of half the
    notable share would reach, and the samples per concept that need (``--generation-seeds``)."""
    by_rev = {name: d.detail["power"] for name, d in parts.items()}
    needed = [p["seeds_needed_independent"] for p in by_rev.values()]
    return {
        "seeds_per_concept": seeds,
        "plan_seeds_per_concept": plan_seeds,
        "seeds_needed_independent": max((n for n in needed if n is not None), default=None),
        "true_share": NOTABLE_SHARE / 2,
        "by_checkpoint": by_rev,
        "reachable": all(p["reachable"] for p in by_rev.values()),
        "note": "attainable_bound: the 99 % upper bound if the true sw share were half the notable share, at the "
        "observed intra-concept correlation; when it is not below the notable share the run cannot show 'never "
        "notable' and a failure is inconclusive, not a contradiction",
    }


def _unsteered_bounds(measurements, revs) -> dict[str, Decision]:
    plan, out = steering.steering_plan(measurements), {}
    for rev in [r for r in dict.fromkeys((measurements.plan.mid, measurements.plan.late)) if r in revs]:
        by_concept = language_counts_by_concept(measurements, rev, "unsteered")
        out[f"sw share < {NOTABLE_SHARE:.0%} unsteered at {rev}"] = steering.share_upper_bound(
            [by_concept[c]["sw"] for c in plan.concepts], plan.seeds_per_concept, NOTABLE_SHARE,
            statistic=f"share of sw in unsteered generations at {rev}")
    return out


def _writes_swahili(measurements) -> tuple[Decision, dict[str, Any]]:
    """The premise of RF-4c: unsteered, the late model writes Swahili more often than the untrained one.

    Unsteered generations are independent samples (one seed each, nothing clamped), so a
    two-proportion test over texts is on the right unit here.
    """
    late, untrained = measurements.plan.late, untrained_revision(measurements)
    counts = {rev: pooled_counts(language_counts_by_concept(measurements, rev, "unsteered"))
              for rev in (late, untrained)}
    (k_late, n_late), (k_init, n_init) = ((counts[r]["sw"], sum(counts[r].values())) for r in (late, untrained))
    test = two_proportion_test(k_late, n_late, k_init, n_init, alternative="greater", alpha=ALPHA,
                               statistic=f"share of sw in unsteered generations, {late} vs untrained {untrained}")
    return test, untrained_record(untrained, k_init / n_init if n_init else None,
                                  late_share=k_late / n_late if n_late else None, late=late)


def _swahili_numbers(measurements, revs, steered, parts, power, controls) -> SwahiliSteeringNumbers:
    plan = measurements.plan
    controls_revs = [r for r in dict.fromkeys((plan.mid, plan.late)) if r in revs]
    return SwahiliSteeringNumbers(
        steering={"sw": {rev: steering.shares(pooled_counts(steered[rev])) for rev in revs}},
        controls={
            condition: {rev: steering.shares(pooled_counts(
                language_counts_by_concept(measurements, rev, condition, "sw"))) for rev in controls_revs}
            for condition in ("unsteered", "random_units")
        },
        plan=steering.steering_plan(measurements).to_record(),
        source_language="sw",
        target_language="sw",
        concept_shares={"steered": {rev: {c: n["sw"] / sum(n.values()) for c, n in steered[rev].items()}
                                    for rev in revs}},
        reported_controls={name: d.to_dict() for name, d in controls.items()},
        notable_share=NOTABLE_SHARE,
        upper_bounds={rev: parts[name].detail["upper_bound"] for rev, name in zip(revs, parts)},
        power=power,
    )


@claim("RF-4c", numbers=SwahiliSteeringNumbers, summary=lambda c: _steering_summary(c, "all"),
       figures=(STEERING_LANGUAGES,))
def test_rf_4c_swahili_neurons_never_yield_swahili(measurements) -> ClaimOutcome[SwahiliSteeringNumbers]:
    """Swahili-derived neurons never yield notable Swahili.

    A non-inferiority statement: at every checkpoint of the series the sw share of sw-steered
    generations is below ``NOTABLE_SHARE``, shown by a one-sided 99 % upper bound that accounts for
    the clustering of texts within concepts (Korn–Graubard). RF-4c draws the samples per concept that
    bound needs with independent texts (:func:`swahili_seeds`: 28 for 10 concepts; the toy's plan has
    10). The decision's ``detail["power"]`` says whether the bound was reachable at the observed
    clustering, i.e. whether a failure is inconclusive, and how many samples per concept it needs.
    Reported: the sw share of unsteered generations (the model's own Swahili), and the controls' shares.
    """
    _need(measurements, "sw")
    points = series_points(measurements)
    revs = list(points.revisions) if points else [measurements.plan.revision]
    plan = steering.steering_plan(measurements)
    seeds = swahili_seeds(plan)
    parts, steered = {}, {}
    for rev in revs:
        steered[rev] = language_counts_by_concept(measurements, rev, "steered", "sw",
                                                  replace(plan, seeds_per_concept=seeds))
        parts[f"sw share < {NOTABLE_SHARE:.0%} at {rev}"] = steering.share_upper_bound(
            [steered[rev][c]["sw"] for c in plan.concepts], seeds, NOTABLE_SHARE,
            statistic=f"share of sw in sw-steered generations at {rev}")
    weakest = max(parts.values(), key=lambda d: d.p_value)  # the checkpoint closest to notable Swahili
    power = _swahili_power(parts, plan.seeds_per_concept, seeds)
    controls = _unsteered_bounds(measurements, revs)
    premise, untrained = _writes_swahili(measurements)
    decision = _with_controls(all_of(
        weakest, {**parts, "the model writes Swahili (unsteered, late > untrained)": premise},
        rule=f"at every checkpoint of the series, the one-sided 99% upper bound of the sw share in sw-steered "
        f"generations is below {NOTABLE_SHARE:.0%} (Clopper–Pearson on the concept-clustered effective sample, "
        f"Korn–Graubard; {seeds} samples per concept, α=0.01 each); AND the premise that makes 'never' "
        "informative: unsteered, the late model writes more Swahili than the untrained one (one-sided "
        "two-proportion test; an untrained model, which writes no Swahili, holds the first statement trivially)",
    ), controls)
    decision = replace(decision, detail={**decision.detail, "power": power})
    numbers = replace(_swahili_numbers(measurements, revs, steered, parts, power, controls), untrained=untrained)
    return ClaimOutcome(decision, numbers, checkpoints=tuple(revs), failure=(
        "sw share in sw-steered generations (99 % upper bound): "
        + ", ".join(f"{r}: {d.value:.2f} ({d.detail['upper_bound']:.2f})" for r, d in zip(revs, parts.values()))
        + f" — fails: {decision.detail['failed']}"
        + ("; the bound is not reachable at this sample size and clustering"
           if decision.verdict == "inconclusive" and not power["reachable"] else "")
    ))


# ------------------------------------------------------------------------------------------ RF-4d
def _concept_rate_summary(claim: RecordedClaim) -> str | None:
    r = claim.numbers.concept_rate or {}
    if r.get("steered") is None:
        return None
    return (f"about the concept: steered {pct(r.get('steered'))}, unsteered {pct(r.get('unsteered'))}, "
            f"random units {pct(r.get('random_units'))}" + _controls_summary(claim))


@claim("RF-4d", numbers=ConceptRateNumbers, summary=_concept_rate_summary, figures=(CONCEPT_RATE,))
def test_rf_4d_steered_generations_are_about_the_concept(measurements) -> ClaimOutcome[ConceptRateNumbers]:
    """Steered generations are about the concept.

    RF (Table 1, CLAIMS.md): the concept rate of steered generations exceeds that of unsteered ones.
    Per concept, the share of its generations that contain one of its keywords, averaged over the
    source languages and checkpoints; steered vs unsteered by a paired sign-flip test over concepts
    (n = concepts). Reported: steered vs random units.
    """
    languages = measurements.plan.languages
    sources = [lang for lang in steering.SOURCE_LANGUAGES if lang in languages]
    if not sources:
        pytest.skip(f"none of the steering languages {steering.SOURCE_LANGUAGES} is among {languages}")
    plan = measurements.plan
    revs = list(dict.fromkeys(r for r in (plan.mid, plan.late) if r is not None)) or [plan.revision]
    steering_plan = steering.steering_plan(measurements)
    matchers = {c: steering.concept_matcher(measurements.data, c, languages) for c in steering_plan.concepts}
    rates, tallies = concept_rates_by_condition(measurements, revs, sources, matchers)
    concepts = list(steering_plan.concepts)
    per = {cond: np.array([rates[cond][c] for c in concepts]) for cond in steering.CONDITIONS}
    test = steering.concept_paired_test(
        per["steered"], per["unsteered"], statistic="share of texts with a keyword of their concept per concept, "
        "steered vs unsteered")
    controls = {"concept rate steered > random units": steering.concept_paired_test(
        per["steered"], per["random_units"], statistic="share of texts with a keyword of their concept per concept, "
        "steered vs random units")}
    decision = _with_controls(all_of(
        test, {"concept rate steered > unsteered": test},
        rule="per concept, the share of its steered generations that contain one of its keywords (in any evaluation "
        "language; keywords derived from the concept data), averaged over sources "
        f"{sources} and checkpoints {revs}, exceeds the same share among unsteered generations (paired sign-flip "
        "test over concepts, α=0.01)",
    ), controls)
    s, u, r = (pooled_rate(tallies, cond) for cond in ("steered", "unsteered", "random_units"))
    numbers = ConceptRateNumbers(
        concept_rate={"steered": s[0] / s[1], "unsteered": u[0] / u[1], "random_units": r[0] / r[1]},
        by_condition={f"{c}/{rev}/{src or '-'}": h / n for (c, rev, src), (h, n) in tallies.items()},
        by_concept={cond: dict(zip(concepts, v.tolist())) for cond, v in per.items()},
        keywords={c: m.keywords for c, m in matchers.items()},
        plan=steering_plan.to_record(),
        sources=sources,
        reported_controls={name: d.to_dict() for name, d in controls.items()},
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(revs), failure=(
        f"concept rate steered {s[0]}/{s[1]}, unsteered {u[0]}/{u[1]}, random units {r[0]}/{r[1]} — "
        f"fails: {decision.detail['failed']}"
    ))
