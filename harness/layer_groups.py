"""Named groups of layers: the one definition every claim, analysis and report figure uses.

Two papers, two conventions, kept apart on purpose:

* **LF (Lingua Franca)** compares the *first and last quarter* of the layers with the rest:
  :func:`lf_quarters`. Layers are the MLP layers ``0 … L-1`` of the neuron site.
* **RF (Riemenschneider & Frank)** speaks of the *first* layer, the *middle third* and the *last*
  layer: :func:`middle_third` is the rule, :func:`rf_layer_regions` names the regions of the expert
  claims (MLP layers ``0 … L-1``), :func:`rf_middle_third` the middle blocks of the LID claims
  (indices into ``LidResult.blocks``, i.e. transformer blocks ``1 … L``).

Every function is pure, depends only on the count it is given and returns new objects.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lf_quarters", "middle_third", "rf_layer_regions", "rf_middle_third"]


def lf_quarters(n_layers: int) -> tuple[list[int], list[int], list[int]]:
    """LF's ``(first, middle, last)`` layer groups of ``n_layers`` layers, as lists of layer indices.

    Rule: ``q = max(1, n_layers // 4)``; ``first = [0, …, q-1]``, ``last = [n_layers-q, …, n_layers-1]``,
    ``middle`` = every other layer in order. A quarter is at least one layer; the groups can overlap
    (and ``middle`` be empty) only when ``n_layers < 2``.

    Examples: 24 layers → ``[0..5], [6..17], [18..23]``; 6 layers → ``[0], [1, 2, 3, 4], [5]``.
    """
    q = max(1, n_layers // 4)
    first = list(range(q))
    last = list(range(n_layers - q, n_layers))
    middle = [layer for layer in range(n_layers) if layer not in first and layer not in last]
    return first, middle, last


def middle_third(n: int) -> np.ndarray:
    """Indices ``n//3, …, n - n//3 - 1`` of ``n`` ordered items (int64 array), for ``n ≥ 3``.

    Never the first or the last item, always at least one: 24 → ``8…15``, 6 → ``2, 3``, 3 → ``1``.
    """
    if n < 3:
        raise ValueError(f"a middle third needs at least 3 items, got {n}")
    return np.arange(n // 3, n - n // 3)


def rf_middle_third(n_blocks: int) -> np.ndarray:
    """RF's middle blocks for the LID claims: :func:`middle_third` of the ``n_blocks`` transformer blocks.

    The indices point into ``LidResult.blocks`` (blocks ``1 … L``, the embedding output excluded): for
    L = 24 they are blocks 9…16 (the paper's dip reaches its bottom at block 14); for L = 6 blocks 3…4.
    """
    if n_blocks < 3:
        raise ValueError(f"a middle third needs at least 3 blocks, got {n_blocks}")
    return middle_third(n_blocks)


def rf_layer_regions(n_layers: int) -> dict[str, np.ndarray]:
    """RF's named regions of ``n_layers ≥ 4`` MLP layers (0-based), each an int64 array of layer indices.

    ``first`` = ``[0]``, ``last`` = ``[n_layers-1]``, ``middle`` = :func:`middle_third` of the layers
    (``⌊L/3⌋ … L-1-⌊L/3⌋``), ``lower`` = the layers between the first layer and the middle third
    (``1 … ⌊L/3⌋-1``; ``[1]`` when that is empty), ``inner_lower`` / ``inner_upper`` = the lower and
    upper half of layers ``1 … L-2`` (the upper half gets the odd one). BLOOM-560m (24 layers):
    middle = 8…15, lower = 1…7; the toy (6 layers): middle = 2…3, lower = 1.
    """
    if n_layers < 4:
        raise ValueError(f"layer regions need at least 4 layers, got {n_layers}")
    third = n_layers // 3
    inner = np.arange(1, n_layers - 1)
    half = len(inner) // 2
    return {
        "first": np.array([0]),
        "lower": np.arange(1, third) if third > 1 else np.array([1]),
        "middle": middle_third(n_layers),
        "last": np.array([n_layers - 1]),
        "inner_lower": inner[:half],
        "inner_upper": inner[half:],
    }
