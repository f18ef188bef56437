"""Measurements: the run plan, the per-run memo, cache keys (literal: a change is caught) and provenance.

Nothing here loads a model or the evaluation data: plans are built from profiles and a list of
languages, and the cache keys come from a :class:`run_fixtures.FixedRun` (a real Measurements
around a fixed fake model and fake data whose cache records keys).
"""

from __future__ import annotations

import pytest
import torch
from run_fixtures import DATA_HASH, WEIGHTS_HASH, FixedData, FixedRun, RecordingCache, fixed_loaded, stub_value

from harness.errors import HarnessError, UnknownLanguageError
from harness.generation import GenerationConfig
from harness.measurement_cache import MeasurementCache
from harness.measurement_source import MeasurementSource
from harness.measurements import Measurements, RunConfig
from harness.profiles import BLOOM_LANGUAGES, profile_for, toy_profile_for_steps
from harness.run_plan import CheckpointRoleError, RunPlan, checkpoint_points, missing_role
from harness.toy.recipe import checkpoint_steps, load_recipe

ALL_LANGUAGES = ("en", "es", "fr", "pt", "de", "ru", "zh", "ar", "hi", "vi", "id", "sw")
GS = [f"global_step{s}" for s in (1000, 10000, 100000, 200000, 300000, 400000)]


@pytest.fixture(scope="module")
def toy():
    """The toy's profile for the committed recipe's saved steps (0, 1, 2, 4, …, 2048), without training."""
    recipe = load_recipe(env_override=False)
    return toy_profile_for_steps(checkpoint_steps(2048), recipe)


def _run(tmp_path, model: str = "tiny", **config) -> FixedRun:
    cache = RecordingCache(tmp_path, stub_value)
    return FixedRun(RunConfig(model=model, **config), cache, fixed_loaded(), FixedData())


# ------------------------------------------------------------------------------------ RunPlan
def test_toy_plan_early_is_the_first_step_after_the_collapse(toy):
    plan = RunPlan.build(RunConfig(model="toy"), toy, ALL_LANGUAGES)
    assert plan.series == ("step0", "step128", "step512", "step2048")
    assert (plan.early, plan.mid, plan.late, plan.revision) == ("step128", "step128", "step2048", "step2048")
    assert plan.languages == ALL_LANGUAGES  # the recipe's twelve languages
    assert plan.model == "toy" and plan.profile is toy


def test_toy_plan_revision_and_checkpoints_options(toy):
    plan = RunPlan.build(RunConfig(model="toy", revision="step256"), toy, ALL_LANGUAGES)
    assert (plan.revision, plan.early, plan.late) == ("step256", "step128", "step2048")
    given = RunPlan.build(RunConfig(model="toy", checkpoints=("step0", "step64", "step1024")), toy, ALL_LANGUAGES)
    # no position makes a role: the profile's step128 is not in the series, so early and mid are
    # None; late is the series' last checkpoint (the profile's step2048 is not in it); revision = late
    assert given.series == ("step0", "step64", "step1024")
    assert (given.early, given.mid, given.late, given.revision) == (None, None, "step1024", "step1024")
    one = RunPlan.build(RunConfig(model="toy", checkpoints=("step8",)), toy, ALL_LANGUAGES)
    assert (one.series, one.early, one.mid, one.late) == (("step8",), None, None, "step8")


def test_roles_come_from_their_options(toy):
    config = RunConfig(model="toy", checkpoints=("step0", "step64", "step1024"), early="step64", late="step1024")
    plan = RunPlan.build(config, toy, ALL_LANGUAGES)
    assert (plan.early, plan.mid, plan.late) == ("step64", None, "step1024")
    config = RunConfig(model="toy", checkpoints=("step0", "step64", "step256", "step1024"), early="step0",
                       mid="step256", late="step256")
    plan = RunPlan.build(config, toy, ALL_LANGUAGES)
    assert (plan.early, plan.mid, plan.late, plan.revision) == ("step0", "step256", "step256", "step256")
    # an option wins over the profile's point in the series
    plan = RunPlan.build(RunConfig(model="toy", early="step0", mid="step512"), toy, ALL_LANGUAGES)
    assert (plan.early, plan.mid, plan.late) == ("step0", "step512", "step2048")


