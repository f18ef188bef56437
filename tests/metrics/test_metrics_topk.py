"""Top-k experts, overlap, hypergeometric chance level, per-layer counts: known answers, bad input.

Brute-force references (ranking with low-index tie break, set overlap, hypergeometric tail as a
sum of binomial coefficients, per-layer counts), order and scale invariance, bounds, purity and
NaN/inf rejection are checked in ``test_common.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import hypergeom

from harness.metrics import (
    chance_overlap,
    overlap_fraction,
    overlap_pvalue,
    topk_units,
    units_per_layer,
)


def test_topk_flattens_layers_row_major():
    scores = torch.tensor([[0.1, 0.9, 0.2], [0.8, 0.9, 0.0]])  # 2 layers x 3 units
    # 0.9 at flat 1 and flat 4 (tie -> 1 first), then 0.8 at flat 3
    assert topk_units(scores, 3).tolist() == [1, 4, 3]


def test_topk_bad_k():
    with pytest.raises(ValueError, match=r"k must be in \[1, 5\]"):
        topk_units(torch.zeros(5), 6)
    with pytest.raises(ValueError):
        topk_units(torch.zeros(5), 0)


def test_topk_int_scores_and_dtype():
    got = topk_units(np.array([3, 7, 7, 1]), 2)
    assert got.dtype == torch.int64 and got.tolist() == [1, 2]


def test_overlap_fraction_known():
    # {1,2,3,4} & {3,4,5,6} = {3,4}: 2 of k=4
    assert overlap_fraction(torch.tensor([1, 2, 3, 4]), [3, 4, 5, 6], 4) == 0.5
    assert overlap_fraction([1, 2], [3, 4], 2) == 0.0
    with pytest.raises(ValueError):
        overlap_fraction([1, 2, 3], [1], 2)


def test_overlap_pvalue_known_small_case():
    # n = 4, k = 2: P(|A ∩ B| >= 2) = P(B = A) = 1 / C(4, 2) = 1/6; P(>= 1) = 1 - C(2,2)/C(4,2) = 5/6
    assert overlap_pvalue(2, 2, 4) == pytest.approx(1 / 6)
    assert overlap_pvalue(1, 2, 4) == pytest.approx(5 / 6)
    assert overlap_pvalue(0, 2, 4) == 1.0


def test_chance_overlap_is_expected_fraction():
    assert chance_overlap(500, 98_304) == pytest.approx(500 / 98_304)
    # expectation of the hypergeometric overlap divided by k
    assert chance_overlap(7, 40) == pytest.approx(hypergeom.mean(40, 7, 7) / 7)
    rng = np.random.default_rng(0)
    sims = [len(set(rng.choice(40, 7, replace=False)) & set(rng.choice(40, 7, replace=False))) / 7
            for _ in range(4000)]
    assert np.mean(sims) == pytest.approx(7 / 40, abs=0.01)


def test_units_per_layer_rejects_out_of_range():
    with pytest.raises(ValueError):
        units_per_layer([0, 12], 4, 3)
