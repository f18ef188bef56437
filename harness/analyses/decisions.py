"""Resampling decisions shared by the analyses: bootstrap and permutation tests into a ``Decision``.

* :func:`bootstrap_decision` — percentile bootstrap: ``replicates[0]`` observed, the rest
  resamples; decided on the ``[α, 1 − α]`` interval against a control (LF-1c, LF-2, LF-4, LF-7 …).
* :func:`permutation_decision` — one-sided permutation test against a null distribution, with an
  optional bootstrap interval reported beside it (LF-1a, LF-1b).
* :func:`parametric_bootstrap_std` — binomial redraws of per-block LID accuracies, the spread of
  their between-block std (RF-1a, RF-1c).

Every level defaults to the harness's ``ALPHA`` (``harness.metrics``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from harness.metrics import ALPHA, Decision, describe, detectable_effect
from harness.metrics.stats import fmt_number

if TYPE_CHECKING:
    from harness.analyses.probing import LidResult

__all__ = [
    "N_PERM",
    "PERM_SEED",
    "bootstrap_decision",
    "parametric_bootstrap_std",
    "percentile_interval",
    "permutation_decision",
    "permutation_p_value",
]

#: permutations of the permutation tests, and their seed
N_PERM = 1000
PERM_SEED = 0


def percentile_interval(samples: np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    """``(q_alpha, q_(1-alpha))`` of ``samples``: the two one-sided level-``alpha`` bounds."""
    lo, hi = np.quantile(samples, [alpha, 1 - alpha])
    return float(lo), float(hi)


def _with_reason(decision: Decision, reason: str) -> Decision:
    return replace(decision, detail={**decision.detail, "reason": reason})


def _verdict_word(decision: Decision) -> str:
    if decision.supported:
        return "holds"
    return "is contradicted" if decision.contradicted else "does not hold"


# ------------------------------------------------------------------------------- bootstrap
def _bootstrap_bounds(observed: float, finite: np.ndarray, n_boot: int, alpha: float) -> tuple[float, float]:
    """The percentile interval, or NaNs when the observed value or > 10 % of the resamples are not finite."""
    if not math.isfinite(observed) or finite.size < 0.9 * n_boot:
        return float("nan"), float("nan")
    return percentile_interval(finite, alpha)


def _beyond(lo: float, hi: float, control: float, alternative: str) -> bool:
    """The one-sided decision on the interval (False for NaN bounds)."""
    return lo > control if alternative == "greater" else hi < control


def _opposite(alternative: str) -> str:
    return "less" if alternative == "greater" else "greater"


def bootstrap_decision(
    replicates: np.ndarray,
    *,
    statistic: str,
    n: int,
    control: float = 0.0,
    alternative: str = "greater",
    alpha: float = ALPHA,
    value: float | None = None,
    control_value: float | None = None,
    detail: dict | None = None,
) -> Decision:
    """Decide ``statistic > control`` (or ``<``) from bootstrap replicates of the statistic.

    ``replicates[0]`` is the observed value, the rest are resamples. ``ci`` is the percentile
    interval ``[q_alpha, q_(1-alpha)]``; "greater" is supported when its lower end is above
    ``control`` (a one-sided test at level alpha), "less" when its upper end is below; the
    decision is contradicted when the same interval lies entirely on the other side of ``control``.
    ``detectable_effect`` is ``(z_(1-alpha) + z_0.8)`` times the bootstrap standard error.
    ``value``/``control_value`` override what is reported (e.g. late and early values when the
    statistic is their difference).
    """
    reps = np.asarray(replicates, dtype=np.float64)
    observed, boot = float(reps[0]), reps[1:]
    finite = boot[np.isfinite(boot)]
    lo, hi = _bootstrap_bounds(observed, finite, boot.size, alpha)
    supported = _beyond(lo, hi, control, alternative)
    contradicted = _beyond(lo, hi, control, _opposite(alternative))
    share = float(np.mean(finite <= control)) if alternative == "greater" else float(np.mean(finite >= control))
    sd = float(np.std(finite, ddof=1)) if finite.size > 1 else float("nan")
    decision = Decision(
        statistic=statistic,
        value=observed if value is None else float(value),
        control=float(control) if control_value is None else float(control_value),
        effect_size=(observed - control) / sd if sd and math.isfinite(sd) and sd > 0 else None,
        p_value=None,
        ci=(lo, hi),
        n=int(n),
        alternative=alternative,
        alpha=alpha,
        supported=bool(supported),
        contradicted=bool(contradicted),
        detectable_effect=detectable_effect(sd, alpha) if math.isfinite(sd) else None,
        detail={
            "test": "percentile bootstrap over verses",
            "observed": observed,
            "null": float(control),
            "n_resamples": int(boot.size),
            "confidence": 1 - 2 * alpha,
            "boot_share_beyond_null": share,
            **({"difference": observed} if value is not None or control_value is not None else {}),
            **(detail or {}),
        },
    )
    if "reason" in decision.detail:
        return decision
    side = ">" if alternative == "greater" else "<"
    reason = f"{decision.statistic} {side} {fmt_number(control)} {_verdict_word(decision)}: {describe(decision)}"
    return _with_reason(decision, reason)


# ----------------------------------------------------------------------------- permutation
def permutation_p_value(observed: float, null: np.ndarray, *, alternative: str = "greater") -> float:
    """One-sided permutation p-value ``(1 + #{null ≥ observed}) / (1 + K)`` (ties within 1e-12 count);
    with ``alternative="less"`` the other tail, ``(1 + #{null ≤ observed}) / (1 + K)``."""
    tol = 1e-12 * max(1.0, abs(observed))
    if alternative == "less":
        return float((1 + np.count_nonzero(null <= observed + tol)) / (1 + null.size))
    return float((1 + np.count_nonzero(null >= observed - tol)) / (1 + null.size))


def _verse_bootstrap(bootstrap: np.ndarray, alpha: float) -> dict:
    """The bootstrap interval reported beside a permutation test (replicate 0 dropped)."""
    boot = np.asarray(bootstrap, dtype=np.float64)[1:]
    lo, hi = percentile_interval(boot, alpha)
    return {
        "ci": [lo, hi],
        "confidence": 1 - 2 * alpha,
        "n_resamples": int(boot.size),
        "note": "uncertainty of the mean over a new sample of verses (reported, not the decision)",
    }


def permutation_decision(
    observed: float,
    null: np.ndarray,
    *,
    statistic: str,
    n: int,
    null_description: str,
    alpha: float = ALPHA,
    bootstrap: np.ndarray | None = None,
) -> Decision:
    """One-sided permutation test ``statistic > null``: p = (1 + #{null ≥ observed}) / (1 + K).

    Contradicted when the other tail of the same permutations, (1 + #{null ≤ observed}) / (1 + K),
    is ≤ alpha and the statistic is below 0; ``detectable_effect`` is ``(z_(1-alpha) + z_0.8)``
    times the sd of the permutation null.
    """
    null = np.asarray(null, dtype=np.float64)
    p = permutation_p_value(observed, null)
    p_opp = permutation_p_value(observed, null, alternative="less")
    null_mean, sd = float(null.mean()), float(null.std(ddof=1))
    detail: dict = {
        "test": "permutation (Mantel-type)",
        "null": null_description,
        "n_permutations": int(null.size),
        "null_mean": null_mean,
        "null_sd": sd,
        "seed": PERM_SEED,
    }
    if bootstrap is not None:
        detail["verse_bootstrap"] = _verse_bootstrap(bootstrap, alpha)
    decision = Decision(
        statistic=statistic,
        value=float(observed),
        control=null_mean,
        effect_size=(observed - null_mean) / sd if sd > 0 else None,
        p_value=p,
        ci=None,
        n=int(n),
        alternative="greater",
        alpha=alpha,
        supported=bool(p <= alpha and observed > 0),
        contradicted=bool(p_opp <= alpha and observed < 0),
        p_value_opposite=p_opp,
        detectable_effect=detectable_effect(sd, alpha),
        detail=detail,
    )
    reason = (
        f"{statistic} > 0 {_verdict_word(decision)}: {describe(decision)} "
        + (f"(opposite tail p = {p_opp:.3g}) " if decision.contradicted else "")
        + f"({null_description}, null sd {fmt_number(sd)})"
    )
    return _with_reason(decision, reason)


# ---------------------------------------------------------------------- parametric bootstrap
def parametric_bootstrap_std(result: "LidResult", *, n_resamples: int = 10000, seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of the between-block std of ``result`` (``[n_resamples]``).

    Each block's accuracy is redrawn as Binomial(n, acc) / n, independently per block, with
    ``n = result.n`` (the effective held-out size). The per-block noise of held-out accuracy is
    what makes a std differ between two checkpoints by chance; redrawing around the observed
    accuracies (which already carry that noise) keeps the spread on the large side.
    """
    rng = np.random.default_rng(seed)
    draws = rng.binomial(result.n, np.clip(result.blocks, 0.0, 1.0), size=(n_resamples, result.blocks.size))
    return (draws / result.n).std(axis=1)