def test_profile_roles_count_only_inside_the_series(toy):
    plan = RunPlan.build(RunConfig(model="toy", checkpoints=("step0", "step128", "step1024")), toy, ALL_LANGUAGES)
    assert (plan.early, plan.mid, plan.late) == ("step128", "step128", "step1024")
    plan = RunPlan.build(RunConfig(model="toy", checkpoints=("step128", "step512", "step2048")), toy, ALL_LANGUAGES)
    assert (plan.early, plan.mid, plan.late) == ("step128", "step128", "step2048")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"early": "step64"}, r"^--early step64 is not a checkpoint of the series; the series: step0, step128, "),
        ({"late": "step4096"}, r"^--late step4096 is not a checkpoint of the series"),
        ({"early": "step512", "mid": "step128"}, r"^'early' \(step512, from --early\) comes after 'mid' \(step128"),
        ({"mid": "step512", "late": "step128"}, r"^'mid' \(step512, from --mid\) comes after 'late' \(step128, from"),
        ({"early": "step2048"}, r"^'early' \(step2048, from --early\) comes after 'mid' \(step128, from the profile"),
    ],
)
def test_roles_outside_the_series_or_out_of_order_are_refused(toy, options, message):
    with pytest.raises(CheckpointRoleError, match=message) as info:
        RunPlan.build(RunConfig(model="toy", **options), toy, ALL_LANGUAGES)
    assert isinstance(info.value, HarnessError) and "\n" not in str(info.value)  # the plugin's one-line exit


def test_a_role_without_a_series_is_refused():
    with pytest.raises(CheckpointRoleError, match=r"^--early step5 is not .* the series: none \(pass --checkpoints\)$"):
        checkpoint_points(RunConfig(model="org/any-model", early="step5"), None)


def test_missing_role_message_names_the_option():
    assert "pass --early (one of the series a, b)" in missing_role("early", ("a", "b"))
    assert missing_role("mid").endswith("pass --mid (a checkpoint of --checkpoints)")


def test_short_toy_run_has_no_point_after_the_collapse():
    short = toy_profile_for_steps(checkpoint_steps(64), load_recipe(env_override=False))
    assert short.series == ("step0", "step64") and short.early == short.late == "step64"


def test_bloom_plan_follows_rf_and_checkpoints_override():
    bloom = profile_for("bloom-560m")
    plan = RunPlan.build(RunConfig(model="bloom-560m"), bloom, ALL_LANGUAGES)
    assert plan.series == tuple(GS)
    # RF Fig. 2 (LID early at 1k), Fig. 7 (steering mid-training at 10k); not the toy: the final model
    assert (plan.early, plan.mid, plan.late, plan.revision) == (GS[0], GS[1], GS[5], None)
    assert plan.languages == BLOOM_LANGUAGES
    # the README's example: early stays 1k (the profile's, in the series), not the second entry
    readme = RunConfig(model="bloom-560m", checkpoints=("global_step1000", "global_step10000", "global_step400000"))
    given = RunPlan.build(readme, bloom, ALL_LANGUAGES)
    assert (given.early, given.mid, given.late, given.revision) == (GS[0], GS[1], GS[5], None)
    config = RunConfig(model="bloom-560m", checkpoints=(GS[0], GS[2], GS[5]), revision=GS[1])
    given = RunPlan.build(config, bloom, ALL_LANGUAGES)
    assert (given.early, given.mid, given.late, given.revision) == (GS[0], None, GS[5], GS[1])
    config = RunConfig(model="bloom-560m", checkpoints=(GS[2], GS[3], GS[4]))
    given = RunPlan.build(config, bloom, ALL_LANGUAGES)  # none of the profile's points: late is the last
    assert (given.early, given.mid, given.late) == (None, None, GS[4])
    bare = RunPlan.build(RunConfig(model="bloom-1b1"), profile_for("bloom-1b1"), ALL_LANGUAGES)
    assert (bare.series, bare.early, bare.mid, bare.late, bare.revision) == ((), None, None, None, None)


