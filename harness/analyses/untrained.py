"""The untrained model as a control: the same statistic at initialisation, and the comparison.

A claim about what a trained model does must beat the same statistic measured on the same
architecture before training: script and token statistics alone give random-weight models
language-specific activations, decodable language identity and script-structured alignment.
Every such claim computes its statistic on :func:`untrained_revision` too, records that value
(:func:`untrained_record`) and adds the paired comparison, wrapped by :func:`beats_untrained`,
as a named part of its conjunction (:func:`part_name`). A claim that holds as well at
initialisation is not supported, and says so (:data:`HOLDS_AT_INIT`).

The untrained revision of a run is, in this order:

1. step 0 of the run's checkpoint series (``step0``, ``checkpoint-0``, ``global_step0``);
2. a saved step-0 checkpoint of the model (the toy's ``step0``, a local run's ``checkpoint-0/``);
3. the model's own config initialised under a fixed seed: revision ``init-seed0``
   (``harness.loading.load_model``), with the model's tokenizer; its weights hash is recorded
   and its measurements are cached under that revision.

When the claim's own revision is the untrained one (``--revision step0``), the comparison is of
a statistic with itself, and the claim is not supported.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.measurement_source import MeasurementSource
from harness.metrics import (
    ALPHA,
    Decision,
    all_of,
    describe,
    one_sample_greater,
    paired_permutation_test,
    two_proportion_test,
)
from harness.metrics.stats import fmt_number
from harness.revisions import step_of

from .decisions import bootstrap_decision

if TYPE_CHECKING:
    from harness.analyses.probing import LidResult

__all__ = [
    "INIT_NOISE_SEEDS",
    "change_beyond_init_noise",
    "init_noise_revisions",
    "paired_change_beyond_init_noise",
    "HOLDS_AT_INIT",
    "INIT_SEED",
    "beats_untrained",
    "decide_with_untrained",
    "failure_note",
    "is_step_zero",
    "languages_vs_untrained",
    "lid_vs_untrained",
    "paired_vs_untrained",
    "replicates_vs_untrained",
    "smallest_gain_vs_untrained",
    "part_name",
    "untrained_record",
    "untrained_revision",
]

#: seed of the initialisation control where the model has no saved step 0
INIT_SEED = 0
#: what a claim says when its statistic is no larger than at initialisation
HOLDS_AT_INIT = "a claim that holds as well at initialisation is not supported"

def is_step_zero(revision: str | None) -> bool:
    """Whether ``revision`` names step 0 of a training run.

    >>> is_step_zero("step0"), is_step_zero("checkpoint-0"), is_step_zero("global_step0"), is_step_zero("step10")
    (True, True, True, False)
    """
    return revision is not None and step_of(revision) == 0


def untrained_revision(measurements: MeasurementSource) -> str:
    """The run's untrained reference: step 0 of the series, else a saved step 0, else ``init-seed0``."""
    from harness.loading import init_revision, saved_step_zero  # a model's module: not for the report

    for rev in measurements.plan.series:
        if is_step_zero(rev):
            return rev
    config = measurements.config
    return saved_step_zero(config.model, toy_seed=config.toy_seed) or init_revision(INIT_SEED)


def part_name(revision: str) -> str:
    """The name of the untrained comparison in a claim's conjunction."""
    return f"beats the untrained model ({revision})"


def beats_untrained(test: Decision, *, revision: str, trained_revision: str | None) -> Decision:
    """``test`` (a one-sided test of the trained statistic > the untrained one) with a reason that says
    what failing it means, and the untrained revision in its detail."""
    same = trained_revision == revision
    if test.supported:
        reason = f"larger than at initialisation ({revision}): {describe(test)}"
    else:
        reason = f"{HOLDS_AT_INIT} (untrained model: {revision}): {describe(test)}"
        if same:
            reason += f" (the claim's own revision {revision} is the untrained model)"
    return replace(test, detail={**test.detail, "untrained_revision": revision, "reason": reason})


