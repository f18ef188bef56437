"""RF-4's statistics over concepts (``harness.analyses.steering``): the concept is the tested unit.

Texts steered by one concept share its clamped units, so they are not independent: the tests here
show the concept-level decisions keep their level on clustered data where a test over pooled texts
does not, and check each decision against its closed form.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import stats as sps

from harness.analyses import steering
from harness.metrics import ALPHA, two_proportion_test

N_CONCEPTS, SEEDS = 10, 10


# ------------------------------------------------------------------------------ per concept
def test_share_by_concept_counts_unknown_and_keeps_the_concept_order():
    counts = {"b": Counter({"es": 3, "unknown": 1}), "a": Counter({"en": 2})}
    assert steering.share_by_concept(counts, "es", ["a", "b"]).tolist() == [0.0, 0.75]
    with pytest.raises(ValueError, match="no generations"):
        steering.share_by_concept({"a": Counter()}, "es", ["a"])


# ------------------------------------------------------------------------- paired over concepts
def test_concept_paired_test_is_exact_over_ten_concepts():
    x, y = np.full(N_CONCEPTS, 0.4), np.full(N_CONCEPTS, 0.1)
    d = steering.concept_paired_test(x, y, statistic="share")
    assert d.p_value == 1 / 2**N_CONCEPTS and d.supported and d.n == N_CONCEPTS
    assert d.ci == pytest.approx((0.3, 0.3)) and d.detail["unit"] == "concept"
    # one concept against the direction: p is the share of the 2^10 sign patterns whose mean
    # difference reaches the observed one (enumerated here independently)
    y2 = y.copy()
    y2[0] = 0.7
    d2 = steering.concept_paired_test(x, y2, statistic="share")
    diffs = x - y2
    signs = ((np.arange(2**N_CONCEPTS)[:, None] >> np.arange(N_CONCEPTS)) & 1) * 2 - 1
    assert d2.p_value == pytest.approx(np.mean(signs @ diffs >= diffs.sum() - 1e-12))
    assert not steering.concept_paired_test(y, x, statistic="share").supported


def _clustered_null(rng, n_concepts, seeds, mean, icc):
    """Per-concept counts from a beta-binomial: concepts differ, texts within a concept correlate."""
    a = mean * (1 - icc) / icc
    b = (1 - mean) * (1 - icc) / icc
    return rng.binomial(seeds, rng.beta(a, b, size=n_concepts))


def test_concept_level_test_keeps_its_level_where_pooled_texts_do_not():
    """Null: steered and control come from the same clustered distribution (ICC 0.3)."""
    rng = np.random.default_rng(7)
    sims, concept_rejects, pooled_rejects = 300, 0, 0
    for _ in range(sims):
        x = _clustered_null(rng, N_CONCEPTS, SEEDS, 0.3, 0.3)
        y = _clustered_null(rng, N_CONCEPTS, SEEDS, 0.3, 0.3)
        concept_rejects += steering.concept_paired_test(x / SEEDS, y / SEEDS, statistic="s").supported
        n = N_CONCEPTS * SEEDS
        pooled_rejects += two_proportion_test(int(x.sum()), n, int(y.sum()), n, alpha=ALPHA).supported
    assert concept_rejects / sims <= 0.025  # α = 0.01, with room for simulation noise
    assert pooled_rejects / sims >= 0.05  # counting texts as independent is anti-conservative


# --------------------------------------------------------------------------- largest share
def _shares(**means):
    rng = np.random.default_rng(0)
    return {k: np.clip(v + rng.normal(0, 0.01, N_CONCEPTS), 0, 1) for k, v in means.items()}


def test_largest_share_needs_every_competitor_beaten():
    shares = _shares(es=0.5, en=0.2, fr=0.1)
    d = steering.largest_share_test(shares, "es")
    assert d.supported and d.value == 1 and d.p_value == 1 / 2**N_CONCEPTS
    lost = steering.largest_share_test(_shares(es=0.3, en=0.4, fr=0.1), "es")
    assert not lost.supported and lost.detail["binding"] == "en"


def test_near_largest_excuses_one_competitor_at_half_the_level():
    d = steering.largest_share_test(_shares(es=0.3, en=0.45, fr=0.1, pt=0.05), "es", excused=1)
    assert d.supported and d.value == 2 and d.detail["excused"] == ["en"]
    assert d.detail["level_per_comparison"] == ALPHA / 2
    assert d.p_value == 2 * d.detail["competitors"][d.detail["binding"]]["p_value"]
    # two larger languages: es is third, not near-largest
    assert not steering.largest_share_test(_shares(es=0.3, en=0.45, fr=0.4), "es", excused=1).supported


def test_a_missing_language_is_never_near_largest_even_alone():
    zero = {"es": np.zeros(N_CONCEPTS)}
    d = steering.largest_share_test(zero, "es", excused=1)
    assert not d.supported and len(d.detail["competitors"]) == 2  # stand-ins with zero share
    assert steering.largest_share_test({"es": np.full(N_CONCEPTS, 0.2)}, "es", excused=1).supported


# -------------------------------------------------------------------------- upper bound (RF-4c)
def test_upper_bound_without_any_hit_is_the_clopper_pearson_closed_form():
    d = steering.share_upper_bound([0] * N_CONCEPTS, SEEDS, 0.10)
    n_eff = d.detail["n_effective"]
    factor = (sps.t.ppf(1 - ALPHA, 99) / sps.t.ppf(1 - ALPHA, 9)) ** 2  # Korn–Graubard df factor
    assert n_eff == pytest.approx(100 * factor)
    assert d.ci[1] == pytest.approx(1 - ALPHA ** (1 / n_eff))  # Beta(1 - α; 1, n) = 1 - α^(1/n)
    assert d.supported and d.p_value <= ALPHA and d.detail["design_effect"] == 1


def test_clustering_widens_the_bound_and_the_p_value_agrees_with_it():
    even = steering.share_upper_bound([1] * N_CONCEPTS, 30, 0.10)
    lumped = steering.share_upper_bound([10] + [0] * (N_CONCEPTS - 1), 30, 0.10)
    assert even.value == lumped.value
    assert lumped.detail["design_effect"] > 1 and lumped.ci[1] > even.ci[1]
    for d in (even, lumped):
        assert (d.p_value <= ALPHA) == d.supported == (d.ci[1] < 0.10)
    assert even.supported and not lumped.supported


def test_upper_bound_keeps_its_level_at_the_notable_share_on_clustered_data():
    """True share exactly at the bound, ICC 0.05: 'below the bound' may be claimed ≤ ~α of the time."""
    rng = np.random.default_rng(3)
    sims, wrong = 400, 0
    for _ in range(sims):
        counts = _clustered_null(rng, N_CONCEPTS, 30, 0.10, 0.05)
        wrong += steering.share_upper_bound(counts, 30, 0.10, with_power=False).supported
    assert wrong / sims <= 0.025


def test_seeds_needed_is_the_smallest_that_reaches_the_bound():
    needed = steering.seeds_needed(0.10, 0.05, N_CONCEPTS)
    assert needed is not None and needed > SEEDS  # the toy's 10 samples per concept cannot show it
    assert steering.attainable_upper_bound(0.05, N_CONCEPTS, needed) < 0.10
    assert steering.attainable_upper_bound(0.05, N_CONCEPTS, needed - 1) >= 0.10
    # strong clustering caps the effective size at n_concepts / icc: no number of seeds suffices
    assert steering.seeds_needed(0.10, 0.05, N_CONCEPTS, icc=0.2) is None


def test_power_says_whether_the_run_could_show_the_bound():
    small = steering.share_upper_bound([0] * N_CONCEPTS, SEEDS, 0.10).detail["power"]
    assert not small["reachable"] and small["seeds_needed_independent"] > SEEDS
    enough = steering.share_upper_bound([0] * N_CONCEPTS, small["seeds_needed_independent"], 0.10)
    assert enough.detail["power"]["reachable"]


def test_opposites_are_contradictions_not_just_failures():
    notable = steering.share_upper_bound([5] * N_CONCEPTS, SEEDS, 0.10)  # half of every concept's texts
    assert notable.verdict == "contradicted" and notable.ci[0] > 0.10 and notable.p_value_opposite <= ALPHA
    near = steering.share_upper_bound([1] * N_CONCEPTS, SEEDS, 0.10)  # at the bound: neither side
    assert near.verdict == "inconclusive" and near.ci[0] < 0.10 < near.ci[1]
    third = steering.largest_share_test(_shares(es=0.1, en=0.45, fr=0.4, pt=0.05), "es", excused=1)
    assert third.verdict == "contradicted" and third.p_value_opposite <= ALPHA
    close = steering.largest_share_test(_shares(es=0.3, en=0.45, fr=0.3), "es", excused=1)
    assert close.verdict == "inconclusive"


def test_rf_4c_draws_the_samples_its_bound_needs():
    import sys

    from harness.analyses.steering import SteeringPlan
    from harness.claim_registry import load_claims

    load_claims()
    rf4 = sys.modules["test_rf_steering"]
    concepts = tuple(f"c{i}" for i in range(N_CONCEPTS))
    toy, paper = SteeringPlan(10, "", concepts, SEEDS), SteeringPlan(10, "", concepts, 100)
    needed = steering.seeds_needed(rf4.NOTABLE_SHARE, rf4.NOTABLE_SHARE / 2, N_CONCEPTS)
    assert rf4.swahili_seeds(toy) == needed > SEEDS and rf4.swahili_seeds(paper) == 100