def test_plan_without_profile_uses_every_language_of_the_data():
    plan = RunPlan.build(RunConfig(model="org/any-model"), None, ("en", "es"))
    assert (plan.series, plan.early, plan.mid, plan.late, plan.revision, plan.languages) == (
        (), None, None, None, None, ("en", "es"))
    assert checkpoint_points(RunConfig(model="org/any-model"), None) == ((), None, None, None, None)


def test_unknown_languages_are_refused_with_the_available_ones():
    with pytest.raises(UnknownLanguageError) as info:
        RunPlan.build(RunConfig(model="tiny", languages=("en", "xx", "yy")), None, ("en", "es"))
    assert str(info.value) == "language(s) xx, yy are not in the evaluation data; available: en, es"
    with pytest.raises(UnknownLanguageError, match=r"^language\(s\) sw are not"):  # the profile's, not in the data
        RunPlan.build(RunConfig(model="bloom-560m"), profile_for("bloom-560m"), [x for x in ALL_LANGUAGES if x != "sw"])
    config = RunConfig(model="bloom-560m", languages=("en", "de"))
    plan = RunPlan.build(config, profile_for("bloom-560m"), ALL_LANGUAGES)
    assert plan.languages == ("en", "de")  # --languages wins over the profile


def test_measurements_plan_is_built_once(tmp_path):
    run = _run(tmp_path, "bloom-560m", checkpoints=(GS[0], GS[3], GS[5]), early=GS[3], languages=("en", "zh"))
    plan = run.plan
    assert run.plan is plan and plan.languages == ("en", "zh") and plan.early == GS[3]
    assert run.loaded_model("step9") is run.fixed and run.revisions_asked == ["step9"]


def test_measurements_refuse_a_language_missing_from_the_data(tmp_path):
    message = r"^language\(s\) sw are not in the evaluation data; available: en, es, zh$"
    with pytest.raises(UnknownLanguageError, match=message):
        _run(tmp_path, languages=("en", "sw")).plan


# --------------------------------------------------------------------------------------- memo
def test_memo_computes_once_per_key_and_returns_the_same_object():
    run = Measurements(RunConfig(model="tiny"), cache=MeasurementCache(enabled=False))
    calls = []

    def compute(tag):
        calls.append(tag)
        return [tag]

    first = run.memo(("x", 1), lambda: compute("a"))
    assert run.memo(("x", 1), lambda: compute("b")) is first and calls == ["a"]
    assert not run.memoised(("x", 2))
    assert run.memo(("x", 2), lambda: compute("c")) == ["c"] and calls == ["a", "c"]
    assert run.memoised(("x", 1)) and run.memoised(("x", 2))


def test_two_measurements_do_not_share_memo_entries():
    one = Measurements(RunConfig(model="tiny"), cache=MeasurementCache(enabled=False))
    two = Measurements(RunConfig(model="tiny"), cache=MeasurementCache(enabled=False))
    assert one.memo(("similarity", "step1"), lambda: "one") == "one"
    assert not two.memoised(("similarity", "step1"))
    assert two.memo(("similarity", "step1"), lambda: "two") == "two"
    assert one.memo(("similarity", "step1"), lambda: "three") == "one"


def test_similarity_and_key_regions_are_memoised_per_run(tmp_path, monkeypatch):
    from harness.analyses import key_regions, similarity

    run = _run(tmp_path, languages=("en", "zh"))
    calls = []
    monkeypatch.setattr(run, "similarity_responses", lambda rev: calls.append(rev) or _parallel_sample())
    sim = similarity.similarity_at(run, "step1")
    assert similarity.similarity_at(run, "step1") is sim and calls == ["step1"]
    assert similarity.similarity_at(run, "step1", per_layer=False) is sim  # the per-layer analysis serves
    assert sim.layers is not None and sim.languages == ("en", "zh")
    alone = similarity.similarity_at(run, "step2", per_layer=False)
    assert alone.layers is None and calls == ["step1", "step2"]
    other = _run(tmp_path, languages=("en", "zh"))
    monkeypatch.setattr(other, "similarity_responses", lambda rev: calls.append(rev) or _parallel_sample())
    assert similarity.similarity_at(other, "step1") is not sim and calls == ["step1", "step2", "step1"]
    with pytest.raises(key_regions.KeyRegionsUndefined):  # two languages cannot have key neurons
        key_regions.key_regions_at(run, "step1")


