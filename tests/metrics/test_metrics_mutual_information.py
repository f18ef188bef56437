"""k-NN mutual information: large inputs, constant vectors, generators, known dependence, bad input.

Bit-for-bit agreement with sklearn's ``mutual_info_regression`` (single and batch), scale
invariance, bounds, purity and NaN/inf rejection are checked in ``test_common.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.feature_selection import mutual_info_regression

from harness.metrics import mutual_info_knn, mutual_info_knn_batch


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


def test_dependence_is_detected_and_independence_is_near_zero():
    rng = np.random.default_rng(4)
    x = rng.standard_normal(2000)
    indep = mutual_info_knn(x, rng.standard_normal(2000))
    dep = mutual_info_knn(x, x + 0.1 * rng.standard_normal(2000))
    # Gaussian with correlation rho has MI = -0.5 ln(1 - rho^2); rho = 1/sqrt(1.01) -> 2.31 nats
    assert indep < 0.05
    assert dep == pytest.approx(-0.5 * np.log(1 - 1 / 1.01), abs=0.15)


@pytest.mark.parametrize("which", ["x", "y", "both"])
def test_constant_vectors_equal_sklearn(which):
    # a unit with equal AP for every concept: sklearn's std scaling falls back to 1 (x: any std
    # below 10 eps; y: exactly 0), so the noise alone breaks the ties
    rng = np.random.default_rng(5)
    x, y = rng.random(60), rng.random(60)
    if which in ("x", "both"):
        x = np.full(60, 0.25)
    if which in ("y", "both"):
        y = np.full(60, 0.75)
    expected = mutual_info_regression(x.reshape(-1, 1), y, random_state=0)[0]
    assert mutual_info_knn(x, y) == expected


def test_batch_shape_and_shared_generator():
    rng = np.random.default_rng(3)
    X, Y = rng.random((3, 40)), rng.random((3, 40))
    batch = mutual_info_knn_batch(torch.from_numpy(X), torch.from_numpy(Y), random_state=7)
    assert batch.shape == (3,) and batch.dtype == torch.float64
    # a RandomState is consumed row after row, as sequential sklearn calls would
    ours, theirs = np.random.RandomState(1), np.random.RandomState(1)
    shared = mutual_info_knn_batch(X, Y, random_state=ours)
    expected = [mutual_info_regression(X[i].reshape(-1, 1), Y[i], random_state=theirs)[0] for i in range(3)]
    assert shared.tolist() == expected
    with pytest.raises(ValueError, match="equal shapes"):
        mutual_info_knn_batch(X, Y[:, :-1])


def test_bad_input():
    with pytest.raises(ValueError, match="more than n_neighbors"):
        mutual_info_knn([0.1, 0.2, 0.3], [1.0, 2, 3])
    with pytest.raises(ValueError, match="same length"):
        mutual_info_knn([0.1, 0.2, 0.3, 0.4, 0.5], [1.0, 2, 3, 4])
