"""Named groups of layers: the one definition every claim, analysis and report figure uses.

Two papers, two conventions, kept apart on purpose:

* **LF (Lingua Franca)** compares the *first and last quarter* of the layers with the rest:
  :func:`lf_quarters`. Layers are the MLP layers ``0 … L-1`` of the neuron site.
* **RF (Riemenschneider & Frank)** speaks of the *first* layer, the *middle* layers and the *last*
  layer. For the expert claims (MLP layers ``0 … L-1``) the middle layers are RF's own, layers
  10–17 of BLOOM-560m's 24, scaled to the model's depth: :func:`rf_middle_layers`;
  :func:`rf_layer_regions` names the regions of the expert claims around them. The LID claims use
  :func:`rf_middle_third` (:func:`middle_third` of the transformer blocks ``1 … L``, indices into
  ``LidResult.blocks``).

Every function is pure, depends only on the count it is given and returns new objects.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

#: RF's middle layers (§7, Fig. 6): layers 10–17 of BLOOM-560m's 24 MLP layers, as (first, last, of)
RF_MIDDLE = (10, 17, 24)

__all__ = ["RF_MIDDLE", "lf_quarters", "middle_third", "rf_layer_regions", "rf_middle_layers", "rf_middle_third"]


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


def rf_middle_layers(n_layers: int) -> np.ndarray:
    """RF's middle MLP layers (10–17 of 24) scaled to ``n_layers`` layers (0-based int64 array).

    Rule: RF's middle layers cover the depth interval ``[10/24, 18/24)`` of the network; layer ``ℓ``
    covers ``[ℓ/L, (ℓ+1)/L)`` and belongs to the middle when its centre ``(ℓ + ½)/L`` lies in that
    interval (exact rational arithmetic, so a tie goes to the lower end). At least one layer.

    >>> rf_middle_layers(24).tolist()  # RF's own: BLOOM-560m, -1b1, -1b7
    [10, 11, 12, 13, 14, 15, 16, 17]
    >>> rf_middle_layers(30).tolist()  # BLOOM-3b, -7b1
    [12, 13, 14, 15, 16, 17, 18, 19, 20, 21]
    >>> rf_middle_layers(6).tolist()  # the toy
    [2, 3]
    """
    if n_layers < 3:
        raise ValueError(f"RF's middle layers need at least 3 layers, got {n_layers}")
    first, last, of = RF_MIDDLE
    lo, hi = Fraction(first, of), Fraction(last + 1, of)
    layers = [layer for layer in range(n_layers) if lo <= Fraction(2 * layer + 1, 2 * n_layers) < hi]
    return np.array(layers, dtype=np.int64)


def rf_layer_regions(n_layers: int) -> dict[str, np.ndarray]:
    """RF's named regions of ``n_layers ≥ 5`` MLP layers (0-based), each an int64 array of layer indices.

    ``first`` = ``[0]``, ``last`` = ``[L-1]``, ``middle`` = :func:`rf_middle_layers` (RF's 10–17 of
    24, scaled); ``lower_middle`` / ``upper_middle`` = its lower and upper half (the upper half gets
    the odd one; the dip of RF's Fig. 5 sits at layer 10 of 24, the start of the lower half);
    ``lower`` = the layers between the first layer and the middle; ``upper`` = the layers after the
    middle, the last layer included. BLOOM-560m (24 layers): lower 1…9, lower_middle 10…13,
    upper_middle 14…17, upper 18…23; the toy (6 layers): lower [1], lower_middle [2],
    upper_middle [3], upper [4, 5].

    >>> {name: idx.tolist() for name, idx in rf_layer_regions(6).items()}  # doctest: +NORMALIZE_WHITESPACE
    {'first': [0], 'lower': [1], 'middle': [2, 3], 'lower_middle': [2], 'upper_middle': [3],
     'upper': [4, 5], 'last': [5]}
    """
    if n_layers < 5:
        raise ValueError(f"layer regions need at least 5 layers, got {n_layers}")
    middle = rf_middle_layers(n_layers)
    half = len(middle) // 2
    return {
        "first": np.array([0]),
        "lower": np.arange(1, middle[0]),
        "middle": middle,
        "lower_middle": middle[:half],
        "upper_middle": middle[half:],
        "upper": np.arange(middle[-1] + 1, n_layers),
        "last": np.array([n_layers - 1]),
    }
