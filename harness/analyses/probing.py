"""Language identity across layers and checkpoints (RF §5, App. B): the numbers RF-1a…1c decide on.

For every revision and probe seed ``s`` the measurement core gives the hidden state of every layer
at one random token position per probe sentence (``Measurements.probe_states(rev, seed=s)``);
``harness.metrics.lid_probe`` fits one logistic regression per layer on a stratified 80 % split
drawn with the same seed and scores it on the held-out 20 %. Positions and splits change together
with the seed, as the paper's three repetitions do.

Layer numbering: index 0 is the embedding output, index ``i ≥ 1`` the output of transformer block
``i``. The paper's "first layer" (57 % at BLOOM-560m step 400k) is block 1, so the claims decide on
indices ``1 … L`` (``LidResult.blocks``) and record index 0 alongside.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from harness.layer_groups import rf_middle_third as middle_third  # noqa: F401  re-export for claims/
from harness.measurement_source import MeasurementSource
from harness.metrics import effective_test_size, lid_probe, majority_rate, probe_splits

from .decisions import parametric_bootstrap_std  # noqa: F401  re-export for claims/

PROBE_SEEDS = (0, 1, 2)
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class LidResult:
    """Held-out LID accuracy of one revision: ``accuracy[seed, layer]`` (layer 0 = embeddings)."""

    revision: str | None
    accuracy: np.ndarray  # [n_seeds, n_layers + 1]
    seeds: tuple[int, ...]
    n_test: int  # held-out sentences per seed
    n_sentences: int
    n_effective: float  # Kish effective size of the seed-averaged held-out set (see ``n``)
    majority_rate: float
    languages: tuple[str, ...]

    @property
    def mean(self) -> np.ndarray:
        """Accuracy per layer, averaged over seeds: ``[n_layers + 1]``."""
        return self.accuracy.mean(axis=0)

    @property
    def seed_std(self) -> np.ndarray:
        """Standard deviation over seeds per layer (ddof 0): ``[n_layers + 1]``."""
        return self.accuracy.std(axis=0)

    @property
    def blocks(self) -> np.ndarray:
        """Seed-averaged accuracy of transformer blocks 1…L (the embedding output excluded)."""
        return self.mean[1:]

    @property
    def block_mean(self) -> float:
        """Mean over blocks 1…L of the seed-averaged accuracy."""
        return float(self.blocks.mean())

    @property
    def block_std(self) -> float:
        """Population standard deviation between blocks 1…L (the paper's Figure 2 statistic)."""
        return float(self.blocks.std())

    @property
    def n(self) -> int:
        """Sample size of the tests on (seed-averaged) accuracies.

        The seeds' held-out sets overlap, so the average over seeds is a weighted proportion over
        the distinct held-out sentences; its Kish effective size (``effective_test_size``, rounded
        down) bounds its variance when a sentence's predictions agree across seeds. It lies
        between one seed's ``n_test`` and the sum over seeds (≈ 617 of 864 for 1,440 sentences and
        three 20 % splits).
        """
        return int(np.floor(self.n_effective))

    def correct(self, accuracy: float) -> int:
        """An accuracy as a count of correct predictions out of ``n`` (for tests on proportions).

        Averaging over positively correlated layers never increases the variance of one
        proportion, so layer means are tested the same way.
        """
        return int(round(float(accuracy) * self.n))

    def to_record(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.seed_std.tolist()}


def _cores() -> int:
    """CPU cores this process may run on (the probes fit side by side, one per core)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - no sched_getaffinity on this platform
        return max(1, os.cpu_count() or 1)


def lid_by_layer(
    measurements: MeasurementSource, revision: str | None, *, seeds: Sequence[int] = PROBE_SEEDS
) -> LidResult:
    """LID probe accuracy of every layer at ``revision`` for each seed (positions and split)."""
    seeds = tuple(int(s) for s in seeds)
    states, labels = measurements.probe_states_for(revision, seeds)  # [n_seeds, n_layers + 1, n, d]
    rows = []
    for seed, seed_states in zip(seeds, states):
        # a probe is ~10⁶ flops per iteration: BLAS threads only add synchronisation, and on a
        # busy 2-core machine their spin-waits made the fits ~40× slower; the layers' probes are fit
        # side by side instead, one per core (same accuracies; 1.5-1.6x less wall time on 2 cores)
        with threadpool_limits(limits=1, user_api="blas"):
            rows.append(
                lid_probe(seed_states, labels, seeds=(seed,), test_fraction=TEST_FRACTION, workers=_cores())[0].numpy()
            )
    n = int(len(labels))
    splits = probe_splits(labels, seeds, test_fraction=TEST_FRACTION)
    return LidResult(
        revision=revision,
        accuracy=np.stack(rows),
        seeds=seeds,
        n_test=int(len(splits[0][1])),
        n_sentences=n,
        n_effective=effective_test_size(splits, n),
        majority_rate=majority_rate(labels),
        languages=tuple(measurements.plan.languages),
    )


def lid_series(
    measurements: MeasurementSource, revisions: Sequence[str], *, seeds: Sequence[int] = PROBE_SEEDS
) -> dict[str, LidResult]:
    return {rev: lid_by_layer(measurements, rev, seeds=seeds) for rev in revisions}
