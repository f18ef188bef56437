"""Checkpoint suites (Pythia, OLMo, OLMo-2) and training-run folders: names, order and roles, offline.

Nothing is downloaded: these tests resolve names and build plans, the part of a run that comes
before any weights.
"""

from __future__ import annotations

import pytest

from harness.errors import HarnessError, RevisionNameError
from harness.loading import resolve_source
from harness.profiles import (
    OLMO2_1B_SCHEME,
    OLMO_1B_SCHEME,
    PROFILES,
    PYTHIA_SIZES,
    PYTHIA_STEPS,
    profile_for,
    run_folder_profile,
    run_profile,
)
from harness.revisions import step_of
from harness.run_plan import RunConfig, RunPlan

LANGUAGES = ("en", "es", "fr", "zh")


def _plan(model: str, **options) -> RunPlan:
    return RunPlan.build(RunConfig(model=model, **options), run_profile(model), LANGUAGES)


# ---------------------------------------------------------------------------------------- Pythia
def test_pythia_publishes_154_checkpoints_from_step0_to_step143000():
    assert len(PYTHIA_STEPS) == 154 and PYTHIA_STEPS[:12] == (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)
    assert PYTHIA_STEPS[-1] == 143000 and list(PYTHIA_STEPS) == sorted(set(PYTHIA_STEPS))


@pytest.mark.parametrize("size", PYTHIA_SIZES)
def test_every_pythia_size_has_an_ordered_series_with_early_mid_late(size):
    profile = profile_for(f"pythia-{size}")
    assert profile.repo == f"EleutherAI/pythia-{size}"
    steps = [step_of(r) for r in profile.series]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 143000
    assert all(s in PYTHIA_STEPS for s in steps)
    plan = _plan(f"pythia-{size}")
    assert (plan.early, plan.mid, plan.late) == ("step1000", "step10000", "step143000")
    assert plan.series.index(plan.early) < plan.series.index(plan.mid) < plan.series.index(plan.late)
    assert profile.family[0] == "pythia-70m" and profile.family[-1] == "pythia-12b"
    assert profile_for(f"pythia-{size}-deduped").repo == f"EleutherAI/pythia-{size}-deduped"


def test_pythia_states_that_its_training_data_is_english_only():
    profile = profile_for("pythia-410m")
    assert profile.training_languages == ("en",)
    assert "English-only" in profile.note and "not a replication" in profile.note


def test_pythia_checkpoints_take_short_forms_and_refuse_unpublished_steps():
    plan = _plan("pythia-70m", checkpoints=("0", "step512", "global_step2000", "143000"), early="512")
    assert plan.series == ("step0", "step512", "step2000", "step143000")
    assert (plan.early, plan.late) == ("step512", "step143000")
    assert resolve_source("pythia-160m", "1000").revision == "step1000"
    assert resolve_source("pythia-160m", "1000").weights == "EleutherAI/pythia-160m"
    with pytest.raises(RevisionNameError, match=r"pythia-70m has no checkpoint 'step1500' .*step1000, step2000"):
        _plan("pythia-70m", checkpoints=("step1000", "step1500"))
    with pytest.raises(RevisionNameError, match="step144000"):
        resolve_source("pythia-70m", "step144000")
    assert issubclass(RevisionNameError, HarnessError)  # the plugin turns it into a one-line exit


# ------------------------------------------------------------------------------------ OLMo, OLMo-2
# names the suites publish (their model cards and revision lists): the schemes must reproduce them
OLMO_1B_PUBLISHED = ["step20000-tokens84B", "step30000-tokens126B", "step100000-tokens419B",
                     "step330000-tokens1384B", "step500000-tokens2097B", "step700000-tokens2936B"]
OLMO2_1B_PUBLISHED = ["stage1-step0-tokens0B", "stage1-step10000-tokens21B", "stage1-step40000-tokens84B",
                      "stage1-step140000-tokens294B", "stage1-step1907359-tokens4001B"]


@pytest.mark.parametrize(("scheme", "published"), [(OLMO_1B_SCHEME, OLMO_1B_PUBLISHED),
                                                   (OLMO2_1B_SCHEME, OLMO2_1B_PUBLISHED)])
def test_olmo_schemes_reproduce_the_published_names(scheme, published):
    assert [scheme.name(step_of(name)) for name in published] == published