def _parallel_sample():
    import numpy as np

    g = torch.Generator().manual_seed(0)
    responses = torch.rand(2 * 5, 16, generator=g, dtype=torch.float64)
    return responses, np.repeat(np.arange(2), 5), np.tile(np.arange(5), 2)


def test_language_detection_is_memoised_in_the_run(monkeypatch):
    from harness.analyses import steering

    seen = []
    monkeypatch.setattr(steering, "detect_language", lambda text: seen.append(text) or "en")
    run = Measurements(RunConfig(model="tiny"), cache=MeasurementCache(enabled=False))
    assert steering.language_counts(["a", "b", "a"], run) == {"en": 3} and seen == ["a", "b"]
    steering.language_counts(["b"], run)
    assert seen == ["a", "b"]
    steering.language_counts(["b"])  # without a run nothing is memoised
    assert seen == ["a", "b", "b"]


# ---------------------------------------------------------------------------------- cache keys
BASE_KEY = {
    "model": "tiny",
    "source": "/models/tiny/step128",
    "revision": "step128",
    "weights": WEIGHTS_HASH,
    "data": DATA_HASH,
    "site": "bloom:mlp.gelu_impl output:2x8",
    "dtype": "torch.float32",
}


def test_cache_key_of_a_fixed_model_is_exactly_the_stored_key(tmp_path):
    run = _run(tmp_path)
    key = run.cache_key(fixed_loaded(), "perplexity", lang="es", zeroed="none", window=None)
    assert key == {
        "kind": "perplexity",
        "model": "tiny",
        "source": "/models/tiny/step128",
        "revision": "step128",
        "weights": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "data": "d4a7ad4a7ad4a7ad4a7ad4a7ad4a7ad4a7ad4a7a",
        "site": "bloom:mlp.gelu_impl output:2x8",
        "dtype": "torch.float32",
        "lang": "es",
        "zeroed": "none",
        "window": None,
    }
    assert list(key)[:8] == ["kind", "model", "source", "revision", "weights", "data", "site", "dtype"]
    # a tokenizer that adds a BOS puts it into the key; BLOOM's (none) leaves the key as it was
    bos = run.cache_key(fixed_loaded(prefix=(1,)), "concept_pool_max", lang="es", max_length=128)
    assert bos == {"kind": "concept_pool_max", **BASE_KEY, "special_prefix": [1], "lang": "es", "max_length": 128}


def test_every_measurement_asks_the_cache_for_its_recorded_key(tmp_path):
    """The keys of every measurement, written out: any change would miss the on-disk cache."""
    run = _run(tmp_path, languages=("en", "zh"))
    run.concept_pool_responses("step128", "es")
    run.expert_scores("step128", "es")
    run.expert_scores("step128", "zh", ["fire"])
    run.similarity_responses("step128")
    run.probe_states_for("step128", [0, 2])
    run.probe_states("step128", seed=1)
    run.perplexity("step128", "es")
    run.perplexity("step128", "es", zeroed=torch.tensor([1, 5, 7]), max_windows=4)
    run.loglikelihoods("step128", ["a b", "c"], [" d", " e"])
    run.generations("step128", range(3))
    run.generations("step128", [4, 5], units=torch.tensor([2, 3]), values=torch.tensor([0.5, 1.5]),
                    config=GenerationConfig(top_p=0.5))
    expected = [
        {"kind": "concept_pool_max", "lang": "es", "max_length": 128},
        {"kind": "expert_ap", "lang": "es", "concepts": ["water", "fire"], "max_length": 128},
        {"kind": "expert_ap", "lang": "zh", "concepts": ["fire"], "max_length": 128},
        {"kind": "similarity_mean", "lang": "en", "max_length": 128},
        {"kind": "similarity_mean", "lang": "zh", "max_length": 128},
        {"kind": "probe_states", "lang": "en", "seed": 0, "max_length": 128},
        {"kind": "probe_states", "lang": "en", "seed": 2, "max_length": 128},
        {"kind": "probe_states", "lang": "zh", "seed": 0, "max_length": 128},
        {"kind": "probe_states", "lang": "zh", "seed": 2, "max_length": 128},
        {"kind": "probe_states", "lang": "en", "seed": 1, "max_length": 128},
        {"kind": "probe_states", "lang": "zh", "seed": 1, "max_length": 128},
        {"kind": "perplexity", "lang": "es", "zeroed": "none", "window": 1024},  # no profile: the config's window
        {"kind": "perplexity", "lang": "es", "zeroed": "7f9ff4be5a96c18a", "window": 1024, "max_windows": 4},
        {"kind": "loglikelihood", "pairs": "456bdb6c8e6ee04a00e1d63f1876c640", "n": 2, "window": 2048},
        {"kind": "generations", "units": "none", "values": "none", "seeds": [0, 1, 2],
         "config": "GenerationConfig(top_p=0.9, temperature=0.8, max_new_tokens=64)"},
        {"kind": "generations", "units": "fe6d3d3bb5dd778a", "values": "872d303ed051238e", "seeds": [4, 5],
         "config": "GenerationConfig(top_p=0.5, temperature=0.8, max_new_tokens=64)"},
    ]
    got = run.cache.keys
    assert [k["kind"] for k in got] == [k["kind"] for k in expected]
    for key, want in zip(got, expected):
        assert key == {"kind": want["kind"], **BASE_KEY, **{k: v for k, v in want.items() if k != "kind"}}


