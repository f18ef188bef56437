"""Hypothesis strategies for the metric inputs, shared by ``test_common.py`` and the per-metric files.

Values are drawn from exact dyadic grids where a reference implementation is compared with a
tolerance (so that no drawn vector is near-constant, where two correct implementations may
disagree in every digit), and from wide float ranges where the comparison is exact.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

LANGS = ["ar", "en", "fr", "zh"]


def grid(lo: int = -32, hi: int = 32, step: float = 8.0) -> st.SearchStrategy[float]:
    """Multiples of ``1 / step`` in ``[lo / step, hi / step]``: exact, ties likely."""
    return st.integers(lo, hi).map(lambda v: v / step)


def nonzero_rows(a: np.ndarray) -> np.ndarray:
    """``a`` with every all-zero row (over all but the first axis) given a 1 in its first entry."""
    flat = a.reshape(a.shape[0], -1)
    flat[np.all(flat == 0, axis=1), 0] = 1.0
    return flat.reshape(a.shape)


@st.composite
def ap_problems(draw, max_n: int = 40, max_units: int = 6):
    """``{"scores": [n, u] float64, "labels": [n] bool}`` with >= 1 positive and >= 1 negative."""
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
        scores[:, ::2] = scores[0, 0]
    n_pos = draw(st.integers(1, n - 1))
    positives = draw(st.permutations(range(n)))[:n_pos]
    labels = np.zeros(n, dtype=bool)
    labels[list(positives)] = True
    return {"scores": scores, "labels": labels}


@st.composite
def corpus_ids(draw, max_lang: int = 4, max_meaning: int = 4):
    """``(language_ids, meaning_ids)`` of sentences in which every class of pair occurs: every
    (language, meaning) cell once, some cells repeated (paraphrases), in a random order."""
    n_lang = draw(st.integers(2, max_lang))
    n_mean = draw(st.integers(2, max_meaning))
    cells = list(itertools.product(LANGS[:n_lang], range(n_mean)))
    extra = draw(st.lists(st.sampled_from(cells), max_size=4))
    sentences = draw(st.permutations(cells + extra))
    return [s[0] for s in sentences], [s[1] for s in sentences]


@st.composite
def corpora(draw, max_lang: int = 4, max_meaning: int = 4):
    """``{"S": symmetric [n, n] in [-1, 1] with unit diagonal, "language_ids", "meaning_ids"}``."""
    langs, means = draw(corpus_ids(max_lang, max_meaning))
    n = len(langs)
    m = draw(arrays(np.float64, (n, n), elements=st.floats(-1, 1, allow_nan=False)))
    S = (m + m.T) / 2
    np.fill_diagonal(S, 1.0)
    return {"S": S, "language_ids": langs, "meaning_ids": means}


@st.composite
def mi_problems(draw):
    """``{"x": [n], "y": [n], "n_neighbors", "random_state"}``: non-constant vectors of several
    kinds (float32, ties, AP-like)."""
    n = draw(st.integers(5, 250))
    seed = draw(st.integers(0, 2**31 - 1))
    kind = draw(st.sampled_from(["independent", "linear", "ties", "float32", "ap_like"]))
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
    x[0], y[0] = x.max() + 1, y.max() + 1  # never constant
    k = draw(st.integers(1, min(5, n - 1)))
    return {"x": x, "y": y, "n_neighbors": k, "random_state": draw(st.integers(0, 1000))}