def failure_note(decision: Decision, revision: str) -> str:
    """``"; <HOLDS_AT_INIT> (...)"`` when the untrained part of ``decision`` failed, else ``""``.

    For claims whose failure message is their own text rather than the decision's reason.
    """
    name = part_name(revision)
    if name not in decision.detail.get("failed", ()):
        return ""
    part = decision.detail.get("parts", {}).get(name, {})
    return (f"; {HOLDS_AT_INIT} (trained {fmt_number(part.get('value'))} vs untrained {revision} "
            f"{fmt_number(part.get('control'))})")


def decide_with_untrained(
    primary: Decision, parts: dict[str, Decision], untrained: Decision, *, revision: str, rule: str
) -> Decision:
    """``all_of`` of the claim's ``parts`` and the untrained comparison (named :func:`part_name`).

    The rule says that the statistic must beat the untrained model; when that part fails, the
    decision's reason ends with :data:`HOLDS_AT_INIT` and the two values.
    """
    decision = all_of(
        primary, {**parts, part_name(revision): untrained},
        rule=f"{rule}; AND the statistic is larger than the same statistic on the untrained model ({revision}), "
        f"a one-sided paired test at the same alpha ({HOLDS_AT_INIT})",
    )
    note = failure_note(decision, revision)
    if not note:
        return decision
    return replace(decision, detail={**decision.detail, "reason": f"{decision.detail.get('reason', '')}{note}"})


def untrained_record(revision: str, value: float | None, **extra: Any) -> dict[str, Any]:
    """The ``untrained`` field of a claim's numbers: ``{"revision", "value", …}``."""
    return {"revision": revision, "value": None if value is None else float(value), **extra}


# ----------------------------------------------------------------- the comparisons, per unit
def lid_vs_untrained(trained: "LidResult", untrained: "LidResult", *, revision: str, alpha: float = ALPHA) -> Decision:
    """RF-1a: the weakest block's LID accuracy, trained > the untrained model's weakest block.

    One-sided two-proportion test over the held-out predictions (``LidResult.n``, the same
    sentences at both revisions; unpaired, so conservative for positively correlated predictions).
    """
    test = two_proportion_test(
        trained.correct(float(trained.blocks.min())), trained.n,
        untrained.correct(float(untrained.blocks.min())), untrained.n,
        alternative="greater", alpha=alpha, statistic="LID accuracy of the weakest block, trained vs untrained",
    )
    return beats_untrained(test, revision=revision, trained_revision=trained.revision)


def paired_vs_untrained(
    trained: Any, untrained: Any, *, statistic: str, revision: str, trained_revision: str | None, alpha: float = ALPHA
) -> Decision:
    """Per unit (concept), trained > untrained: one-sided paired sign-flip permutation test (RF-2d)."""
    test = paired_permutation_test(trained, untrained, alternative="greater", alpha=alpha,
                                   statistic=f"{statistic}, trained vs untrained")
    return beats_untrained(test, revision=revision, trained_revision=trained_revision)


def replicates_vs_untrained(
    trained: Any,
    untrained: Any,
    *,
    statistic: str,
    n: int,
    revision: str,
    trained_revision: str | None,
    alpha: float = ALPHA,
) -> Decision:
    """Trained > untrained from verse-bootstrap replicates drawn with the same seed at both revisions
    (replicate 0 observed): the percentile interval of the paired difference (LF-1, LF-2, LF-7)."""
    trained, untrained = np.asarray(trained, dtype=np.float64), np.asarray(untrained, dtype=np.float64)
    if trained.shape != untrained.shape:
        raise ValueError(f"replicates differ in shape: {trained.shape} vs {untrained.shape}")
    test = bootstrap_decision(
        trained - untrained, statistic=f"{statistic}, trained vs untrained", n=n, alpha=alpha,
        value=float(trained[0]), control_value=float(untrained[0]),
        detail={"test": "paired percentile bootstrap over verses (the same resamples at both revisions)"},
    )
    return beats_untrained(_with_bootstrap_p(test, trained - untrained), revision=revision,
                           trained_revision=trained_revision)


