"""Average precision: known answers, rank invariance, dtypes and shapes, bad input.

Agreement with sklearn (both backends, chunked), sample-order and scale invariance, bounds,
purity and NaN/inf rejection are checked for every metric in ``test_common.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from metric_strategies import ap_problems
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score

from harness.errors import ConceptError, NonFiniteActivationError
from harness.metrics import average_precision

BACKENDS = ("numpy", "torch")


def sklearn_ap(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.array([average_precision_score(labels, scores[:, j]) for j in range(scores.shape[1])])


@given(ap_problems(), st.sampled_from(["average", "dense", "min", "max"]))
def test_invariant_to_tie_preserving_rank_transform(problem, method):
    # only the order of the scores and their ties matter (specific to AP among the metrics)
    scores, labels = problem["scores"], problem["labels"]
    ranks = rankdata(scores, method=method, axis=0).astype(np.float64)
    a = average_precision(scores, labels).numpy()
    b = average_precision(ranks, labels).numpy()
    np.testing.assert_array_equal(a, b)


@given(st.integers(2, 60), st.data())
def test_constant_column_equals_positive_rate(n, data):
    n_pos = data.draw(st.integers(1, n - 1))
    value = data.draw(st.floats(-1e3, 1e3, allow_nan=False))
    labels = np.zeros(n, dtype=bool)
    labels[:n_pos] = True
    scores = np.full((n, 3), value)
    for backend in BACKENDS:
        ap = average_precision(scores, labels, backend=backend).numpy()
        np.testing.assert_allclose(ap, n_pos / n, rtol=1e-15)


def test_known_answers():
    # distinct scores, labels 1,0,1,0 in ranked order: positives enter at ranks 1 and 3,
    # precisions 1/1 and 2/3, each a recall step of 1/2 -> AP = (1 + 2/3) / 2 = 5/6
    ap = average_precision(torch.tensor([[0.9], [0.8], [0.7], [0.6]]), torch.tensor([1, 0, 1, 0]))
    assert ap.item() == pytest.approx(5 / 6, abs=1e-15)
    # a tie: scores 0.5 (pos), 0.5 (neg), 0.2 (pos). The tied pair enters together at the
    # threshold 0.5 with precision 1/2 (recall 1/2); then 0.2 with precision 2/3 -> (1/2 + 2/3)/2
    scores = np.array([0.5, 0.5, 0.2])
    labels = np.array([True, False, True])
    assert average_precision(scores, labels).item() == pytest.approx(7 / 12, abs=1e-15)
    assert average_precision_score(labels, scores) == pytest.approx(7 / 12, abs=1e-15)
    # single positive ranked 3rd of 5 (distinct scores): AP = precision at rank 3 = 1/3
    ap = average_precision(np.array([5.0, 4, 3, 2, 1]), np.array([0, 0, 1, 0, 0]))
    assert ap.item() == pytest.approx(1 / 3, abs=1e-15)


def test_half_precision_ties_match_sklearn():
    rng = np.random.default_rng(0)
    scores = torch.from_numpy(rng.standard_normal((200, 30))).to(torch.float16)
    labels = rng.random(200) < 0.3
    expected = sklearn_ap(scores.numpy(), labels)  # sklearn on the stored fp16 values
    got = average_precision(scores, labels).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    bf = scores.to(torch.bfloat16)
    expected_bf = sklearn_ap(bf.to(torch.float32).numpy(), labels)
    np.testing.assert_allclose(average_precision(bf, labels).numpy(), expected_bf, atol=1e-12)


def test_shapes_and_dtype():
    scores = torch.randn(10, 4, dtype=torch.float32)
    labels = torch.arange(10) % 3 == 0
    out = average_precision(scores, labels)
    assert out.shape == (4,) and out.dtype == torch.float64
    assert average_precision(scores[:, 0], labels).shape == ()


@pytest.mark.parametrize("labels", [np.zeros(5, bool), np.ones(5, bool)])
def test_no_positive_or_no_negative_raises(labels):
    with pytest.raises(ConceptError, match="positive and one negative"):
        average_precision(np.random.default_rng(0).random((5, 2)), labels)


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_finite_scores_are_counted_in_the_message(backend):
    scores = np.random.default_rng(0).random((5, 3))
    scores[2, 1], scores[4, 2] = float("nan"), -float("inf")
    with pytest.raises(NonFiniteActivationError, match="2 NaN or infinite"):
        average_precision(scores, np.array([1, 0, 1, 0, 0], bool), backend=backend)


def test_argument_errors():
    scores, labels = np.random.default_rng(0).random((4, 2)), np.array([1, 0, 1, 0], bool)
    with pytest.raises(ValueError, match="backend must be"):
        average_precision(scores, labels, backend="jax")
    with pytest.raises(ValueError, match="chunk_units must be >= 1"):
        average_precision(scores, labels, chunk_units=0)
    with pytest.raises(ValueError, match=r"\[n_samples, n_units\]"):
        average_precision(scores[:, :, None], labels)
    with pytest.raises(TypeError, match="numeric"):
        average_precision(np.array([[object()]] * 4), labels)


def test_label_shape_and_values_checked():
    with pytest.raises(ValueError, match="shape"):
        average_precision(np.zeros((5, 2)), np.array([1, 0, 1], bool))
    with pytest.raises(ValueError, match="0/1"):
        average_precision(np.zeros((3, 2)), np.array([2, 0, 1]))
