"""Language-ID probe on synthetic hidden states; splits, effective test size, majority baseline.

Agreement with a hand-built sklearn pipeline, bounds, purity (deterministic) and NaN/inf
rejection are checked in ``test_common.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.model_selection import train_test_split

from harness.metrics import effective_test_size, lid_probe, majority_rate, probe_splits


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


def test_probe_bad_input_raises():
    feats, langs = synthetic(seed=2)
    with pytest.raises(ValueError):
        lid_probe(feats[0], langs)
    with pytest.raises(ValueError, match="two languages"):
        lid_probe(feats, ["en"] * len(langs))
    with pytest.raises(ValueError, match="one label per sample"):
        lid_probe(feats, langs[:-1])


def test_majority_rate():
    assert majority_rate(["a", "a", "b"]) == pytest.approx(2 / 3)
    assert majority_rate(torch.tensor([0, 1, 2, 3])) == 0.25


def test_probe_splits_are_the_stratified_splits_of_sklearn():
    _, langs = synthetic(n_per_lang=30)
    idx = np.arange(len(langs))
    for seed, (train, test) in zip((0, 7), probe_splits(langs, (0, 7), test_fraction=0.2)):
        expected_train, expected_test = train_test_split(idx, test_size=0.2, stratify=langs, random_state=seed)
        assert np.array_equal(train, expected_train) and np.array_equal(test, expected_test)
        assert sorted(np.concatenate([train, test]).tolist()) == idx.tolist()
        assert all((langs[test] == lang).sum() == 6 for lang in ("en", "fr", "zh", "ar"))


def test_effective_test_size_is_kish_and_bounded():
    # disjoint held-out sets: every sample held out once, n_eff = the sum of the test sizes
    disjoint = [(None, np.arange(0, 10)), (None, np.arange(10, 20))]
    assert effective_test_size(disjoint, 30) == pytest.approx(20.0)
    # identical held-out sets: no gain over one seed
    same = [(None, np.arange(10)), (None, np.arange(10)), (None, np.arange(10))]
    assert effective_test_size(same, 30) == pytest.approx(10.0)
    # by hand: sample 0 held out twice, samples 1 and 2 once: (2+1+1)² / (4+1+1) = 16/6
    assert effective_test_size([(None, np.array([0, 1])), (None, np.array([0, 2]))], 3) == pytest.approx(16 / 6)
    _, langs = synthetic(n_per_lang=100)
    splits = probe_splits(langs, (0, 1, 2), test_fraction=0.2)
    n_eff = effective_test_size(splits, len(langs))
    assert 80 < n_eff < 240  # between one seed's 80 and the three seeds' 240 held-out predictions


def test_probes_fit_side_by_side_give_the_same_accuracies():
    """``workers`` changes only the wall time: every (seed, layer) accuracy lands where the serial fit puts it."""
    rng = np.random.default_rng(1)
    feats, langs = synthetic(n_per_lang=30, d=6)
    # layers from separable to noise: their accuracies differ, so a probe scored into the wrong cell shows
    weights = (1, 0.5, 0.2, 0.1, 0)
    layers = [feats[0] * w + feats[1] * (1 - w) * 6 + rng.standard_normal(feats[0].shape) for w in weights]
    features = torch.from_numpy(np.stack(layers))
    serial = lid_probe(features, list(langs), seeds=(0, 1))
    assert len(set(serial.flatten().tolist())) > 3
    for workers in (2, 64):
        assert torch.equal(lid_probe(features, list(langs), seeds=(0, 1), workers=workers), serial)
