"""RF §6: cross-lingual alignment of concept expert neurons (RF-2a, RF-2b, RF-2c, RF-2d).

Measurement: expert scores AP(c, l) of every MLP unit (max-pooled responses, verse-aligned concept
datasets), combined in ``harness.analyses.experts``. The unit of every test is the concept: each
concept's statistic is averaged over language pairs (Fisher z for correlations) and the tests are
paired over concepts (sign-flip permutation, one-sided, α = 0.01).

Controls: late is compared with "early" and with the first checkpoint of the series (step 0 on the
toy); every matched statistic is compared with the same statistic between mismatched concepts
(c in l vs c' ≠ c in l'); overlaps also with chance k/N.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.analyses import experts
from harness.data import SCRIPTS
from harness.metrics import all_of, one_sample_greater, paired_permutation_test, trend_test

ALPHA = 0.01


def _points(measure):
    points = experts.series_points(measure)
    if points is None:
        pytest.skip("needs distinct early and late checkpoints in the series")
    return points


def _scores(measure, points, languages):
    return {rev: experts.expert_scores(measure, rev, languages) for rev in points.revisions}


def _rises(late: np.ndarray, refs: dict[str, np.ndarray], points, what: str) -> dict:
    return {
        f"{what} late > {name} ({points.references[name]})": paired_permutation_test(late, ref, alternative="greater", alpha=ALPHA,
                                                                                     statistic=f"{what} per concept, late vs {name}")
        for name, ref in refs.items()
    }


@pytest.mark.claim("RF-2a")
def test_rf_2a_alignment_rises(measure, record):
    """Cross-lingual neuron alignment (Fisher-z averaged Pearson of AP vectors) rises during pre-training."""
    points = _points(measure)
    languages = experts.claim_languages(measure)
    aligned = {rev: experts.alignment(s) for rev, s in _scores(measure, points, languages).items()}
    late = aligned[points.late]
    parts = _rises(late.per_concept, {n: aligned[r].per_concept for n, r in points.references.items()}, points, "alignment")
    parts["matched > mismatched concepts (late)"] = paired_permutation_test(
        late.per_concept, late.per_concept_mismatched, alternative="greater", alpha=ALPHA,
        statistic="alignment per concept, matched vs mismatched concepts (late)")
    decision = all_of(
        next(iter(parts.values())), parts,
        rule="per-concept alignment (Fisher-z mean over language pairs of r(AP(c,l), AP(c,l'))) late > early and late > "
        "first checkpoint, and at late matched > mismatched concepts; paired sign-flip tests over concepts, α=0.01 each",
    )
    data = {
        "alignment_matrix": {rev: aligned[rev].matrix().tolist() for rev in (points.early, points.late)},
        "languages": list(languages),
        "series": {
            "revisions": list(points.revisions),
            "alignment": [aligned[r].overall for r in points.revisions],
            "mismatched_alignment": [aligned[r].overall_mismatched for r in points.revisions],
        },
        "n_concepts": len(late.per_concept),
    }
    record(decision, title="Cross-lingual neuron alignment rises during pre-training", checkpoints=list(points.revisions), data=data)
    assert decision.supported, (
        "alignment " + ", ".join(f"{r}: {aligned[r].overall:.3f} (mismatched {aligned[r].overall_mismatched:.3f})" for r in points.revisions)
        + f" — fails: {decision.detail['failed']}"
    )


@pytest.mark.claim("RF-2b")
def test_rf_2b_mutual_information_rises_with_alignment(measure, record):
    """MI between AP vectors rises with the same trend as the correlation."""
    points = _points(measure)
    languages = experts.claim_languages(measure)
    scores = _scores(measure, points, languages)
    mi = {rev: experts.mutual_information(s, progress=measure.config.progress).mean(axis=1) for rev, s in scores.items()}  # [concepts], nats
    alignments = {rev: experts.alignment(s) for rev, s in scores.items()}
    aligned = {rev: a.per_concept for rev, a in alignments.items()}
    parts = _rises(mi[points.late], {n: mi[r] for n, r in points.references.items()}, points, "MI")
    revs = list(points.revisions)
    if len(revs) >= 3:
        a = np.stack([aligned[r] for r in revs], axis=1)  # [concepts, checkpoints]
        m = np.stack([mi[r] for r in revs], axis=1)
        rho = np.array([trend_test(a[c], m[c], alpha=ALPHA).value for c in range(a.shape[0])])
        rho = np.nan_to_num(rho, nan=0.0)
        parts["trajectories rank-correlate"] = one_sample_greater(
            rho, 0.0, alpha=ALPHA, method="sign-flip", statistic="per-concept Spearman rho of MI vs alignment over checkpoints")
    else:
        rho = np.array([])
    decision = all_of(
        next(iter(parts.values())), parts,
        rule="per-concept MI (k-NN, mean over language pairs) late > early and late > first checkpoint (paired sign-flip), "
        "and the per-concept Spearman correlation between the MI and alignment trajectories over the series has mean > 0 "
        "(sign-flip over concepts); α=0.01 each",
    )
    data = {
        "series": {
            "revisions": revs,
            "alignment": [float(experts.fisher_mean(aligned[r])) for r in revs],
            "mi": [float(mi[r].mean()) for r in revs],
            "mismatched_alignment": [alignments[r].overall_mismatched for r in revs],
        },
        "per_concept_rho": rho.tolist(),
        "series_rho": trend_test([float(experts.fisher_mean(aligned[r])) for r in revs], [float(mi[r].mean()) for r in revs]).value
        if len(revs) >= 3 else None,
        "languages": list(languages),
    }
    record(decision, title="MI between AP vectors rises with the same trend as the correlation", checkpoints=revs, data=data)
    assert decision.supported, (
        "MI " + ", ".join(f"{r}: {mi[r].mean():.4f}" for r in revs) + f"; mean rho {rho.mean() if rho.size else float('nan'):.2f}"
        + f" — fails: {decision.detail['failed']}"
    )


@pytest.mark.claim("RF-2c")
def test_rf_2c_overlap_rises_and_is_substantial(measure, record):
    """Top-k expert overlap between languages rises and becomes substantial."""
    points = _points(measure)
    languages = experts.claim_languages(measure)
    k = measure.top_k()
    ov = {rev: experts.overlap(s, k) for rev, s in _scores(measure, points, languages).items()}
    late = ov[points.late]
    parts = _rises(late.per_concept, {n: ov[r].per_concept for n, r in points.references.items()}, points, "overlap")
    parts["matched > mismatched concepts (late)"] = paired_permutation_test(
        late.per_concept, late.per_concept_mismatched, alternative="greater", alpha=ALPHA,
        statistic="overlap per concept, matched vs mismatched concepts (late)")
    parts["late > chance k/N"] = one_sample_greater(late.per_concept, late.chance, alpha=ALPHA, method="sign-flip",
                                                    statistic="overlap per concept vs chance k/N (late)")
    decision = all_of(
        parts[next(iter(parts))], parts,
        rule=f"per-concept top-{k} overlap (mean over language pairs) late > early and late > first checkpoint, late matched "
        "> mismatched concepts, and late > chance k/N; sign-flip tests over concepts, α=0.01 each",
    )
    data = {
        "series": {
            "revisions": list(points.revisions),
            "overlap": [ov[r].mean for r in points.revisions],
            "mismatched_overlap": [ov[r].mean_mismatched for r in points.revisions],
            "chance": late.chance,
        },
        "k": k,
        "n_units": late.n_units,
        "late_over_chance": late.mean / late.chance,
        "late_concept_specific": late.mean - late.mean_mismatched,
        "languages": list(languages),
    }
    record(decision, title="Top-k expert overlap between languages rises and becomes substantial",
           checkpoints=list(points.revisions), data=data)
    assert decision.supported, (
        f"k={k}: overlap " + ", ".join(f"{r}: {ov[r].mean:.4f} (mismatched {ov[r].mean_mismatched:.4f})" for r in points.revisions)
        + f"; chance {late.chance:.4f} — fails: {decision.detail['failed']}"
    )


@pytest.mark.claim("RF-2d")
def test_rf_2d_alignment_structured_by_script(measure, record):
    """Alignment is structured by script and family: same-script pairs are more aligned than cross-script pairs."""
    late_rev = measure.late or measure.revision
    languages = experts.claim_languages(measure)
    same, cross = experts.script_pairs(languages, SCRIPTS)
    if not same or not cross:
        pytest.skip(f"languages {', '.join(languages)} give no same-script or no cross-script pair")
    al = experts.alignment(experts.expert_scores(measure, late_rev, languages))

    def contrast(values):
        return experts.fisher_mean(values[:, same], axis=1) - experts.fisher_mean(values[:, cross], axis=1)

    matched, mismatched = contrast(al.matched), contrast(al.mismatched)
    primary = paired_permutation_test(experts.fisher_mean(al.matched[:, same], axis=1), experts.fisher_mean(al.matched[:, cross], axis=1),
                                      alternative="greater", alpha=ALPHA, statistic="alignment per concept, same-script vs cross-script pairs")
    beyond_generic = paired_permutation_test(matched, mismatched, alternative="greater", alpha=ALPHA,
                                             statistic="same − cross-script alignment, matched vs mismatched concepts")
    decision = all_of(
        primary, {"same-script > cross-script": primary, "script contrast beyond mismatched concepts": beyond_generic},
        rule="per concept, alignment over same-script pairs > over cross-script pairs (Fisher-z means), and that contrast "
        "is larger for matched than for mismatched concepts (script structure of concept units, not of generic units); "
        "paired sign-flip tests over concepts, α=0.01 each",
    )
    per_pair = experts.fisher_mean(al.matched, axis=0)
    names = [f"{languages[i]}-{languages[j]}" for i, j in al.pairs]
    data = {
        "same_script": [float(per_pair[p]) for p in same],
        "cross_script": [float(per_pair[p]) for p in cross],
        "same_script_pairs": [names[p] for p in same],
        "cross_script_pairs": [names[p] for p in cross],
        "alignment_matrix": {late_rev: al.matrix().tolist()},
        "languages": list(languages),
        "scripts": {lang: SCRIPTS[lang] for lang in languages},
        "mismatched_contrast": float(mismatched.mean()),
    }
    record(decision, title="Alignment is structured by script: same-script pairs are more aligned", checkpoints=[late_rev], data=data)
    assert decision.supported, (
        f"at {late_rev}: same-script {np.mean(data['same_script']):.3f} vs cross-script {np.mean(data['cross_script']):.3f}; "
        f"contrast matched {matched.mean():.3f} vs mismatched {mismatched.mean():.3f} — fails: {decision.detail['failed']}"
    )
