"""Lingua Franca (Zeng et al.): activation similarity by language and by meaning (LF-1a … LF-2).

Every claim here is measured on the parallel similarity sample (the same verses in every
language, so meaning groups are exact), at ``measure.revision`` (the final checkpoint unless
``--revision`` is given). Statistics are LF's LRDS/SADS (``harness.metrics``), one-sided at
alpha = 0.01. Claims made of several statements hold only when every statement does
(intersection–union test).

* "> 0" claims (LF-1a, LF-1b) are Mantel-type permutation tests of the similarity map: language
  labels shuffled within each verse (LRDS), or verses re-paired at random across languages
  (SADS), 1,000 permutations (seed 0). They test whether language or meaning matters at all in
  these verses; the verse bootstrap interval of the mean is recorded beside them.
* Contrasts (LF-1c groups, LF-2 layers) are decided by a percentile bootstrap over verses
  (1,000 resamples, seed 0): supported when the one-sided 99 % bound excludes 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.analyses.similarity import (
    DISTINCT_SCRIPT,
    ROMANCE,
    bootstrap_decision,
    layer_groups,
    lrds_permutation_null,
    permutation_decision,
    sads_permutation_null,
    similarity_at,
)
from harness.metrics import all_of, describe


@pytest.mark.claim("LF-1a")
def test_lf1a_same_language_sentences_activate_alike(measure, record):
    """Same-language sentences have more similar activation than cross-language ones (LRDS > 0)."""
    rev = measure.revision
    sim = similarity_at(measure, rev)
    observed, null = lrds_permutation_null(sim.gram)
    decision = permutation_decision(
        observed,
        null,
        statistic="LRDS (same-language − cross-language similarity, different verses)",
        n=sim.n_meanings,
        null_description=f"language labels shuffled within each verse, {len(null)} permutations",
        bootstrap=sim.lrds,
    )
    record(decision, title="Same-language sentences have more similar activation than cross-language ones", checkpoints=[rev], data=sim.report_data())
    assert decision.supported, decision.detail["reason"]


@pytest.mark.claim("LF-1b")
def test_lf1b_same_meaning_aligns_across_languages_and_scripts(measure, record):
    """Same-meaning sentences in different languages are more similar than different-meaning ones, even for zh and ar."""
    rev = measure.revision
    sim = similarity_at(measure, rev)
    L = len(sim.languages)
    every = np.ones((L, L), dtype=bool)
    observed, null = sads_permutation_null(sim.gram, every)
    parts = {
        "SADS > 0": permutation_decision(
            observed,
            null,
            statistic="SADS (same-meaning − different-meaning, cross-language pairs)",
            n=sim.n_meanings,
            null_description=f"verses re-paired at random across languages, {len(null)} permutations",
            bootstrap=sim.sads,
        )
    }
    scripts = [lang for lang in DISTINCT_SCRIPT if lang in sim.languages]
    restricted = None
    if scripts:
        flag = np.zeros(L, dtype=bool)
        flag[sim.lang_index(scripts)] = True
        observed, null = sads_permutation_null(sim.gram, flag[:, None] | flag[None, :])
        restricted = sim.full.sads(involving=sim.lang_index(scripts))
        parts[f"SADS over pairs with {'/'.join(scripts)} > 0"] = permutation_decision(
            observed,
            null,
            statistic=f"SADS restricted to pairs involving {', '.join(scripts)}",
            n=sim.n_meanings,
            null_description=f"verses re-paired at random across languages, {len(null)} permutations",
            bootstrap=restricted,
        )
    decision = all_of(parts["SADS > 0"], parts, rule="SADS > 0 overall and over the pairs involving zh or ar (those present)")
    data = sim.report_data()
    data["sads_restricted"] = {"languages": scripts, "value": float(restricted[0]) if restricted is not None else None}
    record(decision, title="Same-meaning sentences align across languages, even across scripts", checkpoints=[rev], data=data)
    assert decision.supported, decision.detail["reason"]


@pytest.mark.claim("LF-1c")
def test_lf1c_related_languages_are_more_similar(measure, record):
    """Related languages (fr, es, pt) are more similar to each other than to the other languages."""
    rev = measure.revision
    group = [lang for lang in ROMANCE if lang in measure.languages]
    others = [lang for lang in measure.languages if lang not in group]
    if len(group) < 2 or not others:
        pytest.skip(
            f"LF-1c needs at least two of {', '.join(ROMANCE)} and one other language; this run has {', '.join(measure.languages)}"
        )
    sim = similarity_at(measure, rev)
    contrast = sim.full.group_contrast(sim.lang_index(group))
    decision = bootstrap_decision(
        contrast,
        statistic=f"mean similarity within {'/'.join(group)} − between them and the others (different verses)",
        n=sim.n_meanings,
        detail={"group": group, "others": others},
    )
    data = sim.report_data()
    data["group"] = group
    record(decision, title="Related languages are more similar to each other than to others", checkpoints=[rev], data=data)
    assert decision.supported, f"{'/'.join(group)} are not more similar to each other than to {', '.join(others)}: {describe(decision)}"


@pytest.mark.claim("LF-2")
def test_lf2_outer_layers_are_language_specific_middle_layers_semantic(measure, record):
    """First and last layers are more language-specific and less semantic than the middle layers."""
    rev = measure.revision
    sim = similarity_at(measure, rev)
    first, middle, last = layer_groups(sim.n_layers)
    if not middle:
        pytest.skip(f"LF-2 needs middle layers; the model has {sim.n_layers} layer(s)")
    lrds, sads = sim.per_layer()

    def mean(values, layers):
        return values[:, layers].mean(axis=1)

    n = sim.n_meanings
    parts = {
        "LRDS first > middle": bootstrap_decision(mean(lrds, first) - mean(lrds, middle), statistic="LRDS first quarter − middle", n=n),
        "LRDS last > middle": bootstrap_decision(mean(lrds, last) - mean(lrds, middle), statistic="LRDS last quarter − middle", n=n),
        "SADS middle > first": bootstrap_decision(mean(sads, middle) - mean(sads, first), statistic="SADS middle − first quarter", n=n),
        "SADS middle > last": bootstrap_decision(mean(sads, middle) - mean(sads, last), statistic="SADS middle − last quarter", n=n),
    }
    decision = all_of(
        parts["LRDS first > middle"],
        parts,
        rule=f"per-layer LRDS higher and SADS lower in the first ({first}) and last ({last}) quarter than in the middle ({middle})",
    )
    data = {
        "per_layer": {"lrds": lrds[0].tolist(), "sads": sads[0].tolist()},
        "layer_groups": {"first": first, "middle": middle, "last": last},
        "languages": list(sim.languages),
    }
    record(decision, title="First and last layers are more language-specific and less semantic than middle layers", checkpoints=[rev], data=data)
    assert decision.supported, decision.detail["reason"]
