"""Lingua Franca: LRDS/SADS restrictions and known answers, contribution scores, key regions.

Brute-force references (LRDS/SADS and per layer, cosine matrix, language similarity, the pair
loop of the contribution scores, scipy's z-scores), order and scale invariance, bounds, purity
and NaN/inf rejection are checked in ``test_common.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from metric_strategies import corpora

from harness.errors import UnknownLanguageError
from harness.metrics import (
    activation_vectors,
    contribution_scores,
    key_counts_per_layer,
    key_regions,
    language_similarity,
    lrds,
    max_attainable_z,
    sads,
    similarity_matrix,
    sklr,
    zscores,
)


def brute_scores(S, langs, means, restrict=None):
    """Mean over ordered pairs i != j, by an explicit double loop."""
    sl_dm, dl_dm, sm_dl = [], [], []
    n = len(langs)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            if restrict is not None and langs[i] not in restrict and langs[j] not in restrict:
                continue
            if langs[i] == langs[j] and means[i] != means[j]:
                sl_dm.append(S[i, j])
            if langs[i] != langs[j] and means[i] != means[j]:
                dl_dm.append(S[i, j])
            if langs[i] != langs[j] and means[i] == means[j]:
                sm_dl.append(S[i, j])
    return np.mean(sl_dm) - np.mean(dl_dm), np.mean(sm_dl) - np.mean(dl_dm)


@given(corpora(max_lang=4))
def test_restricted_sads_matches_brute_force(corpus):
    S, langs, means = corpus["S"], corpus["language_ids"], corpus["meaning_ids"]
    restrict = {"zh", "ar"} & set(langs)
    if not restrict:
        restrict = {langs[0]}
    _, exp_sads = brute_scores(S, langs, means, restrict=restrict)
    assert sads(S, langs, means, restrict_to=sorted(restrict)) == pytest.approx(exp_sads, abs=1e-12)
    mask = np.array([lang in restrict for lang in langs])
    assert sads(S, langs, means, restrict_to=torch.from_numpy(mask)) == pytest.approx(exp_sads, abs=1e-12)


def test_lrds_sads_known_answer():
    # sentences: en-m1, en-m2, fr-m1, fr-m2 (in a scrambled order below)
    # same language, different meaning: S(en1,en2)=0.8, S(fr1,fr2)=0.6 -> mean 0.7
    # different language and meaning: S(en1,fr2)=0.2, S(en2,fr1)=0.4 -> mean 0.3
    # same meaning, different language: S(en1,fr1)=0.9, S(en2,fr2)=0.7 -> mean 0.8
    # LRDS = 0.7 - 0.3 = 0.4; SADS = 0.8 - 0.3 = 0.5
    names = ["fr2", "en1", "fr1", "en2"]
    val = {frozenset(("en1", "en2")): 0.8, frozenset(("fr1", "fr2")): 0.6,
           frozenset(("en1", "fr2")): 0.2, frozenset(("en2", "fr1")): 0.4,
           frozenset(("en1", "fr1")): 0.9, frozenset(("en2", "fr2")): 0.7}
    S = np.eye(4)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j:
                S[i, j] = val[frozenset((a, b))]
    langs = [x[:2] for x in names]
    means = [x[2] for x in names]
    assert lrds(S, langs, means) == pytest.approx(0.4, abs=1e-15)
    assert sads(S, langs, means) == pytest.approx(0.5, abs=1e-15)
    # a stride-based regrouping would pair fr2 with en1 as a "translation"; grouping by id must not
    assert sads(S, langs, means) != pytest.approx(0.2 - 0.3)


def test_missing_pair_class_and_unknown_language_raise():
    S = np.eye(2)
    with pytest.raises(ValueError, match="no sentence pairs"):
        lrds(S, ["en", "fr"], [0, 0])
    with pytest.raises(UnknownLanguageError):
        sads(np.eye(4), ["en", "en", "fr", "fr"], [0, 1, 0, 1], restrict_to=["zh"])


def test_activation_vectors_are_layer_major():
    # sentence 0: layer 0 = (1, 2), layer 1 = (2, 4); norm 5 over the concatenation
    pooled = np.array([[[1.0, 2.0], [2.0, 4.0]], [[1.0, 0.0], [0.0, 0.0]]])
    a = activation_vectors(pooled)
    assert a.shape == (2, 4) and a.dtype == torch.float64
    np.testing.assert_allclose(a.numpy(), [[0.2, 0.4, 0.4, 0.8], [1.0, 0.0, 0.0, 0.0]], rtol=0, atol=1e-15)


def test_zero_vector_cannot_be_normalised():
    with pytest.raises(ValueError, match="all-zero"):
        activation_vectors(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="all-zero"):
        similarity_matrix(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="all-zero"):
        contribution_scores(np.array([[1.0], [0.0], [1.0], [1.0]]), ["a", "a", "b", "b"])


def test_language_similarity_known():
    # en: sentences 0, 1; fr: 2. Pairs en-en (0,1),(1,0): 0.5; en-fr: 0.1, 0.3 (both orders)
    S = np.array([[1.0, 0.5, 0.1], [0.5, 1.0, 0.3], [0.1, 0.3, 1.0]])
    levels, m = language_similarity(S, ["en", "en", "fr"])
    assert levels == ["en", "fr"]
    assert m[0, 0].item() == pytest.approx(0.5)
    assert m[0, 1].item() == pytest.approx(0.2) and m[1, 0].item() == pytest.approx(0.2)
    assert math.isnan(m[1, 1].item())  # one fr sentence: no pair


# ------------------------------------------------------------------------------ key regions
def test_contribution_scores_known_and_order():
    # A: rows (3,4) and (1,0) -> unit vectors (0.6,0.8), (1,0): one pair -> (0.6, 0.0)
    # B: rows (0,2), (0,1), (0,3) -> all (0,1): three pairs, each (0,1) -> mean (0, 1)
    acts = torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    langs = ["A", "B", "A", "B", "B"]
    got = contribution_scores(acts, langs)
    np.testing.assert_allclose(got.numpy(), [[0.6, 0.0], [0.0, 1.0]], rtol=0, atol=1e-15)
    rev = contribution_scores(acts, langs, languages=["B", "A"])
    np.testing.assert_allclose(rev.numpy(), [[0.0, 1.0], [0.6, 0.0]], rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="at least 2 sentences"):
        contribution_scores(acts[:3], ["A", "B", "A"])


@given(st.integers(1, 5).flatmap(lambda L: arrays(
    np.float64, (L, 8), elements=st.one_of(st.just(0.0), st.just(1.0), st.floats(-1e6, 1e6)))))
def test_no_key_region_possible_with_five_or_fewer_languages(scores):
    # Σz = 0 and Σz² = L bound every z by sqrt(L - 1) <= 2, and key needs z > 2 strictly
    assert not key_regions(zscores(scores)).any()


def test_z_bound_known_values():
    # a one-hot column among L languages: mean 1/L, sd sqrt(L-1)/L -> z = sqrt(L - 1)
    for L in (2, 5, 6, 10):
        col = np.zeros((L, 1))
        col[0] = 1.0
        z = zscores(col)
        assert z[0, 0].item() == pytest.approx(math.sqrt(L - 1), rel=1e-12)
        assert max_attainable_z(L) == pytest.approx(math.sqrt(L - 1))
        assert bool(key_regions(z)[0, 0]) == (L > 5)
    assert key_regions(torch.tensor([2.0, 2.0000001], dtype=torch.float64)).tolist() == [False, True]


def test_key_counts_per_layer_and_sklr():
    mask = torch.zeros(2, 3 * 4, dtype=torch.bool)  # 2 languages, 3 layers of 4 units
    mask[0, [0, 1, 11]] = True  # layer 0 twice, layer 2 once
    mask[1, [4, 5, 6, 7]] = True  # all of layer 1
    assert key_counts_per_layer(mask, 3).tolist() == [[2, 0, 1], [0, 4, 0]]
    assert sklr(mask) == 7
    with pytest.raises(ValueError):
        key_counts_per_layer(mask, 5)
