"""RF §7: where concept experts sit across layers, and where languages share them (RF-3a, RF-3b).

Both claims start from each (concept, language)'s **global** top-k experts, ranked over all layers
together (RF, ml-selfcond). Layer distribution: the share of that top-k in each layer, averaged over
languages per concept. Per-layer overlap: the same global top-k restricted to each layer, and the
share of k that two languages share there, averaged over language pairs per concept (summed over
layers it is the global overlap of RF-2c). Tests are paired over concepts (sign-flip permutation,
one-sided, α = 0.01 each, all parts must hold); "early" and "late" are the run plan's named points.
Comparisons with the series' first checkpoint (step 0 on the toy: the untrained model) are
reported controls, not parts of a decision: RF claims nothing about the initialisation.

Layer regions (``harness.layer_groups.rf_layer_regions``): first = layer 0, last = layer L−1,
middle = RF's layers 10–17 of 24 scaled to the depth (``rf_middle_layers``), lower_middle /
upper_middle = its lower / upper half, lower = the layers between layer 0 and the middle, upper =
the layers after the middle (the last included). BLOOM-560m: lower 1–9, lower_middle 10–13,
upper_middle 14–17, upper 18–23; the toy: lower 1, lower_middle 2, upper_middle 3, upper 4–5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from harness.analyses import experts
from harness.claim_registry import ClaimOutcome, Figure, RecordedClaim, claim
from harness.layer_groups import rf_layer_regions
from harness.metrics import ALPHA, Decision, all_of, paired_permutation_test
from harness.report import figures_rf
from harness.report.figures import rev_label
from harness.report.text import fmt, join_parts, mean_of, pct, span

EXPERT_LAYERS = Figure("rf3_expert_layers", "expert layer distribution and per-layer overlap (RF Fig. 5–6)",
                       figures_rf.expert_layers)


@dataclass(frozen=True)
class LayerDistributionNumbers:
    """Where the global top-k experts sit, per layer, at the first, early and late checkpoints."""

    layer_distribution: dict[str, list[float]]  # revision → mean number of the top-k experts in each MLP layer
    layer_share: dict[str, list[float]]  # revision → the same as a share of k
    k: int
    regions: dict[str, list[int]]  # region name → MLP layers (rf_layer_regions)
    languages: list[str]
    early: str
    late: str
    controls: dict[str, dict]  # reported, not decided: name → Decision.to_dict() (late/early vs the first checkpoint)


@dataclass(frozen=True)
class LayerOverlapNumbers:
    """Per-layer cross-lingual overlap of the global top-k restricted to each layer."""

    layer_overlap: dict[str, list[float]]  # revision → shared share of k per MLP layer (matched concepts)
    layer_overlap_mismatched: dict[str, list[float]]  # revision → the same for mismatched concepts
    chance: float  # k / N: chance of the overlap summed over layers
    chance_per_layer: dict[str, list[float]]  # revision → overlap of random sets with the observed layer sizes
    k: int
    regions: dict[str, list[int]]
    languages: list[str]
    early: str
    late: str
    controls: dict[str, dict]  # reported, not decided: name → Decision.to_dict()


def _points(measurements):
    points = experts.series_points(measurements)
    if points is None:
        pytest.skip(experts.series_gap(measurements.plan) or "needs distinct early and late checkpoints in the series")
    return points


def _test(x, y, alternative, statistic) -> Decision:
    return paired_permutation_test(x, y, alternative=alternative, alpha=ALPHA, statistic=statistic)


def _regions(n_layers: int) -> dict[str, np.ndarray]:
    try:
        return rf_layer_regions(n_layers)
    except ValueError as error:
        pytest.skip(f"RF-3 needs RF's layer regions: {error}")


def _shares(counts: list[float], k: int | None) -> list[float]:
    """Counts per layer as shares of k (of their sum when k is not recorded)."""
    counts = [float(v or 0) for v in counts]
    total = float(k) if k else sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _region_mean(values: list[float], layers) -> float | None:
    return mean_of([values[i] for i in layers or [] if i < len(values)])


def _layer_distribution_summary(claim: RecordedClaim) -> str | None:
    """The layer-0 share from early to late; at late the region shares around RF's middle layers."""
    numbers = claim.numbers
    dist, regions = numbers.layer_distribution, numbers.regions or {}
    revs = claim.ordered(dist)
    if not revs:
        return None
    early = numbers.early if numbers.early in dist else revs[0]
    late = numbers.late if numbers.late in dist else revs[-1]
    e, v = _shares(dist[early], numbers.k), _shares(dist[late], numbers.k)
    if not v or not e:
        return None
    text = f"layer-0 share {pct(e[0])} ({rev_label(early)}) → {pct(v[0])} ({rev_label(late)})"
    if revs[0] not in (early, late):
        text += f" (control, not decided: {pct(_shares(dist[revs[0]], numbers.k)[0])} at {rev_label(revs[0])})"
    names = ("lower", "lower_middle", "upper_middle", "upper")
    if all(regions.get(name) for name in names):
        text += f"; at {rev_label(late)} mean share per layer " + ", ".join(
            f"{name.replace('_', '-')} {span(regions[name])} {pct(_region_mean(v, regions[name]))}" for name in names)
    return text


