"""Three outcomes of a one-sided decision: supported, contradicted (the opposite direction is
significant at the same alpha, from the same data) and inconclusive (neither); the detectable effect."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from harness.analyses.decisions import bootstrap_decision, permutation_decision
from harness.metrics import (
    ALPHA,
    Decision,
    all_of,
    binomial_greater,
    bootstrap_greater,
    detectable_effect,
    one_sample_greater,
    paired_permutation_test,
    trend_test,
    two_proportion_test,
    wilcoxon_greater,
)

_RNG = np.random.default_rng(3)
_NOISE = _RNG.normal(0.0, 1.0, 40)
_BASE = _RNG.normal(0.0, 1.0, 40)


def _shifted(shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Paired samples x, y with x − y = shift + small noise (40 pairs)."""
    return _BASE + shift + 0.3 * _NOISE, _BASE


# each test as a function of a true shift: > 0 supports the claim, < 0 contradicts it, 0 is null
TESTS = {
    "paired_permutation_test": lambda s: paired_permutation_test(*_shifted(s), n_resamples=2000),
    "paired_permutation_test[exact]": lambda s: paired_permutation_test(*(a[:12] for a in _shifted(s))),
    "wilcoxon_greater": lambda s: wilcoxon_greater(*_shifted(s)),
    "bootstrap_greater[paired]": lambda s: bootstrap_greater(*_shifted(s), n_resamples=2000),
    "bootstrap_greater[control]": lambda s: bootstrap_greater(_shifted(s)[0] - _BASE, 0.0, n_resamples=2000),
    "two_proportion_test[z]": lambda s: two_proportion_test(int(50 + 100 * s), 100, 50, 100),
    "two_proportion_test[fisher]": lambda s: two_proportion_test(int(4 + 4 * s), 8, 4, 8) if s == 0 else
    two_proportion_test(8 if s > 0 else 0, 8, 0 if s > 0 else 8, 8),
    "binomial_greater": lambda s: binomial_greater(int(50 + 100 * s), 100, 0.5),
    "trend_test": lambda s: trend_test([1, 2, 3, 4, 5, 6], [0.1, 0.3, 0.2, 0.2, 0.3, 0.1] if s == 0 else
                                       list(np.sign(s) * np.arange(6.0))),
    "trend_test[approx]": lambda s: trend_test(np.arange(30), np.sign(s) * np.arange(30.0) + _NOISE[:30] * (
        1 if s else 1e6)),
    "one_sample_greater[t]": lambda s: one_sample_greater(_shifted(s)[0] - _BASE, 0.0),
    "one_sample_greater[sign-flip]": lambda s: one_sample_greater(_shifted(s)[0] - _BASE, 0.0, method="sign-flip",
                                                                  n_resamples=2000),
    "one_sample_greater[wilcoxon]": lambda s: one_sample_greater(_shifted(s)[0] - _BASE, 0.0, method="wilcoxon"),
}


@pytest.mark.parametrize("name", sorted(TESTS))
def test_an_effect_in_the_claimed_direction_is_supported(name):
    d = TESTS[name](0.4)
    assert (d.supported, d.contradicted, d.verdict) == (True, False, "supported")


@pytest.mark.parametrize("name", sorted(TESTS))
def test_a_significant_effect_in_the_opposite_direction_is_contradicted(name):
    d = TESTS[name](-0.4)
    assert (d.supported, d.contradicted, d.verdict) == (False, True, "contradicted")
    if d.p_value is not None:
        assert d.p_value_opposite is not None and d.p_value_opposite <= ALPHA < d.p_value


@pytest.mark.parametrize("name", sorted(TESTS))
def test_a_null_effect_is_inconclusive(name):
    d = TESTS[name](0.0)
    assert (d.supported, d.contradicted, d.verdict) == (False, False, "inconclusive")


def test_the_opposite_p_value_comes_from_the_same_permutations():
    x, y = _shifted(-0.05)
    d = paired_permutation_test(x, y, n_resamples=4000, seed=5)
    less = paired_permutation_test(x, y, alternative="less", n_resamples=4000, seed=5)
    assert d.p_value_opposite == less.p_value
    exact = paired_permutation_test(x[:10], y[:10])
    assert exact.p_value_opposite == paired_permutation_test(x[:10], y[:10], alternative="less").p_value
    # the two tails of one enumeration overlap only in the patterns equal to the observed mean
    assert exact.p_value + exact.p_value_opposite >= 1


