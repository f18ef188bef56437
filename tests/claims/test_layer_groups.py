"""The one definition of layer groups (harness.layer_groups) and the old names that re-export it."""

from __future__ import annotations

import numpy as np
import pytest

from harness.layer_groups import lf_quarters, middle_third, rf_layer_regions, rf_middle_third


def test_lf_quarters_for_bloom_and_the_toy():
    assert lf_quarters(24) == (list(range(6)), list(range(6, 18)), list(range(18, 24)))
    assert lf_quarters(6) == ([0], [1, 2, 3, 4], [5])
    assert lf_quarters(3) == ([0], [1], [2])  # a quarter is at least one layer


@pytest.mark.parametrize("n", range(1, 60))
def test_lf_quarters_partition_the_layers(n):
    first, middle, last = lf_quarters(n)
    q = max(1, n // 4)
    assert first == list(range(q)) and last == list(range(n - q, n))
    assert sorted(set(first) | set(middle) | set(last)) == list(range(n))
    assert not set(middle) & (set(first) | set(last))


def test_rf_regions_for_bloom_and_the_toy():
    bloom = rf_layer_regions(24)
    assert bloom["middle"].tolist() == list(range(8, 16)) and bloom["lower"].tolist() == list(range(1, 8))
    assert (bloom["first"].tolist(), bloom["last"].tolist()) == ([0], [23])
    assert (bloom["inner_lower"].tolist(), bloom["inner_upper"].tolist()) == (list(range(1, 12)), list(range(12, 23)))
    toy = rf_layer_regions(6)
    assert {k: v.tolist() for k, v in toy.items()} == {
        "first": [0], "lower": [1], "middle": [2, 3], "last": [5], "inner_lower": [1, 2], "inner_upper": [3, 4]}
    with pytest.raises(ValueError, match="at least 4 layers, got 3"):
        rf_layer_regions(3)


def _old_middle_third(n_blocks: int) -> np.ndarray:
    """probing.middle_third as it was written before harness.layer_groups."""
    lo = n_blocks // 3
    hi = max(lo + 1, n_blocks - n_blocks // 3)
    hi = min(hi, n_blocks - 1)
    return np.arange(lo, hi)


@pytest.mark.parametrize("n", range(3, 200))
def test_middle_third_is_the_old_rule_for_blocks_and_layers(n):
    assert np.array_equal(rf_middle_third(n), _old_middle_third(n))
    assert np.array_equal(middle_third(n), np.arange(n // 3, n - n // 3))
    if n >= 4:
        assert np.array_equal(rf_layer_regions(n)["middle"], np.arange(n // 3, n - n // 3))


def test_middle_third_bounds():
    assert rf_middle_third(24).tolist() == list(range(8, 16)) and rf_middle_third(6).tolist() == [2, 3]
    assert rf_middle_third(3).tolist() == [1]
    with pytest.raises(ValueError, match="at least 3 blocks, got 2"):
        rf_middle_third(2)


def test_old_names_re_export_the_one_definition():
    from harness.analyses import experts, probing, similarity

    assert similarity.layer_groups is lf_quarters
    assert experts.layer_regions is rf_layer_regions
    assert probing.middle_third is rf_middle_third
