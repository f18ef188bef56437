"""k-NN mutual information (Kraskov et al. 2004, estimator 1) between two AP vectors.

Reproduces ``sklearn.feature_selection.mutual_info_regression(x.reshape(-1, 1), y,
n_neighbors=k, random_state=seed)[0]`` bit for bit: the same scaling (divide by the population
std unless it is ~0), the same 1e-10 noise from the same ``RandomState`` draws (n values for x,
then n for y), the same Chebyshev k-th-neighbour radius shrunk by one ulp, and the same counts of
marginal neighbours within that radius. The neighbour search is our own: a 2-D Chebyshev k-NN
query on ``scipy.spatial.cKDTree`` and, for the 1-D marginals, sorting + ``searchsorted`` with an
exact floating-point fix-up (a point counts when ``fl(|x_j - x_i|) <= r_i``, as in sklearn's
``KDTree``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.special import digamma
from sklearn.utils import check_random_state

from harness.errors import NonFiniteActivationError

from ._common import to_numpy_1d

_FLOAT_DTYPES = (np.float64, np.float32, np.float16)


def _check_finite(a: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(a)):
        raise NonFiniteActivationError(f"{name} contains NaN or infinite values")


def _prepare(x: np.ndarray, y: np.ndarray, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """Scale and jitter x and y exactly as sklearn's ``_estimate_mi`` does (same dtypes, shapes
    and RNG draw order), returning float64 vectors."""
    n = x.shape[0]
    X = x.reshape(-1, 1).astype(np.float64)  # check_X_y, then astype(float64)
    # scale(X, with_mean=False): population std per column; near-zero std -> 1
    sd = np.nanstd(X, 0)
    sd[sd < 10 * np.finfo(sd.dtype).eps] = 1.0
    X /= sd
    means = np.maximum(1, np.mean(np.abs(X), axis=0))
    X += 1e-10 * means * rng.standard_normal(size=(n, 1))

    yy = np.array(y, copy=True)
    if yy.dtype not in _FLOAT_DTYPES:
        yy = yy.astype(np.float64)
    sdy = np.nanstd(yy, 0)  # a scalar: only an exact 0 is replaced (sklearn's scalar branch)
    if sdy == 0.0:
        sdy = 1.0
    yy /= sdy
    yy += 1e-10 * np.maximum(1, np.mean(np.abs(yy))) * rng.standard_normal(size=n)
    return X[:, 0].copy(), yy.astype(np.float64)


def _fix_bounds(v: np.ndarray, vs: np.ndarray, r: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """Move ``[lo, hi)`` in place to the exact set {j : fl(|vs[j] - v_i|) <= r_i} (contiguous
    because rounding is monotone)."""
    n = vs.shape[0]
    while True:
        i = np.flatnonzero(lo > 0)
        dec_lo = i[np.abs(v[i] - vs[lo[i] - 1]) <= r[i]]
        i = np.flatnonzero(lo < n)
        inc_lo = i[np.abs(v[i] - vs[lo[i]]) > r[i]]
        i = np.flatnonzero(hi < n)
        inc_hi = i[np.abs(v[i] - vs[hi[i]]) <= r[i]]
        i = np.flatnonzero(hi > 0)
        dec_hi = i[np.abs(v[i] - vs[hi[i] - 1]) > r[i]]
        if not (dec_lo.size or inc_lo.size or inc_hi.size or dec_hi.size):
            return
        lo[dec_lo] -= 1
        lo[inc_lo] += 1
        hi[inc_hi] += 1
        hi[dec_hi] -= 1


def _count_within(v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """For every i, the number of j (i included) with ``fl(|v_j - v_i|) <= r_i``."""
    vs = np.sort(v)
    lo = np.searchsorted(vs, v - r, side="left")
    hi = np.searchsorted(vs, v + r, side="right")
    _fix_bounds(v, vs, r, lo, hi)
    return hi - lo


def _mi_cc(x: np.ndarray, y: np.ndarray, n_neighbors: int, workers: int = 1) -> float:
    n = x.shape[0]
    xy = np.column_stack((x, y))
    dist, _ = cKDTree(xy).query(xy, k=n_neighbors + 1, p=np.inf, workers=workers)
    radius = np.nextafter(dist[:, -1], 0)  # k-th neighbour other than the point itself
    nx = _count_within(x, radius) - 1.0
    ny = _count_within(y, radius) - 1.0
    mi = digamma(n) + digamma(n_neighbors) - np.mean(digamma(nx + 1)) - np.mean(digamma(ny + 1))
    return float(max(0.0, mi))


def _validated(x: Any, y: Any, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    xa = to_numpy_1d(x, name="x")
    ya = to_numpy_1d(y, name="y")
    if xa.shape != ya.shape:
        raise ValueError(f"x and y must have the same length, got {xa.shape[0]} and {ya.shape[0]}")
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors}")
    if xa.shape[0] <= n_neighbors:
        raise ValueError(
            f"k-NN mutual information needs more than n_neighbors={n_neighbors} samples, "
            f"got {xa.shape[0]}"
        )
    _check_finite(xa.astype(np.float64), "x")
    _check_finite(ya.astype(np.float64), "y")
    return xa, ya


def mutual_info_knn(x: Any, y: Any, *, n_neighbors: int = 3, random_state: Any = 0) -> float:
    """Kraskov k-NN mutual information (nats) between two continuous vectors ``x``, ``y`` [n].

    Equal to ``mutual_info_regression(x.reshape(-1, 1), y, n_neighbors=n_neighbors,
    random_state=random_state)[0]`` (``x`` is used in float64, ``y`` in its own float dtype
    before the noise, as sklearn does). ``random_state``: int, ``RandomState`` or None, as in
    sklearn. Negative estimates are clipped to 0.

    Examples
    --------
    A vector shares much information with itself and, here, none with a shuffled copy (the
    estimate is negative and clipped to 0); the value is sklearn's, bit for bit:

    >>> import numpy as np
    >>> from sklearn.feature_selection import mutual_info_regression
    >>> x = np.arange(20.0)
    >>> mutual_info_knn(x, x) > 1.0
    True
    >>> mutual_info_knn(x, np.random.default_rng(0).permutation(x))
    0.0
    >>> y = x**2
    >>> mutual_info_knn(x, y, random_state=3) == float(mutual_info_regression(x[:, None], y, random_state=3)[0])
    True
    """
    xa, ya = _validated(x, y, n_neighbors)
    rng = check_random_state(random_state)
    xs, ys = _prepare(xa, ya, rng)
    return _mi_cc(xs, ys, n_neighbors)


def mutual_info_knn_batch(
    X: Any,
    Y: Any,
    *,
    n_neighbors: int = 3,
    random_state: Any = 0,
    n_threads: int | None = None,
) -> torch.Tensor:
    """:func:`mutual_info_knn` for many pairs: row ``i`` of ``X`` with row ``i`` of ``Y``.

    ``X`` and ``Y`` are ``[n_pairs, n]``; returns ``Tensor[n_pairs]`` float64 whose entry ``i``
    equals ``mutual_info_knn(X[i], Y[i], ...)``: with an int ``random_state`` every row gets a
    fresh ``RandomState(random_state)`` (so the same noise draws), exactly like separate sklearn
    calls. The rows run in ``n_threads`` threads (default: torch's thread count); the
    k-d-tree query and the sorts release the GIL.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(20.0)
    >>> X, Y = np.stack([x, x]), np.stack([x, np.sqrt(x)])
    >>> mutual_info_knn_batch(X, Y).tolist() == [mutual_info_knn(x, x), mutual_info_knn(x, np.sqrt(x))]
    True
    """
    Xa = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    Ya = Y.detach().cpu().numpy() if isinstance(Y, torch.Tensor) else np.asarray(Y)
    if Xa.ndim != 2 or Xa.shape != Ya.shape:
        raise ValueError(
            f"X and Y must both be [n_pairs, n] with equal shapes, got {Xa.shape} and {Ya.shape}"
        )
    if random_state is None or isinstance(random_state, np.random.RandomState):
        # a shared generator is consumed row after row, as sequential sklearn calls would
        return torch.tensor(
            [mutual_info_knn(a, b, n_neighbors=n_neighbors, random_state=random_state)
             for a, b in zip(Xa, Ya)],
            dtype=torch.float64,
        )
    threads = n_threads or max(1, torch.get_num_threads())

    def one(i: int) -> float:
        return mutual_info_knn(Xa[i], Ya[i], n_neighbors=n_neighbors, random_state=random_state)

    if threads > 1 and Xa.shape[0] > 1:
        with ThreadPoolExecutor(max_workers=min(threads, Xa.shape[0])) as pool:
            values = list(pool.map(one, range(Xa.shape[0])))
    else:
        values = [one(i) for i in range(Xa.shape[0])]
    return torch.tensor(values, dtype=torch.float64)
