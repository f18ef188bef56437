"""Top-k expert units, their overlap between languages, and its chance level."""

from __future__ import annotations

from typing import Any

import torch
from scipy.stats import hypergeom

from ._common import as_index_set, as_tensor, check_finite


def topk_units(scores: Any, k: int) -> torch.Tensor:
    """Indices of the ``k`` highest scores, highest first; ties go to the lower index.

    ``scores`` is ``[n_units]``; a ``[n_layers, units_per_layer]`` input is flattened row-major,
    so the ranking is global over layers and index ``l * units_per_layer + u`` names unit ``u``
    of layer ``l``. Returns a LongTensor ``[k]`` (on the CPU).

    Examples
    --------
    Units 1 and 3 tie at 0.9: the lower index comes first.

    >>> topk_units([0.1, 0.9, 0.5, 0.9], 3).tolist()
    [1, 3, 2]

    Two layers of three units: 0.9 at layer 0 unit 1 (index 1) and layer 1 unit 1 (index 4).

    >>> topk_units([[0.1, 0.9, 0.2], [0.8, 0.9, 0.0]], 3).tolist()
    [1, 4, 3]
    """
    s = as_tensor(scores, name="scores").detach().reshape(-1).cpu()
    if not torch.is_floating_point(s):
        s = s.to(torch.float64)
    check_finite(s, name="scores")
    if not 0 < k <= s.numel():
        raise ValueError(f"k must be in [1, {s.numel()}], got {k}")
    # a stable descending sort keeps equal scores in index order
    order = torch.sort(s, descending=True, stable=True).indices
    return order[:k].to(torch.int64)


def overlap_fraction(a_idx: Any, b_idx: Any, k: int) -> float:
    """``|A ∩ B| / k`` for two index sets (duplicates count once).

    >>> overlap_fraction([1, 2, 3, 4], [3, 4, 5, 6], k=4)  # {3, 4} shared
    0.5
    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    a, b = as_index_set(a_idx), as_index_set(b_idx)
    if len(a) > k or len(b) > k:
        raise ValueError(f"index sets larger than k={k}: {len(a)} and {len(b)}")
    return len(a & b) / k


def overlap_pvalue(n_shared: int, k: int, n_units: int) -> float:
    """P(X >= n_shared) when two k-subsets of ``n_units`` are drawn independently at random.

    X is hypergeometric (population ``n_units``, ``k`` marked, ``k`` drawn); exact upper tail via
    ``scipy.stats.hypergeom.sf(n_shared - 1, n_units, k, k)``.

    Examples
    --------
    Of the C(4, 2) = 6 pairs of 4 units, only A itself shares both units with A, and only the
    pair of the two other units shares none:

    >>> overlap_pvalue(2, k=2, n_units=4) == 1 / 6
    True
    >>> overlap_pvalue(1, k=2, n_units=4) == 5 / 6
    True
    """
    if not 0 < k <= n_units:
        raise ValueError(f"need 0 < k <= n_units, got k={k}, n_units={n_units}")
    if n_shared <= 0:
        return 1.0
    if n_shared > k:
        return 0.0
    return float(hypergeom.sf(n_shared - 1, n_units, k, k))


def chance_overlap(k: int, n_units: int) -> float:
    """Expected ``|A ∩ B| / k`` for two random k-subsets: ``k / n_units``.

    >>> chance_overlap(5, 100)
    0.05
    """
    if not 0 < k <= n_units:
        raise ValueError(f"need 0 < k <= n_units, got k={k}, n_units={n_units}")
    return k / n_units


def units_per_layer(idx: Any, units_per_layer: int, n_layers: int) -> torch.Tensor:
    """How many of the global unit indices ``idx`` fall in each layer: LongTensor ``[n_layers]``.

    Unit ``i`` belongs to layer ``i // units_per_layer`` (row-major flattening as in
    :func:`topk_units`).

    >>> units_per_layer([0, 1, 5, 11], units_per_layer=4, n_layers=3).tolist()
    [2, 1, 1]
    """
    t = as_tensor(idx, name="idx").detach().reshape(-1).cpu().to(torch.int64)
    total = units_per_layer * n_layers
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= total):
        raise ValueError(f"unit indices must lie in [0, {total}), got [{int(t.min())}, {int(t.max())}]")
    return torch.bincount(t // units_per_layer, minlength=n_layers)