def _controls(parts: dict[str, Decision]) -> dict[str, dict]:
    return {name: d.to_dict() for name, d in parts.items()}


def _inner(upper: np.ndarray, n_layers: int) -> np.ndarray:
    """The layers of ``upper`` without the last layer (RF: the final layer is low; it is no part of the dip)."""
    return upper[upper != n_layers - 1]


def _distribution_parts(dist: dict, points, k: int, regions: dict[str, np.ndarray]) -> dict[str, Decision]:
    """RF-3a's decided parts from ``dist[rev] [C, layers]`` (shares of k per concept and layer)."""
    early, late = dist[points.early], dist[points.late]
    rival = 1 + int(np.argmax(early[:, 1:].mean(axis=0)))  # the layer after 0 with the most experts at early
    lower, low_mid, up_mid, upper = (regions[name] for name in ("lower", "lower_middle", "upper_middle", "upper"))
    upper_inner = _inner(upper, late.shape[1])

    def region(values: np.ndarray, layers: np.ndarray) -> np.ndarray:
        return values[:, layers].mean(axis=1)

    parts = {
        f"early: layer 0 > layer {rival} (the next-largest)": _test(
            early[:, 0], early[:, rival], "greater", f"share of top-{k} at early, layer 0 vs layer {rival}"),
        f"layer-0 share late < early ({points.early})": _test(
            late[:, 0], early[:, 0], "less", f"share of top-{k} in layer 0, late vs early"),
        f"late: lower-middle {low_mid.tolist()} < lower layers {lower.tolist()}": _test(
            region(late, low_mid), region(late, lower), "less", "late share per layer, lower-middle vs lower layers"),
        f"late: lower-middle < upper-middle {up_mid.tolist()}": _test(
            region(late, low_mid), region(late, up_mid), "less", "late share per layer, lower- vs upper-middle"),
    }
    if upper_inner.size:
        parts[f"late: lower-middle < upper inner layers {upper_inner.tolist()}"] = _test(
            region(late, low_mid), region(late, upper_inner), "less",
            "late share per layer, lower-middle vs the inner layers after the middle")
    parts[f"late: upper-middle > layers after the middle {upper.tolist()}"] = _test(
        region(late, up_mid), region(late, upper), "greater",
        "late share per layer, upper-middle vs the layers after the middle")
    return parts


