"""Decision rules: every claim ends in one of these tests and records a :class:`Decision`.

All tests are one-sided by default (a claim states a direction) at level :data:`ALPHA` (0.01).
Each function returns a frozen :class:`Decision` whose ``to_dict()`` is JSON-safe (plain Python
numbers, ``None`` instead of NaN/inf).

A one-sided decision has three outcomes (:attr:`Decision.verdict`): **supported** (the claimed
direction is significant at ``alpha``), **contradicted** (the *opposite* one-sided statement is
significant at the same ``alpha``, computed from the same data: the same permutations or
resamples, the other end of the same interval) or **inconclusive** (neither). Where a standard
error is known, ``detectable_effect`` gives the smallest true difference the test detects with
80 % power, about ``(z_(1-alpha) + z_0.8) · SE`` (normal approximation; None where no honest SE
exists: rank tests, Fisher's exact test, trends); a conjunction reports its primary statement's.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, fields
from typing import Any, Callable

import numpy as np
import torch
from scipy import stats as sps

from harness.errors import NonFiniteActivationError

#: The papers' one-sided significance level, used by every claim decision (and the default
#: ``alpha`` of every test here). Import it from :mod:`harness.metrics`; never restate 0.01.
ALPHA = 0.01

_ALTERNATIVES = ("greater", "less", "two-sided")
#: largest n for which the sign-flip test enumerates all 2**n sign patterns
EXACT_SIGNFLIP_MAX_N = 16
#: largest series length for which the trend test enumerates all n! orderings
EXACT_TREND_MAX_N = 8
#: power at which ``Decision.detectable_effect`` is stated
DETECTABLE_POWER = 0.8
VERDICT_SUPPORTED, VERDICT_CONTRADICTED, VERDICT_INCONCLUSIVE = "supported", "contradicted", "inconclusive"


# ---------------------------------------------------------------------------------- Decision
def _jsonable(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if v is None or isinstance(v, str):
        return v
    return str(v)


@dataclass(frozen=True)
class Decision:
    """Outcome of one statistical test of a claim.

    ``statistic`` names what was measured, ``value`` is its observed value, ``control`` the
    value it is compared with (a chance level, an earlier checkpoint, a null), ``effect_size`` a
    scale-free size of the difference, ``p_value`` the one-sided (unless ``alternative`` says
    otherwise) p-value, ``ci`` a confidence interval, ``n`` the number of independent units
    tested, ``supported`` whether the decision rule accepts the claim at level ``alpha``, and
    ``detail`` anything else worth reporting (test name, exactness, raw statistics).

    ``contradicted`` says whether the opposite one-sided statement is significant at the same
    ``alpha`` from the same data (its p-value in ``p_value_opposite`` where the test has one; an
    interval decision is contradicted when the interval lies entirely on the other side);
    ``detectable_effect`` is the smallest true difference (value − control, in the statistic's
    units) that the test would detect with 80 % power at this sample size, where a standard error
    is known (else None). A decision cannot be both supported and contradicted.

    >>> d = Decision("mean", float("nan"), 0.0, None, 0.004, (0.1, float("inf")), 12, "greater", ALPHA, True)
    >>> d.to_dict()["value"], d.to_dict()["ci"]  # JSON-safe: non-finite numbers become None
    (None, [0.1, None])
    >>> d.verdict, paired_permutation_test([0.0] * 7, [1.0] * 7).verdict
    ('supported', 'contradicted')
    """

    statistic: str
    value: float
    control: float | None
    effect_size: float | None
    p_value: float | None
    ci: tuple[float, float] | None
    n: int
    alternative: str
    alpha: float
    supported: bool
    detail: dict = field(default_factory=dict)
    contradicted: bool = False
    p_value_opposite: float | None = None
    detectable_effect: float | None = None

    def __post_init__(self) -> None:
        if self.supported and self.contradicted:
            raise ValueError(f"a decision cannot be both supported and contradicted ({self.statistic})")

    @property
    def verdict(self) -> str:
        """``"supported"``, ``"contradicted"`` or ``"inconclusive"``."""
        if self.supported:
            return VERDICT_SUPPORTED
        return VERDICT_CONTRADICTED if self.contradicted else VERDICT_INCONCLUSIVE

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict (NaN and infinities become ``None``)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


def _f(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _decide(p: float | None, alpha: float) -> bool:
    return p is not None and math.isfinite(p) and p <= alpha


def _opposite(alternative: str) -> str | None:
    return {"greater": "less", "less": "greater", "increasing": "decreasing", "decreasing": "increasing"}.get(
        alternative
    )


def detectable_effect(se: float | None, alpha: float = ALPHA, power: float = DETECTABLE_POWER) -> float | None:
    """Smallest true difference a one-sided level-``alpha`` test with standard error ``se`` detects
    with probability ``power``: ``(z_(1-alpha) + z_power) · se`` (normal approximation).

    >>> round(detectable_effect(1.0, 0.01), 3)  # 2.3263 + 0.8416
    3.168
    >>> detectable_effect(0.0) is None, detectable_effect(None) is None
    (True, True)
    """
    if se is None or not math.isfinite(se) or se <= 0:
        return None
    return float((sps.norm.ppf(1 - alpha) + sps.norm.ppf(power)) * se)


def _mean_se(d: np.ndarray) -> float | None:
    return float(np.std(d, ddof=1)) / math.sqrt(d.size) if d.size > 1 else None


def _vec(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(a)):
        raise NonFiniteActivationError(f"{name} contains NaN or infinite values")
    return a


def _paired(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = _vec(x, "x"), _vec(y, "y")
    if xa.shape != ya.shape:
        raise ValueError(f"paired samples need equal lengths, got {xa.size} and {ya.size}")
    if xa.size == 0:
        raise ValueError("empty sample")
    return xa, ya


def _check_alternative(alternative: str) -> None:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")


def _cohen_dz(d: np.ndarray) -> float | None:
    if d.size < 2:
        return None
    sd = float(np.std(d, ddof=1))
    return float(np.mean(d)) / sd if sd > 0 else None


# -------------------------------------------------------------------------- permutation tests
def _signflip_pvalue(
    d: np.ndarray, alternative: str, n_resamples: int, seed: int
) -> tuple[float, float | None, bool, int]:
    """p-value of ``alternative`` and of its opposite (None for two-sided), from the same sign patterns."""
    n = d.size
    obs = float(d.mean())
    tol = 1e-12 * float(np.abs(d).mean()) + 1e-300

    def count(null: np.ndarray, alt: str) -> int:
        if alt == "greater":
            return int(np.count_nonzero(null >= obs - tol))
        if alt == "less":
            return int(np.count_nonzero(null <= obs + tol))
        return int(np.count_nonzero(np.abs(null) >= abs(obs) - tol))

    opposite = _opposite(alternative)
    if n <= EXACT_SIGNFLIP_MAX_N:
        patterns = ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1) * 2.0 - 1.0
        null = patterns @ d / n
        p_opp = count(null, opposite) / 2**n if opposite else None
        return count(null, alternative) / 2**n, p_opp, True, 2**n
    rng = np.random.default_rng(seed)
    hits, hits_opp, done = 0, 0, 0
    chunk = max(1, min(n_resamples, 2**22 // n))
    while done < n_resamples:
        m = min(chunk, n_resamples - done)
        signs = rng.integers(0, 2, size=(m, n)) * 2.0 - 1.0
        null = signs @ d / n
        hits += count(null, alternative)
        hits_opp += count(null, opposite) if opposite else 0
        done += m
    p_opp = (hits_opp + 1) / (n_resamples + 1) if opposite else None
    return (hits + 1) / (n_resamples + 1), p_opp, False, n_resamples


def paired_permutation_test(
    x: Any,
    y: Any,
    *,
    alternative: str = "greater",
    n_resamples: int = 10000,
    seed: int = 0,
    alpha: float = ALPHA,
    statistic: str = "mean",
) -> Decision:
    """Sign-flip permutation test of the mean paired difference ``x - y``.

    Under H0 each difference is symmetric around 0, so its sign is exchangeable. With n <= 16
    pairs all 2**n sign patterns are enumerated (exact p = share of patterns whose mean is at
    least the observed one); otherwise ``n_resamples`` random patterns (seeded) give
    ``p = (1 + hits) / (1 + n_resamples)``. ``value``/``control`` are the means of x and y;
    ``effect_size`` is Cohen's d_z (mean difference / sd of differences).

    Examples
    --------
    Three positive differences: of the 2³ = 8 sign patterns only the all-plus one reaches the
    observed mean, so p = 1/8. Seven give p = 1/128 < 0.01, and the claim is supported.

    >>> paired_permutation_test([2.0, 2.0, 2.0], [1.0, 1.0, 1.0]).p_value
    0.125
    >>> d = paired_permutation_test([1.0] * 7, [0.0] * 7)
    >>> d.p_value == 1 / 128, d.supported, d.detail["exact"]
    (True, True, True)
    """
    _check_alternative(alternative)
    xa, ya = _paired(x, y)
    d = xa - ya
    p, p_opp, exact, m = _signflip_pvalue(d, alternative, n_resamples, seed)
    opposite = _opposite(alternative)
    return Decision(
        statistic=statistic,
        value=float(xa.mean()),
        control=float(ya.mean()),
        effect_size=_cohen_dz(d),
        p_value=p,
        ci=None,
        n=int(d.size),
        alternative=alternative,
        alpha=alpha,
        supported=_decide(p, alpha) and _direction_ok(float(d.mean()), alternative),
        contradicted=opposite is not None and _decide(p_opp, alpha) and _direction_ok(float(d.mean()), opposite),
        p_value_opposite=p_opp,
        detectable_effect=detectable_effect(_mean_se(d), alpha),
        detail={
            "test": "paired sign-flip permutation",
            "mean_difference": float(d.mean()),
            "exact": exact,
            "n_permutations": m,
            "seed": None if exact else seed,
        },
    )


def _direction_ok(diff: float, alternative: str) -> bool:
    if alternative == "greater":
        return diff > 0
    if alternative == "less":
        return diff < 0
    return diff != 0


def wilcoxon_greater(
    x: Any,
    y: Any,
    *,
    alpha: float = ALPHA,
    alternative: str = "greater",
    zero_method: str = "wilcox",
    statistic: str = "median",
) -> Decision:
    """Wilcoxon signed-rank test of paired ``x - y`` (``scipy.stats.wilcoxon``), one-sided.

    ``value``/``control`` are the medians of x and y; ``effect_size`` the matched-pairs
    rank-biserial correlation ``(W+ - W-) / (W+ + W-)``. All-zero differences give p = 1.

    Examples
    --------
    Differences 1, 2, 3 are all positive: W+ = 6 is the largest of the 8 equally likely signed
    rank sums, so p = 1/8, and the rank-biserial correlation is (6 - 0) / 6 = 1.

    >>> d = wilcoxon_greater([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    >>> d.p_value, d.effect_size
    (0.125, 1.0)
    """
    _check_alternative(alternative)
    xa, ya = _paired(x, y)
    d = xa - ya
    nz = d[d != 0]
    opposite = _opposite(alternative)
    p_opp: float | None = 1.0 if opposite else None
    if nz.size == 0:
        p, w, rbc = 1.0, None, None
    else:
        res = sps.wilcoxon(xa, ya, alternative=alternative, zero_method=zero_method)
        p, w = float(res.pvalue), float(res.statistic)
        if opposite:
            p_opp = float(sps.wilcoxon(xa, ya, alternative=opposite, zero_method=zero_method).pvalue)
        ranks = sps.rankdata(np.abs(nz))
        w_plus, w_minus = ranks[nz > 0].sum(), ranks[nz < 0].sum()
        rbc = float((w_plus - w_minus) / (w_plus + w_minus))
    return Decision(
        statistic=statistic,
        value=float(np.median(xa)),
        control=float(np.median(ya)),
        effect_size=rbc,
        p_value=p,
        ci=None,
        n=int(d.size),
        alternative=alternative,
        alpha=alpha,
        supported=_decide(p, alpha),
        contradicted=_decide(p_opp, alpha),
        p_value_opposite=p_opp,
        detail={
            "test": "Wilcoxon signed-rank",
            "W": w,
            "zero_method": zero_method,
            "n_nonzero": int(nz.size),
            "median_difference": float(np.median(d)),
        },
    )


# ------------------------------------------------------------------------------- bootstrap
def _apply_stat(stat: Callable, samples: np.ndarray) -> np.ndarray:
    try:
        out = np.asarray(stat(samples, axis=1), dtype=np.float64)
        if out.shape == (samples.shape[0],):
            return out
    except TypeError:
        pass
    return np.array([float(stat(row)) for row in samples], dtype=np.float64)


def _bootstrap_distribution(
    arrays: tuple[np.ndarray, ...],
    fn: Callable[..., np.ndarray],
    n_resamples: int,
    seed: int,
) -> np.ndarray:
    """``fn(*resampled arrays)`` for ``n_resamples`` resamples of shared row indices."""
    n = arrays[0].size
    rng = np.random.default_rng(seed)
    out = np.empty(n_resamples, dtype=np.float64)
    chunk = max(1, min(n_resamples, 2**22 // max(1, n)))
    for a in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - a)
        idx = rng.integers(0, n, size=(m, n))
        out[a : a + m] = fn(*(arr[idx] for arr in arrays))
    return out


def bootstrap_ci(
    values: Any,
    *,
    stat: Callable = np.mean,
    confidence: float = 0.99,
    n_resamples: int = 10000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``stat(values)``.

    ``stat`` is called as ``stat(samples, axis=1)`` on a ``[resamples, n]`` block when it
    accepts ``axis`` (numpy reductions do), else once per resample. Seeded
    (``numpy.random.default_rng(seed)``); returns ``(lo, hi)`` floats.

    Examples
    --------
    Every resample of a constant sample has the same mean; otherwise the interval holds the
    observed mean, and the same seed gives the same interval:

    >>> bootstrap_ci([1.0] * 10)
    (1.0, 1.0)
    >>> lo, hi = bootstrap_ci([0.0, 1.0, 2.0, 3.0, 4.0], n_resamples=2000)
    >>> lo < 2.0 < hi, (lo, hi) == bootstrap_ci([0.0, 1.0, 2.0, 3.0, 4.0], n_resamples=2000)
    (True, True)
    """
    v = _vec(values, "values")
    if v.size == 0:
        raise ValueError("bootstrap of an empty sample")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    boot = _bootstrap_distribution((v,), lambda s: _apply_stat(stat, s), n_resamples, seed)
    lo, hi = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def bootstrap_greater(
    x: Any,
    y: Any,
    *,
    stat: Callable = np.mean,
    alpha: float = ALPHA,
    n_resamples: int = 10000,
    seed: int = 0,
    statistic: str = "mean",
) -> Decision:
    """Bootstrap test that ``stat(x)`` exceeds ``stat(y)`` (paired) or a control scalar ``y``.

    With an array ``y`` (same length) pairs are resampled together and the statistic is
    ``stat(x*) - stat(y*)``; with a scalar ``y`` it is ``stat(x*) - y``. ``ci`` is the
    two-sided percentile interval at confidence ``1 - 2 alpha``, so its lower end is the
    one-sided ``1 - alpha`` lower confidence bound; the claim is supported when it is > 0.
    ``p_value`` is None (the decision is the interval); ``detail["boot_share_le_0"]`` gives the
    share of bootstrap differences <= 0.

    Examples
    --------
    A constant sample 1.0 against the control 0.5: every bootstrap difference is 0.5.

    >>> d = bootstrap_greater([1.0] * 10, 0.5)
    >>> d.ci, d.supported, d.p_value is None
    ((0.5, 0.5), True, True)
    """
    xa = _vec(x, "x")
    if xa.size == 0:
        raise ValueError("bootstrap of an empty sample")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    scalar = np.ndim(y) == 0 and not (isinstance(y, torch.Tensor) and y.numel() != 1)
    if scalar:
        c = float(y.item() if isinstance(y, torch.Tensor) else y)
        if not math.isfinite(c):
            raise NonFiniteActivationError("control value is not finite")
        observed = float(_apply_stat(stat, xa[None, :])[0])
        boot = _bootstrap_distribution((xa,), lambda s: _apply_stat(stat, s) - c, n_resamples, seed)
        control: float = c
        sd = float(np.std(xa, ddof=1)) if xa.size > 1 else 0.0
        effect = (observed - c) / sd if sd > 0 else None
    else:
        xa, ya = _paired(x, y)
        observed = float(_apply_stat(stat, xa[None, :])[0])
        control = float(_apply_stat(stat, ya[None, :])[0])
        boot = _bootstrap_distribution(
            (xa, ya), lambda s, t: _apply_stat(stat, s) - _apply_stat(stat, t), n_resamples, seed
        )
        effect = _cohen_dz(xa - ya)
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return Decision(
        statistic=statistic,
        value=observed,
        control=control,
        effect_size=_f(effect),
        p_value=None,
        ci=(float(lo), float(hi)),
        n=int(xa.size),
        alternative="greater",
        alpha=alpha,
        supported=bool(lo > 0),
        contradicted=bool(hi < 0),
        detectable_effect=detectable_effect(float(np.std(boot, ddof=1)) if boot.size > 1 else None, alpha),
        detail={
            "test": "percentile bootstrap" + (" vs control" if scalar else " of paired difference"),
            "difference": observed - control,
            "confidence": 1 - 2 * alpha,
            "n_resamples": n_resamples,
            "seed": seed,
            "boot_share_le_0": float(np.mean(boot <= 0)),
            "boot_share_ge_0": float(np.mean(boot >= 0)),
        },
    )


# ----------------------------------------------------------------------------- proportions
def two_proportion_test(
    k1: int,
    n1: int,
    k2: int,
    n2: int,
    *,
    alternative: str = "greater",
    alpha: float = ALPHA,
    statistic: str = "proportion",
    min_expected: float = 5.0,
) -> Decision:
    """Compare two proportions ``k1/n1`` vs ``k2/n2``.

    Pooled one-sided z test when every expected cell count (under the pooled rate) is at least
    ``min_expected``; otherwise Fisher's exact test (``scipy.stats.fisher_exact``) on the 2x2
    table. ``effect_size`` is the difference of proportions; Cohen's h is in ``detail``.

    Examples
    --------
    60/100 against 40/100: pooled rate 1/2, standard error sqrt(1/4 · 2/100) = 1/(5 sqrt 2), so
    z = 0.2 · 5 sqrt(2) = 2 sqrt(2) and p = P(Z > 2 sqrt 2) = erfc(2) / 2 ≈ 0.00234:

    >>> d = two_proportion_test(60, 100, 40, 100)
    >>> d.detail["test"], round(d.detail["z"] ** 2, 9), round(d.p_value, 5), d.supported
    ('two-proportion z', 8.0, 0.00234, True)

    3/4 against 0/4 is too small for z: Fisher's exact test gives P(X >= 3) for
    X ~ Hypergeometric(8, 3, 4), i.e. C(3, 3) C(5, 1) / C(8, 4) = 5/70.

    >>> d = two_proportion_test(3, 4, 0, 4)
    >>> d.detail["test"], d.p_value == 5 / 70
    ('Fisher exact', True)
    """
    _check_alternative(alternative)
    for name, k, n in (("1", k1, n1), ("2", k2, n2)):
        if n <= 0 or not 0 <= k <= n:
            raise ValueError(f"need 0 <= k{name} <= n{name} and n{name} > 0, got {k}/{n}")
    p1, p2 = k1 / n1, k2 / n2
    pooled = (k1 + k2) / (n1 + n2)
    expected = min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    extra: dict[str, float | None]
    opposite = _opposite(alternative)
    p_opp: float | None = None
    detectable = None
    if expected >= min_expected:
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (p1 - p2) / se
        tails = {"greater": float(sps.norm.sf(z)), "less": float(sps.norm.cdf(z)),
                 "two-sided": float(2 * sps.norm.sf(abs(z)))}
        p = tails[alternative]
        p_opp = tails[opposite] if opposite else None
        test, extra = "two-proportion z", {"z": z}
        detectable = detectable_effect(se, alpha)
    else:
        table = [[k1, n1 - k1], [k2, n2 - k2]]
        res = sps.fisher_exact(table, alternative=alternative)
        p = float(res.pvalue)
        p_opp = float(sps.fisher_exact(table, alternative=opposite).pvalue) if opposite else None
        test, extra = "Fisher exact", {"odds_ratio": _f(res.statistic)}
    h = 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))
    return Decision(
        statistic=statistic,
        value=p1,
        control=p2,
        effect_size=p1 - p2,
        p_value=p,
        ci=None,
        n=int(n1 + n2),
        alternative=alternative,
        alpha=alpha,
        supported=_decide(p, alpha) and (alternative == "two-sided" or _direction_ok(p1 - p2, alternative)),
        contradicted=opposite is not None and _decide(p_opp, alpha) and _direction_ok(p1 - p2, opposite),
        p_value_opposite=p_opp,
        detectable_effect=detectable,
        detail={"test": test, "k1": k1, "n1": n1, "k2": k2, "n2": n2, "cohen_h": h, **extra},
    )


