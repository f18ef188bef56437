"""Checkpoint names: the training step a revision or checkpoint folder names.

One pattern for the report (labels, ordering), the loader (training-run folders) and the
untrained control (step 0). Imports nothing heavy: the report uses it without a model.

The namings read: ``step<N>`` (Pythia, training scripts), ``checkpoint-<N>`` (Trainer),
``global_step<N>`` (BLOOM's intermediate checkpoints), ``step<N>-tokens<T>B`` (OLMo) and
``stage1-step<N>-tokens<T>B`` (OLMo-2's pre-training stage). OLMo-2's second stage
(``stage2-ingredient<K>-step<N>-tokens<T>B``: several annealing runs from the end of stage 1, each
counting its steps from 0) has no place on the pre-training step axis, so it names no step here.
"""

from __future__ import annotations

import re

#: the checkpoint namings above; group 1 is the step
CHECKPOINT_NAME = re.compile(r"^(?:global_step|step|checkpoint-|stage1-step)(\d+)(?:-tokens\d+B)?$")


def step_of(revision: object) -> int | None:
    """The step a checkpoint name gives, else None.

    >>> step_of("global_step10000"), step_of("checkpoint-500"), step_of("step0"), step_of("main")
    (10000, 500, 0, None)
    >>> step_of("step20000-tokens84B"), step_of("stage1-step40000-tokens84B"), step_of("stage2-ingredient1-step100")
    (20000, 40000, None)
    """
    match = CHECKPOINT_NAME.match(str(revision))
    return int(match.group(1)) if match else None


def short_step(revision: object) -> int | None:
    """The step of a short form a user may type for a suite's checkpoint, else None.

    A short form is a bare step (``1000``) or any checkpoint name above without its token count
    (``step1000``, ``global_step1000``, ``checkpoint-1000``, ``stage1-step1000``); a suite's
    profile maps it to the suite's own name (``harness.profiles.RevisionScheme``).

    >>> short_step("1000"), short_step("step1000"), short_step("step1000-tokens4B"), short_step("main")
    (1000, 1000, None, None)
    """
    text = str(revision)
    if re.fullmatch(r"\d+", text):
        return int(text)
    return None if "-tokens" in text else step_of(text)
