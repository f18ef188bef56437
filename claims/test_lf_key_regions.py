"""Lingua Franca (Zeng et al.): key linguistic regions and what zeroing them does (LF-3a, LF-3b, LF-7).

Key regions follow LF exactly: contribution of each neuron to a language's mean pairwise
similarity on the parallel similarity sample, z-score across the run's languages with the
population std, key when z > 2. The language set is part of the method and is recorded; with
five or fewer languages no z-score can exceed √(L−1) ≤ 2, and these claims are skipped with that
reason. Perplexity is measured on each language's held-out text (``Measurements.perplexity``).

Untrained control: each claim's statistic is measured on the untrained model too
(``harness.analyses.untrained``; key regions, perplexities and controls of that model) and the
trained one must beat it: LF-3a on each language's margin over its row and both controls, LF-3b on
each language's Δlog PPL over the random controls (paired t tests over languages), LF-7 on the
smallest size gap (paired verse bootstrap, the same resamples at both revisions). A claim that holds
as well at initialisation is not supported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from harness.analyses.key_regions import (
    KeyRegionsUndefined,
    deactivation_at,
    key_regions_at,
    own_region_decision,
    own_region_margin,
    random_control_decision,
    random_control_gap,
    size_gaps,
)
from harness.analyses.similarity import bootstrap_decision
from harness.analyses.untrained import (
    decide_with_untrained,
    failure_note,
    languages_vs_untrained,
    replicates_vs_untrained,
    untrained_record,
    untrained_revision,
)
from harness.claim_registry import ClaimOutcome, Figure, RecordedClaim, claim
from harness.metrics import describe
from harness.report import figures_lf
from harness.report.catalogue import LF_TABLE1, language_name
from harness.report.text import fmt, join_parts, mean_of, pct

#: LF §4.5: languages unlike the others vs their Romance counterparts
DISTINCT = ("vi", "ar", "zh")
SIMILAR = ("fr", "es", "pt")

PPL_INCREASE = Figure("lf3_ppl_increase", "perplexity-increase matrix (LF Table 1)",
                      figures_lf.perplexity_increase_matrix)


@dataclass(frozen=True)
class DeactivationNumbers:
    """Perplexity increase after zeroing each language's key region, with random controls (``Deactivation``)."""

    ppl_increase: list[list[float]]  # [L, L] relative increase; rows: region zeroed, columns: language evaluated
    languages: list[str]
    random_same_size: list[float]  # per language: own-language increase with |K_l| random units zeroed
    random_10pct: list[float]  # per language: increase with one random 10 % of the units zeroed
    full_ppl: list[float]  # per language: perplexity of the intact model
    key_sizes: list[int]  # per language: |K_l|
    orientation: str
    controls: dict[str, Any]  # how the controls were drawn, and their seed
    perplexity_text: dict[str, Any] | None  # the held-out windows the perplexities are measured on
    # the untrained model: {"revision", "value" (its value of the claim's statistic), "per_language" (the
    # per-language values the paired test compares), "key_sizes"}
    untrained: dict[str, Any]


@dataclass(frozen=True)
class KeyRegionSizeNumbers:
    key_sizes: dict[str, int]  # language → |K_l|
    languages: list[str]
    distinct: list[str]  # the languages unlike the others present
    similar: list[str]  # their Romance counterparts present
    n_units: int
    untrained: dict[str, Any]  # {"revision", "value" (smallest gap on the untrained model), "key_sizes"}


def _own_increase_summary(claim: RecordedClaim) -> str | None:
    """Each language's own-region increase, and for how many it tops its row."""
    m, langs = claim.numbers.ppl_increase, claim.numbers.languages or []
    if not m or not langs:
        return None
    diag = [m[i][i] for i in range(len(langs))]
    wins = sum(1 for i in range(len(langs)) if all(m[i][i] > m[i][j] for j in range(len(langs)) if j != i))
    return ("own-language increase " + ", ".join(f"{lang} {pct(v, 0)}" for lang, v in zip(langs, diag))
            + f"; the diagonal tops its row for {wins} of {len(langs)} languages" + _untrained_text(claim))


def _untrained_text(claim: RecordedClaim) -> str:
    """The untrained model's value of the claim's statistic, as recorded."""
    untrained = claim.numbers.untrained or {}
    if untrained.get("value") is None:
        return ""
    what = {"LF-3a": "languages whose diagonal tops its row (share)",
            "LF-3b": "mean Δlog PPL own region − max random control",
            "LF-7": "smallest gap"}.get(claim.id, "value")
    return f"; untrained model ({untrained.get('revision')}): {what} {fmt(untrained['value'], 3)}"


