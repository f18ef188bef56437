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
* Untrained control: each claim's statistic must also be larger than the same statistic on the
  untrained model (``harness.analyses.untrained``: step 0 of the series, else the architecture
  initialised under seed 0), by a paired bootstrap over verses (the same resamples at both
  revisions). Script and token statistics alone give a random-weight model LRDS, SADS and
  related-language contrasts above 0; a claim that holds as well at initialisation is not supported.
* LF-1c compares fr/es/pt with the other languages *of their script* only (Latin: en, de, vi, id, sw
  among the toy's), so that a shared script cannot make the contrast; the set is recorded.
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
from harness.analyses.untrained import (
    decide_with_untrained,
    replicates_vs_untrained,
    smallest_gain_vs_untrained,
    untrained_record,
    untrained_revision,
)
from harness.claim_registry import ClaimOutcome, Figure, RecordedClaim, claim
from harness.data import SCRIPTS
from harness.layer_groups import lf_quarters
from harness.metrics import describe
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
    untrained: dict[str, Any]  # the claim's statistic on the untrained model: {"revision", "value", …}


@dataclass(frozen=True)
class ScriptSimilarityNumbers(SimilarityNumbers):
    sads_restricted: dict[str, Any]  # {"languages": distinct-script languages present, "value": SADS over their pairs}


@dataclass(frozen=True)
class RelatedSimilarityNumbers(SimilarityNumbers):
    group: list[str]  # the related languages present
    others: list[str]  # the comparison set: the other languages of the group's script
    script: list[str]  # the group's script(s)


@dataclass(frozen=True)
class LayerScoreNumbers:
    per_layer: dict[str, list[float]]  # {"lrds": [layers], "sads": [layers]}
    layer_groups: dict[str, list[int]]  # {"first", "middle", "last"}: the layers compared
    languages: list[str]
    # the untrained model: {"revision", "value" (untrained value of the contrast with the smallest gain),
    # "contrasts" {name: untrained value}, "per_layer" {"lrds", "sads"}}
    untrained: dict[str, Any]


def _untrained_text(claim: RecordedClaim, what: str, digits: int = 3) -> str:
    """``"; untrained model (step0): <what> 0.096"`` from the claim's ``untrained`` record, else ``""``."""
    untrained = getattr(claim.numbers, "untrained", None) or {}
    if untrained.get("value") is None:
        return ""
    return f"; untrained model ({untrained.get('revision')}): {what} {fmt(untrained['value'], digits)}"


def _lrds_summary(claim: RecordedClaim) -> str | None:
    lrds = claim.numbers.lrds
    return None if lrds is None else f"LRDS = {fmt(lrds, 3)}" + _untrained_text(claim, "LRDS")


def _sads_summary(claim: RecordedClaim) -> str | None:
    sads = claim.numbers.sads
    return None if sads is None else f"SADS = {fmt(sads, 4)}" + _untrained_text(claim, "SADS", 4)


def _related_summary(claim: RecordedClaim) -> str | None:
    """Mean block similarity within the related languages vs from them to the others."""
    m, langs = claim.numbers.language_similarity, claim.numbers.languages or []
    names = [x for x in (claim.numbers.group or list(figures_lf.DEFAULT_GROUP)) if x in langs]
    group = [langs.index(x) for x in names]
    others = [langs.index(x) for x in (claim.numbers.others or []) if x in langs]
    if not m or len(group) < 2 or not others:
        return None
    within = mean_of(m[i][j] for i in group for j in group if i != j)
    rest = mean_of(m[i][j] for i in group for j in others)
    return (f"mean block similarity within {'/'.join(names)} {fmt(within, 3)} vs to the other languages of their "
            f"script ({'/'.join(langs[j] for j in others)}) {fmt(rest, 3)}"
            + _untrained_text(claim, "within − to the others (different verses)"))


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
    untrained = claim.numbers.untrained or {}
    contrasts = untrained.get("contrasts") or {}
    if contrasts:
        parts.append(f"untrained model ({untrained.get('revision')}): "
                     + ", ".join(f"{name} {fmt(v, 3)}" for name, v in contrasts.items()))
    return join_parts(parts)


@claim("LF-1a", numbers=SimilarityNumbers, summary=_lrds_summary, figures=(SIMILARITY_MAP,))
def test_lf1a_same_language_sentences_activate_alike(measurements) -> ClaimOutcome[SimilarityNumbers]:
    """Same-language sentences have more similar activation than cross-language ones (LRDS > 0)."""
    rev = measurements.plan.revision
    sim = similarity_at(measurements, rev)
    init_rev = untrained_revision(measurements)
    init = similarity_at(measurements, init_rev)
    observed, null = lrds_permutation_null(sim.gram)
    lrds_above_0 = permutation_decision(
        observed,
        null,
        statistic="LRDS (same-language − cross-language similarity, different verses)",
        n=sim.n_meanings,
        null_description=f"language labels shuffled within each verse, {len(null)} permutations",
        bootstrap=sim.lrds,
    )
    vs_init = replicates_vs_untrained(sim.lrds, init.lrds, statistic="LRDS", n=sim.n_meanings, revision=init_rev,
                                      trained_revision=rev)
    decision = decide_with_untrained(lrds_above_0, {"LRDS > 0": lrds_above_0}, vs_init, revision=init_rev,
                                     rule="LRDS > 0 (permutation test, language labels shuffled within verses)")
    numbers = SimilarityNumbers(**sim.report_data(), untrained=untrained_record(init_rev, float(init.lrds[0])))
    return ClaimOutcome(decision, numbers, checkpoints=(rev,))


@claim("LF-1b", numbers=ScriptSimilarityNumbers, summary=_sads_summary, figures=(SIMILARITY_MAP,))
def test_lf1b_same_meaning_aligns_across_languages_and_scripts(measurements) -> ClaimOutcome[ScriptSimilarityNumbers]:
    """Same-meaning sentences in different languages are more similar than different-meaning ones,
    even for zh and ar."""
    rev = measurements.plan.revision
    sim = similarity_at(measurements, rev)
    init_rev = untrained_revision(measurements)
    init = similarity_at(measurements, init_rev)
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
    vs_init = replicates_vs_untrained(sim.sads, init.sads, statistic="SADS", n=sim.n_meanings, revision=init_rev,
                                      trained_revision=rev)
    decision = decide_with_untrained(parts["SADS > 0"], parts, vs_init, revision=init_rev,
                                     rule="SADS > 0 overall and over the pairs involving zh or ar (those present)")
    init_restricted = init.full.sads(involving=init.lang_index(scripts))[0] if scripts else None
    numbers = ScriptSimilarityNumbers(
        **sim.report_data(),
        untrained=untrained_record(init_rev, float(init.sads[0]), sads_restricted=init_restricted),
        sads_restricted={"languages": scripts, "value": float(restricted[0]) if restricted is not None else None},
    )
    return ClaimOutcome(decision, numbers, checkpoints=(rev,))


@claim("LF-1c", numbers=RelatedSimilarityNumbers, summary=_related_summary, figures=(SIMILARITY_MAP,))
def test_lf1c_related_languages_are_more_similar(measurements) -> ClaimOutcome[RelatedSimilarityNumbers]:
    """Related languages (fr, es, pt) are more similar to each other than to the other languages."""
    rev = measurements.plan.revision
    languages = measurements.plan.languages
    group = [lang for lang in ROMANCE if lang in languages]
    script = sorted({SCRIPTS[lang] for lang in group})
    others = [lang for lang in languages if lang not in group and SCRIPTS[lang] in script]
    if len(group) < 2 or not others:
        pytest.skip(
            f"LF-1c needs at least two of {', '.join(ROMANCE)} and another language of their script "
            f"({'/'.join(script) or 'Latin'}); this run has {', '.join(languages)}"
        )
    sim = similarity_at(measurements, rev)
    init_rev = untrained_revision(measurements)
    init = similarity_at(measurements, init_rev)
    statistic = (f"mean similarity within {'/'.join(group)} − between them and the other {'/'.join(script)}-script "
                 f"languages (different verses)")
    contrast = sim.full.contrast_with(sim.lang_index(group), sim.lang_index(others))
    init_contrast = init.full.contrast_with(init.lang_index(group), init.lang_index(others))
    excluded = [lang for lang in languages if lang not in group and lang not in others]
    primary = bootstrap_decision(contrast, statistic=statistic, n=sim.n_meanings,
                                 detail={"group": group, "others": others, "other_scripts_excluded": excluded})
    vs_init = replicates_vs_untrained(contrast, init_contrast, statistic="within − to the same-script others",
                                      n=sim.n_meanings, revision=init_rev, trained_revision=rev)
    decision = decide_with_untrained(
        primary, {"related > same-script others": primary}, vs_init, revision=init_rev,
        rule=f"the contrast's one-sided 99% verse-bootstrap bound > 0, comparing {'/'.join(group)} with the other "
        f"languages of their script ({', '.join(others)}); other scripts ({', '.join(excluded) or 'none'}) left out",
    )
    numbers = RelatedSimilarityNumbers(
        **sim.report_data(), untrained=untrained_record(init_rev, float(init_contrast[0])),
        group=group, others=others, script=script,
    )
    return ClaimOutcome(decision, numbers, checkpoints=(rev,), failure=(
        f"{'/'.join(group)} are not more similar to each other than to {', '.join(others)} (same script), or not more "
        f"than in the untrained model: {decision.detail.get('reason', describe(decision))}"
    ))


@claim("LF-2", numbers=LayerScoreNumbers, summary=_layer_scores_summary, figures=(LAYER_SCORES,))
def test_lf2_outer_layers_are_language_specific_middle_layers_semantic(measurements) -> ClaimOutcome[LayerScoreNumbers]:
    """First and last layers are more language-specific and less semantic than the middle layers."""
    rev = measurements.plan.revision
    sim = similarity_at(measurements, rev)
    first, middle, last = lf_quarters(sim.n_layers)
    if not middle:
        pytest.skip(f"LF-2 needs middle layers; the model has {sim.n_layers} layer(s)")
    init_rev = untrained_revision(measurements)
    init = similarity_at(measurements, init_rev)
    contrasts, init_contrasts = _layer_contrasts(sim, first, middle, last), _layer_contrasts(init, first, middle, last)
    n = sim.n_meanings
    parts = {name: bootstrap_decision(reps, statistic=statistic, n=n)
             for name, (statistic, reps) in contrasts.items()}
    vs_init = smallest_gain_vs_untrained({k: v[1] for k, v in contrasts.items()},
                                         {k: v[1] for k, v in init_contrasts.items()},
                                         n=n, revision=init_rev, trained_revision=rev)
    decision = decide_with_untrained(
        parts["LRDS first > middle"],
        parts, vs_init, revision=init_rev,
        rule=f"per-layer LRDS higher and SADS lower in the first ({first}) and last ({last}) quarter "
        f"than in the middle ({middle}), each contrast larger than on the untrained model",
    )
    lrds, sads = sim.per_layer()
    init_lrds, init_sads = init.per_layer()
    numbers = LayerScoreNumbers(
        per_layer={"lrds": lrds[0].tolist(), "sads": sads[0].tolist()},
        layer_groups={"first": first, "middle": middle, "last": last},
        languages=list(sim.languages),
        untrained=untrained_record(
            init_rev, vs_init.control, contrasts={k: float(v[1][0]) for k, v in init_contrasts.items()},
            per_layer={"lrds": init_lrds[0].tolist(), "sads": init_sads[0].tolist()},
        ),
    )
    return ClaimOutcome(decision, numbers, checkpoints=(rev,))


def _layer_contrasts(sim, first: list[int], middle: list[int], last: list[int]) -> dict[str, tuple[str, np.ndarray]]:
    """LF-2's four layer contrasts: ``{part name: (statistic, verse-bootstrap replicates [R])}``."""
    lrds, sads = sim.per_layer()

    def mean(values, layers):
        return values[:, layers].mean(axis=1)

    return {
        "LRDS first > middle": ("LRDS first quarter − middle", mean(lrds, first) - mean(lrds, middle)),
        "LRDS last > middle": ("LRDS last quarter − middle", mean(lrds, last) - mean(lrds, middle)),
        "SADS middle > first": ("SADS middle − first quarter", mean(sads, middle) - mean(sads, first)),
        "SADS middle > last": ("SADS middle − last quarter", mean(sads, middle) - mean(sads, last)),
    }
