"""RF §6: cross-lingual alignment of concept expert neurons (RF-2a, RF-2b, RF-2c, RF-2d).

Measurement: expert scores AP(c, l) of every MLP unit (max-pooled responses, verse-aligned concept
datasets), combined in ``harness.analyses.experts``. The unit of every test is the concept: each
concept's statistic is averaged over language pairs (Fisher z for correlations) and the tests are
paired over concepts (sign-flip permutation, one-sided, α = 0.01).

Controls: late is compared with "early" and with the first checkpoint of the series (step 0 on the
toy); every matched statistic is compared with the same statistic between mismatched concepts
(c in l vs c' ≠ c in l'); overlaps also with chance k/N. RF-2d, a statement about one checkpoint,
is compared with the same statistic on the untrained model (``harness.analyses.untrained``):
random-weight models already align same-script languages through shared tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from harness.analyses import experts
from harness.analyses.untrained import (
    decide_with_untrained,
    failure_note,
    init_noise_revisions,
    paired_change_beyond_init_noise,
    paired_vs_untrained,
    untrained_record,
    untrained_revision,
)
from harness.claim_registry import ClaimOutcome, Figure, RecordedClaim, claim
from harness.data import SCRIPTS
from harness.metrics import ALPHA, all_of, one_sample_greater, paired_permutation_test, trend_test
from harness.report import figures_rf
from harness.report.text import fmt, join_parts, mean_of, series_change

ALIGNMENT_MATRIX = Figure("rf2a_alignment_matrix", "language-alignment matrices (RF Fig. 3)",
                          figures_rf.alignment_matrix)
SCRIPT_ALIGNMENT = Figure("rf2d_script_alignment", "alignment by script (RF Fig. 3)", figures_rf.script_alignment)
EXPERTS_OVER_TRAINING = Figure("rf2_over_training", "alignment, MI and overlap over training (RF Fig. 4)",
                               figures_rf.experts_over_training)


@dataclass(frozen=True)
class AlignmentNumbers:
    """Cross-lingual alignment of the AP vectors at the early and late checkpoints and over the series."""

    alignment_matrix: dict[str, Any]  # revision (early, late) → [language][language] Fisher-z mean r over concepts
    languages: list[str]
    series: dict[str, Any]  # {"revisions", "alignment", "mismatched_alignment"}: one value per revision
    n_concepts: int


@dataclass(frozen=True)
class MutualInformationNumbers:
    """Mutual information between AP vectors over the series, beside the alignment."""

    series: dict[str, Any]  # {"revisions", "alignment", "mi" (nats), "mismatched_alignment"}: one value per revision
    per_concept_rho: list[float]  # Spearman rho of MI vs alignment over the checkpoints, per concept
    series_rho: float | None  # the same for the means over concepts (None with fewer than 3 checkpoints)
    languages: list[str]


@dataclass(frozen=True)
class OverlapNumbers:
    """Top-k expert overlap between languages over the series."""

    series: dict[str, Any]  # {"revisions", "overlap", "mismatched_overlap", "chance"}
    k: int
    n_units: int
    late_over_chance: float
    late_concept_specific: float  # late overlap, matched − mismatched concepts
    languages: list[str]


@dataclass(frozen=True)
class ScriptAlignmentNumbers:
    """Alignment of same-script vs cross-script language pairs at the late checkpoint."""

    same_script: list[float]  # alignment per same-script pair (Fisher-z mean over concepts)
    cross_script: list[float]
    same_script_pairs: list[str]  # "xx-yy", in the order of same_script
    cross_script_pairs: list[str]
    alignment_matrix: dict[str, Any]  # late revision → [language][language]
    languages: list[str]
    scripts: dict[str, str]  # language → script
    mismatched_contrast: float  # same − cross-script alignment for mismatched concepts
    # the untrained model: {"revision", "value" (mean same − cross-script contrast over concepts),
    # "same_script", "cross_script" (mean alignment of those pairs)}
    untrained: dict[str, Any]


def _points(measurements):
    points = experts.series_points(measurements)
    if points is None:
        pytest.skip("needs distinct early and late checkpoints in the series")
    return points


def _scores(measurements, points, languages):
    return {rev: experts.expert_scores(measurements, rev, languages) for rev in points.revisions}


def _rises(late: np.ndarray, refs: dict[str, np.ndarray], points, what: str) -> dict:
    return {
        f"{what} late > {name} ({points.references[name]})": paired_permutation_test(
            late, ref, alternative="greater", alpha=ALPHA, statistic=f"{what} per concept, late vs {name}")
        for name, ref in refs.items()
    }


def _beyond_init_noise(measurements, languages, per_concept, late: np.ndarray, early: np.ndarray, what: str) -> dict:
    """The rise late vs early must exceed the same statistic's difference between two initialisations of the
    architecture (``init_noise_revisions``): two distinct models always differ over enough concepts."""
    first, second = init_noise_revisions()
    init_a, init_b = (per_concept(experts.expert_scores(measurements, rev, languages)) for rev in (first, second))
    return {f"{what} rise beyond the difference of two initialisations ({first}, {second})":
            paired_change_beyond_init_noise(late, early, init_a, init_b, statistic=f"{what} per concept")}


def _alignment_summary(claim: RecordedClaim) -> str | None:
    """Alignment (and, for RF-2b, MI) from the first checkpoint of the series to the last."""
    series = claim.numbers.series or {}
    return join_parts([series_change(series, "alignment"), series_change(series, "mi", "MI")])


@claim("RF-2a", numbers=AlignmentNumbers, summary=_alignment_summary, figures=(ALIGNMENT_MATRIX, EXPERTS_OVER_TRAINING))
def test_rf_2a_alignment_rises(measurements) -> ClaimOutcome[AlignmentNumbers]:
    """Cross-lingual neuron alignment (Fisher-z averaged Pearson of AP vectors) rises during pre-training."""
    points = _points(measurements)
    languages = experts.claim_languages(measurements)
    aligned = {rev: experts.alignment(s) for rev, s in _scores(measurements, points, languages).items()}
    late = aligned[points.late]
    references = {n: aligned[r].per_concept for n, r in points.references.items()}
    parts = _rises(late.per_concept, references, points, "alignment")
    parts.update(_beyond_init_noise(measurements, languages, lambda s: experts.alignment(s).per_concept,
                                    late.per_concept, aligned[points.early].per_concept, "alignment"))
    parts["matched > mismatched concepts (late)"] = paired_permutation_test(
        late.per_concept, late.per_concept_mismatched, alternative="greater", alpha=ALPHA,
        statistic="alignment per concept, matched vs mismatched concepts (late)")
    decision = all_of(
        next(iter(parts.values())), parts,
        rule="per-concept alignment (Fisher-z mean over language pairs of r(AP(c,l), AP(c,l'))) late > early and "
        "late > first checkpoint, the rise larger than between two initialisations, and at late matched > "
        "mismatched concepts; paired sign-flip tests over concepts, α=0.01 each",
    )
    numbers = AlignmentNumbers(
        alignment_matrix={rev: aligned[rev].matrix().tolist() for rev in (points.early, points.late)},
        languages=list(languages),
        series={
            "revisions": list(points.revisions),
            "alignment": [aligned[r].overall for r in points.revisions],
            "mismatched_alignment": [aligned[r].overall_mismatched for r in points.revisions],
        },
        n_concepts=len(late.per_concept),
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(points.revisions), failure=(
        "alignment "
        + ", ".join(f"{r}: {aligned[r].overall:.3f} (mismatched {aligned[r].overall_mismatched:.3f})"
                    for r in points.revisions)
        + f" — fails: {decision.detail['failed']}"
    ))


@claim("RF-2b", numbers=MutualInformationNumbers, summary=_alignment_summary, figures=(EXPERTS_OVER_TRAINING,))
def test_rf_2b_mutual_information_rises_with_alignment(measurements) -> ClaimOutcome[MutualInformationNumbers]:
    """MI between AP vectors rises with the same trend as the correlation."""
    points = _points(measurements)
    languages = experts.claim_languages(measurements)
    scores = _scores(measurements, points, languages)
    progress = measurements.config.progress
    # [concepts], nats
    def mi_per_concept(s: experts.ExpertScores) -> np.ndarray:
        return experts.mutual_information(s, progress=progress).mean(axis=1)

    mi = {rev: mi_per_concept(s) for rev, s in scores.items()}
    alignments = {rev: experts.alignment(s) for rev, s in scores.items()}
    aligned = {rev: a.per_concept for rev, a in alignments.items()}
    parts = _rises(mi[points.late], {n: mi[r] for n, r in points.references.items()}, points, "MI")
    parts.update(_beyond_init_noise(measurements, languages, mi_per_concept, mi[points.late], mi[points.early], "MI"))
    revs = list(points.revisions)
    if len(revs) >= 3:
        a = np.stack([aligned[r] for r in revs], axis=1)  # [concepts, checkpoints]
        m = np.stack([mi[r] for r in revs], axis=1)
        rho = np.array([trend_test(a[c], m[c], alpha=ALPHA).value for c in range(a.shape[0])])
        rho = np.nan_to_num(rho, nan=0.0)
        parts["trajectories rank-correlate"] = one_sample_greater(
            rho, 0.0, alpha=ALPHA, method="sign-flip",
            statistic="per-concept Spearman rho of MI vs alignment over checkpoints")
    else:
        rho = np.array([])
    decision = all_of(
        next(iter(parts.values())), parts,
        rule="per-concept MI (k-NN, mean over language pairs) late > early and late > first checkpoint "
        "(paired sign-flip), the rise larger than between two initialisations, and the per-concept Spearman "
        "correlation between the MI and alignment trajectories over "
        "the series has mean > 0 (sign-flip over concepts); α=0.01 each",
    )
    alignment_series = [float(experts.fisher_mean(aligned[r])) for r in revs]
    mi_series = [float(mi[r].mean()) for r in revs]
    numbers = MutualInformationNumbers(
        series={
            "revisions": revs,
            "alignment": alignment_series,
            "mi": mi_series,
            "mismatched_alignment": [alignments[r].overall_mismatched for r in revs],
        },
        per_concept_rho=rho.tolist(),
        series_rho=trend_test(alignment_series, mi_series).value if len(revs) >= 3 else None,
        languages=list(languages),
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(revs), failure=(
        "MI " + ", ".join(f"{r}: {mi[r].mean():.4f}" for r in revs)
        + f"; mean rho {rho.mean() if rho.size else float('nan'):.2f}"
        + f" — fails: {decision.detail['failed']}"
    ))


def _overlap_summary(claim: RecordedClaim) -> str | None:
    """Top-k overlap from the first checkpoint to the last, as a fraction of k, with chance and mismatched concepts."""
    series = claim.numbers.series or {}
    text = series_change(series, "overlap")
    if not text:
        return text
    late = series["overlap"][-1]
    if late:
        text += f" ≈ 1/{1 / float(late):.1f} of the top k"
    if series.get("chance") is not None:
        text += f"; chance k/N = {fmt(series['chance'], 3)}"
    mismatched = series.get("mismatched_overlap")
    if mismatched and mismatched[-1] is not None:
        text += f"; mismatched concepts {fmt(mismatched[-1], 3)}"
    return text


@claim("RF-2c", numbers=OverlapNumbers, summary=_overlap_summary, figures=(EXPERTS_OVER_TRAINING,))
def test_rf_2c_overlap_rises_and_is_substantial(measurements) -> ClaimOutcome[OverlapNumbers]:
    """Top-k expert overlap between languages rises and becomes substantial."""
    points = _points(measurements)
    languages = experts.claim_languages(measurements)
    k = measurements.top_k()
    ov = {rev: experts.overlap(s, k) for rev, s in _scores(measurements, points, languages).items()}
    late = ov[points.late]
    parts = _rises(late.per_concept, {n: ov[r].per_concept for n, r in points.references.items()}, points, "overlap")
    parts.update(_beyond_init_noise(measurements, languages, lambda s: experts.overlap(s, k).per_concept,
                                    late.per_concept, ov[points.early].per_concept, "overlap"))
    parts["matched > mismatched concepts (late)"] = paired_permutation_test(
        late.per_concept, late.per_concept_mismatched, alternative="greater", alpha=ALPHA,
        statistic="overlap per concept, matched vs mismatched concepts (late)")
    parts["late > chance k/N"] = one_sample_greater(late.per_concept, late.chance, alpha=ALPHA, method="sign-flip",
                                                    statistic="overlap per concept vs chance k/N (late)")
    decision = all_of(
        parts[next(iter(parts))], parts,
        rule=f"per-concept top-{k} overlap (mean over language pairs) late > early and late > first checkpoint, "
        "the rise larger than between two initialisations, late matched > mismatched concepts, and late > chance "
        "k/N; sign-flip tests over concepts, α=0.01 each",
    )
    numbers = OverlapNumbers(
        series={
            "revisions": list(points.revisions),
            "overlap": [ov[r].mean for r in points.revisions],
            "mismatched_overlap": [ov[r].mean_mismatched for r in points.revisions],
            "chance": late.chance,
        },
        k=k,
        n_units=late.n_units,
        late_over_chance=late.mean / late.chance,
        late_concept_specific=late.mean - late.mean_mismatched,
        languages=list(languages),
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(points.revisions), failure=(
        f"k={k}: overlap "
        + ", ".join(f"{r}: {ov[r].mean:.4f} (mismatched {ov[r].mean_mismatched:.4f})" for r in points.revisions)
        + f"; chance {late.chance:.4f} — fails: {decision.detail['failed']}"
    ))


def _script_summary(claim: RecordedClaim) -> str | None:
    """Mean alignment of the same-script pairs vs the cross-script pairs."""
    same, cross = mean_of(claim.numbers.same_script), mean_of(claim.numbers.cross_script)
    if same is None or cross is None:
        return None
    text = (f"mean alignment of same-script pairs {fmt(same, 3)} (n = {len(claim.numbers.same_script)}) vs "
            f"cross-script {fmt(cross, 3)} (n = {len(claim.numbers.cross_script)})")
    untrained = claim.numbers.untrained or {}
    if untrained.get("same_script") is not None:
        text += (f"; untrained model ({untrained.get('revision')}): same-script {fmt(untrained['same_script'], 3)} "
                 f"vs cross-script {fmt(untrained.get('cross_script'), 3)}")
    return text


@claim("RF-2d", numbers=ScriptAlignmentNumbers, summary=_script_summary, figures=(SCRIPT_ALIGNMENT,))
def test_rf_2d_alignment_structured_by_script(measurements) -> ClaimOutcome[ScriptAlignmentNumbers]:
    """Alignment is structured by script and family: same-script pairs are more aligned than cross-script pairs."""
    late_rev = measurements.plan.late or measurements.plan.revision
    languages = experts.claim_languages(measurements)
    same, cross = experts.script_pairs(languages, SCRIPTS)
    if not same or not cross:
        pytest.skip(f"languages {', '.join(languages)} give no same-script or no cross-script pair")
    al = experts.alignment(experts.expert_scores(measurements, late_rev, languages))
    init_rev = untrained_revision(measurements)
    init = experts.alignment(experts.expert_scores(measurements, init_rev, languages))

    def contrast(values):
        return experts.fisher_mean(values[:, same], axis=1) - experts.fisher_mean(values[:, cross], axis=1)

    matched, mismatched = contrast(al.matched), contrast(al.mismatched)
    init_matched = contrast(init.matched)
    vs_init = paired_vs_untrained(matched, init_matched, revision=init_rev, trained_revision=late_rev,
                                  statistic="same − cross-script alignment per concept")
    primary = paired_permutation_test(
        experts.fisher_mean(al.matched[:, same], axis=1), experts.fisher_mean(al.matched[:, cross], axis=1),
        alternative="greater", alpha=ALPHA, statistic="alignment per concept, same-script vs cross-script pairs")
    beyond_generic = paired_permutation_test(matched, mismatched, alternative="greater", alpha=ALPHA,
                                             statistic="same − cross-script alignment, matched vs mismatched concepts")
    decision = decide_with_untrained(
        primary, {"same-script > cross-script": primary, "script contrast beyond mismatched concepts": beyond_generic},
        vs_init, revision=init_rev,
        rule="per concept, alignment over same-script pairs > over cross-script pairs (Fisher-z means), and that "
        "contrast is larger for matched than for mismatched concepts (script structure of concept units, not of "
        "generic units), and larger than on the untrained model; paired sign-flip tests over concepts, α=0.01 each",
    )
    per_pair = experts.fisher_mean(al.matched, axis=0)
    names = [f"{languages[i]}-{languages[j]}" for i, j in al.pairs]
    numbers = ScriptAlignmentNumbers(
        same_script=[float(per_pair[p]) for p in same],
        cross_script=[float(per_pair[p]) for p in cross],
        same_script_pairs=[names[p] for p in same],
        cross_script_pairs=[names[p] for p in cross],
        alignment_matrix={late_rev: al.matrix().tolist()},
        languages=list(languages),
        scripts={lang: SCRIPTS[lang] for lang in languages},
        mismatched_contrast=float(mismatched.mean()),
        untrained=untrained_record(
            init_rev, float(init_matched.mean()),
            same_script=float(np.mean(experts.fisher_mean(init.matched[:, same], axis=0))),
            cross_script=float(np.mean(experts.fisher_mean(init.matched[:, cross], axis=0))),
        ),
    )
    return ClaimOutcome(decision, numbers, checkpoints=(late_rev,), failure=(
        f"at {late_rev}: same-script {np.mean(numbers.same_script):.3f} "
        f"vs cross-script {np.mean(numbers.cross_script):.3f}; "
        f"contrast matched {matched.mean():.3f} vs mismatched {mismatched.mean():.3f} "
        f"vs untrained ({init_rev}) {init_matched.mean():.3f} "
        f"— fails: {decision.detail['failed']}" + failure_note(decision, init_rev)
    ))
