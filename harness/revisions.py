"""Checkpoint names: the training step a revision or checkpoint folder names.

One pattern for the report (labels, ordering), the loader (training-run folders) and the
untrained control (step 0). Imports nothing heavy: the report uses it without a model.
"""

from __future__ import annotations

import re

#: ``step<N>``, ``checkpoint-<N>`` (Trainer) or ``global_step<N>`` (BLOOM's intermediate checkpoints)
CHECKPOINT_NAME = re.compile(r"^(?:global_step|step|checkpoint-)(\d+)$")


def step_of(revision: object) -> int | None:
    """The step a checkpoint name gives, else None.

    >>> step_of("global_step10000"), step_of("checkpoint-500"), step_of("step0"), step_of("main")
    (10000, 500, 0, None)
    """
    match = CHECKPOINT_NAME.match(str(revision))
    return int(match.group(1)) if match else None