@claim("RF-3a", numbers=LayerDistributionNumbers, summary=_layer_distribution_summary, figures=(EXPERT_LAYERS,))
def test_rf_3a_experts_leave_first_layer(measurements) -> ClaimOutcome[LayerDistributionNumbers]:
    """Expert neurons first concentrate in the first layer, then redistribute.

    Each part tests a statement of RF (§7, Fig. 5) or of the catalogue's test, on the global top-k:

    * "first concentrate in the first layer": at early, layer 0 holds a larger share of the top-k
      than the next-largest layer (paired over concepts). Not "early > step 0": RF never compares
      with the initialisation, and BLOOM's series has no step 0; that comparison is a reported control;
    * "then redistribute" / "share of top-k in layer 0 falls from early to late": late < early in layer 0;
    * "late distribution has its minimum in the lower-middle layers" (RF: the dip at layer 10 of 24):
      at late, the mean share per layer of the lower half of RF's middle layers is below the layers
      before the middle (1 … middle−1), below the upper half of the middle and below the inner
      layers after the middle (the final layer excluded: RF's final layer is low as well);
    * "and peaks in the middle": at late, the upper half of the middle is above the layers after
      the middle (the last included).
    """
    points = _points(measurements)
    languages = experts.claim_languages(measurements)
    k = measurements.top_k()
    revs = list(dict.fromkeys((points.first, points.early, points.late)))
    dist = {rev: experts.layer_distribution(experts.expert_scores(measurements, rev, languages), k).mean(axis=0)
            for rev in revs}  # [C, layers]
    regions = _regions(dist[points.late].shape[1])
    parts = _distribution_parts(dist, points, k, regions)
    primary = parts[f"layer-0 share late < early ({points.early})"]
    decision = all_of(
        primary, parts,
        rule=f"global top-{k} experts: at early layer 0 holds more than the next-largest layer (concentration); "
        f"layer-0 share late < early (redistribution); at late the lower-middle layers "
        f"{regions['lower_middle'].tolist()} hold fewer per layer than the lower layers, the upper-middle "
        f"{regions['upper_middle'].tolist()} and the "
        f"inner layers after the middle (the minimum), and the upper-middle more than the layers after the middle "
        f"{regions['upper'].tolist()} (the peak); paired sign-flip tests over concepts, α=0.01 each; "
        "comparisons with the first checkpoint are reported controls",
    )
    controls = {}
    if points.first not in (points.early, points.late):
        controls[f"control: layer-0 share early vs first ({points.first})"] = _test(
            dist[points.early][:, 0], dist[points.first][:, 0], "greater",
            f"share of top-{k} in layer 0, early vs first checkpoint (reported, not decided)")
    numbers = LayerDistributionNumbers(
        layer_distribution={rev: (dist[rev].mean(axis=0) * k).tolist() for rev in revs},
        layer_share={rev: dist[rev].mean(axis=0).tolist() for rev in revs},
        k=k,
        regions={name: idx.tolist() for name, idx in regions.items()},
        languages=list(languages),
        early=points.early,
        late=points.late,
        controls=_controls(controls),
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(revs), failure=(
        "layer shares " + "; ".join(f"{r}: " + " ".join(f"{v:.2f}" for v in dist[r].mean(axis=0)) for r in revs)
        + f" — fails: {decision.detail['failed']}"
    ))


