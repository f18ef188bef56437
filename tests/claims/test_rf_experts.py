"""The expert analyses agree with the metrics they combine, entry by entry (small random scores)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats as sps

from harness.analyses import experts
from harness.metrics import mutual_info_knn


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(0)
    shared = rng.random((5, 240))  # 5 concepts, 240 units (4 layers × 60)
    ap = np.stack([shared + 0.5 * rng.random((5, 240)) for _ in range(3)])  # 3 languages
    concepts = tuple(f"c{i}" for i in range(5))
    return experts.ExpertScores("step1", ("en", "es", "zh"), concepts, torch.from_numpy(ap), 4, 60)


def test_alignment_is_pearson_per_concept_and_pair(scores):
    al = experts.alignment(scores)
    ap = scores.ap.numpy()
    for p, (i, j) in enumerate(al.pairs):
        for c in range(5):
            assert al.matched[c, p] == pytest.approx(sps.pearsonr(ap[i, c], ap[j, c])[0], abs=1e-10)
        # the control: Fisher-z mean over the other concepts, both directions
        others = [sps.pearsonr(ap[i, 0], ap[j, b])[0] for b in range(1, 5)]
        others += [sps.pearsonr(ap[i, b], ap[j, 0])[0] for b in range(1, 5)]
        assert al.mismatched[0, p] == pytest.approx(np.tanh(np.mean(np.arctanh(others))), abs=1e-10)
    assert np.all(al.matched > al.mismatched)  # the planted shared component is concept-specific


def test_mutual_information_is_knn_mi_per_concept_and_pair(scores):
    mi = experts.mutual_information(scores)
    ap = scores.ap.numpy()
    assert mi.shape == (5, 3)
    for p, (i, j) in enumerate(scores.pairs):
        for c in (0, 4):
            want = mutual_info_knn(ap[i, c], ap[j, c], n_neighbors=3, random_state=0)
            assert mi[c, p] == pytest.approx(want, abs=1e-12)


def test_layer_distribution_counts_the_top_k_by_layer(scores):
    k = 12
    dist = experts.layer_distribution(scores, k)
    assert dist.shape == (3, 5, 4) and np.allclose(dist.sum(axis=2), 1.0)
    top = experts.top_experts(scores, k)
    assert dist[1, 2, 3] == pytest.approx(np.sum(top[1, 2] // 60 == 3) / k)


def test_layer_overlap_restricts_the_global_top_k_to_each_layer(scores):
    k = 12
    lo = experts.layer_overlap(scores, k, partners=None)
    ap = scores.ap.numpy()
    top = {(lang, c): set(np.argsort(-ap[lang, c], kind="stable")[:k].tolist()) for lang in range(3) for c in range(5)}
    for p, (i, j) in enumerate(scores.pairs):
        for c in range(5):
            for layer in range(4):
                units = set(range(layer * 60, (layer + 1) * 60))
                shared = top[i, c] & top[j, c] & units
                assert lo.matched[c, p, layer] == pytest.approx(len(shared) / k)
            # summed over layers, the per-layer overlap is the global top-k overlap (RF-2c)
            assert lo.matched[c, p].sum() == pytest.approx(len(top[i, c] & top[j, c]) / k)
    sizes = np.array([[[len(top[lang, c] & set(range(layer * 60, (layer + 1) * 60))) for layer in range(4)]
                       for c in range(5)] for lang in range(3)])  # [L, C, layers]
    chance = np.mean([sizes[i] * sizes[j] for i, j in scores.pairs], axis=(0, 1)) / (60 * k)
    assert np.allclose(lo.chance_profile, chance)
    assert lo.chance == pytest.approx(k / 240)
    assert np.allclose(lo.matched.sum(axis=2), experts.overlap(scores, k).matched)
