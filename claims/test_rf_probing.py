"""RF §5: language identity across layers and checkpoints (RF-1a, RF-1b, RF-1c).

Measurement: per layer, a logistic-regression LID probe on the hidden state at one random token
position per sentence, 80/20 split, three seeds (``harness.analyses.probing``). Decisions use
transformer blocks 1…L (block 1 is the paper's "first layer"); the embedding output is recorded.

Accuracies are tested as proportions over the effective size of the seeds' overlapping held-out
sets (``LidResult.n``, Kish); averaging over positively correlated layers only shrinks their
variance, so layer means are tested the same way.

Untrained control (RF-1a): random-weight models already decode language from token identity
(the toy at step 0: weakest block 0.24 vs a majority rate of 0.083), so the weakest block's
accuracy must also beat the weakest block of the untrained model
(``harness.analyses.untrained``), by a one-sided two-proportion test over the same held-out
sentences (unpaired, so conservative for their positively correlated predictions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from harness.analyses import probing
from harness.analyses.experts import series_points
from harness.analyses.untrained import decide_with_untrained, lid_vs_untrained, untrained_record, untrained_revision
from harness.claim_registry import ClaimOutcome, Figure, RecordedClaim, claim
from harness.metrics import ALPHA, Decision, all_of, binomial_greater, trend_test, two_proportion_test
from harness.report import figures_rf
from harness.report.figures import rev_label
from harness.report.text import fmt, join_parts, pct, series_change

#: "uniformly well": the between-block std of LID accuracy is at most this (one-sided 99 % bound).
#: RF's step-1k curve (layer 1 ≈ 92 %, mean ≈ 94 %) has a std of about 0.01–0.02; its step-400k
#: curve (57 % … 95 %) about 0.1.
UNIFORM_STD = 0.05

LID_BY_LAYER = Figure("rf1_lid_by_layer", "LID accuracy by layer, early vs late (RF Fig. 1)", figures_rf.lid_by_layer)
LID_OVER_TRAINING = Figure(
    "rf1c_lid_over_training", "LID statistics over training (RF Fig. 2)", figures_rf.lid_over_training
)


@dataclass(frozen=True)
class LidNumbers:
    """LID probe accuracy by layer at the claim's checkpoints (hidden states 0 … L, 0 = embeddings)."""

    lid_by_layer: dict[str, Any]  # revision → {"mean": [layers], "std": [layers], …} (LidResult.to_record)
    majority_rate: float  # accuracy of always guessing the largest class (the control)
    layers: list[int]
    n_test: int  # held-out predictions per seed
    n_effective: float  # Kish effective size of the seeds' overlapping held-out sets
    languages: list[str]


@dataclass(frozen=True)
class EarlyLidNumbers(LidNumbers):
    block_mean: float  # mean accuracy over blocks 1 … L at the early checkpoint
    block_std: float  # std between those blocks
    # the untrained model: {"revision", "value" (weakest-block accuracy), "weakest_block", "blocks" [1 … L]}
    untrained: dict[str, Any]


@dataclass(frozen=True)
class LateLidNumbers(LidNumbers):
    middle_blocks: list[int]  # the middle-third blocks (1-based) of the dip


@dataclass(frozen=True)
class LidSeriesNumbers:
    lid_series: dict[str, Any]  # {"revisions", "first_layer", "mean", "std"}: one value per revision
    majority_rate: float
    references_not_applicable: dict[str, str]  # reference checkpoints at chance, with why
    trend_from_early: dict | None  # Spearman trend of the block mean from early on (recorded, not decided)


def _lid_numbers(results: dict, majority: float) -> dict:
    any_result = next(iter(results.values()))
    return dict(
        lid_by_layer={rev: r.to_record() for rev, r in results.items()},
        majority_rate=majority,
        layers=list(range(any_result.accuracy.shape[1])),
        n_test=any_result.n_test,
        n_effective=any_result.n_effective,
        languages=list(any_result.languages),
    )


def _lid_summary(claim: RecordedClaim, *, late: bool) -> str | None:
    """The claim's checkpoint: first layers, mean and spread (and, late, the middle minimum)."""
    lid = claim.numbers.lid_by_layer
    revs = claim.ordered(lid)
    if not revs:
        return None
    rev = claim.own_revision(revs, late=late)
    means = [float(v) for v in lid[rev].get("mean") or [] if v is not None]
    if not means:
        return None
    layers = claim.numbers.layers or list(range(len(means)))
    std = (sum((m - sum(means) / len(means)) ** 2 for m in means) / len(means)) ** 0.5
    if layers[0] == 0 and len(means) > 1:
        first = f"layer 0 (embeddings) {pct(means[0])}, layer 1 {pct(means[1])}"
    else:
        first = f"layer {layers[0]} {pct(means[0])}"
    text = f"{rev_label(rev)}: {first}, mean {pct(sum(means) / len(means))}, std between layers {100 * std:.1f} pp"
    if late and len(means) >= 4:
        lo, hi = len(means) // 4, len(means) - len(means) // 4
        middle = means[lo:hi]
        i = lo + middle.index(min(middle))
        text += f"; middle minimum {pct(means[i])} at layer {layers[i]}, final layer {pct(means[-1])}"
    if claim.numbers.majority_rate is not None:
        text += f" (majority class {pct(claim.numbers.majority_rate)})"
    return text