def _with_bootstrap_p(test: Decision, differences: np.ndarray) -> Decision:
    """``test`` with the one-sided bootstrap p-value ``(1 + #{resamples ≤ 0}) / (1 + R)`` beside its interval.

    Reported so that a conjunction with a permutation test (LF-1a, LF-1b) still carries a p-value;
    the decision stays the interval's (its bound > 0 is the same statement at level alpha).
    """
    boot = np.asarray(differences, dtype=np.float64)[1:]
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return test
    p = float((1 + np.count_nonzero(boot <= 0)) / (1 + boot.size))
    p_opp = float((1 + np.count_nonzero(boot >= 0)) / (1 + boot.size))
    return replace(test, p_value=p, p_value_opposite=p_opp,
                   detail={**test.detail, "p_value": "bootstrap: share of resamples ≤ 0, beside the interval"})


def smallest_gain_vs_untrained(
    trained: dict[str, Any],
    untrained: dict[str, Any],
    *,
    n: int,
    revision: str,
    trained_revision: str | None,
    alpha: float = ALPHA,
) -> Decision:
    """Every statistic of a conjunction larger than on the untrained model (LF-2's four contrasts).

    ``trained`` and ``untrained`` map each statistic to its verse-bootstrap replicates (the same
    resamples at both revisions, replicate 0 observed). Decided on the smallest gain
    ``min_k (trained_k − untrained_k)`` per replicate: its lower percentile bound > 0 implies each
    gain's. The reported value and control are those of the statistic with the smallest observed gain.
    """
    if set(trained) != set(untrained) or not trained:
        raise ValueError("trained and untrained must hold the same, non-empty set of statistics")
    names = list(trained)
    gains = np.stack([np.asarray(trained[k], dtype=np.float64) - np.asarray(untrained[k], dtype=np.float64)
                      for k in names])  # [K, R]
    worst = names[int(np.argmin(gains[:, 0]))]
    test = bootstrap_decision(
        gains.min(axis=0), statistic=f"smallest gain over the untrained model ({worst})", n=n, alpha=alpha,
        value=float(np.asarray(trained[worst])[0]), control_value=float(np.asarray(untrained[worst])[0]),
        detail={"test": "paired percentile bootstrap over verses of the smallest trained − untrained gain",
                "gains": {k: float(g) for k, g in zip(names, gains[:, 0])}},
    )
    return beats_untrained(_with_bootstrap_p(test, gains.min(axis=0)), revision=revision,
                           trained_revision=trained_revision)


def languages_vs_untrained(
    trained: Any, untrained: Any, *, statistic: str, revision: str, trained_revision: str | None, alpha: float = ALPHA
) -> Decision:
    """Per language, trained > untrained: one-sided paired t test over languages (LF-3a, LF-3b).

    A t test, as LF-3b's own: a sign-flip test over the ≥ 6 languages that key regions need cannot
    reach alpha = 0.01 below 7 languages.
    """
    t, u = np.asarray(trained, dtype=np.float64), np.asarray(untrained, dtype=np.float64)
    if t.shape != u.shape:
        raise ValueError(f"per-language values differ in shape: {t.shape} vs {u.shape}")
    diff = one_sample_greater(t - u, 0.0, alpha=alpha, method="t",
                              statistic=f"{statistic}, trained vs untrained")
    test = replace(diff, value=float(t.mean()), control=float(u.mean()),
                   detail={**diff.detail, "test": "paired t over languages", "difference": diff.value})
    return beats_untrained(test, revision=revision, trained_revision=trained_revision)


#: the two initialisations whose difference is the model-to-model noise floor of a change over training
INIT_NOISE_SEEDS = (0, 1)


def init_noise_revisions() -> tuple[str, str]:
    """The revisions of :data:`INIT_NOISE_SEEDS`: the model's architecture initialised under each seed."""
    from harness.loading import init_revision  # a model's module: not for the report

    first, second = INIT_NOISE_SEEDS
    return init_revision(first), init_revision(second)


