"""Language-identification probe: per-layer logistic regression on hidden states (RF §5, App. B)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._common import as_float64, encode_labels


def lid_probe(
    features: Any,
    labels: Any,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    test_fraction: float = 0.2,
    max_iter: int = 1000,
    workers: int = 1,
) -> torch.Tensor:
    """Held-out accuracy of a language-ID probe for every seed and layer.

    ``features`` ``[n_layers, n_samples, d]`` (one token's hidden state per sentence and layer),
    ``labels`` ``[n_samples]`` (language of each sentence, any hashable ids). For each seed the
    samples are split once (``train_test_split(stratify=labels, test_size=test_fraction,
    random_state=seed)``; the same split for every layer), then per layer a
    ``StandardScaler + LogisticRegression(lbfgs, max_iter)`` is fit on the training part and
    scored on the held-out part. Returns ``Tensor[n_seeds, n_layers]`` float64 accuracies.
    ``workers`` > 1 fits that many (seed, layer) probes at a time in threads: each fit is the same
    deterministic computation, so the accuracies do not depend on it (only the wall time does).

    Examples
    --------
    One layer whose single feature is the language (0 for "a", 1 for "b"): every held-out
    sentence is classified correctly, for every seed.

    >>> features = [[[0.0]] * 10 + [[1.0]] * 10]  # [1 layer, 20 sentences, 1 feature]
    >>> lid_probe(features, ["a"] * 10 + ["b"] * 10, seeds=(0, 1)).tolist()
    [[1.0], [1.0]]
    """
    x = as_float64(features, name="features").cpu().numpy()
    if x.ndim != 3:
        raise ValueError(f"features must be [n_layers, n_samples, d], got shape {x.shape}")
    _, codes = encode_labels(labels)
    y = codes.numpy()
    if y.shape[0] != x.shape[1]:
        raise ValueError(f"need one label per sample ({x.shape[1]}), got {y.shape[0]}")
    if np.unique(y).size < 2:
        raise ValueError("a language-ID probe needs at least two languages")
    splits = probe_splits(y, seeds, test_fraction=test_fraction)
    jobs = [(si, layer) for si in range(len(splits)) for layer in range(x.shape[0])]

    def fit(job: tuple[int, int]) -> float:
        (train, test), layer = splits[job[0]], job[1]
        model = make_pipeline(StandardScaler(), LogisticRegression(solver="lbfgs", max_iter=max_iter))
        model.fit(x[layer, train], y[train])
        return float(np.mean(model.predict(x[layer, test]) == y[test]))

    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(max_workers=min(int(workers), len(jobs))) as pool:
            scores = list(pool.map(fit, jobs))
    else:
        scores = [fit(job) for job in jobs]
    out = np.empty((len(seeds), x.shape[0]), dtype=np.float64)
    for (si, layer), score in zip(jobs, scores):
        out[si, layer] = score
    return torch.from_numpy(out)


def probe_splits(
    labels: Any, seeds: Sequence[int], *, test_fraction: float = 0.2
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(train, test)`` index arrays ``lid_probe`` uses for each seed (stratified by label).

    Ten sentences, five per language, 20 % held out: one sentence of each language.

    >>> labels = ["a"] * 5 + ["b"] * 5
    >>> [(len(train), sorted(labels[i] for i in test)) for train, test in probe_splits(labels, (0, 1))]
    [(8, ['a', 'b']), (8, ['a', 'b'])]
    """
    _, y = encode_labels(labels)
    idx = np.arange(y.shape[0])
    return [
        tuple(train_test_split(idx, test_size=test_fraction, stratify=y.numpy(), random_state=int(seed)))
        for seed in seeds
    ]


def effective_test_size(splits: Sequence[tuple[np.ndarray, np.ndarray]], n_samples: int) -> float:
    """Kish effective sample size of an accuracy averaged over the seeds' held-out sets.

    Sample ``i`` is held out ``m_i`` times. If its predictions agree across seeds (the worst case:
    perfectly correlated) and samples are independent, the seed-averaged accuracy has the variance
    of a proportion over ``(Σ m_i)² / Σ m_i²`` samples: between one seed's test size and the sum.

    Examples
    --------
    Sample 0 held out by both seeds, samples 1 and 2 once: ``(2 + 1 + 1)² / (4 + 1 + 1) = 16/6``;
    disjoint held-out sets count in full, identical ones once:

    >>> effective_test_size([([], [0, 1]), ([], [0, 2])], n_samples=3) == 16 / 6
    True
    >>> effective_test_size([([], [0, 1]), ([], [2, 3])], 4), effective_test_size([([], [0, 1])] * 3, 4)
    (4.0, 2.0)
    """
    counts = np.zeros(int(n_samples))
    for _, test in splits:
        np.add.at(counts, np.asarray(test), 1)
    return float(counts.sum() ** 2 / np.square(counts).sum())


def majority_rate(labels: Any) -> float:
    """Accuracy of always guessing the most frequent label (the probe's trivial baseline).

    >>> majority_rate(["en", "en", "en", "fr"])
    0.75
    """
    _, codes = encode_labels(labels)
    if codes.numel() == 0:
        raise ValueError("majority_rate of an empty label list")
    return float(torch.bincount(codes).max()) / codes.numel()