def binomial_greater(
    k: int, n: int, p0: float, *, alpha: float = ALPHA, statistic: str = "proportion"
) -> Decision:
    """Exact binomial test that the success rate ``k/n`` exceeds ``p0`` (``scipy.stats.binomtest``).

    ``ci`` is the one-sided Clopper–Pearson interval ``(lower, 1)`` at confidence ``1 - alpha``.

    Examples
    --------
    10 successes of 10 against p0 = 1/2: p = 2⁻¹⁰; the lower bound solves p¹⁰ = 0.01.

    >>> d = binomial_greater(10, 10, 0.5)
    >>> d.p_value == 2**-10, round(d.ci[0], 9) == round(0.01 ** (1 / 10), 9), d.ci[1]
    (True, True, 1.0)
    """
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got {k}/{n}")
    if not 0 <= p0 <= 1:
        raise ValueError(f"p0 must be a probability, got {p0}")
    res = sps.binomtest(int(k), int(n), p0, alternative="greater")
    ci = res.proportion_ci(confidence_level=1 - alpha, method="exact")
    p = float(res.pvalue)
    p_opp = float(sps.binomtest(int(k), int(n), p0, alternative="less").pvalue)
    return Decision(
        statistic=statistic,
        value=k / n,
        control=float(p0),
        effect_size=k / n - p0,
        p_value=p,
        ci=(float(ci.low), float(ci.high)),
        n=int(n),
        alternative="greater",
        alpha=alpha,
        supported=_decide(p, alpha),
        contradicted=_decide(p_opp, alpha),
        p_value_opposite=p_opp,
        detectable_effect=detectable_effect(math.sqrt(p0 * (1 - p0) / n), alpha),
        # the interval is one-sided at 1 - alpha, not the two-sided 1 - 2 alpha that describe() assumes
        detail={"test": "exact binomial", "k": int(k), "ci_label": f"one-sided {100 * (1 - alpha):.0f}% CI"},
    )


