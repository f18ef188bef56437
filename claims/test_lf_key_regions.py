"""Lingua Franca (Zeng et al.): key linguistic regions and what zeroing them does (LF-3a, LF-3b, LF-7).

Key regions follow LF exactly: contribution of each neuron to a language's mean pairwise
similarity on the parallel similarity sample, z-score across the run's languages with the
population std, key when z > 2. The language set is part of the method and is recorded; with
five or fewer languages no z-score can exceed √(L−1) ≤ 2, and these claims are skipped with that
reason. Perplexity is measured on each language's held-out text (``Measurements.perplexity``).
"""

from __future__ import annotations

from dataclasses import replace

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
from harness.metrics import describe

#: LF §4.5: languages unlike the others vs their Romance counterparts
DISTINCT = ("vi", "ar", "zh")
SIMILAR = ("fr", "es", "pt")


def _deactivation(measure):
    try:
        return deactivation_at(measure, measure.revision)
    except KeyRegionsUndefined as error:
        pytest.skip(str(error))


@pytest.mark.claim("LF-3a")
def test_lf3a_zeroing_a_key_region_hurts_its_own_language_most(measure, record):
    """Zeroing a language's key region raises that language's perplexity far more than other languages'."""
    rev = measure.revision
    d = _deactivation(measure)
    decision = own_region_decision(d)
    record(decision, title="Zeroing a language's key region raises its own perplexity most", checkpoints=[rev], data=d.report_data())
    assert decision.supported, decision.detail["reason"]


@pytest.mark.claim("LF-3b")
def test_lf3b_random_neurons_hurt_far_less(measure, record):
    """Zeroing as many random neurons (or a random 10 %) raises perplexity far less than the key region."""
    rev = measure.revision
    d = _deactivation(measure)
    decision = random_control_decision(d)
    record(decision, title="Zeroing random neurons raises perplexity far less than zeroing the key region", checkpoints=[rev], data=d.report_data())
    assert decision.supported, decision.detail["reason"]


@pytest.mark.claim("LF-7")
def test_lf7_unlike_languages_have_larger_key_regions(measure, record):
    """Languages unlike the others (vi, ar, zh) have larger key regions than fr, es, pt."""
    rev = measure.revision
    distinct = [lang for lang in DISTINCT if lang in measure.languages]
    similar = [lang for lang in SIMILAR if lang in measure.languages]
    if not distinct or not similar:
        pytest.skip(
            f"LF-7 needs one of {', '.join(DISTINCT)} and one of {', '.join(SIMILAR)}; this run has {', '.join(measure.languages)}"
        )
    try:
        regions, counts = key_regions_at(measure, rev)
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
    data = {
        "key_sizes": regions.sizes,
        "languages": list(regions.languages),
        "distinct": distinct,
        "similar": similar,
        "n_units": regions.n_units,
    }
    record(decision, title="Languages unlike the others have larger key regions than fr, es, pt", checkpoints=[rev], data=data)
    assert decision.supported, decision.detail["reason"]
