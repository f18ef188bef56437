"""Cross-lingual alignment: Pearson correlation of many vector pairs, and Fisher-z averaging."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from harness.errors import NonFiniteActivationError

from ._common import as_tensor, check_finite


def _finite_float(x: Any, name: str) -> torch.Tensor:
    """Tensor of a float dtype (ints -> float64); no float64 copy yet."""
    t = as_tensor(x, name=name).detach()
    if not torch.is_floating_point(t):
        t = t.to(torch.float64)
    return t


def _unit_centred(t: torch.Tensor, dim: int, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(vectors along ``dim`` centred and scaled to unit norm in float64, constant mask).

    A vector is constant when its min equals its max (then its centred norm may still be a
    rounding residue, so it is flagged explicitly). min/max propagate NaN and show infinities,
    so they double as the finiteness check."""
    if t.shape[dim] == 0:
        raise ValueError(f"{name} has no entries along dim {dim}")
    lo, hi = torch.aminmax(t, dim=dim)
    if not (bool(torch.isfinite(lo).all()) and bool(torch.isfinite(hi).all())):
        check_finite(t, name=name)  # raises with a count of bad values
    c = t - t.mean(dim=dim, keepdim=True, dtype=torch.float64)  # promotes to float64
    c.div_(torch.linalg.vector_norm(c, dim=dim, keepdim=True))
    return c, lo == hi


def pearson(x: Any, y: Any, dim: int = -1) -> torch.Tensor:
    """Pearson correlation of the vectors along ``dim`` of ``x`` and ``y``.

    ``x`` and ``y`` broadcast against each other (e.g. ``[n_concepts, 1, n_units]`` against
    ``[n_concepts, n_pairs, n_units]``); the result has the broadcast shape without ``dim``,
    float64. A vector that is constant (all entries exactly equal) gives NaN, as
    ``scipy.stats.pearsonr`` does. NaN/inf inputs raise ``NonFiniteActivationError``.

    Examples
    --------
    ``x = (1, 2, 3)`` and ``y = (1, 3, 2)`` centre to ``(-1, 0, 1)`` and ``(-1, 1, 0)``: their dot
    product is 1 and both norms are sqrt(2), so r = 1/2. A linear map gives r = ±1.

    >>> round(pearson([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]).item(), 12)
    0.5
    >>> pearson([1.0, 2.0, 3.0, 4.0], [8.0, 6.0, 4.0, 2.0]).item()
    -1.0

    Many pairs at once (rows against one vector, broadcast), and a constant vector:

    >>> pearson([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0]], [1.0, 2.0, 3.0]).round(decimals=12).tolist()
    [1.0, 0.5]
    >>> pearson([5.0, 5.0, 5.0], [1.0, 2.0, 3.0]).item()
    nan
    """
    xt = _finite_float(x, "x")
    yt = _finite_float(y, "y")
    if xt.ndim != yt.ndim:  # align ranks so that ``dim`` names the same axis in both
        nd = max(xt.ndim, yt.ndim)
        xt = xt.reshape((1,) * (nd - xt.ndim) + tuple(xt.shape))
        yt = yt.reshape((1,) * (nd - yt.ndim) + tuple(yt.shape))
    if xt.shape[dim] != yt.shape[dim] or xt.shape[dim] < 2:
        raise ValueError(
            f"pearson needs equally long vectors of at least 2 entries along dim {dim}, got "
            f"{xt.shape[dim]} and {yt.shape[dim]}"
        )
    xc, x_const = _unit_centred(xt, dim, "x")
    yc, y_const = _unit_centred(yt, dim, "y")
    r = (xc * yc).sum(dim=dim).clamp_(-1.0, 1.0)
    constant = x_const | y_const
    return torch.where(constant, torch.full_like(r, float("nan")), r)


def pearson_matrix(a: Any, dim: int = -1) -> torch.Tensor:
    """Pearson correlation between every pair of rows of ``a``: ``[..., m, n] -> [..., m, m]``.

    Equivalent to ``pearson(a[..., :, None, :], a[..., None, :, :])`` but computed as one Gram
    matrix of standardised rows (much faster for the all-language-pairs case). Constant rows give
    NaN; the diagonal of non-constant rows is 1.

    Examples
    --------
    >>> pearson_matrix([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0], [3.0, 2.0, 1.0]]).round(decimals=12).tolist()
    [[1.0, 0.5, -1.0], [0.5, 1.0, -0.5], [-1.0, -0.5, 1.0]]
    """
    t = _finite_float(a, "a")
    if dim not in (-1, t.ndim - 1):
        t = t.movedim(dim, -1)
    if t.shape[-1] < 2:
        raise ValueError("pearson_matrix needs at least 2 entries per row")
    c, constant = _unit_centred(t, -1, "a")
    r = (c @ c.transpose(-1, -2)).clamp_(-1.0, 1.0)
    bad = constant[..., :, None] | constant[..., None, :]
    r = torch.where(bad, torch.full_like(r, float("nan")), r)
    eye = torch.eye(r.shape[-1], dtype=torch.bool, device=r.device)
    return torch.where(eye & ~bad, torch.ones_like(r), r)


def fisher_z_mean(r: Any, dim: int | None = None, clip: float = 1 - 1e-7) -> torch.Tensor:
    """Average correlations through Fisher's z: ``tanh(nanmean(arctanh(clip(r))))``.

    ``r`` is clipped to ``[-clip, clip]`` so that |r| = 1 stays finite; NaN entries (constant
    vectors) are ignored; an all-NaN slice gives NaN. ``dim=None`` averages everything (0-d
    result), otherwise along ``dim``. Float64.

    Examples
    --------
    ``arctanh(0.5)`` and ``arctanh(-0.5)`` cancel; equal correlations average to themselves; NaN
    (a constant vector's correlation) is skipped:

    >>> fisher_z_mean([0.5, -0.5]).item()
    0.0
    >>> fisher_z_mean([[0.2, 0.2], [0.6, float("nan")]], dim=1).tolist()
    [0.2, 0.6]
    """
    if isinstance(r, torch.Tensor):
        t = r.detach().to(torch.float64)
    else:  # lists would become float32 tensors: go through numpy float64
        t = torch.from_numpy(np.asarray(r, dtype=np.float64))
    if bool(torch.isinf(t).any()):
        raise NonFiniteActivationError("correlations contain infinity")
    if bool((t.abs() > 1 + 1e-12).any()):
        raise ValueError("correlations must lie in [-1, 1]")
    z = torch.arctanh(t.clamp(-clip, clip))
    m = torch.nanmean(z) if dim is None else torch.nanmean(z, dim=dim)
    return torch.tanh(m)
