"""Lingua Franca (Zeng et al.): key linguistic regions and what zeroing them does (LF-3a, LF-3b, LF-7).

Key regions follow LF exactly: contribution of each neuron to a language's mean pairwise
similarity on the parallel similarity sample, z-score across the run's languages with the
population std, key when z > 2. The language set is part of the method and is recorded; with
five or fewer languages no z-score can exceed √(L−1) ≤ 2, and these claims are skipped with that
reason. Perplexity is measured on each language's held-out text (``Measurements.perplexity``).
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
    random_control_decision,
)
from harness.analyses.similarity import bootstrap_decision
from harness.claim_registry import ClaimOutcome, Figure, RecordedClaim, claim
from harness.metrics import describe
from harness.report import figures_lf
from harness.report.catalogue import LF_TABLE1, language_name
from harness.report.text import join_parts, mean_of, pct

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


@dataclass(frozen=True)
class KeyRegionSizeNumbers:
    key_sizes: dict[str, int]  # language → |K_l|
    languages: list[str]
    distinct: list[str]  # the languages unlike the others present
    similar: list[str]  # their Romance counterparts present
    n_units: int


def _own_increase_summary(claim: RecordedClaim) -> str | None:
    """Each language's own-region increase, and for how many it tops its row."""
    m, langs = claim.numbers.ppl_increase, claim.numbers.languages or []
    if not m or not langs:
        return None
    diag = [m[i][i] for i in range(len(langs))]
    wins = sum(1 for i in range(len(langs)) if all(m[i][i] > m[i][j] for j in range(len(langs)) if j != i))
    return ("own-language increase " + ", ".join(f"{lang} {pct(v, 0)}" for lang, v in zip(langs, diag))
            + f"; the diagonal tops its row for {wins} of {len(langs)} languages")


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
    return join_parts(parts)


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
    return "key neurons " + ", ".join(f"{lang} {int(v or 0):,}" for lang, v in ordered) if ordered else None


def _deactivation(measurements):
    try:
        return deactivation_at(measurements, measurements.plan.revision)
    except KeyRegionsUndefined as error:
        pytest.skip(str(error))


@claim("LF-3a", numbers=DeactivationNumbers, summary=_own_increase_summary, figures=(PPL_INCREASE,),
       table=_table1_lines)
def test_lf3a_zeroing_a_key_region_hurts_its_own_language_most(measurements) -> ClaimOutcome[DeactivationNumbers]:
    """Zeroing a language's key region raises that language's perplexity far more than other languages'."""
    rev = measurements.plan.revision
    d = _deactivation(measurements)
    return ClaimOutcome(own_region_decision(d), DeactivationNumbers(**d.report_data()), checkpoints=(rev,))


@claim("LF-3b", numbers=DeactivationNumbers, summary=_random_control_summary, figures=(PPL_INCREASE,))
def test_lf3b_random_neurons_hurt_far_less(measurements) -> ClaimOutcome[DeactivationNumbers]:
    """Zeroing as many random neurons (or a random 10 %) raises perplexity far less than the key region."""
    rev = measurements.plan.revision
    d = _deactivation(measurements)
    return ClaimOutcome(random_control_decision(d), DeactivationNumbers(**d.report_data()), checkpoints=(rev,))


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
    sizes = counts.sizes  # [R, L]
    idx = {lang: regions.languages.index(lang) for lang in regions.languages}
    pairs = [(a, b) for a in distinct for b in similar]
    gaps = np.stack([sizes[:, idx[a]] - sizes[:, idx[b]] for a, b in pairs], axis=1)
    smallest = gaps.min(axis=1).astype(float)
    worst = pairs[int(np.argmin(gaps[0]))]
    shown = ", ".join(f"{lang} {regions.sizes[lang]}" for lang in distinct + similar)
    decision = bootstrap_decision(
        smallest,
        statistic=f"min over pairs |K_a| − |K_b|, a in {'/'.join(distinct)}, b in {'/'.join(similar)}",
        n=counts.n_meanings,
        detail={"distinct": distinct, "similar": similar, "sizes": regions.sizes, "closest_pair": list(worst)},
    )
    decision = replace(
        decision,
        detail={
            **decision.detail,
            "reason": f"key-region sizes {shown} (of {regions.n_units} units, {len(regions.languages)} languages); "
            f"smallest gap {worst[0]} − {worst[1]} = {int(gaps[0].min())}: {describe(decision)}",
        },
    )
    numbers = KeyRegionSizeNumbers(
        key_sizes=regions.sizes,
        languages=list(regions.languages),
        distinct=distinct,
        similar=similar,
        n_units=regions.n_units,
    )
    return ClaimOutcome(decision, numbers, checkpoints=(rev,))
