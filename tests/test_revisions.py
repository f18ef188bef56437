"""One checkpoint-name rule for the report, the loader and the untrained control."""

from __future__ import annotations

import doctest

import pytest

import harness.revisions
from harness.analyses.untrained import is_step_zero
from harness.loading import _step_of
from harness.report.figures import rev_label
from harness.revisions import step_of


@pytest.mark.parametrize(("name", "step"), [
    ("global_step10000", 10000), ("checkpoint-500", 500), ("step0", 0), ("step00", 0),
    ("main", None), ("step", None), ("stepx1", None), ("init-seed0", None), ("10000", None),
    ("step20000-tokens84B", 20000), ("stage1-step40000-tokens84B", 40000), ("stage1-step0-tokens0B", 0),
    ("stage2-ingredient1-step11921-tokens101B", None), ("step1000-tokens", None), ("stage1-checkpoint-5", None),
])
def test_step_of_reads_the_checkpoint_namings(name, step):
    assert step_of(name) == step


def test_the_loader_also_takes_a_bare_step_number():
    assert _step_of("1000") == 1000 and _step_of("global_step1000") == 1000 and _step_of("main") is None


def test_step_zero_and_labels_follow_the_same_rule():
    assert [is_step_zero(r) for r in ("step0", "checkpoint-0", "global_step00", "step10", "init", None)] == [
        True, True, True, False, False, False]
    assert rev_label("global_step10000") == "step 10k" and rev_label("checkpoint-500") == "step 500"


def test_docstring_examples_pass():
    result = doctest.testmod(harness.revisions)
    assert result.attempted > 0 and result.failed == 0
