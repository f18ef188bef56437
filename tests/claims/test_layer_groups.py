"""The one definition of layer groups (harness.layer_groups) and the old names that re-export it."""

from __future__ import annotations

import numpy as np
import pytest

from harness.layer_groups import lf_quarters, middle_third, rf_layer_regions, rf_middle_layers, rf_middle_third


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
    bloom = {k: v.tolist() for k, v in rf_layer_regions(24).items()}
    assert bloom["middle"] == list(range(10, 18))  # RF §7: layers 10–17 of 24
    assert (bloom["lower"], bloom["lower_middle"], bloom["upper_middle"], bloom["upper"]) == (
        list(range(1, 10)), list(range(10, 14)), list(range(14, 18)), list(range(18, 24)))
    assert (bloom["first"], bloom["last"]) == ([0], [23])
    toy = rf_layer_regions(6)
    assert {k: v.tolist() for k, v in toy.items()} == {
        "first": [0], "lower": [1], "middle": [2, 3], "lower_middle": [2], "upper_middle": [3], "upper": [4, 5],
        "last": [5]}
    with pytest.raises(ValueError, match="at least 5 layers, got 4"):
        rf_layer_regions(4)


def test_rf_middle_layers_scale_rf_10_to_17_of_24():
    assert rf_middle_layers(24).tolist() == list(range(10, 18))
    assert rf_middle_layers(48).tolist() == list(range(20, 36))  # twice as deep: twice the layers
    assert rf_middle_layers(30).tolist() == list(range(12, 22))
    assert rf_middle_layers(12).tolist() == [5, 6, 7, 8]
    assert rf_middle_layers(6).tolist() == [2, 3]
    with pytest.raises(ValueError, match="at least 3 layers, got 2"):
        rf_middle_layers(2)


@pytest.mark.parametrize("n", range(3, 120))
def test_rf_middle_layers_are_the_layers_centred_in_rf_depth_interval(n):
    middle = rf_middle_layers(n).tolist()
    expected = [layer for layer in range(n) if 10 / 24 <= (layer + 0.5) / n < 18 / 24 - 1e-12]
    assert middle == expected and middle == list(range(middle[0], middle[-1] + 1))
    assert 0 < middle[0] and middle[-1] < n - 1 or n < 4
    if n >= 5:
        regions = rf_layer_regions(n)
        inner = sorted(regions["lower"].tolist() + regions["middle"].tolist() + regions["upper"].tolist())
        assert inner == list(range(1, n))  # lower, middle and upper partition layers 1 … L-1
        assert regions["lower_middle"].tolist() + regions["upper_middle"].tolist() == middle


def test_layer_groups_doctests():
    import doctest

    import harness.layer_groups

    assert doctest.testmod(harness.layer_groups).failed == 0


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
