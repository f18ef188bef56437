"""Average precision: agreement with sklearn, invariances, bounds, known answers, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score

from harness.errors import ConceptError, NonFiniteActivationError
from harness.metrics import average_precision

BACKENDS = ("numpy", "torch")


@st.composite
def ap_problems(draw, max_n: int = 40, max_units: int = 6):
    """(scores [n, u] float64, labels [n] bool with >= 1 positive and >= 1 negative)."""
    n = draw(st.integers(2, max_n))
    u = draw(st.integers(1, max_units))
    kind = draw(st.sampled_from(["float", "ties", "fp16", "equal"]))
    if kind == "float":
        elements = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    elif kind == "ties":
        elements = st.integers(-3, 3).map(float)
    else:
        elements = st.floats(-10, 10, allow_nan=False, width=16)
    scores = draw(arrays(np.float64, (n, u), elements=elements))
    if kind == "fp16":
        scores = scores.astype(np.float16).astype(np.float64)
    if kind == "equal":  # some all-equal columns
        scores[:, :: 2] = scores[0, 0]
    n_pos = draw(st.integers(1, n - 1))
    positives = draw(st.permutations(range(n)))[:n_pos]
    labels = np.zeros(n, dtype=bool)
    labels[list(positives)] = True
    return scores, labels


def sklearn_ap(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.array([average_precision_score(labels, scores[:, j]) for j in range(scores.shape[1])])


@given(ap_problems())
def test_matches_sklearn_including_ties(problem):
    scores, labels = problem
    expected = sklearn_ap(scores, labels)
    for backend in BACKENDS:
        got = average_precision(scores, labels, backend=backend).numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@given(ap_problems(), st.data())
def test_invariant_to_sample_order(problem, data):
    scores, labels = problem
    perm = np.array(data.draw(st.permutations(range(len(labels)))))
    a = average_precision(scores, labels).numpy()
    b = average_precision(scores[perm], labels[perm]).numpy()
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@given(ap_problems(), st.integers(-20, 20))
def test_invariant_to_exact_power_of_two_rescaling(problem, k):
    scores, labels = problem
    a = average_precision(scores, labels).numpy()
    b = average_precision(scores * 2.0**k, labels).numpy()
    np.testing.assert_array_equal(a, b)  # only the order and the ties matter


@given(ap_problems(), st.sampled_from(["average", "dense", "min", "max"]))
def test_invariant_to_tie_preserving_rank_transform(problem, method):
    scores, labels = problem
    ranks = rankdata(scores, method=method, axis=0).astype(np.float64)
    a = average_precision(scores, labels).numpy()
    b = average_precision(ranks, labels).numpy()
    np.testing.assert_array_equal(a, b)


@given(ap_problems())
def test_bounds(problem):
    scores, labels = problem
    ap = average_precision(scores, labels).numpy()
    assert np.all(ap >= 0) and np.all(ap <= 1)
    # worst case: the j-th best positive has at least j positives and at most all n - P
    # negatives at or above it, so its precision is >= j / (j + n - P) (a/(a+c) increases in a)
    n, n_pos = len(labels), int(labels.sum())
    j = np.arange(1, n_pos + 1)
    worst = float(np.mean(j / (j + n - n_pos)))
    assert np.all(ap >= worst - 1e-12)


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


@given(ap_problems(max_units=20), st.integers(1, 7))
def test_chunking_and_backends_agree(problem, chunk):
    scores, labels = problem
    ref = average_precision(scores, labels, chunk_units=10_000, backend="numpy").numpy()
    for backend in BACKENDS:
        got = average_precision(scores, labels, chunk_units=chunk, backend=backend).numpy()
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-15)


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


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_scores_raise(bad):
    scores = np.random.default_rng(0).random((5, 3))
    scores[2, 1] = bad
    with pytest.raises(NonFiniteActivationError):
        average_precision(scores, np.array([1, 0, 1, 0, 0], bool))


def test_label_shape_and_values_checked():
    with pytest.raises(ValueError, match="shape"):
        average_precision(np.zeros((5, 2)), np.array([1, 0, 1], bool))
    with pytest.raises(ValueError, match="0/1"):
        average_precision(np.zeros((3, 2)), np.array([2, 0, 1]))