def test_olmo_revision_names_are_parsed_and_ordered_by_step():
    shuffled = ["step700000-tokens2936B", "step20000-tokens84B", "step100000-tokens419B"]
    assert sorted(shuffled, key=step_of) == ["step20000-tokens84B", "step100000-tokens419B", "step700000-tokens2936B"]
    assert step_of("stage1-step140000-tokens294B") == 140000
    assert step_of("stage2-ingredient1-step11921-tokens101B") is None  # stage 2 restarts its steps: not on the axis
    for name in ("olmo-1b", "olmo-2-1b"):
        steps = [step_of(r) for r in PROFILES[name].series]
        assert steps == sorted(steps) and None not in steps


def test_olmo_checkpoints_take_native_names_and_short_forms():
    plan = _plan("olmo-1b", checkpoints=("step20000", "step100000-tokens419B", "700000"))
    assert plan.series == ("step20000-tokens84B", "step100000-tokens419B", "step700000-tokens2936B")
    assert (plan.early, plan.mid, plan.late) == plan.series
    assert resolve_source("olmo-1b", "step20000").revision == "step20000-tokens84B"
    assert resolve_source("olmo-1b", "step20000").weights == "allenai/OLMo-1B-hf"
    assert resolve_source("olmo-1b", "main").revision == "main"  # a name that is no short form is kept
    olmo2 = _plan("olmo-2-1b", checkpoints=("stage1-step0", "step10000", "stage1-step1907359"), late="1907359")
    assert olmo2.series == ("stage1-step0-tokens0B", "stage1-step10000-tokens21B", "stage1-step1907359-tokens4001B")
    assert olmo2.late == "stage1-step1907359-tokens4001B"
    assert resolve_source("olmo-2-1b", "stage2-ingredient1-step11921-tokens101B").revision == (
        "stage2-ingredient1-step11921-tokens101B")


def test_olmo_defaults():
    plan = _plan("olmo-2-1b")
    assert plan.series[0] == "stage1-step0-tokens0B"  # OLMo-2 publishes its untrained point
    assert (plan.early, plan.mid, plan.late) == (
        "stage1-step10000-tokens21B", "stage1-step40000-tokens84B", "stage1-step1907359-tokens4001B")
    assert plan.revision is None  # single-checkpoint claims: the final model
    assert _plan("olmo-1b").late == "step700000-tokens2936B"


# ------------------------------------------------------------------------------- a training run
def _run_folder(root, names, top_level_model=False):
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "config.json").write_text("{}")
    (root / "checkpoint-9").mkdir()  # incomplete (no config.json): not a checkpoint
    if top_level_model:
        (root / "config.json").write_text("{}")
    return root


def test_a_run_folder_is_a_series_with_early_mid_late_by_the_stated_rule(tmp_path):
    run = _run_folder(tmp_path / "run", ["checkpoint-300", "checkpoint-0", "checkpoint-1000", "checkpoint-100"])
    plan = _plan(str(run))
    assert plan.series == ("checkpoint-0", "checkpoint-100", "checkpoint-300", "checkpoint-1000")  # by N, not by name
    # step 0 is the untrained point; early = first after it, mid = middle trained one, late = last
    assert (plan.early, plan.mid, plan.late) == ("checkpoint-100", "checkpoint-300", "checkpoint-1000")
    assert plan.revision == "checkpoint-1000"  # single-checkpoint claims name their checkpoint
    assert _plan(str(run), revision="checkpoint-300").revision == "checkpoint-300"
    given = _plan(str(run), checkpoints=("checkpoint-0", "checkpoint-1000"))
    assert (given.early, given.mid, given.late) == (None, None, "checkpoint-1000")  # the profile's only in the series
    short = _plan(str(run), checkpoints=("0", "step100", "checkpoint-1000"), early="100")
    assert short.series == ("checkpoint-0", "checkpoint-100", "checkpoint-1000") and short.early == "checkpoint-100"
    with pytest.raises(RevisionNameError, match=r"run has no checkpoint 'checkpoint-150'.*-100, checkpoint-300"):
        _plan(str(run), checkpoints=("checkpoint-0", "checkpoint-150"))


def test_run_folder_rule_without_step_zero_and_with_two_checkpoints(tmp_path):
    two = run_folder_profile(str(_run_folder(tmp_path / "two", ["step20", "step10"], top_level_model=True)))
    assert (two.series, two.early, two.mid, two.late) == (("step10", "step20"), "step10", "step10", "step20")
    one = run_folder_profile(str(_run_folder(tmp_path / "one", ["step0"])))
    assert (one.series, one.early, one.mid, one.late) == (("step0",), "step0", "step0", "step0")
    assert _plan(str(tmp_path / "two")).revision == "step20"


def test_a_saved_model_folder_or_hub_id_is_no_run(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert run_folder_profile(str(tmp_path)) is None
    assert run_folder_profile("org/any-model") is None
    assert _plan(str(tmp_path)).revision is None
