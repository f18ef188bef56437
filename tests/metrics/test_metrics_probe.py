"""Language-ID probe on synthetic hidden states."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from harness.metrics import lid_probe, majority_rate


def synthetic(n_per_lang: int = 25, d: int = 8, seed: int = 0):
    """Layer 0: languages far apart (separable); layer 1: pure noise."""
    rng = np.random.default_rng(seed)
    langs = np.repeat(["en", "fr", "zh", "ar"], n_per_lang)
    centres = rng.standard_normal((4, d)) * 10
    codes = np.repeat(np.arange(4), n_per_lang)
    sep = centres[codes] + rng.standard_normal((len(codes), d))
    noise = rng.standard_normal((len(codes), d))
    return np.stack([sep, noise]), langs


def test_probe_separates_informative_layer_only():
    feats, langs = synthetic()
    acc = lid_probe(torch.from_numpy(feats), list(langs))
    assert acc.shape == (3, 2) and acc.dtype == torch.float64
    assert torch.all(acc[:, 0] == 1.0)
    # 20 held-out sentences, 4 balanced languages: chance 0.25; noise stays far below separable
    assert acc[:, 1].mean().item() < 0.6


def test_probe_one_cell_equals_manual_pipeline():
    feats, langs = synthetic(seed=1)
    acc = lid_probe(feats, langs, seeds=(5,), test_fraction=0.2, max_iter=500)
    idx = np.arange(len(langs))
    train, test = train_test_split(idx, test_size=0.2, stratify=langs, random_state=5)
    for layer in range(2):
        scaler = StandardScaler().fit(feats[layer, train])
        clf = LogisticRegression(max_iter=500).fit(scaler.transform(feats[layer, train]), langs[train])
        expected = np.mean(clf.predict(scaler.transform(feats[layer, test])) == langs[test])
        assert acc[0, layer].item() == pytest.approx(expected)


def test_probe_is_deterministic_and_bad_input_raises():
    feats, langs = synthetic(seed=2)
    assert torch.equal(lid_probe(feats, langs, seeds=(0, 1)), lid_probe(feats, langs, seeds=(0, 1)))
    with pytest.raises(ValueError):
        lid_probe(feats[0], langs)
    with pytest.raises(ValueError, match="two languages"):
        lid_probe(feats, ["en"] * len(langs))


def test_majority_rate():
    assert majority_rate(["a", "a", "b"]) == pytest.approx(2 / 3)
    assert majority_rate(torch.tensor([0, 1, 2, 3])) == 0.25
