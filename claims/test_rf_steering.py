"""RF §8 / App. E: steering generation with concept expert neurons (RF-4a, RF-4b, RF-4c, RF-4d).

Protocol and conditions: ``harness.analyses.steering`` (concept experts of a source language fixed
to their median positive response at every position; BOS prompt; top_p 0.9, temperature 0.8, 64
new tokens; one sample per seed). Controls, same seeds and sample sizes: unsteered generation, and
as many random non-expert units each set to its own median positive response (``random_units``).
Language shares come from seeded langdetect with "unknown" kept; shares are compared with
one-sided two-proportion tests (z, or Fisher's exact test for small counts), α = 0.01.
"""

from __future__ import annotations

import pytest

from harness.analyses import steering
from harness.analyses.experts import series_points
from harness.metrics import Decision, all_of, binomial_greater, two_proportion_test

ALPHA = 0.01
#: RF-4c: a share of at most this much Swahili is "not notable" (the paper's Figure 20 shows a few %)
NOTABLE_SHARE = 0.10
def _need(measure, lang: str) -> None:
    if lang not in measure.languages:
        pytest.skip(f"steering from {lang} needs {lang} among the evaluation languages ({', '.join(measure.languages)})")


def _gen(measure, rev, condition, source=None) -> steering.Generations:
    return steering.generate_condition(measure, rev, condition, steering.steering_plan(measure), source)


def _counts(measure, rev, condition, source=None):
    return steering.language_counts(_gen(measure, rev, condition, source).all())


def _share_test(code, counts_a, counts_b, statistic) -> Decision:
    return two_proportion_test(counts_a[code], sum(counts_a.values()), counts_b[code], sum(counts_b.values()),
                               alternative="greater", alpha=ALPHA, statistic=statistic)


def _rank_rule(code, counts, max_rank, include_unknown, statistic) -> Decision:
    rank = steering.rank_of(code, counts, include_unknown=include_unknown)
    n = sum(counts.values())
    return Decision(statistic=statistic, value=float(rank), control=float(max_rank), effect_size=None, p_value=None, ci=None,
                    n=n, alternative="less", alpha=ALPHA, supported=0 < rank <= max_rank,
                    detail={"test": "rank rule", "rank": rank, "share": counts[code] / n if n else None,
                            "unknown_counted": include_unknown})


def _record_data(measure, source, revs, counts_by_condition) -> dict:
    return {
        "steering": {source: {rev: steering.shares(counts_by_condition[("steered", rev)]) for rev in revs}},
        "controls": {
            "unsteered": {rev: steering.shares(counts_by_condition[("unsteered", rev)]) for rev in revs},
            "random_units": {rev: steering.shares(counts_by_condition[("random_units", rev)]) for rev in revs},
        },
        "plan": steering.steering_plan(measure).to_record(),
        "source_language": source,
    }


def _all_counts(measure, source, revs):
    return {(cond, rev): _counts(measure, rev, cond, None if cond == "unsteered" else source)
            for rev in revs for cond in steering.CONDITIONS}


@pytest.mark.claim("RF-4a")
def test_rf_4a_spanish_neurons_steer_into_spanish_mid_training(measure, record):
    """Mid-training, Spanish-derived concept neurons steer generation into Spanish."""
    _need(measure, "es")
    rev = measure.mid
    if rev is None:
        pytest.skip("the model profile names no mid-training checkpoint; pass --checkpoints")
    c = _all_counts(measure, "es", [rev])
    steered, unsteered, rand = c[("steered", rev)], c[("unsteered", rev)], c[("random_units", rev)]
    parts = {
        "es share steered > unsteered": _share_test("es", steered, unsteered, "share of es, steered vs unsteered"),
        "es share steered > random units": _share_test("es", steered, rand, "share of es, steered vs random units"),
        "es among the two largest languages": _rank_rule("es", steered, 2, False, "rank of es among detected languages"),
    }
    decision = all_of(
        parts["es share steered > unsteered"], parts,
        rule="with es-derived concept experts fixed at the mid-training checkpoint, the es share exceeds the unsteered and the "
        "random-unit shares (one-sided two-proportion tests, α=0.01 each) and es is the largest or second-largest "
        "detected language (unknown not counted as a language)",
    )
    record(decision, title="Mid-training, Spanish-derived concept neurons steer generation into Spanish", checkpoints=[rev],
           data=_record_data(measure, "es", [rev], c))
    assert decision.supported, (
        f"at {rev}: steered {steering.shares(steered)}; unsteered es {steering.shares(unsteered).get('es', 0):.2f}; "
        f"random es {steering.shares(rand).get('es', 0):.2f} — fails: {decision.detail['failed']}"
    )


@pytest.mark.claim("RF-4b")
def test_rf_4b_same_neurons_steer_into_english_late(measure, record):
    """Late in training, the same Spanish-derived neurons steer generation into English."""
    _need(measure, "es")
    points = series_points(measure)
    if points is None:
        pytest.skip("needs distinct early and late checkpoints in the series")
    mid = measure.mid if measure.mid in points.revisions else points.early
    if mid == points.late:
        pytest.skip("needs a mid-training checkpoint before the late one")
    revs = [mid, points.late]
    c = _all_counts(measure, "es", revs)
    late, early = c[("steered", points.late)], c[("steered", mid)]
    parts = {
        "en share late > mid-training (steered)": _share_test("en", late, early, "share of en in es-steered generations, late vs mid-training"),
        "en share steered > unsteered (late)": _share_test("en", late, c[("unsteered", points.late)], "share of en, steered vs unsteered (late)"),
        "en share steered > random units (late)": _share_test("en", late, c[("random_units", points.late)],
                                                              "share of en, steered vs random units (late)"),
        "en is the largest category (late)": _rank_rule("en", late, 1, True, "rank of en among detected languages and unknown"),
    }
    decision = all_of(
        parts["en share late > mid-training (steered)"], parts,
        rule="with es-derived concept experts fixed, the en share at late exceeds the en share at mid-training, and at late exceeds "
        "the unsteered and the random-unit en shares (one-sided two-proportion tests, α=0.01 each), and en is the most "
        "frequent category late (unknown counted as a category)",
    )
    record(decision, title="Late in training, the same neurons steer generation into English", checkpoints=revs,
           data=_record_data(measure, "es", revs, c))
    assert decision.supported, (
        f"es-steered: {mid} {steering.shares(early)}; {points.late} {steering.shares(late)}; unsteered late "
        f"{steering.shares(c[('unsteered', points.late)])} — fails: {decision.detail['failed']}"
    )