def _layer_overlap_summary(claim: RecordedClaim) -> str | None:
    """At late, the middle layers' overlap vs the first and last layer; the middle layers at early."""
    numbers = claim.numbers
    overlap = numbers.layer_overlap
    revs = claim.ordered(overlap)
    if not revs:
        return None
    late = numbers.late if numbers.late in overlap else revs[-1]
    early = numbers.early if numbers.early in overlap else revs[0]
    values = [float(v or 0) for v in overlap[late]]
    if not values:
        return None
    n = len(values)
    middle = (numbers.regions or {}).get("middle") or list(range(n // 3, n - n // 3))
    parts = [f"{rev_label(late)}: middle layers {span(middle)} {fmt(_region_mean(values, middle), 3)} of k per layer "
             f"vs first layer {fmt(values[0], 3)}, last layer {fmt(values[-1], 3)}"]
    if early != late:
        before = [float(v or 0) for v in overlap[early]]
        parts.append(f"middle layers at {rev_label(early)} {fmt(_region_mean(before, middle), 3)}")
    if revs[0] not in (early, late):
        first = [float(v or 0) for v in overlap[revs[0]]]
        parts.append(f"control, not decided: {fmt(_region_mean(first, middle), 3)} at {rev_label(revs[0])}")
    return join_parts(parts)


@claim("RF-3b", numbers=LayerOverlapNumbers, summary=_layer_overlap_summary, figures=(EXPERT_LAYERS,))
def test_rf_3b_overlap_concentrates_in_middle_layers(measurements) -> ClaimOutcome[LayerOverlapNumbers]:
    """Cross-lingual overlap concentrates in the middle layers and grows there.

    RF §7 (Fig. 6): the global top-k of each language (ranked over all layers), restricted to each
    layer; the overlap of a layer is the share of k that two languages share in it, and RF's middle
    layers are 10–17 of 24 (``rf_middle_layers``). Decided: at late, the mean overlap per middle
    layer exceeds layer 0 and the last layer; it is higher late than early; and at late matched
    concepts overlap more than mismatched ones (without it, units that rank high for every concept
    would make any overlap "cross-lingual"). Late vs the first checkpoint is a reported control.
    """
    points = _points(measurements)
    languages = experts.claim_languages(measurements)
    k = measurements.top_k()
    revs = list(dict.fromkeys((points.first, points.early, points.late)))
    lo = {rev: experts.layer_overlap(experts.expert_scores(measurements, rev, languages), k) for rev in revs}
    late = lo[points.late]
    regions = _regions(late.matched.shape[2])
    middle = regions["middle"]
    mid_late = late.per_concept(middle)
    parts = {
        "late: middle > first layer": _test(mid_late, late.per_concept(regions["first"]), "greater",
                                            "late overlap per layer, middle layers vs layer 0"),
        "late: middle > last layer": _test(mid_late, late.per_concept(regions["last"]), "greater",
                                           "late overlap per layer, middle layers vs last layer"),
        f"middle late > early ({points.early})": _test(mid_late, lo[points.early].per_concept(middle), "greater",
                                                       "overlap per middle layer, late vs early"),
        "late middle: matched > mismatched concepts": _test(
            mid_late, late.per_concept(middle, mismatched=True), "greater",
            "late overlap per middle layer, matched vs mismatched concepts"),
    }
    decision = all_of(
        parts["late: middle > first layer"], parts,
        rule=f"global top-{late.k} restricted to each layer, shared share of k averaged over RF's middle layers "
        f"{middle.tolist()}: at late > layer 0 and > the last layer, late > early, and late matched > mismatched "
        "concepts; paired sign-flip tests over concepts, α=0.01 each; late vs the first checkpoint is a reported "
        "control",
    )
    controls = {}
    if points.first not in (points.early, points.late):
        controls[f"control: middle late vs first ({points.first})"] = _test(
            mid_late, lo[points.first].per_concept(middle), "greater",
            "overlap per middle layer, late vs first checkpoint (reported, not decided)")
    numbers = LayerOverlapNumbers(
        layer_overlap={rev: lo[rev].profile.tolist() for rev in revs},
        layer_overlap_mismatched={rev: lo[rev].profile_mismatched.tolist() for rev in revs},
        chance=late.chance,
        chance_per_layer={rev: lo[rev].chance_profile.tolist() for rev in revs},
        k=late.k,
        regions={name: idx.tolist() for name, idx in regions.items()},
        languages=list(languages),
        early=points.early,
        late=points.late,
        controls=_controls(controls),
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(revs), failure=(
        "overlap per layer " + "; ".join(f"{r}: " + " ".join(f"{v:.3f}" for v in lo[r].profile) for r in revs)
        + f" (chance per layer at late {' '.join(f'{v:.3f}' for v in late.chance_profile)}) — fails: "
        f"{decision.detail['failed']}"
    ))
