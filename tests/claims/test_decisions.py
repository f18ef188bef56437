"""The one definition of the resampling decisions (harness.analyses.decisions), with known answers.

Literal values were computed with the definitions these replaced (similarity.bootstrap_decision,
similarity.permutation_decision, probing.parametric_bootstrap_std); any change of numbers fails here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.analyses import decisions
from harness.analyses.decisions import (
    bootstrap_decision,
    parametric_bootstrap_std,
    percentile_interval,
    permutation_decision,
    permutation_p_value,
)
from harness.metrics import ALPHA

REPLICATES = np.array([0.5, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1])  # [0] observed
NULL = np.array([0.1, 0.2, 0.5, -0.3, 0.0, 0.25, 0.5, 0.05, -0.1])


def test_bootstrap_decision_greater_and_less():
    d = bootstrap_decision(REPLICATES, statistic="gap", n=10)
    assert d.ci == pytest.approx((0.109, 1.091), abs=1e-12) and d.supported and d.alpha == ALPHA == 0.01
    assert d.effect_size == pytest.approx(1.4373989364401722, rel=1e-12)
    assert d.detail == {
        "test": "percentile bootstrap over verses", "observed": 0.5, "null": 0.0, "n_resamples": 10,
        "confidence": 0.98, "boot_share_beyond_null": 0.0,
        "reason": "gap > 0 holds: gap = 0.5 vs 0 98% CI [0.109, 1.091]",
    }
    above = bootstrap_decision(REPLICATES, statistic="gap", n=10, control=0.3)
    assert not above.supported and above.detail["boot_share_beyond_null"] == pytest.approx(0.3)
    assert above.detail["reason"] == "gap > 0.3 does not hold: gap = 0.5 vs 0.3 98% CI [0.109, 1.091]"
    below = bootstrap_decision(REPLICATES, statistic="gap", n=10, control=1.5, alternative="less")
    assert below.supported and below.detail["reason"] == "gap < 1.5 holds: gap = 0.5 vs 1.5 98% CI [0.109, 1.091]"


def test_bootstrap_decision_refuses_non_finite_resamples_and_keeps_a_given_reason():
    holes = REPLICATES.copy()
    holes[1:3] = np.nan  # 2 of 10 resamples (> 10 %) are not finite
    d = bootstrap_decision(holes, statistic="gap", n=10, control=-1)
    assert all(math.isnan(x) for x in d.ci) and not d.supported
    given = bootstrap_decision(
        REPLICATES, statistic="gap", n=10, value=2.0, control_value=1.0, detail={"reason": "mine"}
    )
    assert (given.value, given.control, given.detail["reason"], given.detail["difference"]) == (2.0, 1.0, "mine", 0.5)


def test_permutation_decision_known_answer():
    d = permutation_decision(0.5, NULL, statistic="LRDS", n=12, null_description="labels shuffled",
                             bootstrap=np.array([0.5, 0.4, 0.6, 0.45, 0.55]))
    assert d.p_value == pytest.approx(0.3) and not d.supported  # (1 + 2 ties) / (1 + 9)
    assert d.control == pytest.approx(0.13333333333333333) and d.effect_size == pytest.approx(1.392098393770332)
    assert d.detail["verse_bootstrap"]["ci"] == pytest.approx([0.4015, 0.5985])
    assert d.detail["reason"] == (
        "LRDS > 0 does not hold: LRDS = 0.5 vs 0.1333 p = 0.3 (labels shuffled, null sd 0.2634)"
    )
    assert list(d.detail) == [
        "test", "null", "n_permutations", "null_mean", "null_sd", "seed", "verse_bootstrap", "reason"
    ]
    big = permutation_decision(0.5, NULL[NULL < 0.5], statistic="LRDS", n=12, null_description="x")
    assert big.p_value == pytest.approx(1 / 8) and "verse_bootstrap" not in big.detail


def test_p_value_and_interval_helpers():
    assert permutation_p_value(0.2, np.array([0.2 - 1e-13, 0.1, 0.3])) == pytest.approx(3 / 4)  # a near-tie counts
    assert percentile_interval(np.arange(101.0), 0.01) == (1.0, 99.0)


def test_parametric_bootstrap_std_is_seeded_binomial():
    class Blocks:
        blocks = np.array([0.6, 0.7, 0.8])
        n = 100

    got = parametric_bootstrap_std(Blocks(), n_resamples=5, seed=3)
    assert got == pytest.approx([0.10530379, 0.07586538, 0.09104334, 0.09899495, 0.05715476], abs=1e-8)


def test_old_names_re_export_the_one_definition():
    from harness.analyses import probing, similarity

    assert similarity.bootstrap_decision is decisions.bootstrap_decision
    assert similarity.permutation_decision is decisions.permutation_decision
    assert probing.parametric_bootstrap_std is decisions.parametric_bootstrap_std
    assert (similarity.N_PERM, similarity.PERM_SEED) == (decisions.N_PERM, decisions.PERM_SEED) == (1000, 0)


def test_analyses_use_the_harness_alpha():
    import inspect

    from harness.analyses import key_regions

    for fn in (bootstrap_decision, permutation_decision, key_regions.own_region_decision,
               key_regions.random_control_decision):
        assert inspect.signature(fn).parameters["alpha"].default is ALPHA
    assert not hasattr(key_regions, "ALPHA") or key_regions.ALPHA is ALPHA
