"""The untrained control on synthetic inputs (no model): a statistic equal at initialisation and
after training is not supported, and says so; a clearly larger trained one is supported."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analyses.key_regions import Deactivation, KeyCounts, own_region_margin, random_control_gap, size_gaps
from harness.analyses.probing import LidResult
from harness.analyses.similarity import PairMeans
from harness.analyses.untrained import (
    HOLDS_AT_INIT,
    change_beyond_init_noise,
    decide_with_untrained,
    failure_note,
    languages_vs_untrained,
    lid_vs_untrained,
    paired_change_beyond_init_noise,
    paired_vs_untrained,
    part_name,
    replicates_vs_untrained,
    smallest_gain_vs_untrained,
    untrained_record,
)
from harness.metrics import paired_permutation_test

INIT = "step0"
RNG = np.random.default_rng(0)
#: verse-bootstrap replicates of a statistic (replicate 0 observed): mean 0.1, sd 0.01
REPS = 0.1 + 0.01 * RNG.standard_normal(1001)
#: per-concept values (10 concepts) and per-language values (8 languages)
CONCEPTS = 0.05 + 0.01 * RNG.standard_normal(10)
LANGUAGES = 0.2 + 0.05 * RNG.standard_normal(8)


def _says_so(decision) -> bool:
    return HOLDS_AT_INIT in decision.detail["reason"] and decision.detail["untrained_revision"] == INIT


# ------------------------------------------------------------------------ equal vs clearly larger
@pytest.mark.parametrize("compare, trained, larger", [
    (lambda t, u: replicates_vs_untrained(t, u, statistic="LRDS", n=100, revision=INIT, trained_revision="step9"),
     REPS, REPS + 0.5),
    (lambda t, u: paired_vs_untrained(t, u, statistic="contrast", revision=INIT, trained_revision="step9"),
     CONCEPTS, CONCEPTS + 0.1),
    (lambda t, u: languages_vs_untrained(t, u, statistic="margin", revision=INIT, trained_revision="step9"),
     LANGUAGES, LANGUAGES + 0.3 + 0.02 * RNG.standard_normal(8)),
], ids=["verses", "concepts", "languages"])
def test_equal_at_init_is_not_supported_and_larger_is(compare, trained, larger):
    same = compare(trained, trained.copy())
    assert not same.supported and _says_so(same)
    assert same.value == pytest.approx(same.control)
    better = compare(larger, trained)
    assert better.supported and HOLDS_AT_INIT not in better.detail["reason"]
    assert better.value > better.control and better.p_value is not None and better.p_value <= 0.01
    worse = compare(trained, larger)  # the untrained model is the larger: not supported either
    assert not worse.supported and _says_so(worse)


def test_the_verse_comparison_is_paired():
    """Replicates that move together (the same resamples) decide on their difference, not on their spread."""
    untrained = REPS
    trained = REPS + 0.002  # far less than the spread of either, but the same in every resample
    assert replicates_vs_untrained(trained, untrained, statistic="s", n=100, revision=INIT,
                                   trained_revision="x").supported
    shuffled = np.concatenate([[trained[0]], RNG.permutation(trained[1:])])
    assert not replicates_vs_untrained(shuffled, untrained, statistic="s", n=100, revision=INIT,
                                       trained_revision="x").supported


def _lid(blocks: list[float], revision: str) -> LidResult:
    acc = np.array([[0.5, *blocks]] * 3)
    return LidResult(revision, acc, (0, 1, 2), 288, 1440, 617.0, 1 / 12, tuple("abcdefghijkl"))


def test_lid_weakest_block_against_the_untrained_model():
    untrained = _lid([0.30, 0.24, 0.28], INIT)
    same = lid_vs_untrained(_lid([0.31, 0.24, 0.5], "step128"), untrained, revision=INIT)
    assert not same.supported and _says_so(same)  # its weakest block is no better than at init
    better = lid_vs_untrained(_lid([0.64, 0.70, 0.9], "step128"), untrained, revision=INIT)
    assert better.supported and (better.value, better.control) == (pytest.approx(0.64, abs=2e-3),
                                                                  pytest.approx(0.24, abs=2e-3))
    itself = lid_vs_untrained(untrained, untrained, revision=INIT)
    assert not itself.supported and "is the untrained model" in itself.detail["reason"]


def test_smallest_gain_needs_every_statistic_above_init():
    untrained = {"a": REPS, "b": REPS}
    every = smallest_gain_vs_untrained({"a": REPS + 0.5, "b": REPS + 0.3}, untrained, n=100, revision=INIT,
                                       trained_revision="x")
    assert every.supported and every.detail["gains"] == pytest.approx({"a": 0.5, "b": 0.3})
    one_equal = smallest_gain_vs_untrained({"a": REPS + 0.5, "b": REPS}, untrained, n=100, revision=INIT,
                                           trained_revision="x")
    assert not one_equal.supported and _says_so(one_equal) and "(b)" in one_equal.statistic
    with pytest.raises(ValueError):
        smallest_gain_vs_untrained({"a": REPS}, untrained, n=100, revision=INIT, trained_revision="x")


# ---------------------------------------------------------------------------- in a conjunction
def test_a_claim_that_holds_as_well_at_init_is_not_supported_and_says_so():
    claim = paired_permutation_test(CONCEPTS + 1.0, CONCEPTS, statistic="same vs cross-script")
    assert claim.supported
    as_at_init = paired_vs_untrained(CONCEPTS, CONCEPTS, statistic="contrast", revision=INIT, trained_revision="s9")
    decision = decide_with_untrained(claim, {"the statement": claim}, as_at_init, revision=INIT, rule="statement")
    assert not decision.supported
    assert decision.detail["failed"] == [part_name(INIT)]
    assert decision.detail["reason"].endswith(failure_note(decision, INIT))
    assert HOLDS_AT_INIT in decision.detail["reason"] and HOLDS_AT_INIT in decision.detail["rule"]
    beats = paired_vs_untrained(CONCEPTS + 0.1, CONCEPTS, statistic="contrast", revision=INIT, trained_revision="s9")
    decision = decide_with_untrained(claim, {"the statement": claim}, beats, revision=INIT, rule="statement")
    assert decision.supported and failure_note(decision, INIT) == ""
    assert set(decision.detail["parts"]) == {"the statement", part_name(INIT)}


def test_untrained_record():
    assert untrained_record(INIT, np.float64(0.25), blocks=[1]) == {"revision": INIT, "value": 0.25, "blocks": [1]}
    assert untrained_record("init-seed0", None)["value"] is None


# ------------------------------------------------------------------------------ helpers in the core
def test_contrast_with_compares_only_the_named_languages():
    """LF-1c: within fr/es/pt − between them and the same-script others; other scripts do not count."""
    # languages fr, es, pt (the group), en, de (the same-script others), zh
    diff = np.full((6, 6), 0.2)
    diff[np.ix_([0, 1, 2], [0, 1, 2])] = 0.5
    diff[np.ix_([0, 1, 2], [5])] = diff[np.ix_([5], [0, 1, 2])] = -1.0  # zh: far away (another script)
    means = PairMeans(np.zeros((1, 6, 6)), diff[None], diff[None])
    group = [0, 1, 2]
    assert means.contrast_with(group, [3, 4])[0] == pytest.approx(0.3)
    assert means.group_contrast(group)[0] > means.contrast_with(group, [3, 4])[0]  # all others: script inflates it
    with pytest.raises(ValueError):
        means.contrast_with(group, [2, 3])
    with pytest.raises(ValueError):
        means.contrast_with([0], [3])


def _deactivation(own: list[float], other: float, random: float) -> Deactivation:
    L = len(own)
    inc = np.full((L, L), other)
    np.fill_diagonal(inc, own)
    return Deactivation(tuple(f"l{i}" for i in range(L)), np.ones(L), inc, np.full(L, random), np.full(L, random),
                        np.full(L, 10), 0.1, 5, 0)


def test_own_region_margin_is_positive_exactly_for_wins():
    d = _deactivation([0.5, 0.05, 0.3], other=0.1, random=0.2)
    margin = own_region_margin(d)
    assert (margin > 0).tolist() == d.wins().tolist() == [True, False, True]
    assert margin[0] == pytest.approx(np.log(1.5) - np.log(1.2))
    assert random_control_gap(d)[1] == pytest.approx(np.log(1.05) - np.log(1.2))


def test_size_gaps():
    by_layer = np.array([[[3, 2], [1, 1], [0, 1]], [[1, 1], [2, 2], [0, 0]]])  # [R=2, L=3, layers=2]
    counts = KeyCounts(("vi", "fr", "es"), by_layer, n_meanings=10, n_boot=1, seed=0)
    gaps = size_gaps(counts, [("vi", "fr"), ("vi", "es")])
    assert gaps.tolist() == [[3, 4], [-2, 2]]


def _replicates(observed: float, rng, n_boot: int = 500, sd: float = 0.005) -> np.ndarray:
    """Bootstrap-like replicates around ``observed`` (index 0 is the observed value)."""
    out = observed + sd * rng.standard_normal(n_boot + 1)
    out[0] = observed
    return out


@pytest.mark.parametrize(("change", "init_gap", "verdict"), [
    (0.10, 0.01, "supported"),      # a rise ten times the difference of two initialisations
    (0.011, 0.03, "inconclusive"),  # the flat twin's case: a rise smaller than two initialisations differ
    (0.0, 0.0, "inconclusive"),     # no change at all
    (-0.10, 0.01, "contradicted"),  # a fall ten times the difference: the opposite of the claim
])
def test_a_change_must_exceed_the_difference_of_two_initialisations(change, init_gap, verdict):
    rng = np.random.default_rng(0)
    early, init_a = _replicates(0.30, rng), _replicates(0.25, rng)
    late, init_b = _replicates(0.30 + change, rng), _replicates(0.25 + init_gap, rng)
    decision = change_beyond_init_noise(late, early, init_a, init_b, statistic="share", n=100)
    assert decision.verdict == verdict
    assert decision.value == pytest.approx(change) and decision.control == pytest.approx(init_gap)
    # a fall is the same test with the signs turned
    fall = change_beyond_init_noise(2 * early - late, early, init_a, init_b, statistic="share", n=100,
                                    alternative="less")
    assert fall.verdict == verdict


@pytest.mark.parametrize(("rise", "init_gap", "verdict"), [
    (0.05, 0.01, "supported"),  # every concept rises 5× more than two initialisations differ
    (0.01, 0.01, "inconclusive"),  # a rise no larger than the initialisations' difference
    (0.002, 0.03, "inconclusive"),  # a rise well inside it: no change, not the opposite of the claim
    (-0.05, 0.01, "contradicted"),  # a fall beyond the initialisations' difference
])
def test_a_per_concept_rise_must_exceed_the_difference_of_two_initialisations(rise, init_gap, verdict):
    rng = np.random.default_rng(1)
    noise = 0.001 * rng.standard_normal((4, 24))  # 24 concepts
    early = 0.2 + noise[0]
    late = early + rise + noise[1]
    init_a = 0.1 + noise[2]
    init_b = init_a + init_gap * rng.choice([-1.0, 1.0], 24) + noise[3]  # the sign of the difference is irrelevant
    decision = paired_change_beyond_init_noise(late, early, init_a, init_b, statistic="MI")
    assert decision.verdict == verdict
    assert decision.value == pytest.approx(rise, abs=0.002)
    assert decision.p_value is not None and decision.p_value_opposite is not None
    assert decision.control == pytest.approx(init_gap, abs=0.002)
    # a fall is the same test with the signs turned
    fall = paired_change_beyond_init_noise(2 * early - late, early, init_a, init_b, statistic="MI", alternative="less")
    assert fall.verdict == verdict


def test_the_per_concept_init_noise_test_needs_the_same_concepts():
    with pytest.raises(ValueError, match="shape"):
        paired_change_beyond_init_noise(np.ones(5), np.zeros(5), np.ones(4), np.zeros(4), statistic="MI")
