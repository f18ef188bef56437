"""Decision rules: hand-computed p-values, scipy agreement of the approximate paths, JSON output.

The exact sign-flip and trend p-values against enumeration, binomial and two-proportion p-values
against closed forms, order and scale invariance, p-value bounds, purity and NaN/inf rejection
are checked in ``test_common.py``.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import strategies as st
from scipy import stats as sps

from harness.errors import NonFiniteActivationError
from harness.metrics import (
    ALPHA,
    Decision,
    all_of,
    binomial_greater,
    bootstrap_ci,
    bootstrap_greater,
    describe,
    one_sample_greater,
    paired_permutation_test,
    trend_test,
    two_proportion_test,
    wilcoxon_greater,
)

small_ints = st.integers(-5, 5).map(float)


def assert_json_safe(d: Decision) -> dict:
    out = d.to_dict()
    json.dumps(out, allow_nan=False)
    assert set(out) == {f.name for f in dataclasses.fields(Decision)}
    return out


# ------------------------------------------------------------------------- sign-flip test
def test_signflip_known_answers():
    # d = (1, 1, 1): only the all-plus pattern of 2^3 reaches mean 1 -> p = 1/8
    assert paired_permutation_test([2.0, 2, 2], [1.0, 1, 1]).p_value == pytest.approx(1 / 8)
    # d = (1, 2, 3): sums over sign patterns 6, 4, 2, 0, 0, -2, -4, -6; only 6 >= 6 -> 1/8
    assert paired_permutation_test([1.0, 2, 3], [0.0, 0, 0]).p_value == pytest.approx(1 / 8)
    # seven positive differences: 1/128 < 0.01 -> supported; five: 1/32 > 0.01 -> not
    assert paired_permutation_test(np.ones(7), np.zeros(7)).supported
    assert not paired_permutation_test(np.ones(5), np.zeros(5)).supported
    # all differences zero: every pattern ties -> p = 1
    assert paired_permutation_test(np.ones(4), np.ones(4)).p_value == 1.0


def test_monte_carlo_signflip_agrees_with_scipy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(40) + 0.3
    y = rng.standard_normal(40)
    d = paired_permutation_test(x, y, n_resamples=20000, seed=1)
    assert not d.detail["exact"]
    ref = sps.permutation_test((x, y), lambda a, b, axis: np.mean(a - b, axis=axis),
                               permutation_type="samples", alternative="greater",
                               n_resamples=20000, rng=3).pvalue
    assert d.p_value == pytest.approx(ref, abs=0.01)
    strong = paired_permutation_test(x + 5, y, n_resamples=999)
    assert strong.p_value == pytest.approx(1 / 1000) and strong.supported


# ------------------------------------------------------------------------------- Wilcoxon
def test_wilcoxon_known_and_scipy():
    # d = (1, 2, -3): ranks of |d| 1, 2, 3 -> W+ = 3, W- = 3 -> rank-biserial 0
    d = wilcoxon_greater([1.0, 2, -3], [0.0, 0, 0])
    assert d.effect_size == pytest.approx(0.0)
    # all positive: W+ = 6, W- = 0 -> 1; exact p = P(W+ >= 6) = 1/8
    d = wilcoxon_greater([1.0, 2, 3], [0.0, 0, 0])
    assert d.effect_size == pytest.approx(1.0)
    assert d.p_value == pytest.approx(1 / 8)
    rng = np.random.default_rng(1)
    x, y = rng.random(30) + 0.2, rng.random(30)
    d = wilcoxon_greater(x, y)
    assert d.p_value == pytest.approx(sps.wilcoxon(x, y, alternative="greater").pvalue)
    assert wilcoxon_greater(np.ones(5), np.ones(5)).p_value == 1.0
    assert_json_safe(d)


# ------------------------------------------------------------------------------ bootstrap
def test_bootstrap_ci_normal_approximation_and_seed():
    rng = np.random.default_rng(2)
    v = rng.standard_normal(400) + 1.0
    lo, hi = bootstrap_ci(v, confidence=0.99, n_resamples=4000, seed=0)
    half = 2.5758 * v.std(ddof=1) / math.sqrt(v.size)  # normal-theory half width
    assert lo < v.mean() < hi
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.1)
    assert (lo, hi) != bootstrap_ci(v, confidence=0.99, n_resamples=4000, seed=1)
    # a statistic without an axis argument is applied per resample
    lo2, hi2 = bootstrap_ci(v, stat=lambda s: float(np.median(s)), n_resamples=500)
    assert lo2 < np.median(v) < hi2


def test_bootstrap_greater_paired_and_scalar():
    rng = np.random.default_rng(3)
    x = rng.random(60)
    shifted = bootstrap_greater(x + 0.2, x + rng.normal(0, 0.01, 60), n_resamples=2000)
    assert shifted.supported and shifted.ci[0] > 0
    null = bootstrap_greater(x, x[::-1], n_resamples=2000)
    assert not null.supported and null.ci[0] <= 0 <= null.ci[1]
    vs_chance = bootstrap_greater(x, 0.1, n_resamples=2000)
    assert vs_chance.supported and vs_chance.control == 0.1
    assert not bootstrap_greater(x, 0.9, n_resamples=2000).supported
    assert_json_safe(vs_chance)


# ---------------------------------------------------------------------------- proportions
def test_two_proportion_z_known():
    # 60/100 vs 40/100: pooled 0.5, se = sqrt(0.25 * 0.02), z = 0.2 / se = 2 sqrt(2);
    # p = P(Z > 2 sqrt 2) = erfc(2) / 2
    d = two_proportion_test(60, 100, 40, 100)
    assert d.detail["test"] == "two-proportion z"
    assert d.detail["z"] == pytest.approx(2 * math.sqrt(2))
    assert d.p_value == pytest.approx(math.erfc(2) / 2, rel=1e-12)
    assert d.supported and d.effect_size == pytest.approx(0.2)


def test_two_proportion_small_counts_use_fisher():
    # 3/4 vs 0/4: table [[3,1],[0,4]]; P(X >= 3), X ~ hypergeom(N=8, K=3, n=4) = 5/70
    d = two_proportion_test(3, 4, 0, 4)
    assert d.detail["test"] == "Fisher exact"
    assert d.p_value == pytest.approx(5 / 70)
    assert not d.supported
    assert_json_safe(d)  # the odds ratio is infinite -> None


def test_binomial_greater_known():
    # 3 of 3 with p0 = 1/2: P(X >= 3) = 1/8
    d = binomial_greater(3, 3, 0.5)
    assert d.p_value == pytest.approx(1 / 8) and not d.supported
    # 10 of 10: 1/1024 -> supported; the one-sided CI lower bound solves p^10 = 0.01
    d = binomial_greater(10, 10, 0.5)
    assert d.p_value == pytest.approx(1 / 1024) and d.supported
    assert d.ci[0] == pytest.approx(0.01 ** (1 / 10)) and d.ci[1] == 1.0


# ---------------------------------------------------------------------------------- trend
def test_constant_trend_has_no_rho_and_p_one():
    d = trend_test([1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5])
    assert d.p_value == 1.0 and math.isnan(d.value) and not d.supported
    assert assert_json_safe(d)["value"] is None
    with pytest.raises(ValueError, match="at least 3 points"):
        trend_test([1.0, 2.0], [0.1, 0.2])


def test_exact_trend_seven_points_with_ties():
    steps = np.arange(7.0)
    values = np.array([0.1, 0.3, 0.2, 0.3, 0.5, 0.4, 0.6])
    rho = sps.spearmanr(steps, values).statistic
    ranks = sps.rankdata(values)[np.array(list(itertools.permutations(range(7))))]
    null = np.array([np.corrcoef(steps, r)[0, 1] for r in ranks])
    d = trend_test(steps, values)
    assert d.detail["n_permutations"] == 5040
    assert d.p_value == pytest.approx(np.mean(null >= rho - 1e-9), abs=1e-12)


def test_trend_known_answers():
    # strictly increasing over n points: only the identity ordering reaches rho = 1 -> 1/n!
    assert trend_test([1, 2, 3, 4, 5], [0.1, 0.2, 0.3, 0.4, 0.5]).p_value == pytest.approx(1 / 120)
    assert trend_test([1, 2, 3, 4, 5], [0.1, 0.2, 0.3, 0.4, 0.5]).supported
    assert not trend_test([1, 2, 3, 4], [1.0, 2, 3, 4]).supported  # 1/24 > 0.01
    dec = trend_test([1, 2, 3, 4, 5, 6], [6.0, 5, 4, 3, 2, 1], alternative="decreasing")
    assert dec.p_value == pytest.approx(1 / 720) and dec.value == pytest.approx(-1.0)
    assert trend_test([1, 2, 3, 4, 5, 6], [6.0, 5, 4, 3, 2, 1]).p_value == 1.0


def test_long_trend_uses_spearman_t():
    rng = np.random.default_rng(4)
    steps = np.arange(12.0)
    values = steps + rng.normal(0, 3, 12)
    d = trend_test(steps, values)
    assert not d.detail["exact"]
    assert d.p_value == pytest.approx(sps.spearmanr(steps, values, alternative="greater").pvalue)


# ----------------------------------------------------------------------------- one sample
def test_one_sample_methods():
    rng = np.random.default_rng(5)
    v = rng.normal(0.3, 0.1, 25)
    t = one_sample_greater(v, 0.25)
    assert t.p_value == pytest.approx(sps.ttest_1samp(v, 0.25, alternative="greater").pvalue)
    half = sps.t.ppf(0.99, 24) * v.std(ddof=1) / 5
    assert t.ci == pytest.approx((v.mean() - half, v.mean() + half))
    # sign-flip on 3 values all above the null -> 1/8
    assert one_sample_greater([2.0, 3, 4], 1.0, method="sign-flip").p_value == pytest.approx(1 / 8)
    w = one_sample_greater(v, 0.25, method="wilcoxon")
    assert w.p_value == pytest.approx(sps.wilcoxon(v - 0.25, alternative="greater").pvalue)
    assert not one_sample_greater(v, 0.5).supported
    with pytest.raises(ValueError):
        one_sample_greater(v, 0.1, method="z")


# ------------------------------------------------------------------------------- Decision
def test_alpha_is_the_default_level_of_every_test():
    assert ALPHA == 0.01
    for fn in (paired_permutation_test, wilcoxon_greater, bootstrap_greater, two_proportion_test,
               binomial_greater, trend_test, one_sample_greater):
        assert inspect.signature(fn).parameters["alpha"].default == ALPHA, fn.__name__
    assert binomial_greater(10, 10, 0.5).alpha == ALPHA


def test_decision_is_frozen_and_json_safe():
    d = paired_permutation_test(np.arange(8.0) + 1, np.arange(8.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.supported = False  # type: ignore[misc]
    out = assert_json_safe(d)
    assert out["supported"] is True and isinstance(out["p_value"], float)
    weird = Decision("s", float("nan"), np.float32(1.5), None, np.float64(0.5), (0.0, float("inf")),
                     np.int64(3), "greater", 0.01, np.bool_(True), {"a": np.arange(2), "b": float("-inf")})
    out = weird.to_dict()
    assert out["value"] is None and out["ci"] == [0.0, None] and out["detail"] == {"a": [0, 1], "b": None}
    assert type(out["n"]) is int and type(out["supported"]) is bool
    json.dumps(out, allow_nan=False)


def test_unequal_or_empty_samples_raise():
    with pytest.raises(ValueError, match="equal lengths"):
        paired_permutation_test([1.0, 2.0], [0.0])
    with pytest.raises(ValueError, match="empty"):
        wilcoxon_greater([], [])
    with pytest.raises(NonFiniteActivationError, match="control"):
        bootstrap_greater([1.0, 2.0], float("nan"))


# ------------------------------------------------------------------------------ conjunctions
def _decision(p, ok, ci=None):
    return Decision("s", 1.0, 0.0, None, p, ci, 10, "greater", ALPHA, ok)


def test_all_of_is_an_intersection_union_test():
    both = all_of(_decision(0.001, True), {"a": _decision(0.001, True), "b": _decision(0.004, True)}, rule="a and b")
    assert both.supported and both.p_value == 0.004 and both.detail["failed"] == []
    one = all_of(_decision(0.001, True), {"a": _decision(0.001, True), "b": _decision(0.2, False)}, rule="a and b")
    assert not one.supported and one.detail["failed"] == ["b"] and one.p_value == 0.2
    assert one.detail["reason"].startswith("fails: b (s = 1 vs 0 p = 0.2")
    # a part decided by an interval has no p-value: the conjunction reports none rather than a smaller one
    by_interval = _decision(None, True, ci=(0.1, 0.9))
    mixed = all_of(_decision(0.001, True), {"a": _decision(0.001, True), "b": by_interval}, rule="a and b")
    assert mixed.supported and mixed.p_value is None
    with pytest.raises(ValueError):
        all_of(_decision(0.001, True), {}, rule="nothing")


def test_describe_lists_the_numbers():
    text = describe(_decision(0.0123, True, ci=(0.25, 2.0)))
    assert text == "s = 1 vs 0 p = 0.0123 98% CI [0.25, 2]"


def test_all_of_reports_the_detectable_effect_of_its_primary_statement():
    from harness.metrics import two_proportion_test

    primary = two_proportion_test(30, 100, 20, 100, statistic="share")  # SE known: a detectable effect exists
    other = two_proportion_test(60, 100, 20, 100, statistic="other share")
    assert primary.detectable_effect is not None and other.detectable_effect != primary.detectable_effect
    joint = all_of(primary, {"p": primary, "o": other}, rule="p and o")
    assert joint.detectable_effect == primary.detectable_effect
    assert all_of(other, {"p": primary, "o": other}, rule="p and o").detectable_effect == other.detectable_effect