def test_a_two_sided_test_is_never_contradicted():
    d = two_proportion_test(10, 100, 50, 100, alternative="two-sided")
    assert d.supported and not d.contradicted and d.p_value_opposite is None


def test_a_decision_cannot_be_supported_and_contradicted():
    with pytest.raises(ValueError, match="both supported and contradicted"):
        Decision("s", 1.0, 0.0, None, 0.001, None, 10, "greater", ALPHA, True, contradicted=True)


def test_a_conjunction_is_contradicted_when_any_part_is():
    up, down, null = TESTS["one_sample_greater[t]"](0.4), TESTS["one_sample_greater[t]"](-0.4), TESTS[
        "one_sample_greater[t]"](0.0)
    assert all_of(up, {"a": up, "b": null}, rule="a and b").verdict == "inconclusive"
    mixed = all_of(up, {"a": up, "b": null, "c": down}, rule="a, b and c")
    assert mixed.verdict == "contradicted" and mixed.detail["contradicted"] == ["c"]
    assert mixed.detail["reason"].startswith("contradicted: c (") and "also fails: b (" in mixed.detail["reason"]
    assert "detectable difference at this n ≈" in all_of(up, {"a": up, "b": null}, rule="a and b").detail["reason"]


@pytest.mark.parametrize(("alternative", "lo", "verdict"), [
    ("greater", 0.5, "supported"), ("greater", -2.0, "contradicted"), ("greater", -0.7, "inconclusive"),
    ("less", -2.0, "supported"), ("less", 0.5, "contradicted"), ("less", -0.7, "inconclusive"),
])
def test_bootstrap_decision_reads_both_ends_of_its_interval(alternative, lo, verdict):
    reps = np.concatenate([[lo + 0.5], np.linspace(lo, lo + 1.0, 1001)])
    d = bootstrap_decision(reps, statistic="gap", n=30, alternative=alternative)
    assert d.verdict == verdict
    assert d.detectable_effect == pytest.approx(detectable_effect(float(np.std(reps[1:], ddof=1)), ALPHA))


@pytest.mark.parametrize(("observed", "verdict"), [(3.0, "supported"), (-3.0, "contradicted"), (0.1, "inconclusive")])
def test_permutation_decision_reads_both_tails_of_its_null(observed, verdict):
    null = np.random.default_rng(0).normal(0.0, 1.0, 999)
    d = permutation_decision(observed, null, statistic="r", n=20, null_description="shuffled pairs")
    assert d.verdict == verdict
    assert d.p_value_opposite == pytest.approx((1 + np.count_nonzero(null <= observed)) / 1000)


def test_detectable_effect_is_the_normal_approximation_of_80_percent_power():
    z = sps.norm.ppf(1 - ALPHA) + sps.norm.ppf(0.8)
    d = two_proportion_test(50, 100, 50, 100)
    assert d.detectable_effect == pytest.approx(z * math.sqrt(0.25 * 2 / 100))
    assert binomial_greater(50, 100, 0.5).detectable_effect == pytest.approx(z * 0.05)
    x, y = _shifted(0.0)
    assert paired_permutation_test(x, y).detectable_effect == pytest.approx(
        z * np.std(x - y, ddof=1) / math.sqrt(x.size))
    # a true shift of that size is detected about 80 % of the time (z test on the mean, known sd)
    rng = np.random.default_rng(1)
    hits = [one_sample_greater(rng.normal(z / math.sqrt(50), 1.0, 50), 0.0).supported for _ in range(400)]
    assert 0.7 < np.mean(hits) < 0.88
    # no honest standard error: rank tests, Fisher's exact test, trends
    assert wilcoxon_greater(x, y).detectable_effect is None and trend_test([1, 2, 3], [1, 2, 3]).detectable_effect \
        is None and two_proportion_test(3, 4, 0, 4).detectable_effect is None
