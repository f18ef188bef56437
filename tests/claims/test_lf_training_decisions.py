"""LF-4 and LF-5 can pass over a short series: decided on verses, not on a 4-point trend (no model).

Synthetic responses of 8 languages × 60 parallel verses at 4 checkpoints go through the real
analyses (``analyse_similarity``, ``count_key_regions``) and the claims' decision helpers
(``region_similarity_comparisons``, ``key_layer_comparison``). A language is carried by units
dedicated to it (its key neurons; they also make same-language sentences alike), meaning by a
dense verse vector shared by every language. A strong monotone effect (fewer dedicated units,
more meaning; dedicated units moving into layer 0) is supported at alpha = 0.01 although its
Spearman trend over 4 points cannot be (p = 1/24 ≈ 0.042); the same model at every checkpoint,
with fresh noise, is not.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.analyses.key_regions import count_key_regions, key_layer_comparison
from harness.analyses.similarity import analyse_similarity, region_similarity_comparisons, training_comparison
from harness.layer_groups import lf_quarters
from harness.metrics import ALPHA, all_of

LANGUAGES = ("en", "es", "fr", "de", "ru", "zh", "ar", "hi")
N_VERSES = 60
N_LAYERS = 4
UNITS = 64  # per layer
SERIES = ("step0", "step128", "step512", "step2048")
N_BOOT = 300


def _responses(dedicated: list[int], meaning: float, seed: int) -> torch.Tensor:
    """``[L·n, layers·units]``: noise, a shared verse vector × ``meaning``, and per language
    ``dedicated[layer]`` units of that layer that fire only for it (amplitude 3)."""
    verses = np.random.default_rng(1234).normal(size=(N_VERSES, N_LAYERS * UNITS))  # the same verses throughout
    rng = np.random.default_rng(seed)
    rows = []
    for lang in range(len(LANGUAGES)):
        block = 0.5 * rng.normal(size=(N_VERSES, N_LAYERS * UNITS)) + meaning * verses
        for layer, count in enumerate(dedicated):
            start = layer * UNITS + lang * count
            block[:, start:start + count] += 3.0
        rows.append(block)
    return torch.from_numpy(np.concatenate(rows)).to(torch.float32)


def _analyse(plan: dict[str, tuple[list[int], float]], seed: int = 0):
    language_ids = np.repeat(np.arange(len(LANGUAGES)), N_VERSES)
    meaning_ids = np.tile(np.arange(N_VERSES), len(LANGUAGES))
    sims, counts = {}, {}
    for t, (rev, (dedicated, meaning)) in enumerate(plan.items()):
        x = _responses(dedicated, meaning, seed + t)
        sims[rev] = analyse_similarity(x, language_ids, meaning_ids, LANGUAGES, N_LAYERS, per_layer=False,
                                       n_boot=N_BOOT, check_metrics=False)
        counts[rev] = count_key_regions(x, language_ids, meaning_ids, LANGUAGES, N_LAYERS, n_boot=N_BOOT)[1]
    return sims, counts


def _lf4(sims, counts):
    comparisons = region_similarity_comparisons(sims, counts, SERIES, early="step128", late="step2048")
    parts = {name: comp.decided for name, comp in comparisons.items()}
    return all_of(parts["SKLR"], parts, rule="LF-4"), comparisons


def _lf5(counts):
    comparison = key_layer_comparison(counts, SERIES, lf_quarters(N_LAYERS), early="step128", late="step2048")
    parts = {"outer": comparison.outer_denser, "first quarter": comparison.first_quarter.decided}
    return all_of(comparison.outer_denser, parts, rule="LF-5"), comparison


@pytest.fixture(scope="module")
def shrinking():
    """Dedicated units per layer 6 → 4 → 3 → 2 (×4 layers), meaning 0.2 → 1.2: SKLR and LRDS fall, SADS rises."""
    plan = {rev: ([d] * N_LAYERS, m) for rev, d, m in zip(SERIES, (6, 4, 3, 2), (0.2, 0.5, 0.8, 1.2))}
    return _analyse(plan)


@pytest.fixture(scope="module")
def unchanged():
    """The same model at every checkpoint (fresh noise): no effect."""
    return _analyse({rev: ([4] * N_LAYERS, 0.6) for rev in SERIES}, seed=10)


def test_lf4_strong_monotone_effect_over_four_checkpoints_is_supported(shrinking):
    decision, comparisons = _lf4(*shrinking)
    assert decision.supported, decision.detail["reason"]
    assert decision.alpha == ALPHA == 0.01
    sklr = comparisons["SKLR"]
    assert sklr.decided.value < sklr.decided.control  # late below early
    for comp in comparisons.values():  # perfectly monotone, yet a 4-point trend cannot reach alpha
        assert comp.trend is not None and comp.trend.p_value == pytest.approx(1 / 24)
        assert not comp.trend.supported
        assert list(comp.controls) and all(c.supported for c in comp.controls.values())  # reported beside


def test_lf4_null_effect_is_not_supported(unchanged):
    decision, comparisons = _lf4(*unchanged)
    assert not decision.supported
    assert not any(comp.decided.supported for comp in comparisons.values())


def test_lf5_strong_shift_into_the_first_layer_is_supported():
    # 8 dedicated units per language; their share in layer 0 grows, the middle layers empty out
    layouts = ([2, 2, 2, 2], [3, 2, 1, 2], [5, 1, 0, 2], [6, 0, 0, 2])
    sims, counts = _analyse({rev: (layout, 0.6) for rev, layout in zip(SERIES, layouts)})
    decision, comparison = _lf5(counts)
    assert decision.supported, decision.detail["reason"]
    assert comparison.first_quarter.trend is not None and not comparison.first_quarter.trend.supported


def test_lf5_null_effect_is_not_supported(unchanged):
    decision, comparison = _lf5(unchanged[1])
    assert not comparison.first_quarter.decided.supported
    assert not decision.supported


def test_a_comparison_decides_late_vs_early_only():
    """The first checkpoint and the trend never enter the decision: only replicates of early and late are read."""
    reps = {"a": np.full(50, 9.0), "b": np.full(50, 1.0), "c": np.full(50, 2.0), "d": np.full(50, 0.5)}
    reps["b"][1:] += np.linspace(-0.1, 0.1, 49)
    comp = training_comparison(reps, list(reps), early="b", late="d", statistic="x", n=50, alternative="less")
    assert comp.decided.supported and comp.decided.value == 0.5 and comp.decided.control == 1.0
    assert list(comp.controls) == ["x: late vs first (a)"] and comp.controls["x: late vs first (a)"].supported
    assert comp.trend is not None and comp.trend.statistic == "Spearman rho of x over the series"
    up = {**reps, "d": np.full(50, 1.5)}  # late above early: not supported whatever the first checkpoint says
    assert not training_comparison(up, list(up), early="b", late="d", statistic="x", n=50,
                                   alternative="less").decided.supported
