"""RF §7: where concept experts sit across layers, and where languages share them (RF-3a, RF-3b).

Layer distribution: the share of each (concept, language)'s global top-k experts in each layer,
averaged over languages per concept. Per-layer overlap: the k best units *within* each layer, their
overlap between languages (chance k / units per layer), averaged over language pairs per concept.
Tests are paired over concepts (sign-flip permutation, one-sided, α = 0.01); trend parts compare
late with "early" and with the first checkpoint of the series.

Layer regions (``harness.layer_groups.rf_layer_regions``): first = layer 0, last = layer L−1,
middle = the middle third, inner_lower / inner_upper = the lower / upper half of layers 1…L−2.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.analyses import experts
from harness.claim_registry import ClaimOutcome, Figure, RecordedClaim, claim
from harness.layer_groups import rf_layer_regions
from harness.metrics import ALPHA, all_of, paired_permutation_test
from harness.report import figures_rf
from harness.report.figures import rev_label
from harness.report.text import fmt, mean_of, pct

EXPERT_LAYERS = Figure("rf3_expert_layers", "expert layer distribution and per-layer overlap (RF Fig. 5–6)",
                       figures_rf.expert_layers)


@dataclass(frozen=True)
class LayerDistributionNumbers:
    """Where the top-k experts sit, per layer, at the first, early and late checkpoints."""

    layer_distribution: dict[str, list[float]]  # revision → mean number of the top-k experts in each MLP layer
    layer_share: dict[str, list[float]]  # revision → the same as a share of k
    k: int
    regions: dict[str, list[int]]  # region name → MLP layers (rf_layer_regions)
    languages: list[str]


@dataclass(frozen=True)
class LayerOverlapNumbers:
    """Per-layer cross-lingual overlap of the experts ranked within each layer."""

    layer_overlap: dict[str, list[float]]  # revision → overlap per MLP layer (matched concepts)
    layer_overlap_mismatched: dict[str, list[float]]  # revision → the same for mismatched concepts
    chance: float  # k / units per layer
    k: int
    regions: dict[str, list[int]]
    languages: list[str]


def _points(measurements):
    points = experts.series_points(measurements)
    if points is None:
        pytest.skip("needs distinct early and late checkpoints in the series")
    return points


def _test(x, y, alternative, statistic):
    return paired_permutation_test(x, y, alternative=alternative, alpha=ALPHA, statistic=statistic)


def _shares(counts: list[float], k: int | None) -> list[float]:
    """Counts per layer as shares of k (of their sum when k is not recorded)."""
    counts = [float(v or 0) for v in counts]
    total = float(k) if k else sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _layer_distribution_summary(claim: RecordedClaim) -> str | None:
    """The layer-0 share from the first checkpoint to the last; the inner minimum and the peak at the last."""
    dist = claim.numbers.layer_distribution
    revs = claim.ordered(dist)
    if not revs:
        return None
    first, late = _shares(dist[revs[0]], claim.numbers.k), _shares(dist[revs[-1]], claim.numbers.k)
    n = len(late)
    if n < 2 or not first:
        return None
    lo, hi = 1, max(2, n - 1)
    low = lo + late[lo:hi].index(min(late[lo:hi]))
    peak = late.index(max(late))
    return (f"layer-0 share {pct(first[0])} ({rev_label(revs[0])}) → {pct(late[0])} ({rev_label(revs[-1])}); "
            f"at {rev_label(revs[-1])} the inner layers' minimum is layer {low}, the peak layer {peak} "
            f"(layers 0–{n - 1}), final layer {pct(late[-1])}")


@claim("RF-3a", numbers=LayerDistributionNumbers, summary=_layer_distribution_summary, figures=(EXPERT_LAYERS,))
def test_rf_3a_experts_leave_first_layer(measurements) -> ClaimOutcome[LayerDistributionNumbers]:
    """Expert neurons first concentrate in the first layer, then redistribute."""
    points = _points(measurements)
    languages = experts.claim_languages(measurements)
    k = measurements.top_k()
    revs = list(dict.fromkeys((points.first, points.early, points.late)))
    dist = {rev: experts.layer_distribution(experts.expert_scores(measurements, rev, languages), k).mean(axis=0)
            for rev in revs}  # [C, layers]
    n_layers = dist[points.late].shape[1]
    regions = rf_layer_regions(n_layers)
    late = dist[points.late]
    # "first concentrate in the first layer" is early against the first checkpoint (step 0: before
    # any training the top-k is spread evenly over layers); "then redistribute" is late against early
    parts = {}
    if points.first != points.early:
        parts[f"layer-0 share early > first ({points.first})"] = _test(
            dist[points.early][:, 0], dist[points.first][:, 0], "greater",
            f"share of top-{k} in layer 0, early vs first checkpoint")
    parts[f"layer-0 share late < early ({points.early})"] = _test(
        late[:, 0], dist[points.early][:, 0], "less", f"share of top-{k} in layer 0, late vs early")
    lower, upper = regions["inner_lower"], regions["inner_upper"]
    parts["late: upper-inner layers > lower-inner layers"] = _test(
        late[:, upper].mean(axis=1), late[:, lower].mean(axis=1), "greater",
        "late share per layer, upper vs lower half of layers 1…L-2")
    decision = all_of(
        parts[f"layer-0 share late < early ({points.early})"], parts,
        rule=f"share of the top-{k} experts in layer 0 early > first checkpoint (concentration) and late < early "
        f"(redistribution), and at late the mean share per "
        f"layer in the upper half of the inner layers {upper.tolist()} > the lower half {lower.tolist()} "
        "(a minimum in the lower-middle layers, a peak in the middle); paired sign-flip tests over concepts, "
        "α=0.01 each",
    )
    numbers = LayerDistributionNumbers(
        layer_distribution={rev: (dist[rev].mean(axis=0) * k).tolist() for rev in revs},
        layer_share={rev: dist[rev].mean(axis=0).tolist() for rev in revs},
        k=k,
        regions={name: idx.tolist() for name, idx in regions.items()},
        languages=list(languages),
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(revs), failure=(
        "layer shares " + "; ".join(f"{r}: " + " ".join(f"{v:.2f}" for v in dist[r].mean(axis=0)) for r in revs)
        + f" — fails: {decision.detail['failed']}"
    ))


def _layer_overlap_summary(claim: RecordedClaim) -> str | None:
    """At the last checkpoint, the middle third's overlap vs the first and last layer; the middle third at the first."""
    overlap = claim.numbers.layer_overlap
    revs = claim.ordered(overlap)
    if not revs:
        return None
    late = [float(v or 0) for v in overlap[revs[-1]]]
    if not late:
        return None
    n = len(late)
    third = max(1, n // 3)
    text = (f"{rev_label(revs[-1])}: middle third {fmt(mean_of(late[third:n - third]), 3)} vs first layer "
            f"{fmt(late[0], 3)}, last layer {fmt(late[-1], 3)}")
    if len(revs) > 1:
        early = [float(v or 0) for v in overlap[revs[0]]]
        text += f"; middle third at {rev_label(revs[0])} {fmt(mean_of(early[third:n - third]), 3)}"
    return text


@claim("RF-3b", numbers=LayerOverlapNumbers, summary=_layer_overlap_summary, figures=(EXPERT_LAYERS,))
def test_rf_3b_overlap_concentrates_in_middle_layers(measurements) -> ClaimOutcome[LayerOverlapNumbers]:
    """Cross-lingual overlap concentrates in the middle layers and grows there."""
    points = _points(measurements)
    languages = experts.claim_languages(measurements)
    k = measurements.top_k()
    revs = list(dict.fromkeys((points.first, points.early, points.late)))
    lo = {rev: experts.layer_overlap(experts.expert_scores(measurements, rev, languages), k) for rev in revs}
    late = lo[points.late]
    regions = rf_layer_regions(late.matched.shape[2])
    middle = regions["middle"]
    mid_late = late.per_concept(middle)
    parts = {
        "late: middle > first layer": _test(mid_late, late.per_concept(regions["first"]), "greater",
                                            "late overlap, middle third vs layer 0"),
        "late: middle > last layer": _test(mid_late, late.per_concept(regions["last"]), "greater",
                                           "late overlap, middle third vs last layer"),
    }
    for name, rev in points.references.items():
        parts[f"middle late > {name} ({rev})"] = _test(mid_late, lo[rev].per_concept(middle), "greater",
                                                       f"middle-third overlap, late vs {name}")
    parts["late middle: matched > mismatched concepts"] = _test(
        mid_late, late.per_concept(middle, mismatched=True), "greater",
        "late middle-third overlap, matched vs mismatched concepts")
    decision = all_of(
        parts["late: middle > first layer"], parts,
        rule=f"per-layer top-{late.k} overlap (ranked within the layer) averaged over the middle third "
        f"{middle.tolist()}: at late > layer 0 and > the last layer, late > early and > first checkpoint, and late "
        "matched > mismatched concepts; paired sign-flip tests over concepts, α=0.01 each",
    )
    numbers = LayerOverlapNumbers(
        layer_overlap={rev: lo[rev].profile.tolist() for rev in revs},
        layer_overlap_mismatched={rev: lo[rev].profile_mismatched.tolist() for rev in revs},
        chance=late.chance,
        k=late.k,
        regions={name: idx.tolist() for name, idx in regions.items()},
        languages=list(languages),
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(revs), failure=(
        "overlap per layer " + "; ".join(f"{r}: " + " ".join(f"{v:.3f}" for v in lo[r].profile) for r in revs)
        + f" (chance {late.chance:.3f}) — fails: {decision.detail['failed']}"
    ))
