"""Expert score: average precision of every unit at once (sort-based, vectorised, chunked).

Definition (identical to ``sklearn.metrics.average_precision_score`` for one column, ties
included): sort the scores in decreasing order; every distinct score value is one threshold, and
all samples with that value enter together. With ``P_n`` the precision and ``R_n`` the recall at
the n-th threshold,

    AP = sum_n (R_n - R_{n-1}) * P_n.

Equivalently, every positive sample p contributes ``N_pos(score >= s_p) / N_all(score >= s_p)``
(the precision at the end of its tie block) divided by the number of positives; this is what is
computed here, one row of a [units, samples] matrix per unit, in chunks of units.

The work runs in three stages, as in torchmetrics:

1. **validation** (:func:`_validate`): shapes, dtypes, labels, positives and negatives, backend
   and chunk size, finiteness; every error is raised here, before any work.
2. **formatting** (:func:`_format_scores`, :func:`_unit_block_numpy`, :func:`_unit_block_torch`):
   the backend's array, the chunks of units, and each chunk as a ``[units, samples]`` float64 block.
3. **compute** (:func:`_compute_numpy`, :func:`_compute_torch` over the per-chunk kernels
   :func:`_ap_chunk_numpy`, :func:`_ap_chunk_torch`): the vectorised, tie-exact AP.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from harness.errors import ConceptError

from ._common import as_tensor, check_finite

#: default working-memory budget of one chunk (bytes); the chunk size is derived from it
DEFAULT_MEMORY_BUDGET = 256 * 1024**2
#: bytes of working memory per (sample, unit) element: the float64 copy, int64 sort indices,
#: sorted values, gathered labels, int32 counts, float64 numerators, and for rows with ties an
#: int64 block start and float64 precisions (measured peak is below this)
_BYTES_PER_ELEMENT = 64
_BACKENDS = ("numpy", "torch")


def default_chunk_units(n_samples: int, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> int:
    """Number of units processed at once so that one chunk needs about ``memory_budget`` bytes.

    >>> default_chunk_units(1024, memory_budget=64 * 1024 * 100)  # 64 bytes per element
    100
    >>> default_chunk_units(10**9)  # never below one unit
    1
    """
    return max(1, int(memory_budget // (max(1, n_samples) * _BYTES_PER_ELEMENT)))


# --------------------------------------------------------------------------------- validation
@dataclass(frozen=True)
class _Validated:
    """Checked inputs: ``scores`` ``[n_samples, n_units]`` of a float dtype, ``labels`` bool
    ``[n_samples]`` on its device, the number of positives, whether ``scores`` was 1-D, and the
    resolved backend (``"numpy"`` or ``"torch"``)."""

    scores: torch.Tensor
    labels: torch.Tensor
    n_pos: int
    squeeze: bool
    backend: str


def _validate_scores(scores: Any) -> tuple[torch.Tensor, bool]:
    """``scores`` as a detached 2-D tensor of a float dtype (ints become float64), and whether
    it was 1-D (one unit)."""
    s = as_tensor(scores, name="scores").detach()
    if not torch.is_floating_point(s):
        s = s.to(torch.float64)
    squeeze = s.ndim == 1
    if squeeze:
        s = s[:, None]
    if s.ndim != 2:
        raise ValueError(f"scores must be [n_samples, n_units], got shape {tuple(s.shape)}")
    return s, squeeze


def _validate_labels(labels: Any, n_samples: int, device: torch.device) -> torch.Tensor:
    """``labels`` as a bool tensor ``[n_samples]`` on ``device`` (bool or 0/1 accepted)."""
    lab = as_tensor(labels, name="labels")
    if lab.ndim != 1 or lab.shape[0] != n_samples:
        raise ValueError(f"labels must have shape [{n_samples}] (one per sample), got {tuple(lab.shape)}")
    if lab.dtype != torch.bool:
        if torch.is_floating_point(lab):
            check_finite(lab, name="labels")
        bad = (lab != 0) & (lab != 1)
        if bool(bad.any()):
            raise ValueError("labels must be boolean or 0/1")
        lab = lab != 0
    return lab.to(device)


def _validate_finite_scores(s: torch.Tensor) -> None:
    """Raise ``NonFiniteActivationError`` on NaN/inf in ``s`` without a full-size mask: min and
    max propagate NaN and show infinities; only a bad input pays for the count."""
    if s.numel() == 0:
        return
    lo, hi = torch.aminmax(s)
    if not (bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))):
        check_finite(s, name="scores")  # raises with the number of bad values


def _validate_args(backend: str, chunk_units: int | None, device: torch.device) -> str:
    """The backend to use (``"auto"`` resolved: numpy on CPU, torch elsewhere), after checking
    it and ``chunk_units``."""
    if backend == "auto":
        backend = "numpy" if device.type == "cpu" else "torch"
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be 'auto', 'numpy' or 'torch', got {backend!r}")
    if backend == "numpy" and device.type != "cpu":
        raise ValueError("backend='numpy' needs CPU tensors")
    if chunk_units is not None and chunk_units < 1:
        raise ValueError(f"chunk_units must be >= 1, got {chunk_units}")
    return backend


def _validate(scores: Any, labels: Any, backend: str, chunk_units: int | None) -> _Validated:
    """Validation stage, every check before any work: shapes and dtypes, 0/1 labels, at least
    one positive and one negative (``ConceptError``), the backend and chunk size, and finite
    scores (``NonFiniteActivationError``)."""
    s, squeeze = _validate_scores(scores)
    n_samples = s.shape[0]
    lab = _validate_labels(labels, n_samples, s.device)
    n_pos = int(lab.sum())
    if n_pos == 0 or n_pos == n_samples:
        kind = "positive" if n_pos == 0 else "negative"
        raise ConceptError(
            f"average precision needs at least one positive and one negative sample; got no "
            f"{kind} among {n_samples} samples"
        )
    resolved = _validate_args(backend, chunk_units, s.device)
    _validate_finite_scores(s)
    return _Validated(s, lab, n_pos, squeeze, resolved)


# --------------------------------------------------------------------------------- formatting
def _workers(backend: str) -> int:
    """Threads of the numpy backend (its sort releases the GIL); torch runs chunks in turn."""
    return max(1, min(torch.get_num_threads(), 8)) if backend == "numpy" else 1


def _chunk_bounds(n_units: int, chunk_units: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of every chunk of units.

    >>> _chunk_bounds(5, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    return [(start, min(n_units, start + chunk_units)) for start in range(0, n_units, chunk_units)]


def _format_scores(
    s: torch.Tensor, backend: str, chunk_units: int | None, memory_budget: int
) -> tuple[torch.Tensor | np.ndarray, list[tuple[int, int]]]:
    """Formatting stage: the scores as the backend's array (numpy views the CPU tensor; bf16,
    which numpy lacks, goes through an exact float32 copy) and the chunks of units."""
    n_samples, n_units = s.shape
    if chunk_units is None:
        chunk_units = default_chunk_units(n_samples, memory_budget // _workers(backend))
    bounds = _chunk_bounds(n_units, chunk_units)
    if backend == "torch":
        return s, bounds
    return (s.to(torch.float32) if s.dtype == torch.bfloat16 else s).numpy(), bounds


def _unit_block_numpy(arr: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Units ``start:stop`` of ``arr`` ``[samples, units]`` as a contiguous ``[units, samples]``
    float64 block (exact: every float dtype converts to float64 without rounding)."""
    return np.ascontiguousarray(arr[:, start:stop].T, dtype=np.float64)