@pytest.mark.claim("RF-4c")
def test_rf_4c_swahili_neurons_never_yield_swahili(measure, record):
    """Swahili-derived neurons never yield notable Swahili."""
    _need(measure, "sw")
    points = series_points(measure)
    revs = list(points.revisions) if points else [measure.revision]
    parts, steered = {}, {}
    for rev in revs:
        counts = _counts(measure, rev, "steered", "sw")
        steered[rev] = counts
        n = sum(counts.values())
        not_sw = n - counts["sw"]
        parts[f"sw share < {NOTABLE_SHARE:.0%} at {rev}"] = binomial_greater(
            not_sw, n, 1 - NOTABLE_SHARE, alpha=ALPHA, statistic=f"share of non-sw text in sw-steered generations at {rev}")
    weakest = max(parts.values(), key=lambda d: d.p_value)  # the checkpoint closest to notable Swahili
    decision = all_of(
        weakest, parts,
        rule=f"at every checkpoint of the series, the share of sw in sw-steered generations is below {NOTABLE_SHARE:.0%} "
        f"(exact binomial test that the non-sw share exceeds {1 - NOTABLE_SHARE:.0%}, α=0.01 each)",
    )
    controls_revs = [r for r in dict.fromkeys((measure.mid, measure.late)) if r in revs]
    data = {
        "steering": {"sw": {rev: steering.shares(steered[rev]) for rev in revs}},
        "controls": {
            "unsteered": {rev: steering.shares(_counts(measure, rev, "unsteered")) for rev in controls_revs},
            "random_units": {rev: steering.shares(_counts(measure, rev, "random_units", "sw")) for rev in controls_revs},
        },
        "plan": steering.steering_plan(measure).to_record(),
        "source_language": "sw",
        "notable_share": NOTABLE_SHARE,
    }
    record(decision, title="Swahili-derived neurons never yield notable Swahili", checkpoints=revs, data=data)
    assert decision.supported, (
        "sw share in sw-steered generations: " + ", ".join(f"{r}: {steering.shares(steered[r]).get('sw', 0):.2f}" for r in revs)
        + f" — fails: {decision.detail['failed']}"
    )


@pytest.mark.claim("RF-4d")
def test_rf_4d_steered_generations_are_about_the_concept(measure, record):
    """Steered generations are about the concept."""
    sources = [lang for lang in steering.SOURCE_LANGUAGES if lang in measure.languages]
    if not sources:
        pytest.skip(f"none of the steering languages {steering.SOURCE_LANGUAGES} is among {measure.languages}")
    revs = list(dict.fromkeys(r for r in (measure.mid, measure.late) if r is not None)) or [measure.revision]
    plan = steering.steering_plan(measure)
    matchers = {c: steering.concept_matcher(measure.data, c, measure.languages) for c in plan.concepts}
    tallies = {}
    for rev in revs:
        tallies[("unsteered", rev, None)] = steering.concept_hits(_gen(measure, rev, "unsteered"), matchers)
        for src in sources:
            for cond in ("steered", "random_units"):
                tallies[(cond, rev, src)] = steering.concept_hits(_gen(measure, rev, cond, src), matchers)

    def pooled(cond):
        hits = sum(h for (c, _, _), (h, n) in tallies.items() if c == cond)
        total = sum(n for (c, _, _), (h, n) in tallies.items() if c == cond)
        return hits, total

    s, u, r = pooled("steered"), pooled("unsteered"), pooled("random_units")
    parts = {
        "concept rate steered > unsteered": two_proportion_test(*s, *u, alternative="greater", alpha=ALPHA,
                                                                statistic="share of texts with a keyword of their concept, steered vs unsteered"),
        "concept rate steered > random units": two_proportion_test(*s, *r, alternative="greater", alpha=ALPHA,
                                                                   statistic="share of texts with a keyword of their concept, steered vs random units"),
    }
    decision = all_of(
        parts["concept rate steered > unsteered"], parts,
        rule="the share of steered generations that contain a keyword of the steered concept (in any evaluation language; "
        "keywords derived from the concept data) exceeds the same share among unsteered generations and among random-unit "
        f"generations (pooled over sources {sources} and checkpoints {revs}; one-sided two-proportion tests, α=0.01 each)",
    )
    data = {
        "concept_rate": {"steered": s[0] / s[1], "unsteered": u[0] / u[1], "random_units": r[0] / r[1]},
        "by_condition": {f"{c}/{rev}/{src or '-'}": h / n for (c, rev, src), (h, n) in tallies.items()},
        "keywords": {c: m.keywords for c, m in matchers.items()},
        "plan": plan.to_record(),
        "sources": sources,
    }
    record(decision, title="Steered generations are about the concept", checkpoints=revs, data=data)
    assert decision.supported, (
        f"concept rate steered {s[0]}/{s[1]}, unsteered {u[0]}/{u[1]}, random units {r[0]}/{r[1]} — fails: {decision.detail['failed']}"
    )