# ------------------------------------------------------------------------------------ trends
def _centred_unit(v: np.ndarray) -> np.ndarray | None:
    c = v - v.mean()
    norm = float(np.sqrt(c @ c))
    return c / norm if norm > 0 else None


def trend_test(
    steps: Any,
    values: Any,
    *,
    alternative: str = "increasing",
    alpha: float = ALPHA,
    statistic: str = "Spearman rho",
) -> Decision:
    """Monotone trend of ``values`` over ``steps``: Spearman's rho and a one-sided p-value.

    For n <= 8 points the p-value is exact: the share of all n! orderings of the values whose
    rho is at least (``"increasing"``) or at most (``"decreasing"``) the observed one (ties keep
    their mid-ranks). Longer series use ``scipy.stats.spearmanr``'s t approximation. Note that
    with n points the smallest exact p is 1/n! (n = 5: 0.0083), so short series cannot pass a
    small ``alpha``. A constant series gives rho = NaN (reported as None) and p = 1.

    Examples
    --------
    Only the identity of the 5! orderings is perfectly increasing: p = 1/120 < 0.01. With four
    points the smallest p is 1/24, which cannot pass.

    >>> d = trend_test([1, 2, 3, 4, 5], [0.1, 0.2, 0.3, 0.4, 0.5])
    >>> d.value, d.p_value == 1 / 120, d.supported
    (1.0, True, True)
    >>> trend_test([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]).supported
    False
    """
    if alternative not in ("increasing", "decreasing"):
        raise ValueError(f"alternative must be 'increasing' or 'decreasing', got {alternative!r}")
    s, v = _paired(steps, values)
    n = s.size
    if n < 3:
        raise ValueError(f"a trend test needs at least 3 points, got {n}")
    rs, rv = _centred_unit(sps.rankdata(s)), _centred_unit(sps.rankdata(v))
    detail: dict[str, Any] = {"n_points": n}
    if rs is None or rv is None:
        rho, p_up, p_down, exact = float("nan"), 1.0, 1.0, n <= EXACT_TREND_MAX_N
    else:
        rho = float(np.clip(rs @ rv, -1.0, 1.0))
        if n <= EXACT_TREND_MAX_N:
            perms = np.array(list(itertools.permutations(range(n))), dtype=np.int64)
            null = rv[perms] @ rs
            tol = 1e-12
            p_up, p_down = float(np.mean(null >= rho - tol)), float(np.mean(null <= rho + tol))
            exact = True
            detail["n_permutations"] = int(perms.shape[0])
        else:
            p_up = float(sps.spearmanr(s, v, alternative="greater").pvalue)
            p_down = float(sps.spearmanr(s, v, alternative="less").pvalue)
            exact = False
    p, p_opp = (p_up, p_down) if alternative == "increasing" else (p_down, p_up)
    detail.update(test="Spearman rank correlation", exact=exact, first=float(v[np.argmin(s)]),
                  last=float(v[np.argmax(s)]))
    return Decision(
        statistic=statistic,
        value=rho,
        control=0.0,
        effect_size=_f(rho),
        p_value=p,
        ci=None,
        n=int(n),
        alternative=alternative,
        alpha=alpha,
        supported=_decide(p, alpha),
        contradicted=_decide(p_opp, alpha),
        p_value_opposite=p_opp,
        detail=detail,
    )


