"""RF §7: where concept experts sit across layers, and where languages share them (RF-3a, RF-3b).

Layer distribution: the share of each (concept, language)'s global top-k experts in each layer,
averaged over languages per concept. Per-layer overlap: the k best units *within* each layer, their
overlap between languages (chance k / units per layer), averaged over language pairs per concept.
Tests are paired over concepts (sign-flip permutation, one-sided, α = 0.01); trend parts compare
late with "early" and with the first checkpoint of the series.

Layer regions (``experts.layer_regions``): first = layer 0, last = layer L−1, middle = the middle
third, inner_lower / inner_upper = the lower / upper half of layers 1…L−2.
"""

from __future__ import annotations

import pytest

from harness.analyses import experts
from harness.metrics import all_of, paired_permutation_test

ALPHA = 0.01


def _points(measure):
    points = experts.series_points(measure)
    if points is None:
        pytest.skip("needs distinct early and late checkpoints in the series")
    return points


def _test(x, y, alternative, statistic):
    return paired_permutation_test(x, y, alternative=alternative, alpha=ALPHA, statistic=statistic)


@pytest.mark.claim("RF-3a")
def test_rf_3a_experts_leave_first_layer(measure, record):
    """Expert neurons first concentrate in the first layer, then redistribute."""
    points = _points(measure)
    languages = experts.claim_languages(measure)
    k = measure.top_k()
    revs = list(dict.fromkeys((points.first, points.early, points.late)))
    dist = {rev: experts.layer_distribution(experts.expert_scores(measure, rev, languages), k).mean(axis=0) for rev in revs}  # [C, layers]
    n_layers = dist[points.late].shape[1]
    regions = experts.layer_regions(n_layers)
    late = dist[points.late]
    # "first concentrate in the first layer" is early against the first checkpoint (step 0: before
    # any training the top-k is spread evenly over layers); "then redistribute" is late against early
    parts = {}
    if points.first != points.early:
        parts[f"layer-0 share early > first ({points.first})"] = _test(
            dist[points.early][:, 0], dist[points.first][:, 0], "greater", f"share of top-{k} in layer 0, early vs first checkpoint")
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
        f"layer in the upper half of the inner layers {upper.tolist()} > the lower half {lower.tolist()} (a minimum in the "
        "lower-middle layers, a peak in the middle); paired sign-flip tests over concepts, α=0.01 each",
    )
    data = {
        "layer_distribution": {rev: (dist[rev].mean(axis=0) * k).tolist() for rev in revs},
        "layer_share": {rev: dist[rev].mean(axis=0).tolist() for rev in revs},
        "k": k,
        "regions": {name: idx.tolist() for name, idx in regions.items()},
        "languages": list(languages),
    }
    record(decision, title="Expert neurons first concentrate in the first layer, then redistribute", checkpoints=revs, data=data)
    assert decision.supported, (
        "layer shares " + "; ".join(f"{r}: " + " ".join(f"{v:.2f}" for v in dist[r].mean(axis=0)) for r in revs)
        + f" — fails: {decision.detail['failed']}"
    )


@pytest.mark.claim("RF-3b")
def test_rf_3b_overlap_concentrates_in_middle_layers(measure, record):
    """Cross-lingual overlap concentrates in the middle layers and grows there."""
    points = _points(measure)
    languages = experts.claim_languages(measure)
    k = measure.top_k()
    revs = list(dict.fromkeys((points.first, points.early, points.late)))
    lo = {rev: experts.layer_overlap(experts.expert_scores(measure, rev, languages), k) for rev in revs}
    late = lo[points.late]
    regions = experts.layer_regions(late.matched.shape[2])
    middle = regions["middle"]
    mid_late = late.per_concept(middle)
    parts = {
        "late: middle > first layer": _test(mid_late, late.per_concept(regions["first"]), "greater", "late overlap, middle third vs layer 0"),
        "late: middle > last layer": _test(mid_late, late.per_concept(regions["last"]), "greater", "late overlap, middle third vs last layer"),
    }
    for name, rev in points.references.items():
        parts[f"middle late > {name} ({rev})"] = _test(mid_late, lo[rev].per_concept(middle), "greater", f"middle-third overlap, late vs {name}")
    parts["late middle: matched > mismatched concepts"] = _test(
        mid_late, late.per_concept(middle, mismatched=True), "greater", "late middle-third overlap, matched vs mismatched concepts")
    decision = all_of(
        parts["late: middle > first layer"], parts,
        rule=f"per-layer top-{late.k} overlap (ranked within the layer) averaged over the middle third {middle.tolist()}: at late "
        "> layer 0 and > the last layer, late > early and > first checkpoint, and late matched > mismatched concepts; "
        "paired sign-flip tests over concepts, α=0.01 each",
    )
    data = {
        "layer_overlap": {rev: lo[rev].profile.tolist() for rev in revs},
        "layer_overlap_mismatched": {rev: lo[rev].profile_mismatched.tolist() for rev in revs},
        "chance": late.chance,
        "k": late.k,
        "regions": {name: idx.tolist() for name, idx in regions.items()},
        "languages": list(languages),
    }
    record(decision, title="Cross-lingual overlap concentrates in the middle layers and grows there", checkpoints=revs, data=data)
    assert decision.supported, (
        "overlap per layer " + "; ".join(f"{r}: " + " ".join(f"{v:.3f}" for v in lo[r].profile) for r in revs)
        + f" (chance {late.chance:.3f}) — fails: {decision.detail['failed']}"
    )
