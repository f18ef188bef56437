"""Top-k experts, overlap, hypergeometric chance level, per-layer counts."""

from __future__ import annotations

from collections import Counter
from math import comb

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import hypergeom

from harness.errors import NonFiniteActivationError
from harness.metrics import (
    chance_overlap,
    overlap_fraction,
    overlap_pvalue,
    topk_units,
    units_per_layer,
)


@given(st.lists(st.integers(-3, 3).map(float), min_size=1, max_size=60), st.data())
def test_topk_is_brute_force_order_with_low_index_tie_break(values, data):
    k = data.draw(st.integers(1, len(values)))
    expected = sorted(range(len(values)), key=lambda i: (-values[i], i))[:k]
    got = topk_units(torch.tensor(values), k)
    assert got.dtype == torch.int64
    assert got.tolist() == expected


def test_topk_flattens_layers_row_major():
    scores = torch.tensor([[0.1, 0.9, 0.2], [0.8, 0.9, 0.0]])  # 2 layers x 3 units
    # 0.9 at flat 1 and flat 4 (tie -> 1 first), then 0.8 at flat 3
    assert topk_units(scores, 3).tolist() == [1, 4, 3]


def test_topk_bad_input():
    with pytest.raises(ValueError):
        topk_units(torch.zeros(5), 6)
    with pytest.raises(NonFiniteActivationError):
        topk_units(torch.tensor([0.1, float("nan")]), 1)


def test_overlap_fraction_known():
    # {1,2,3,4} & {3,4,5,6} = {3,4}: 2 of k=4
    assert overlap_fraction(torch.tensor([1, 2, 3, 4]), [3, 4, 5, 6], 4) == 0.5
    assert overlap_fraction([1, 2], [3, 4], 2) == 0.0
    with pytest.raises(ValueError):
        overlap_fraction([1, 2, 3], [1], 2)


@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))), st.data())
def test_overlap_pvalue_is_hypergeometric_upper_tail(nk, data):
    n_units, k = nk
    shared = data.draw(st.integers(0, k))
    # P(X >= s) with X = |A ∩ B|: fix A, B uniform: C(k, x) C(n - k, k - x) / C(n, k)
    brute = sum(comb(k, x) * comb(n_units - k, k - x) for x in range(shared, k + 1)) / comb(n_units, k)
    assert overlap_pvalue(shared, k, n_units) == pytest.approx(brute, rel=1e-9, abs=1e-300)
    assert overlap_pvalue(shared, k, n_units) == pytest.approx(
        hypergeom.sf(shared - 1, n_units, k, k), rel=1e-12
    )


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


@given(st.integers(1, 6), st.integers(1, 10), st.data())
def test_units_per_layer_counts(n_layers, per_layer, data):
    idx = data.draw(st.lists(st.integers(0, n_layers * per_layer - 1), max_size=30))
    counts = Counter(i // per_layer for i in idx)
    got = units_per_layer(torch.tensor(idx, dtype=torch.int64), per_layer, n_layers)
    assert got.tolist() == [counts.get(l, 0) for l in range(n_layers)]


def test_units_per_layer_rejects_out_of_range():
    with pytest.raises(ValueError):
        units_per_layer([0, 12], 4, 3)