# --------------------------------------------------------------------------------- one sample
def one_sample_greater(
    values: Any,
    null: float,
    *,
    alpha: float = ALPHA,
    method: str = "t",
    n_resamples: int = 10000,
    seed: int = 0,
    statistic: str = "mean",
) -> Decision:
    """One-sided test that the mean of ``values`` exceeds ``null``.

    ``method``: ``"t"`` (one-sample t test; ``ci`` is the two-sided ``1 - 2 alpha`` t interval,
    whose lower end is the one-sided bound), ``"sign-flip"`` (permutation test of
    ``values - null``, exact for n <= 16) or ``"wilcoxon"`` (signed-rank test). ``effect_size``
    is ``(mean - null) / sd``.

    Examples
    --------
    Three values above the null, sign-flip: only the all-plus of 8 patterns reaches the mean.

    >>> one_sample_greater([2.0, 3.0, 4.0], 1.0, method="sign-flip").p_value
    0.125
    >>> d = one_sample_greater([0.5, 0.6, 0.7, 0.8, 0.9], 0.0)  # t test
    >>> d.value, d.supported, d.ci[0] > 0
    (0.7, True, True)
    """
    v = _vec(values, "values")
    if v.size == 0:
        raise ValueError("empty sample")
    null = float(null)
    d = v - null
    mean = float(v.mean())
    ci = None
    detail: dict[str, Any] = {"method": method}
    detectable = detectable_effect(_mean_se(d), alpha)
    p_opp: float | None
    if method == "t":
        if v.size < 2:
            raise ValueError("a t test needs at least 2 values")
        sd = float(np.std(v, ddof=1))
        if sd == 0:
            p, p_opp = (0.0 if mean > null else 1.0), (0.0 if mean < null else 1.0)
            detail["degenerate"] = "zero variance"
        else:
            res = sps.ttest_1samp(v, null, alternative="greater")
            p, p_opp = float(res.pvalue), float(sps.ttest_1samp(v, null, alternative="less").pvalue)
            detail["t"] = float(res.statistic)
            half = float(sps.t.ppf(1 - alpha, v.size - 1)) * sd / math.sqrt(v.size)
            ci = (mean - half, mean + half)
        detail["test"] = "one-sample t"
    elif method == "sign-flip":
        p, p_opp, exact, m = _signflip_pvalue(d, "greater", n_resamples, seed)
        detail.update(test="sign-flip permutation", exact=exact, n_permutations=m)
    elif method == "wilcoxon":
        if np.all(d == 0):
            p, p_opp = 1.0, 1.0
        else:
            p = float(sps.wilcoxon(d, alternative="greater").pvalue)
            p_opp = float(sps.wilcoxon(d, alternative="less").pvalue)
        detail["test"] = "Wilcoxon signed-rank"
        detectable = None
    else:
        raise ValueError(f"method must be 't', 'sign-flip' or 'wilcoxon', got {method!r}")
    return Decision(
        statistic=statistic,
        value=mean,
        control=null,
        effect_size=_cohen_dz(d),
        p_value=p,
        ci=ci,
        n=int(v.size),
        alternative="greater",
        alpha=alpha,
        supported=_decide(p, alpha) and mean > null,
        contradicted=_decide(p_opp, alpha) and mean < null,
        p_value_opposite=p_opp,
        detectable_effect=detectable,
        detail=detail,
    )