def test_perplexity_key_carries_the_profile_window_and_max_windows(tmp_path):
    run = FixedRun(RunConfig(model="bloom-560m", languages=("en", "zh")), RecordingCache(tmp_path, stub_value),
                   fixed_loaded(name="bloom-560m", revision="global_step1000"), FixedData())
    run.perplexity("global_step1000", "es", zeroed=torch.tensor([1, 5, 7]), max_windows=4)
    run.perplexity("global_step1000", "es")
    source = "/models/bloom-560m/global_step1000"
    base = {**BASE_KEY, "model": "bloom-560m", "source": source, "revision": "global_step1000"}
    assert run.cache.keys == [
        {"kind": "perplexity", **base, "lang": "es", "zeroed": "7f9ff4be5a96c18a", "window": 2048, "max_windows": 4},
        {"kind": "perplexity", **base, "lang": "es", "zeroed": "none", "window": 2048},
    ]


# -------------------------------------------------------------------------------- provenance
def test_provenance_keys_and_values(tmp_path):
    run = _run(tmp_path, "bloom-560m", languages=("en", "zh"), checkpoints=(GS[0], GS[5]))
    before = run.provenance()
    assert list(before) == ["model", "revision", "checkpoints", "weights_sha256", "data_sha256", "languages",
                            "toy_seed", "device", "dtype", "versions", "git_commit", "date"]
    # nothing measured yet: no data hash, no languages, the requested device; the plan is not built for it
    assert (before["data_sha256"], before["languages"]) == (None, None)
    assert (before["device"], before["dtype"]) == ("auto", "auto")
    assert (before["model"], before["revision"], before["checkpoints"], before["toy_seed"]) == (
        "bloom-560m", None, [GS[0], GS[5]], None)
    assert "plan" not in vars(run) and "data" not in vars(run)
    run.plan
    run.weights_hashes["bloom-560m@x"] = "abc"
    run.loaded_model("global_step1000")  # now holds the fixed model
    after = run.provenance()
    assert (after["data_sha256"], after["languages"]) == (DATA_HASH, ["en", "zh"])
    assert after["weights_sha256"] == {"bloom-560m@x": "abc"}
    assert (after["device"], after["dtype"]) == ("cpu", "float32")
    assert list(after["versions"])[0] == "python" and list(after["versions"])[-1] == "harness"


# ---------------------------------------------------------------------------------- protocol
def test_measurements_implement_the_measurement_source_protocol(tmp_path):
    members = [name for name in vars(MeasurementSource) if not name.startswith("_")]
    expected = {"plan", "data", "config", "memo", "memoised", "loaded_model", "top_k", "similarity_responses"}
    assert expected <= set(members)
    run = Measurements(RunConfig(model="tiny"), cache=MeasurementCache(enabled=False))
    missing = [name for name in members if not (hasattr(Measurements, name) or name in vars(run))]
    assert missing == []