def _std_bound(result: probing.LidResult, tolerance: float) -> Decision:
    """Non-inferiority of uniformity: the 99 % upper bootstrap bound of the block std ≤ tolerance."""
    boot = probing.parametric_bootstrap_std(result)
    hi = float(np.quantile(boot, 1 - ALPHA))
    return Decision(
        statistic="between-block std of LID accuracy",
        value=result.block_std,
        control=tolerance,
        effect_size=None,
        p_value=float(np.mean(boot > tolerance)),
        ci=(float(np.quantile(boot, ALPHA)), hi),
        n=int(result.blocks.size),
        alternative="less",
        alpha=ALPHA,
        supported=hi <= tolerance,
        contradicted=float(np.quantile(boot, ALPHA)) > tolerance,
        p_value_opposite=float(np.mean(boot <= tolerance)),
        detail={
            "test": f"parametric bootstrap of per-block held-out accuracy (binomial, n = {result.n})",
            "upper_bound": hi,
        },
    )


def _early_summary(claim: RecordedClaim) -> str | None:
    """RF-1a: the early checkpoint's LID by layer, and the weakest block of the untrained model."""
    text = _lid_summary(claim, late=False)
    untrained = claim.numbers.untrained or {}
    if text is None or untrained.get("value") is None:
        return text
    return (f"{text}; untrained model ({rev_label(untrained.get('revision'))}): weakest block "
            f"{pct(untrained['value'])}")


@claim("RF-1a", numbers=EarlyLidNumbers, summary=_early_summary, figures=(LID_BY_LAYER,))
def test_rf_1a_early_lid_uniformly_high(measurements) -> ClaimOutcome[EarlyLidNumbers]:
    """At an early checkpoint, language identity is decodable uniformly well in every layer."""
    early = measurements.plan.early
    if early is None:
        pytest.skip("no early checkpoint in the series: pass --early (one of --checkpoints)")
    lid = probing.lid_by_layer(measurements, early)
    worst = int(np.argmin(lid.blocks))
    above = binomial_greater(lid.correct(lid.blocks[worst]), lid.n, lid.majority_rate, alpha=ALPHA,
                             statistic=f"LID accuracy of the weakest block ({worst + 1})")
    uniform = _std_bound(lid, UNIFORM_STD)
    init_rev = untrained_revision(measurements)
    init = probing.lid_by_layer(measurements, init_rev)
    vs_init = lid_vs_untrained(lid, init, revision=init_rev)
    decision = decide_with_untrained(
        above,
        {"weakest block above majority rate": above, f"between-block std ≤ {UNIFORM_STD}": uniform},
        vs_init, revision=init_rev,
        rule=f"every block's LID accuracy > majority rate (exact binomial on the weakest block, α={ALPHA}) "
        f"AND the one-sided 99% upper bound of the between-block std ≤ {UNIFORM_STD}",
    )
    numbers = EarlyLidNumbers(
        **_lid_numbers({early: lid}, lid.majority_rate), block_mean=lid.block_mean, block_std=lid.block_std,
        untrained=untrained_record(init_rev, float(init.blocks.min()), weakest_block=int(np.argmin(init.blocks)) + 1,
                                   blocks=init.blocks.tolist()),
    )
    return ClaimOutcome(decision, numbers, checkpoints=(early,), failure=(
        f"at {early}: weakest block {worst + 1} acc {lid.blocks[worst]:.3f} vs majority {lid.majority_rate:.3f} "
        f"(p={above.p_value:.2g}); block std {lid.block_std:.3f} (99% bound {uniform.ci[1]:.3f}) vs ≤ {UNIFORM_STD}; "
        f"untrained ({init_rev}) weakest block {fmt(float(init.blocks.min()), 3)} (p={vs_init.p_value:.2g})"
        + ("" if vs_init.supported else f" — {vs_init.detail['reason']}")
    ))


