"""Pearson correlation of many pairs and Fisher-z averaging: broadcasting, known values, NaN.

Agreement with scipy, order and scale invariance, bounds, purity and NaN/inf rejection are
checked for every metric in ``test_common.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import pearsonr

from harness.errors import NonFiniteActivationError
from harness.metrics import fisher_z_mean, pearson, pearson_matrix

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def spread_ok(v: np.ndarray) -> bool:
    """Far enough from constant that both implementations are well conditioned."""
    return np.ptp(v) > 1e-3 * max(1.0, float(np.abs(v).max()))


@given(arrays(np.float64, (3, 1, 12), elements=finite), arrays(np.float64, (1, 4, 12), elements=finite))
def test_pearson_broadcasts_like_a_loop(x, y):
    r = pearson(torch.from_numpy(x), torch.from_numpy(y))
    assert r.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            a, b = x[i, 0], y[0, j]
            if np.all(a == a[0]) or np.all(b == b[0]):
                assert math.isnan(r[i, j].item())
            elif spread_ok(a) and spread_ok(b):
                assert r[i, j].item() == pytest.approx(pearsonr(a, b).statistic, abs=1e-10)


def test_pearson_dim_and_known_values():
    # y = 2x + 1 -> r = 1 exactly in theory; y = -x -> r = -1
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert pearson(x, 2 * x + 1).item() == pytest.approx(1.0, abs=1e-15)
    assert pearson(x, -x).item() == pytest.approx(-1.0, abs=1e-15)
    # hand: x = (1, 2, 3), y = (1, 3, 2): centred (-1, 0, 1) and (-1, 1, 0);
    # r = (1 + 0 + 0) / (sqrt(2) sqrt(2)) = 1/2
    assert pearson([1.0, 2, 3], [1.0, 3, 2]).item() == pytest.approx(0.5, abs=1e-15)
    cols = torch.tensor([[1.0, 1.0], [2.0, 3.0], [3.0, 2.0]])  # vectors along dim 0
    r = pearson(cols, torch.tensor([[1.0], [2.0], [3.0]]), dim=0)
    assert r.tolist() == pytest.approx([1.0, 0.5], abs=1e-15)


def test_constant_vector_gives_nan():
    assert math.isnan(pearson([0.1, 0.1, 0.1], [1.0, 2.0, 3.0]).item())
    assert math.isnan(pearson([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]).item())


def test_fisher_z_mean_known_values():
    # arctanh(0.5) and arctanh(-0.5) cancel -> tanh(0) = 0; the NaN is ignored
    assert fisher_z_mean(torch.tensor([0.5, float("nan"), -0.5])).item() == pytest.approx(0.0, abs=1e-15)
    # equal correlations average to themselves
    assert fisher_z_mean([0.3, 0.3, 0.3]).item() == pytest.approx(0.3, abs=1e-15)
    # r = 1 is clipped to 1 - 1e-7: z = 0.5 ln((2 - 1e-7) / 1e-7); mean with 0 -> tanh(z / 2)
    z = 0.5 * math.log((2 - 1e-7) / 1e-7)
    assert fisher_z_mean([1.0, 0.0]).item() == pytest.approx(math.tanh(z / 2), rel=1e-12)
    # Fisher-z mean of (0.9, 0.1) exceeds the arithmetic mean 0.5: tanh((1.4722 + 0.1003)/2)
    expected = math.tanh((math.atanh(0.9) + math.atanh(0.1)) / 2)
    assert fisher_z_mean([0.9, 0.1]).item() == pytest.approx(expected, rel=1e-14)
    assert math.isnan(fisher_z_mean([float("nan")]).item())


def test_fisher_z_mean_along_dim():
    r = torch.tensor([[0.2, 0.4], [0.2, float("nan")]])
    out = fisher_z_mean(r, dim=1)
    assert out.shape == (2,)
    assert out[0].item() == pytest.approx(math.tanh((math.atanh(0.2) + math.atanh(0.4)) / 2))
    assert out[1].item() == pytest.approx(0.2)
    with pytest.raises(ValueError):
        fisher_z_mean([1.5])


def test_fisher_z_mean_skips_nan_but_rejects_infinity():
    # NaN marks a constant vector's correlation and is skipped; infinity is never a correlation
    assert fisher_z_mean([0.4, float("nan")]).item() == pytest.approx(0.4, abs=1e-15)
    with pytest.raises(NonFiniteActivationError, match="infinity"):
        fisher_z_mean([0.4, float("inf")])


def test_pearson_matrix_diagonal_and_constant_rows():
    # a constant row has no correlation with anything, itself included; other diagonals are 1
    m = pearson_matrix([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0], [3.0, 1.0, 2.0]])
    assert torch.isnan(m[1]).all() and torch.isnan(m[:, 1]).all()
    assert m[0, 0].item() == 1.0 and m[2, 2].item() == 1.0
    # (-1, 0, 1) . (1, -1, 0) = -1 over sqrt(2) sqrt(2): -1/2, symmetric
    assert m[0, 2].item() == pytest.approx(-0.5, abs=1e-15) and m[2, 0].item() == m[0, 2].item()