# ------------------------------------------------------------------------------ conjunctions
def describe(d: Decision) -> str:
    """One line with a decision's numbers (statistic, value, control, p and interval).

    The interval is labelled with its level: two-sided ``1 - 2 alpha`` unless the test says otherwise
    (``detail["ci_label"]``, e.g. the one-sided Clopper–Pearson bound of :func:`binomial_greater`).

    >>> describe(binomial_greater(10, 10, 0.5, statistic="share"))
    'share = 1 vs 0.5 p = 0.000977 one-sided 99% CI [0.631, 1]'
    >>> describe(one_sample_greater([0.4, 0.5, 0.6, 0.5, 0.45, 0.55], 0.0, method="t", statistic="gain"))
    'gain = 0.5 vs 0 p = 5.88e-06 98% CI [0.4029, 0.5971]'
    """
    bits = [f"{d.statistic} = {fmt_number(d.value)}"]
    if d.control is not None:
        bits.append(f"vs {fmt_number(d.control)}")
    if "difference" in d.detail:
        bits.append(f"difference {fmt_number(d.detail['difference'])}")
    if d.p_value is not None:
        bits.append(f"p = {d.p_value:.3g}")
    if d.ci is not None and all(v is not None and math.isfinite(v) for v in d.ci):
        label = d.detail.get("ci_label") or f"{100 * (1 - 2 * d.alpha):.0f}% CI"
        bits.append(f"{label} [{fmt_number(d.ci[0])}, {fmt_number(d.ci[1])}]")
    return " ".join(bits)


