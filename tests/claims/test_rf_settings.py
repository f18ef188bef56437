"""Which languages, k and sample sizes the RF claims use: the profile's budget, overridden by options."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measurement_fakes import NamesOnlyData, PlanOnlyMeasurements  # noqa: E402

from harness.analyses.experts import claim_languages  # noqa: E402
from harness.analyses.steering import steering_plan  # noqa: E402
from harness.measurement_source import MeasurementSource  # noqa: E402
from harness.profiles import ModelProfile  # noqa: E402
from harness.run_plan import RunConfig  # noqa: E402

LANGS = ("en", "es", "fr", "de", "ru", "zh", "ar", "sw")
CONCEPTS = tuple(f"c{i}" for i in range(20))


def _run(profile, *, languages=None, k=None, seeds=None, n_units=3072) -> PlanOnlyMeasurements:
    config = RunConfig(model="fake", languages=languages, k=k, generation_seeds=seeds)
    return PlanOnlyMeasurements(config, profile, NamesOnlyData(LANGS, CONCEPTS), n_units)


BUDGET = ModelProfile(
    "small", None, expert_languages=("en", "es", "zh", "xx"), steering_fraction=0.05, generation_seeds=10
)


def test_the_fake_run_is_a_measurement_source():
    run = _run(BUDGET)
    assert isinstance(run, MeasurementSource)
    with pytest.raises(NotImplementedError, match="measures nothing"):
        run.expert_scores(None, "en")


def test_expert_languages_come_from_the_profile_unless_given():
    assert claim_languages(_run(BUDGET)) == ("en", "es", "zh")  # xx is not in the data
    assert claim_languages(_run(BUDGET, languages=("en", "fr", "ar"))) == ("en", "fr", "ar")
    assert claim_languages(_run(ModelProfile("bloom", "repo"))) == LANGS  # no budget: every language
    assert claim_languages(_run(None)) == LANGS  # a hub id or folder without a profile
    one = ModelProfile("one", None, expert_languages=("en", "xx"))
    assert claim_languages(_run(one)) == LANGS  # fewer than two of them in the data: every language


def test_steering_k_and_seeds_follow_profile_then_options():
    plan = steering_plan(_run(BUDGET))
    assert (plan.k, plan.seeds_per_concept, len(plan.concepts)) == (154, 10, 10)
    assert plan.k_rule == "profile small: 5.0% of 3072 units" and plan.concepts == CONCEPTS[:10]
    paper = steering_plan(_run(None, n_units=98304))
    assert (paper.k, paper.seeds_per_concept) == (500, 100)  # RF: 500 of 98,304 units, 100 samples
    forced = steering_plan(_run(BUDGET, k=7, seeds=3))
    assert (forced.k, forced.seeds_per_concept, forced.k_rule) == (7, 3, "--top-k")
