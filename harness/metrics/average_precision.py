"""Expert score: average precision of every unit at once (sort-based, vectorised, chunked).

Definition (identical to ``sklearn.metrics.average_precision_score`` for one column, ties
included): sort the scores in decreasing order; every distinct score value is one threshold, and
all samples with that value enter together. With ``P_n`` the precision and ``R_n`` the recall at
the n-th threshold,

    AP = sum_n (R_n - R_{n-1}) * P_n.

Equivalently, every positive sample p contributes ``N_pos(score >= s_p) / N_all(score >= s_p)``
(the precision at the end of its tie block) divided by the number of positives; this is what is
computed here, one row of a [units, samples] matrix per unit, in chunks of units.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from harness.errors import ConceptError, NonFiniteActivationError

from ._common import as_tensor, check_finite

#: default working-memory budget of one chunk (bytes); the chunk size is derived from it
DEFAULT_MEMORY_BUDGET = 256 * 1024**2
#: bytes of working memory per (sample, unit) element: the float64 copy, int64 sort indices,
#: sorted values, gathered labels, int32 counts, float64 numerators, and for rows with ties an
#: int64 block start and float64 precisions (measured peak is below this)
_BYTES_PER_ELEMENT = 64


def default_chunk_units(n_samples: int, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> int:
    """Number of units processed at once so that one chunk needs about ``memory_budget`` bytes."""
    return max(1, int(memory_budget // (max(1, n_samples) * _BYTES_PER_ELEMENT)))


def _labels_tensor(labels: Any, n_samples: int, device: torch.device) -> torch.Tensor:
    lab = as_tensor(labels, name="labels")
    if lab.ndim != 1 or lab.shape[0] != n_samples:
        raise ValueError(
            f"labels must have shape [{n_samples}] (one per sample), got {tuple(lab.shape)}"
        )
    if lab.dtype != torch.bool:
        if torch.is_floating_point(lab):
            check_finite(lab, name="labels")
        bad = (lab != 0) & (lab != 1)
        if bool(bad.any()):
            raise ValueError("labels must be boolean or 0/1")
        lab = lab != 0
    return lab.to(device)


def _ap_chunk_numpy(block: np.ndarray, labels: np.ndarray, n_pos: int) -> np.ndarray:
    """AP of every row of ``block`` [units, samples] (float64) against ``labels`` [samples].

    Works in ascending order: a positive at sorted position ``i`` whose tie block starts at ``b``
    contributes ``N_pos(score >= s_i) / N_all(score >= s_i) = (P - pos_before(b)) / (n - b)``.
    Rows without ties (most, for fp32 activations) take a fast path with ``b = i``.
    """
    n_units, n = block.shape
    if not np.isfinite(block).all():
        raise NonFiniteActivationError(
            f"scores contain {int(np.count_nonzero(~np.isfinite(block)))} NaN or infinite "
            "value(s) in one chunk; clean the activations first"
        )
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
        block_start = np.maximum.accumulate(
            np.where(starts, np.arange(n, dtype=np.int64), 0), axis=1
        )
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
    """
    s = as_tensor(scores, name="scores").detach()
    if not torch.is_floating_point(s):
        s = s.to(torch.float64)
    squeeze = s.ndim == 1
    if squeeze:
        s = s[:, None]
    if s.ndim != 2:
        raise ValueError(f"scores must be [n_samples, n_units], got shape {tuple(s.shape)}")
    n_samples, n_units = s.shape
    lab = _labels_tensor(labels, n_samples, s.device)
    n_pos = int(lab.sum())
    if n_pos == 0 or n_pos == n_samples:
        kind = "positive" if n_pos == 0 else "negative"
        raise ConceptError(
            f"average precision needs at least one positive and one negative sample; got no "
            f"{kind} among {n_samples} samples"
        )
    if backend == "auto":
        backend = "numpy" if s.device.type == "cpu" else "torch"
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'auto', 'numpy' or 'torch', got {backend!r}")
    if backend == "numpy" and s.device.type != "cpu":
        raise ValueError("backend='numpy' needs CPU tensors")
    workers = max(1, min(torch.get_num_threads(), 8)) if backend == "numpy" else 1
    if chunk_units is None:
        chunk_units = default_chunk_units(n_samples, memory_budget // workers)
    if chunk_units < 1:
        raise ValueError(f"chunk_units must be >= 1, got {chunk_units}")
    starts = list(range(0, n_units, chunk_units))

    if backend == "torch":
        out = torch.empty(n_units, dtype=torch.float64, device=s.device)
        check_finite(s, name="scores")
        for start in starts:
            stop = min(n_units, start + chunk_units)
            block = torch.empty((stop - start, n_samples), dtype=torch.float64, device=s.device)
            block.copy_(s[:, start:stop].T)
            out[start:stop] = _ap_chunk_torch(block, lab, n_pos)
        return out[0] if squeeze else out

    arr = (s.to(torch.float32) if s.dtype == torch.bfloat16 else s).numpy()
    lab_np = lab.numpy()
    result = np.empty(n_units, dtype=np.float64)

    def one(start: int) -> None:
        stop = min(n_units, start + chunk_units)
        block = np.ascontiguousarray(arr[:, start:stop].T, dtype=np.float64)
        result[start:stop] = _ap_chunk_numpy(block, lab_np, n_pos)

    if workers > 1 and len(starts) > 1:
        # numpy's sort releases the GIL: chunks run in parallel threads
        with ThreadPoolExecutor(max_workers=min(workers, len(starts))) as pool:
            list(pool.map(one, starts))
    else:
        for start in starts:
            one(start)
    out = torch.from_numpy(result)
    return out[0] if squeeze else out
