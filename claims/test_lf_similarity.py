"""Lingua Franca (Zeng et al.): activation similarity by language and by meaning (LF-1a … LF-2).

Every claim here is measured on the parallel similarity sample (the same verses in every
language, so meaning groups are exact), at ``measurements.plan.revision`` (the final checkpoint
unless ``--revision`` is given). Statistics are LF's LRDS/SADS (``harness.metrics``), one-sided at
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

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from harness.analyses.similarity import (
    DISTINCT_SCRIPT,
    ROMANCE,
    bootstrap_decision,
    lrds_permutation_null,
    permutation_decision,
    sads_permutation_null,
    similarity_at,
)
from harness.claim_registry import ClaimOutcome, Figure, RecordedClaim, claim
from harness.layer_groups import lf_quarters
from harness.metrics import all_of, describe
from harness.report import figures_lf
from harness.report.text import fmt, join_parts, mean_of

SIMILARITY_MAP = Figure("lf1_similarity_map", "language similarity map (LF Fig. 2)", figures_lf.language_similarity_map)
LAYER_SCORES = Figure("lf2_layer_scores", "per-layer LRDS and SADS (LF Fig. 3)", figures_lf.layer_scores)


@dataclass(frozen=True)
class SimilarityNumbers:
    """The similarity map at the claim's checkpoint (``SimilarityAnalysis.report_data``)."""

    language_similarity: list[list[float]]  # [L, L] mean similarity between language blocks, different verses
    language_similarity_diff_meaning: list[list[float]]
    languages: list[str]
    lrds: float
    sads: float
    n_verses: int
    bootstrap: dict[str, Any]  # {"unit": "verse", "n_resamples", "seed"}


@dataclass(frozen=True)
class ScriptSimilarityNumbers(SimilarityNumbers):
    sads_restricted: dict[str, Any]  # {"languages": distinct-script languages present, "value": SADS over their pairs}


@dataclass(frozen=True)
class RelatedSimilarityNumbers(SimilarityNumbers):
    group: list[str]  # the related languages present


@dataclass(frozen=True)
class LayerScoreNumbers:
    per_layer: dict[str, list[float]]  # {"lrds": [layers], "sads": [layers]}
    layer_groups: dict[str, list[int]]  # {"first", "middle", "last"}: the layers compared
    languages: list[str]


def _lrds_summary(claim: RecordedClaim) -> str | None:
    lrds = claim.numbers.lrds
    return None if lrds is None else f"LRDS = {fmt(lrds, 3)}"


def _sads_summary(claim: RecordedClaim) -> str | None:
    sads = claim.numbers.sads
    return None if sads is None else f"SADS = {fmt(sads, 3)}"


def _related_summary(claim: RecordedClaim) -> str | None:
    """Mean block similarity within the related languages vs from them to the others."""
    m, langs = claim.numbers.language_similarity, claim.numbers.languages or []
    names = [x for x in (claim.numbers.group or list(figures_lf.DEFAULT_GROUP)) if x in langs]
    group = [langs.index(x) for x in names]
    if not m or len(group) < 2:
        return None
    within = mean_of(m[i][j] for i in group for j in group if i != j)
    rest = mean_of(m[i][j] for i in group for j in range(len(langs)) if j not in group)
    return f"mean block similarity within {'/'.join(names)} {fmt(within, 3)} vs to the other languages {fmt(rest, 3)}"


def _layer_scores_summary(claim: RecordedClaim) -> str | None:
    """LRDS and SADS of the first and last layers vs the middle ones."""
    per_layer = claim.numbers.per_layer
    if not isinstance(per_layer, dict):
        return None
    parts = []
    for key in ("lrds", "sads"):
        values = per_layer.get(key)
        if values:
            first, middle, last = figures_lf.recorded_layer_groups(len(values), claim.numbers.layer_groups)
            ends = mean_of([values[i] for i in first + last])
            mid = mean_of([values[i] for i in middle])
            parts.append(f"{key.upper()} first/last layers {fmt(ends, 3)} vs middle {fmt(mid, 3)}")
    return join_parts(parts)


@claim("LF-1a", numbers=SimilarityNumbers, summary=_lrds_summary, figures=(SIMILARITY_MAP,))
def test_lf1a_same_language_sentences_activate_alike(measurements) -> ClaimOutcome[SimilarityNumbers]:
    """Same-language sentences have more similar activation than cross-language ones (LRDS > 0)."""
    rev = measurements.plan.revision
    sim = similarity_at(measurements, rev)
    observed, null = lrds_permutation_null(sim.gram)
    decision = permutation_decision(
        observed,
        null,
        statistic="LRDS (same-language − cross-language similarity, different verses)",
        n=sim.n_meanings,
        null_description=f"language labels shuffled within each verse, {len(null)} permutations",
        bootstrap=sim.lrds,
    )
    return ClaimOutcome(decision, SimilarityNumbers(**sim.report_data()), checkpoints=(rev,))


