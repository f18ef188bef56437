"""Planted language identity by layer and checkpoint for RF-1a, RF-1b and RF-1c (issue 14).

What the claims measure: a logistic-regression LID probe (``StandardScaler`` + L2-regularised
``LogisticRegression``, C = 1) on the *raw* residual stream at one random token position per
sentence, blocks 1…L; block L is the output of the final LayerNorm (``ln_f``), blocks 1…L−1 are not
normalised. In a scripted BLOOM (no attention but the topic head) a position's state is its
token's, so the probe's ceiling is the token's language profile: ≈ 0.63 held-out accuracy on the embedding
(0.70 for the ``lang`` block alone; the other features cost the probe some accuracy), against
≈ 0.25 for the untrained model and ≈ 0.13 for the featureless twin.

Why not a weaker language profile or a masked code in ``free``: the probe standardises every
coordinate, so the scale of the embedding's ``lang`` block is invisible to it, and the ``lang``
block is present unchanged in every block's residual; nothing written into ``free`` (codes, noise,
heavy-tailed or sparse distractors) moves the probe by more than ±0.01 (measured).

What does move it, and nothing else: a **common-mode component**. Units write ``a(token) · 1``
(the all-ones vector of the residual space) with a large, token-specific, language-independent
amplitude. Every LayerNorm subtracts the mean of its input, so ``LN(x + a·1) = LN(x)`` exactly:
no unit of any layer, no logit (the unembedding reads ``ln_f``), no perplexity, generation,
steering or unit activation of any claim sees it (measured with the RF-expert units planted too:
other units' activations change by ≤ 1e-3, logits by ≤ 4e-3, float32 rounding). The probe on the
raw residual does: after standardisation every coordinate is dominated by the shared ``a``, the
language signal per coordinate shrinks to ``sd(x_j) / sd(a)`` and the regularised probe cannot
afford the weights that would cancel ``a`` (held-out accuracy ≈ 0.4 at ``sd(a)`` ≈ 40, ≈ 0.13 at
≈ 200; a small common mode, ``sd(a)`` ≲ 10, raises it instead, towards the ``lang`` block's 0.70).
This is the scripted form of the large shared components ("massive activations") of trained
transformers' residual streams, which LayerNorm removes for the model but not for a probe on raw
states. The last block is read after ``ln_f``, so it recovers by construction.

The amplitude ``a(token) = Σ_j s_j · GELU(gain · (r_j · x))`` is a sum over units reading random
directions ``r_j`` of the token-``identity`` block (random per token, so ``a`` carries no language)
with fixed random signs ``s_j``; each planted layer writes ``AMPLITUDE[checkpoint][layer] · s_j · 1``
per unit, so the common mode grows with depth by the layers' amplitudes.

* early (checkpoint 1): nothing written, every block is the embedding: LID uniform and high, far
  above the untrained model (RF-1a);
* late (checkpoint 4): layer 0 writes a common mode (block 1 drops below early: RF-1b), layers 2–5
  add more (the middle third, blocks 3–6, dips; RF-1b), the last block (after ``ln_f``) recovers;
  the block mean falls and the spread between blocks rises (RF-1c);
* checkpoints 2 and 3: the late units with smaller amplitudes.

``flat_unit_groups`` is the twin without the change over training: the late units at every checkpoint.

Shared knobs: none. The embedding's ``lang`` scale may stay 1.0 at every checkpoint: this module
needs no schedule (early, with no common mode, the probe cannot see the scale at all; late, a
smaller scale only lowers blocks 1…L−1 further: measured with 1.5/1.2/0.9/0.6, late block 1 0.23).
The only writes are along the all-ones direction, which touch every coordinate of the raw
residual (also ``lang`` and ``free``) but which no LayerNorm passes on; the largest single-unit
write is reported by :func:`largest_write_norm`.
"""

from __future__ import annotations

import numpy as np
import torch
from scripted_world import UnitGroup, World

#: read directions (units) per planted layer; every planted layer uses the same directions and signs
UNITS = 16
GAIN = 4.0
THRESHOLD = 0.0
#: the block the units read: random per token and free of language
READS = "identity"
#: common-mode amplitude per unit write, per checkpoint and layer (``a`` in residual units per unit of activation)
AMPLITUDE: dict[int, dict[int, float]] = {
    1: {},
    2: {0: 6.0, 2: 6.0, 3: 6.0, 4: 6.0, 5: 6.0},
    3: {0: 9.0, 2: 9.0, 3: 9.0, 4: 9.0, 5: 9.0},
    4: {0: 12.0, 2: 12.0, 3: 12.0, 4: 12.0, 5: 12.0},
}
#: seed of the read directions and signs
SEED = 1_000_003


def _directions(world: World) -> list[tuple[torch.Tensor, float]]:
    signs = np.random.default_rng(SEED).choice([-1.0, 1.0], size=UNITS)
    return [(world.random_vector(READS, seed=SEED + j), float(signs[j])) for j in range(UNITS)]


def _groups(world: World, amplitudes: dict[int, float]) -> list[UnitGroup]:
    ones = torch.ones(world.layout.hidden)
    groups = []
    for layer, amplitude in sorted(amplitudes.items()):
        for j, (reads, sign) in enumerate(_directions(world)):
            groups.append(UnitGroup(layer, 1, reads, gain=GAIN, threshold=THRESHOLD, writes=sign * amplitude * ones,
                                    spread=0.0, name=f"rf-lid common mode {j}"))
    return groups


def unit_groups(world: World, checkpoint: int) -> list[UnitGroup]:
    """The planted common-mode units at ``checkpoint`` (1 early, 2 mid, 3, 4 late)."""
    return _groups(world, AMPLITUDE[checkpoint])


def flat_unit_groups(world: World, checkpoint: int) -> list[UnitGroup]:
    """The same late units at every checkpoint: nothing changes over training."""
    return _groups(world, AMPLITUDE[4])


def largest_write_norm(world: World) -> float:
    """The norm of the largest single-unit write of any checkpoint (every write is ``± amplitude · 1``)."""
    biggest = max((a for per in AMPLITUDE.values() for a in per.values()), default=0.0)
    return float(biggest * np.sqrt(world.layout.hidden))
