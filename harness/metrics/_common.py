"""Small input helpers shared by the metric modules (conversion, validation, label encoding)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from harness.errors import NonFiniteActivationError


def as_tensor(x: Any, *, name: str = "input") -> torch.Tensor:
    """Return ``x`` as a torch tensor without copying when possible (numpy, lists, tensors)."""
    if isinstance(x, torch.Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError(f"{name} must be numeric, got an object array")
    return torch.from_numpy(np.ascontiguousarray(arr))


def as_float64(x: Any, *, name: str = "input") -> torch.Tensor:
    """``x`` as a float64 tensor (on its own device); raises on NaN/inf."""
    t = as_tensor(x, name=name).to(torch.float64)
    check_finite(t, name=name)
    return t


def check_finite(t: torch.Tensor, *, name: str = "input") -> None:
    if torch.is_floating_point(t) and t.numel() and not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise NonFiniteActivationError(
            f"{name} contains {n_bad} NaN or infinite value(s); clean the activations first"
        )


def encode_labels(ids: Any) -> tuple[list, torch.Tensor]:
    """Map arbitrary labels (strings, ints, a tensor) to integer codes.

    Returns ``(levels, codes)`` where ``levels`` is the sorted list of distinct labels and
    ``codes[i]`` is the index of ``ids[i]`` in ``levels`` (a LongTensor on the CPU).

    >>> levels, codes = encode_labels(["fr", "en", "fr"])
    >>> levels, codes.tolist()
    (['en', 'fr'], [1, 0, 1])
    """
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {tuple(arr.shape)}")
    levels, codes = np.unique(arr, return_inverse=True)
    return [lv.item() if hasattr(lv, "item") else lv for lv in levels], torch.from_numpy(
        codes.astype(np.int64).reshape(-1)
    )


def to_numpy_1d(x: Any, *, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16:
            x = x.to(torch.float32)
        x = x.numpy()
    arr = np.asarray(x)
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def as_index_set(idx: Any) -> set[int]:
    """Unit indices (list, array or tensor, any shape) as a set of ints.

    >>> sorted(as_index_set(torch.tensor([[3, 1], [3, 2]])))
    [1, 2, 3]
    """
    if isinstance(idx, torch.Tensor):
        idx = idx.detach().cpu().reshape(-1).tolist()
    elif isinstance(idx, np.ndarray):
        idx = idx.reshape(-1).tolist()
    return {int(i) for i in idx}


def seq_len(x: Sequence | torch.Tensor | np.ndarray) -> int:
    return int(x.shape[0]) if hasattr(x, "shape") else len(x)