@claim("LF-1b", numbers=ScriptSimilarityNumbers, summary=_sads_summary, figures=(SIMILARITY_MAP,))
def test_lf1b_same_meaning_aligns_across_languages_and_scripts(measurements) -> ClaimOutcome[ScriptSimilarityNumbers]:
    """Same-meaning sentences in different languages are more similar than different-meaning ones,
    even for zh and ar."""
    rev = measurements.plan.revision
    sim = similarity_at(measurements, rev)
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
    decision = all_of(parts["SADS > 0"], parts,
                      rule="SADS > 0 overall and over the pairs involving zh or ar (those present)")
    numbers = ScriptSimilarityNumbers(
        **sim.report_data(),
        sads_restricted={"languages": scripts, "value": float(restricted[0]) if restricted is not None else None},
    )
    return ClaimOutcome(decision, numbers, checkpoints=(rev,))


@claim("LF-1c", numbers=RelatedSimilarityNumbers, summary=_related_summary, figures=(SIMILARITY_MAP,))
def test_lf1c_related_languages_are_more_similar(measurements) -> ClaimOutcome[RelatedSimilarityNumbers]:
    """Related languages (fr, es, pt) are more similar to each other than to the other languages."""
    rev = measurements.plan.revision
    languages = measurements.plan.languages
    group = [lang for lang in ROMANCE if lang in languages]
    others = [lang for lang in languages if lang not in group]
    if len(group) < 2 or not others:
        pytest.skip(
            f"LF-1c needs at least two of {', '.join(ROMANCE)} and one other language; "
            f"this run has {', '.join(languages)}"
        )
    sim = similarity_at(measurements, rev)
    contrast = sim.full.group_contrast(sim.lang_index(group))
    decision = bootstrap_decision(
        contrast,
        statistic=f"mean similarity within {'/'.join(group)} − between them and the others (different verses)",
        n=sim.n_meanings,
        detail={"group": group, "others": others},
    )
    numbers = RelatedSimilarityNumbers(**sim.report_data(), group=group)
    return ClaimOutcome(decision, numbers, checkpoints=(rev,), failure=(
        f"{'/'.join(group)} are not more similar to each other than to {', '.join(others)}: {describe(decision)}"
    ))


@claim("LF-2", numbers=LayerScoreNumbers, summary=_layer_scores_summary, figures=(LAYER_SCORES,))
def test_lf2_outer_layers_are_language_specific_middle_layers_semantic(measurements) -> ClaimOutcome[LayerScoreNumbers]:
    """First and last layers are more language-specific and less semantic than the middle layers."""
    rev = measurements.plan.revision
    sim = similarity_at(measurements, rev)
    first, middle, last = lf_quarters(sim.n_layers)
    if not middle:
        pytest.skip(f"LF-2 needs middle layers; the model has {sim.n_layers} layer(s)")
    lrds, sads = sim.per_layer()

    def mean(values, layers):
        return values[:, layers].mean(axis=1)

    n = sim.n_meanings
    parts = {
        "LRDS first > middle": bootstrap_decision(mean(lrds, first) - mean(lrds, middle),
                                                  statistic="LRDS first quarter − middle", n=n),
        "LRDS last > middle": bootstrap_decision(mean(lrds, last) - mean(lrds, middle),
                                                 statistic="LRDS last quarter − middle", n=n),
        "SADS middle > first": bootstrap_decision(mean(sads, middle) - mean(sads, first),
                                                  statistic="SADS middle − first quarter", n=n),
        "SADS middle > last": bootstrap_decision(mean(sads, middle) - mean(sads, last),
                                                 statistic="SADS middle − last quarter", n=n),
    }
    decision = all_of(
        parts["LRDS first > middle"],
        parts,
        rule=f"per-layer LRDS higher and SADS lower in the first ({first}) and last ({last}) quarter "
        f"than in the middle ({middle})",
    )
    numbers = LayerScoreNumbers(
        per_layer={"lrds": lrds[0].tolist(), "sads": sads[0].tolist()},
        layer_groups={"first": first, "middle": middle, "last": last},
        languages=list(sim.languages),
    )
    return ClaimOutcome(decision, numbers, checkpoints=(rev,))
