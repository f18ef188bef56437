"""k-NN mutual information: bit-for-bit agreement with sklearn's mutual_info_regression."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.feature_selection import mutual_info_regression

from harness.errors import NonFiniteActivationError
from harness.metrics import mutual_info_knn, mutual_info_knn_batch


@st.composite
def mi_problems(draw):
    n = draw(st.integers(5, 250))
    seed = draw(st.integers(0, 2**31 - 1))
    kind = draw(st.sampled_from(["independent", "linear", "ties", "float32", "ap_like", "constant"]))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    y = rng.standard_normal(n)
    if kind == "linear":
        y = x * draw(st.floats(-3, 3)) + 0.1 * y
    elif kind == "ties":
        x, y = np.round(x), np.round(x + y)
    elif kind == "float32":
        x, y = x.astype(np.float32), (x + y).astype(np.float32)
    elif kind == "ap_like":  # AP vectors: values in [0, 1], many near the positive rate
        x = np.clip(0.3 + 0.05 * x, 0, 1)
        y = np.clip(0.3 + 0.04 * x + 0.03 * y, 0, 1)
    elif kind == "constant":
        x = np.full(n, 0.25)
    k = draw(st.integers(1, min(5, n - 1)))
    state = draw(st.integers(0, 1000))
    return x, y, k, state


@given(mi_problems())
def test_equals_sklearn_exactly(problem):
    x, y, k, state = problem
    expected = mutual_info_regression(x.reshape(-1, 1), y, n_neighbors=k, random_state=state)[0]
    got = mutual_info_knn(x, y, n_neighbors=k, random_state=state)
    assert got == expected


def test_equals_sklearn_on_large_ap_vectors():
    rng = np.random.default_rng(1)
    x = rng.beta(2, 5, 20_000)
    y = np.clip(x + 0.05 * rng.standard_normal(20_000), 0, 1)
    expected = mutual_info_regression(x.reshape(-1, 1), y, random_state=0)[0]
    assert mutual_info_knn(torch.from_numpy(x), torch.from_numpy(y)) == expected


def test_random_state_instance_is_consumed_like_sklearn():
    rng = np.random.default_rng(2)
    x, y = rng.random(50), rng.random(50)
    ours, theirs = np.random.RandomState(5), np.random.RandomState(5)
    for _ in range(2):  # the second call sees the generator advanced by the first
        a = mutual_info_knn(x, y, random_state=ours)
        b = mutual_info_regression(x.reshape(-1, 1), y, random_state=theirs)[0]
        assert a == b


def test_batch_rows_equal_single_calls():
    rng = np.random.default_rng(3)
    X = rng.random((5, 300))
    Y = 0.5 * X + rng.random((5, 300))
    batch = mutual_info_knn_batch(torch.from_numpy(X), torch.from_numpy(Y), random_state=7)
    assert batch.shape == (5,) and batch.dtype == torch.float64
    single = [mutual_info_knn(X[i], Y[i], random_state=7) for i in range(5)]
    assert batch.tolist() == single
    sk = [mutual_info_regression(X[i].reshape(-1, 1), Y[i], random_state=7)[0] for i in range(5)]
    assert batch.tolist() == sk


def test_dependence_is_detected_and_independence_is_near_zero():
    rng = np.random.default_rng(4)
    x = rng.standard_normal(2000)
    indep = mutual_info_knn(x, rng.standard_normal(2000))
    dep = mutual_info_knn(x, x + 0.1 * rng.standard_normal(2000))
    # Gaussian with correlation rho has MI = -0.5 ln(1 - rho^2); rho = 1/sqrt(1.01) -> 2.31 nats
    assert indep < 0.05
    assert dep == pytest.approx(-0.5 * np.log(1 - 1 / 1.01), abs=0.15)


def test_bad_input():
    with pytest.raises(NonFiniteActivationError):
        mutual_info_knn([0.1, float("nan"), 0.3, 0.4, 0.5], [1.0, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="more than n_neighbors"):
        mutual_info_knn([0.1, 0.2, 0.3], [1.0, 2, 3])
    with pytest.raises(ValueError, match="same length"):
        mutual_info_knn([0.1, 0.2, 0.3, 0.4, 0.5], [1.0, 2, 3, 4])