def _random_control_summary(claim: RecordedClaim) -> str | None:
    """Mean own-region increase beside the mean increase of each random control."""
    numbers = claim.numbers
    m, langs = numbers.ppl_increase, numbers.languages or []
    if not m or not langs:
        return None
    parts = [f"mean own-language increase {pct(mean_of(m[i][i] for i in range(len(langs))), 0)}"]
    if numbers.random_same_size:
        parts.append(f"random same size {pct(mean_of(numbers.random_same_size), 0)}")
    if numbers.random_10pct:
        parts.append(f"random 10 % {pct(mean_of(numbers.random_10pct), 0)}")
    return join_parts(parts) + _untrained_text(claim)


def _table1_row(numbers: DeactivationNumbers, i: int, lang: str) -> str:
    """One language: LF Table 1's numbers (where the paper has the language) beside ours."""

    def at(values: Any) -> Any:
        return values[i] if isinstance(values, list) and i < len(values) else None

    m = numbers.ppl_increase
    in_paper = lang in LF_TABLE1["languages"]
    paper_diag = f"{LF_TABLE1['increase'][lang][lang]} %" if in_paper else "—"
    paper_rand = f"{LF_TABLE1['random_10pct'][lang]} %" if in_paper else "—"
    paper_keys = f"{LF_TABLE1['key_neurons'][lang]:,}" if in_paper else "—"
    ours_diag = pct(m[i][i], 1) if i < len(m) and i < len(m[i]) else "—"
    keys = at(numbers.key_sizes)
    return (f"| {lang} ({language_name(lang)}) | {paper_diag} | {ours_diag} | {paper_rand} | "
            f"{pct(at(numbers.random_10pct))} | {pct(at(numbers.random_same_size))} | {paper_keys} | "
            f"{'—' if keys is None else f'{int(keys):,}'} |")


def _table1_lines(claim: RecordedClaim) -> list[str]:
    """LF Table 1's numbers beside ours, per language the run shares with the paper."""
    numbers = claim.numbers
    if not numbers.ppl_increase or not numbers.languages:
        return []
    rows = ["| language | own-language increase: paper | ours | random 10 %: paper | ours | random same size: ours "
            "| key neurons: paper | ours |", "|---|---|---|---|---|---|---|---|"]
    rows += [_table1_row(numbers, i, lang) for i, lang in enumerate(numbers.languages)]
    return [
        f"Paper: LF Table 1, {LF_TABLE1['model']} "
        f"(its random 10 % zeroes {LF_TABLE1['random_10pct_neurons']:,} neurons); ours: {claim.model}.",
        "",
        *rows,
    ]


def _key_sizes_summary(claim: RecordedClaim) -> str | None:
    sizes = claim.numbers.key_sizes or {}
    ordered = sorted(sizes.items(), key=lambda kv: (-(kv[1] or 0), kv[0]))
    if not ordered:
        return None
    return "key neurons " + ", ".join(f"{lang} {int(v or 0):,}" for lang, v in ordered) + _untrained_text(claim)


def _deactivation(measurements, revision):
    try:
        return deactivation_at(measurements, revision)
    except KeyRegionsUndefined as error:
        pytest.skip(str(error))


def _deactivation_outcome(measurements, claim_decision, per_language, *, statistic: str, untrained_value):
    """LF-3a/3b: the claim's decision on the trained model and the paired comparison with the untrained one.

    ``claim_decision(d)`` is the claim's own decision, ``per_language(d)`` the per-language values compared
    with the untrained model, ``untrained_value(d, decision)`` the untrained value of the claim's statistic.
    """
    rev = measurements.plan.revision
    d = _deactivation(measurements, rev)
    init_rev = untrained_revision(measurements)
    init = _deactivation(measurements, init_rev)
    own = claim_decision(d)
    vs_init = languages_vs_untrained(per_language(d), per_language(init), statistic=statistic, revision=init_rev,
                                     trained_revision=rev)
    decision = decide_with_untrained(own, {"the claim's statement": own}, vs_init, revision=init_rev,
                                     rule=str(own.detail.get("rule", "")))
    untrained = untrained_record(init_rev, untrained_value(init, claim_decision(init)),
                                 per_language=dict(zip(init.languages, per_language(init).tolist())),
                                 key_sizes=[int(s) for s in init.key_sizes])
    numbers = DeactivationNumbers(**d.report_data(), untrained=untrained)
    failure = str(own.detail.get("reason", "")) + failure_note(decision, init_rev)
    return ClaimOutcome(decision, numbers, checkpoints=(rev,), failure=failure if not own.supported or
                        not vs_init.supported else "")