@claim("RF-1b", numbers=LateLidNumbers, summary=lambda c: _lid_summary(c, late=True), figures=(LID_BY_LAYER,))
def test_rf_1b_late_first_layer_drops_middle_dips(measurements) -> ClaimOutcome[LateLidNumbers]:
    """Later, first-layer LID accuracy drops, middle layers dip, final layers recover."""
    points = series_points(measurements)
    if points is None:
        pytest.skip("needs distinct early and late checkpoints in the series")
    results = {
        rev: probing.lid_by_layer(measurements, rev)
        for rev in dict.fromkeys((points.first, points.early, points.late))
    }
    early, late = results[points.early], results[points.late]
    n = late.n  # the same labels and seeds at every revision
    first_drop = two_proportion_test(late.correct(late.blocks[0]), n, early.correct(early.blocks[0]), n,
                                     alternative="less", alpha=ALPHA,
                                     statistic="first-block LID accuracy, late vs early")
    middle = probing.middle_third(late.blocks.size)
    mid_acc = float(late.blocks[middle].mean())
    dip = two_proportion_test(late.correct(mid_acc), n, late.correct(late.blocks[-1]), n,
                              alternative="less", alpha=ALPHA,
                              statistic="late LID accuracy, middle-third blocks vs last block")
    decision = all_of(
        first_drop,
        {"first block late < early": first_drop, "middle third < last block (late)": dip},
        rule=f"first-block accuracy late < early AND mean accuracy of the middle-third blocks {(middle + 1).tolist()} "
        f"< last block at late (one-sided two-proportion tests, α={ALPHA} each)",
    )
    numbers = LateLidNumbers(**_lid_numbers(results, late.majority_rate), middle_blocks=(middle + 1).tolist())
    return ClaimOutcome(decision, numbers, checkpoints=tuple(results), failure=(
        f"first block {early.blocks[0]:.3f} ({points.early}) → {late.blocks[0]:.3f} ({points.late}), "
        f"p={first_drop.p_value:.2g}; "
        f"late middle third {mid_acc:.3f} vs last block {late.blocks[-1]:.3f}, p={dip.p_value:.2g}"
    ))


def _lid_series_summary(claim: RecordedClaim) -> str | None:
    series = claim.numbers.lid_series or {}
    return join_parts([series_change(series, "first_layer", "first-layer accuracy"),
                       series_change(series, "mean", "mean accuracy"),
                       series_change(series, "std", "std between layers")])


@claim("RF-1c", numbers=LidSeriesNumbers, summary=_lid_series_summary, figures=(LID_OVER_TRAINING,))
def test_rf_1c_layer_mean_falls_std_rises(measurements) -> ClaimOutcome[LidSeriesNumbers]:
    """Over training the layer-mean LID accuracy falls and the std between layers rises."""
    points = series_points(measurements)
    if points is None:
        pytest.skip("needs distinct early and late checkpoints in the series")
    results = probing.lid_series(measurements, points.revisions)
    late = results[points.late]
    n = late.n
    parts, skipped = {}, {}
    for name, rev in points.references.items():
        ref = results[rev]
        learned = binomial_greater(ref.correct(ref.block_mean), n, ref.majority_rate, alpha=ALPHA)
        if not learned.supported:
            # a reference at chance (random init) has no LID to lose; "falls" is undefined there
            skipped[name] = (f"{rev}: block-mean accuracy {ref.block_mean:.3f} "
                             f"not above majority rate {ref.majority_rate:.3f}")
            continue
        parts[f"mean falls vs {name} ({rev})"] = two_proportion_test(
            late.correct(late.block_mean), n, ref.correct(ref.block_mean), n, alternative="less", alpha=ALPHA,
            statistic="block-mean LID accuracy, late vs " + name)
    early = results[points.early]
    diff = probing.parametric_bootstrap_std(late, seed=1) - probing.parametric_bootstrap_std(early, seed=2)
    lo = float(np.quantile(diff, ALPHA))
    parts["std rises vs early"] = Decision(
        statistic="between-block std, late − early", value=late.block_std, control=early.block_std,
        effect_size=late.block_std - early.block_std, p_value=float(np.mean(diff <= 0)),
        ci=(lo, float(np.quantile(diff, 1 - ALPHA))), n=int(late.blocks.size), alternative="greater", alpha=ALPHA,
        supported=lo > 0, contradicted=float(np.quantile(diff, 1 - ALPHA)) < 0,
        p_value_opposite=float(np.mean(diff >= 0)),
        detail={"test": "parametric bootstrap (binomial per block) of the std difference"})
    after = [rev for rev in points.revisions if points.revisions.index(rev) >= points.revisions.index(points.early)]
    trend = (trend_test(np.arange(len(after)), [results[r].block_mean for r in after],
                        alternative="decreasing", alpha=ALPHA)
             if len(after) >= 3 else None)
    primary = next(iter(parts.values()))
    decision = all_of(
        primary, parts,
        rule=f"block-mean accuracy late < early (and < the first checkpoint when that one decodes language at all) "
        f"by one-sided two-proportion tests, AND between-block std late > early (99% bootstrap lower bound > 0); "
        f"α={ALPHA}. "
        "The Spearman trend from early on is recorded, not decided on (≤ 6 points cannot reach α=0.01 reliably)",
    )
    numbers = LidSeriesNumbers(
        lid_series={
            "revisions": list(points.revisions),
            "first_layer": [float(results[r].blocks[0]) for r in points.revisions],
            "mean": [results[r].block_mean for r in points.revisions],
            "std": [results[r].block_std for r in points.revisions],
        },
        majority_rate=late.majority_rate,
        references_not_applicable=skipped,
        trend_from_early=trend.to_dict() if trend else None,
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(points.revisions), failure=(
        "; ".join(f"{r}: mean {results[r].block_mean:.3f} std {results[r].block_std:.3f}" for r in points.revisions)
        + f" — fails: {decision.detail['failed']}"
    ))
