"""The steering value (RF §8): ``Measurements.positive_medians`` is ml-selfcond's ``on_p50``.

``on_p50`` is ``np.percentile(responses of the positives, q=50)``: the midpoint of the two middle
values for an even number of positives (``torch.median`` takes the lower one). Checked on a real
:class:`Measurements` whose concept pool is a fixed random matrix (``run_fixtures.FixedRun``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from run_fixtures import FixedData, FixedRun, RecordingCache, fixed_loaded

from harness.data import Concept
from harness.errors import ConceptError
from harness.measurements import RunConfig

N_POOL, N_UNITS = 13, 16


class PoolData(FixedData):
    """A concept pool of ``N_POOL`` verses; concept "water" has the given positives."""

    def __init__(self, labels: np.ndarray):
        super().__init__()
        self.labels = labels

    def split_keys(self, split: str):
        return [("MAT", 1, i + 1) for i in range(N_POOL)]

    def texts(self, split: str, lang: str) -> list[str]:
        return [f"{split} {lang} {i}" for i in range(N_POOL)]

    def concept(self, name: str) -> Concept:
        # the concept's rows in reverse pool order: positives_medians must index the pool by key
        return Concept(name=name, keys=self.split_keys("concepts")[::-1], labels=self.labels, regex=name)


def _medians(tmp_path, labels: np.ndarray, responses: torch.Tensor) -> torch.Tensor:
    cache = RecordingCache(tmp_path, lambda key: responses if key["kind"] == "concept_pool_max" else "stub")
    run = FixedRun(RunConfig(model="tiny"), cache, fixed_loaded(), PoolData(labels))
    return run.positive_medians(None, "es", "water")


@pytest.mark.parametrize("n_positives", [1, 2, 3, 6, 7, 12])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_positive_medians_equal_numpy_percentile_50(tmp_path, n_positives, dtype):
    rng = np.random.default_rng(n_positives)
    responses = torch.as_tensor(rng.normal(size=(N_POOL, N_UNITS)), dtype=dtype)
    labels = np.zeros(N_POOL, dtype=bool)
    labels[rng.choice(N_POOL, size=n_positives, replace=False)] = True
    got = _medians(tmp_path, labels, responses)
    rows = np.arange(N_POOL)[::-1][labels]  # the concept's keys run backwards through the pool
    expected = np.percentile(responses.numpy()[rows].astype(np.float64), 50, axis=0)
    assert got.dtype == dtype and got.shape == (N_UNITS,)
    tol = 1e-15 if dtype == torch.float64 else 1e-6
    np.testing.assert_allclose(got.double().numpy(), expected, rtol=0, atol=tol)
    if n_positives % 2 == 0:  # the lower middle value (torch.median) is not the steering value
        lower = responses[torch.as_tensor(rows.copy())].median(dim=0).values
        assert torch.all(got > lower)


def test_even_count_takes_the_midpoint_with_ties_and_negative_values(tmp_path):
    column = torch.tensor([-3.0, -1.0, -1.0, 2.0, 5.0, 8.0] + [100.0] * (N_POOL - 6), dtype=torch.float64)
    responses = torch.stack([column, -column], dim=1)
    labels = np.zeros(N_POOL, dtype=bool)
    labels[N_POOL - 6 :] = True  # reversed keys: the positives are pool rows 0…5
    got = _medians(tmp_path, labels, responses)
    assert got.tolist() == [0.5, -0.5]  # midpoints of (-1, 2) and (1, -2)


def test_no_positives_is_a_concept_error(tmp_path):
    with pytest.raises(ConceptError, match="no positives"):
        _medians(tmp_path, np.zeros(N_POOL, dtype=bool), torch.zeros(N_POOL, N_UNITS))