@claim("LF-3a", numbers=DeactivationNumbers, summary=_own_increase_summary, figures=(PPL_INCREASE,),
       table=_table1_lines)
def test_lf3a_zeroing_a_key_region_hurts_its_own_language_most(measurements) -> ClaimOutcome[DeactivationNumbers]:
    """Zeroing a language's key region raises that language's perplexity far more than other languages'."""
    return _deactivation_outcome(
        measurements, own_region_decision, own_region_margin,
        statistic="own-language Δlog PPL over the largest of its row and both controls, per language",
        untrained_value=lambda d, decision: decision.value,
    )


@claim("LF-3b", numbers=DeactivationNumbers, summary=_random_control_summary, figures=(PPL_INCREASE,))
def test_lf3b_random_neurons_hurt_far_less(measurements) -> ClaimOutcome[DeactivationNumbers]:
    """Zeroing as many random neurons (or a random 10 %) raises perplexity far less than the key region."""
    return _deactivation_outcome(
        measurements, random_control_decision, random_control_gap,
        statistic="own-language Δlog PPL own region − max random control, per language",
        untrained_value=lambda d, decision: decision.value,
    )


@claim("LF-7", numbers=KeyRegionSizeNumbers, summary=_key_sizes_summary, figures=(figures_lf.KEY_NEURONS,))
def test_lf7_unlike_languages_have_larger_key_regions(measurements) -> ClaimOutcome[KeyRegionSizeNumbers]:
    """Languages unlike the others (vi, ar, zh) have larger key regions than fr, es, pt."""
    rev = measurements.plan.revision
    languages = measurements.plan.languages
    distinct = [lang for lang in DISTINCT if lang in languages]
    similar = [lang for lang in SIMILAR if lang in languages]
    if not distinct or not similar:
        pytest.skip(
            f"LF-7 needs one of {', '.join(DISTINCT)} and one of {', '.join(SIMILAR)}; "
            f"this run has {', '.join(languages)}"
        )
    try:
        regions, counts = key_regions_at(measurements, rev)
    except KeyRegionsUndefined as error:
        pytest.skip(str(error))
    init_rev = untrained_revision(measurements)
    init_regions, init_counts = key_regions_at(measurements, init_rev)
    pairs = [(a, b) for a in distinct for b in similar]
    gaps = size_gaps(counts, pairs)
    smallest = gaps.min(axis=1).astype(float)
    init_smallest = size_gaps(init_counts, pairs).min(axis=1).astype(float)
    worst = pairs[int(np.argmin(gaps[0]))]
    shown = ", ".join(f"{lang} {regions.sizes[lang]}" for lang in distinct + similar)
    primary = bootstrap_decision(
        smallest,
        statistic=f"min over pairs |K_a| − |K_b|, a in {'/'.join(distinct)}, b in {'/'.join(similar)}",
        n=counts.n_meanings,
        detail={"distinct": distinct, "similar": similar, "sizes": regions.sizes, "closest_pair": list(worst)},
    )
    primary = replace(
        primary,
        detail={
            **primary.detail,
            "reason": f"key-region sizes {shown} (of {regions.n_units} units, {len(regions.languages)} languages); "
            f"smallest gap {worst[0]} − {worst[1]} = {int(gaps[0].min())}: {describe(primary)}",
        },
    )
    vs_init = replicates_vs_untrained(smallest, init_smallest, statistic="smallest size gap", n=counts.n_meanings,
                                      revision=init_rev, trained_revision=rev)
    decision = decide_with_untrained(primary, {"unlike > Romance": primary}, vs_init, revision=init_rev,
                                     rule="the smallest gap's one-sided 99% verse-bootstrap bound > 0")
    numbers = KeyRegionSizeNumbers(
        key_sizes=regions.sizes,
        languages=list(regions.languages),
        distinct=distinct,
        similar=similar,
        n_units=regions.n_units,
        untrained=untrained_record(init_rev, float(init_smallest[0]), key_sizes=init_regions.sizes),
    )
    return ClaimOutcome(decision, numbers, checkpoints=(rev,), failure=(
        str(primary.detail["reason"]) + f"; untrained ({init_rev}) smallest gap {int(init_smallest[0])}"
        + failure_note(decision, init_rev)))