def _change_and_init_difference(late: Any, early: Any, init_a: Any, init_b: Any,
                                alternative: str) -> tuple[np.ndarray, np.ndarray]:
    """``±(late − early)`` (``+`` for "greater", ``−`` for "less") and ``|init_a − init_b|``, in float64."""
    sign = {"greater": 1.0, "less": -1.0}[alternative]
    change = sign * (np.asarray(late, dtype=np.float64) - np.asarray(early, dtype=np.float64))
    floor = np.abs(np.asarray(init_a, dtype=np.float64) - np.asarray(init_b, dtype=np.float64))
    if change.shape != floor.shape:
        raise ValueError(f"late − early has shape {change.shape}, the initialisations' difference {floor.shape}")
    return change, floor


def change_beyond_init_noise(
    late: Any,
    early: Any,
    init_a: Any,
    init_b: Any,
    *,
    statistic: str,
    n: int,
    alternative: str = "greater",
    alpha: float = ALPHA,
) -> Decision:
    """A change over training larger than the difference between two random initialisations.

    All four are verse-bootstrap replicates drawn with the same resamples (index 0 observed). A
    verse bootstrap holds each checkpoint's weights fixed, so any two distinct models differ
    "significantly" once there are enough verses, planted change or not (the known answers' flat
    twin: the same units and two random backgrounds passed LF-5 as a change). The size of that
    model-to-model difference is measured on two initialisations of the architecture
    (:func:`init_noise_revisions`), and the change must exceed it: per replicate
    ``±(late − early) − |init_a − init_b| > 0`` (``+`` for "greater", ``−`` for "less"), decided by the
    one-sided percentile interval.
    """
    change, floor = _change_and_init_difference(late, early, init_a, init_b, alternative)
    margin = change - floor
    # the opposite statement: a change the *other* way beyond the floor (a change smaller than the floor
    # is no change, which leaves the claim inconclusive, not contradicted)
    opposite = -change - floor
    statistic = f"{statistic}: change late vs early beyond the difference of two initialisations"
    test = bootstrap_decision(
        margin, statistic=statistic, n=n,
        alpha=alpha, value=float(change[0]), control_value=float(floor[0]),
        detail={"test": "paired percentile bootstrap over verses (the same resamples at all four models)",
                "init_difference": float(floor[0])},
    )
    against = bootstrap_decision(opposite, statistic=statistic, n=n, alpha=alpha)
    test = replace(_with_bootstrap_p(test, margin), contradicted=against.supported)
    return replace(test, p_value_opposite=_with_bootstrap_p(against, opposite).p_value)


def paired_change_beyond_init_noise(
    late: Any,
    early: Any,
    init_a: Any,
    init_b: Any,
    *,
    statistic: str,
    alternative: str = "greater",
    alpha: float = ALPHA,
) -> Decision:
    """A change over training larger than the difference between two random initialisations, per unit.

    The paired form of :func:`change_beyond_init_noise` for statistics measured per unit (concept):
    all four arguments are ``[n_units]``, at the late and early checkpoints and at the two
    initialisations of :func:`init_noise_revisions`. A test paired over concepts holds each model
    fixed, so two distinct models differ "significantly" once there are enough concepts, planted
    change or not (the known answers' flat twin: the same expert units over two random backgrounds
    passed RF-2b's MI rise, 0.0296 vs 0.0265, p = 0.001). Per unit, the change ``±(late − early)``
    (``+`` for "greater") must exceed ``|init_a − init_b|``: a one-sided paired sign-flip test over units.
    """
    change, floor = _change_and_init_difference(late, early, init_a, init_b, alternative)
    name = f"{statistic}: change late vs early, vs the difference of two initialisations"
    test = paired_permutation_test(change, floor, alternative="greater", alpha=alpha, statistic=name)
    # the opposite statement is a change the other way beyond the floor, not a change below it
    against = paired_permutation_test(-change, floor, alternative="greater", alpha=alpha, statistic=name)
    return replace(test, contradicted=against.supported, p_value_opposite=against.p_value,
                   detail={**test.detail, "init_difference": float(floor.mean()),
                           "test": "paired sign-flip over units: change − |init_a − init_b| > 0"})
