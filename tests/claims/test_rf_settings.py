"""Which languages, k and sample sizes the RF claims use: the profile's budget, overridden by options."""

from __future__ import annotations

from types import SimpleNamespace

from harness.analyses.experts import claim_languages
from harness.analyses.steering import steering_plan
from harness.profiles import ModelProfile

LANGS = ("en", "es", "fr", "de", "ru", "zh", "ar", "sw")
CONCEPTS = tuple(f"c{i}" for i in range(20))


def _measure(profile, *, languages=None, k=None, seeds=None, n_units=3072):
    config = SimpleNamespace(languages=languages, k=k, generation_seeds=seeds)
    model = SimpleNamespace(site=SimpleNamespace(n_units=n_units))
    return SimpleNamespace(
        profile=profile,
        config=config,
        languages=tuple(languages or LANGS),
        data=SimpleNamespace(concept_names=CONCEPTS),
        revision=None,
        model=lambda revision=None: model,
        top_k=lambda: max(1, round(500 / 98304 * n_units)),
    )


BUDGET = ModelProfile("small", None, expert_languages=("en", "es", "zh", "xx"), steering_fraction=0.05, generation_seeds=10)


def test_expert_languages_come_from_the_profile_unless_given():
    assert claim_languages(_measure(BUDGET)) == ("en", "es", "zh")  # xx is not in the data
    assert claim_languages(_measure(BUDGET, languages=("en", "fr", "ar"))) == ("en", "fr", "ar")
    assert claim_languages(_measure(ModelProfile("bloom", "repo"))) == LANGS  # no budget: every language
    assert claim_languages(_measure(None)) == LANGS  # a hub id or folder without a profile


def test_steering_k_and_seeds_follow_profile_then_options():
    plan = steering_plan(_measure(BUDGET))
    assert (plan.k, plan.seeds_per_concept, len(plan.concepts)) == (154, 10, 10)
    paper = steering_plan(_measure(None, n_units=98304))
    assert (paper.k, paper.seeds_per_concept) == (500, 100)  # RF: 500 of 98,304 units, 100 samples
    forced = steering_plan(_measure(BUDGET, k=7, seeds=3))
    assert (forced.k, forced.seeds_per_concept, forced.k_rule) == (7, 3, "--top-k")


def test_bloom_profile_points_follow_rf_and_checkpoints_override():
    from harness.measurements import Measurements, RunConfig

    bloom = Measurements(RunConfig(model="bloom-560m"))
    assert (bloom.series[0], bloom.early, bloom.mid, bloom.late) == (
        "global_step1000", "global_step1000", "global_step10000", "global_step400000")  # RF Fig. 2, Fig. 7
    given = Measurements(RunConfig(model="bloom-560m", checkpoints=("global_step1000", "global_step100000", "global_step400000")))
    assert (given.early, given.mid, given.late) == ("global_step100000", "global_step100000", "global_step400000")
    assert Measurements(RunConfig(model="bloom-1b1")).mid is None  # a profile without points