def _unit_block_torch(s: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Same as :func:`_unit_block_numpy` for a tensor, on its device."""
    block = torch.empty((stop - start, s.shape[0]), dtype=torch.float64, device=s.device)
    block.copy_(s[:, start:stop].T)
    return block


# ------------------------------------------------------------------------------------ compute
def _ap_chunk_numpy(block: np.ndarray, labels: np.ndarray, n_pos: int) -> np.ndarray:
    """AP of every row of ``block`` [units, samples] (finite float64) against ``labels`` [samples].

    Works in ascending order: a positive at sorted position ``i`` whose tie block starts at ``b``
    contributes ``N_pos(score >= s_i) / N_all(score >= s_i) = (P - pos_before(b)) / (n - b)``.
    Rows without ties (most, for fp32 activations) take a fast path with ``b = i``.

    >>> block = np.array([[0.9, 0.8, 0.7, 0.6], [0.5, 0.5, 0.5, 0.5]])
    >>> _ap_chunk_numpy(block, np.array([True, False, True, False]), 2).round(6).tolist()
    [0.833333, 0.5]
    """
    n = block.shape[1]
    order = np.argsort(block, axis=1)  # ascending; tied values are grouped whatever their order
    hits = labels[order]  # [units, n] bool: is the i-th lowest sample a positive?
    values = np.take_along_axis(block, order, axis=1)
    del order
    tied = values[:, 1:] == values[:, :-1]  # position i+1 continues the tie block of i
    del values
    tie_rows = np.flatnonzero(tied.any(axis=1))
    cum = np.cumsum(hits, axis=1, dtype=np.int32)  # positives at positions <= i
    # no ties: precision when position i enters = (positives at >= i) / (samples at >= i)
    numer = np.where(hits, n_pos + 1 - cum, 0).astype(np.float64)
    inv_remaining = 1.0 / np.arange(n, 0, -1, dtype=np.float64)
    ap = (numer @ inv_remaining) / n_pos
    del numer
    if tie_rows.size:
        h = hits[tie_rows]
        starts = np.ones((tie_rows.size, n), dtype=bool)
        starts[:, 1:] = ~tied[tie_rows]
        block_start = np.maximum.accumulate(np.where(starts, np.arange(n, dtype=np.int64), 0), axis=1)
        pos_before = np.take_along_axis(cum[tie_rows] - h, block_start, axis=1)
        precision = (n_pos - pos_before) / (n - block_start)
        ap[tie_rows] = np.where(h, precision, 0.0).sum(axis=1) / n_pos
    return ap


def _ap_chunk_torch(block: torch.Tensor, labels: torch.Tensor, n_pos: int) -> torch.Tensor:
    """Same computation as :func:`_ap_chunk_numpy` with torch ops (any device)."""
    n_units, n = block.shape
    values, order = torch.sort(block, dim=1)
    del block
    hits = labels[order]
    del order
    starts = torch.ones((n_units, n), dtype=torch.bool, device=values.device)
    torch.ne(values[:, 1:], values[:, :-1], out=starts[:, 1:])
    del values
    pos = torch.arange(n, device=hits.device, dtype=torch.int64)
    block_start = torch.cummax(torch.where(starts, pos, torch.zeros_like(pos)), dim=1).values
    del starts
    pos_excl = torch.cumsum(hits, dim=1, dtype=torch.int64) - hits.to(torch.int64)
    pos_before = torch.gather(pos_excl, 1, block_start)
    del pos_excl
    precision = (n_pos - pos_before).to(torch.float64) / (n - block_start).to(torch.float64)
    precision = torch.where(hits, precision, torch.zeros((), dtype=torch.float64, device=hits.device))
    return precision.sum(dim=1) / n_pos


def _compute_torch(
    s: torch.Tensor, labels: torch.Tensor, n_pos: int, bounds: list[tuple[int, int]]
) -> torch.Tensor:
    """AP of every unit, chunk after chunk, on the device of ``s``."""
    out = torch.empty(s.shape[1], dtype=torch.float64, device=s.device)
    for start, stop in bounds:
        out[start:stop] = _ap_chunk_torch(_unit_block_torch(s, start, stop), labels, n_pos)
    return out


def _compute_numpy(
    arr: np.ndarray, labels: np.ndarray, n_pos: int, bounds: list[tuple[int, int]], workers: int
) -> torch.Tensor:
    """AP of every unit, the chunks (formatted inside the workers) in ``workers`` threads."""
    result = np.empty(arr.shape[1], dtype=np.float64)

    def one(bound: tuple[int, int]) -> None:
        start, stop = bound
        result[start:stop] = _ap_chunk_numpy(_unit_block_numpy(arr, start, stop), labels, n_pos)

    if workers > 1 and len(bounds) > 1:
        # numpy's sort releases the GIL: chunks run in parallel threads
        with ThreadPoolExecutor(max_workers=min(workers, len(bounds))) as pool:
            list(pool.map(one, bounds))
    else:
        for bound in bounds:
            one(bound)
    return torch.from_numpy(result)


# ----------------------------------------------------------------------------------- public
def average_precision(
    scores: Any,
    labels: Any,
    *,
    chunk_units: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    backend: str = "auto",
) -> torch.Tensor:
    """Average precision of every unit's scores for separating positives from negatives.

    Parameters
    ----------
    scores:
        ``[n_samples, n_units]`` (or ``[n_samples]`` for one unit), any float dtype, numpy or
        torch, CPU or CUDA. Values are converted to float64 exactly (fp16/bf16/fp32 values are
        representable), so ties of the stored dtype stay ties.
    labels:
        ``[n_samples]`` bool (or 0/1): True marks a positive sample.
    chunk_units:
        units processed per chunk; by default chosen so one chunk uses about ``memory_budget``
        bytes (256 MiB) of working memory on top of the input (split between the worker
        threads on the CPU).
    backend:
        ``"auto"`` (numpy on CPU, where its SIMD argsort is fastest, with chunks in
        ``torch.get_num_threads()`` threads; torch elsewhere), ``"numpy"`` or ``"torch"``.

    Returns
    -------
    Tensor ``[n_units]`` float64 (0-d for 1-D ``scores``) on the device of ``scores``, equal to
    ``sklearn.metrics.average_precision_score(labels, scores[:, j])`` for every column ``j``.

    Raises
    ------
    ConceptError: no positive or no negative sample.
    NonFiniteActivationError: NaN or infinity in ``scores``.

    Examples
    --------
    A unit that ranks both positives above both negatives is a perfect expert:

    >>> float(average_precision([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0]))
    1.0

    Ranked order positive, negative, positive, negative: the positives enter at ranks 1 and 3
    with precisions 1/1 and 2/3, so AP = (1 + 2/3) / 2 = 5/6. Tied scores enter together: with
    scores 0.5 (positive), 0.5 (negative), 0.2 (positive) the tied pair has precision 1/2 and
    the last positive 2/3, so AP = (1/2 + 2/3) / 2 = 7/12. Columns are units:

    >>> scores = [[0.9, 0.5], [0.8, 0.5], [0.7, 0.2], [0.6, 0.1]]
    >>> ap = average_precision(scores, [True, False, True, False])
    >>> [round(v, 6) for v in ap.tolist()]  # 5/6 and 7/12
    [0.833333, 0.583333]
    >>> ap.dtype
    torch.float64
    """
    v = _validate(scores, labels, backend, chunk_units)
    arr, bounds = _format_scores(v.scores, v.backend, chunk_units, memory_budget)
    if isinstance(arr, torch.Tensor):
        out = _compute_torch(arr, v.labels, v.n_pos, bounds)
    else:
        out = _compute_numpy(arr, v.labels.numpy(), v.n_pos, bounds, _workers(v.backend))
    return out[0] if v.squeeze else out