def fmt_number(v: float | None) -> str:
    """A statistic for a message: 4 significant digits, "nan" for None or non-finite.

    >>> fmt_number(2 / 3), fmt_number(None), fmt_number(float("inf"))
    ('0.6667', 'nan', 'nan')
    """
    return "nan" if v is None or not math.isfinite(v) else f"{v:.4g}"


def _part_text(name: str, d: Decision) -> str:
    """A part of a conjunction with its numbers, and why it is not supported."""
    extra = ""
    if d.contradicted:
        extra = "; the opposite holds" + (f", p = {d.p_value_opposite:.3g}" if d.p_value_opposite is not None else "")
    elif not d.supported and d.detectable_effect is not None:
        extra = f"; detectable difference at this n ≈ {fmt_number(d.detectable_effect)}"
    return f"{name} ({describe(d)}{extra})"


def all_of(primary: Decision, parts: dict[str, Decision], *, rule: str) -> Decision:
    """One decision that holds when every part holds (an intersection–union test).

    A claim made of several one-sided statements is supported when each is rejected at its
    ``alpha``; the conjunction then has level ``alpha`` without correction. Its p-value is the
    largest part p-value when every part has one (parts decided by an interval or a rule have
    none; then it is None). The conjunction is **contradicted** when any part is (the opposite of
    one of its statements is significant, so the conjunction is false); it is inconclusive when it
    fails without a contradicted part. ``primary`` gives the reported statistic, value, control,
    interval and detectable effect (of that statistic, at its sample size); every part is kept in
    ``detail["parts"]``, the failing ones in ``detail["failed"]``, the contradicted ones in
    ``detail["contradicted"]``, and the failing ones with their numbers (and, where known, the
    difference their test could detect) in ``detail["reason"]``.

    Examples
    --------
    Seven positive differences pass (p = 1/128); three do not (p = 1/8), so the conjunction
    fails, with the larger p-value; seven negative differences contradict it:

    >>> a = paired_permutation_test([1.0] * 7, [0.0] * 7)
    >>> b = paired_permutation_test([1.0] * 3, [0.0] * 3)
    >>> both = all_of(a, {"a": a, "b": b}, rule="a and b")
    >>> both.supported, both.p_value, both.detail["failed"], both.verdict
    (False, 0.125, ['b'], 'inconclusive')
    >>> all_of(a, {"a": a}, rule="a").supported
    True
    >>> c = paired_permutation_test([0.0] * 7, [1.0] * 7)
    >>> all_of(a, {"a": a, "c": c}, rule="a and c").verdict
    'contradicted'
    """
    if not parts:
        raise ValueError("all_of needs at least one part")
    failed = {name: d for name, d in parts.items() if not d.supported}
    contradicted = [name for name, d in parts.items() if d.contradicted]
    ps = [d.p_value for d in parts.values() if d.p_value is not None]
    p = max(ps) if len(ps) == len(parts) else None
    if contradicted:
        reason = "contradicted: " + "; ".join(_part_text(name, parts[name]) for name in contradicted)
        others = [name for name in failed if name not in contradicted]
        if others:
            reason += "; also fails: " + "; ".join(_part_text(name, failed[name]) for name in others)
    elif failed:
        reason = "fails: " + "; ".join(_part_text(name, d) for name, d in failed.items())
    else:
        reason = "every part holds: " + "; ".join(f"{name} ({describe(d)})" for name, d in parts.items())
    return Decision(
        statistic=primary.statistic,
        value=primary.value,
        control=primary.control,
        effect_size=primary.effect_size,
        p_value=p,
        ci=primary.ci,
        n=primary.n,
        alternative=primary.alternative,
        alpha=primary.alpha,
        supported=not failed,
        contradicted=bool(contradicted),
        detectable_effect=primary.detectable_effect,
        detail={
            "rule": rule,
            "failed": list(failed),
            "contradicted": contradicted,
            "parts": {k: d.to_dict() for k, d in parts.items()},
            "reason": reason,
        },
    )
