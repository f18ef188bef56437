"""The untrained control: ``init-seed<N>`` loads the model's architecture at initialisation, and
``untrained_revision`` picks a run's step 0 before falling back to it."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
import torch
from tiny_models import build_model, save_model

from harness.analyses.untrained import is_step_zero, untrained_revision
from harness.loading import init_revision, init_seed, load_model, resolve_source, saved_step_zero, tensors_digest
from harness.measurements import Measurements, RunConfig


@pytest.fixture(scope="module")
def run_with_step_zero(tmp_path_factory, model_dirs, tokenizer):
    """A training run: ``checkpoint-0`` (the bloom fixture) and ``checkpoint-5`` (other weights)."""
    root = tmp_path_factory.mktemp("untrained") / "run"
    shutil.copytree(model_dirs["bloom"], root / "checkpoint-0")
    save_model(build_model("bloom", tokenizer, seed=5), tokenizer, root / "checkpoint-5")
    return root


def test_init_revision_names():
    assert init_revision(3) == "init-seed3"
    assert [init_seed(r) for r in ("init", "init-seed0", "init-seed12", "initial", "step0", None)] == [
        0, 0, 12, None, None, None]


def test_init_is_the_architecture_under_the_seed(model_dirs):
    """The bloom fixture was built by ``from_config`` under ``torch.manual_seed(0)``: ``init-seed0`` of its
    folder rebuilds exactly those weights; another seed gives others; the tokenizer is the model's."""
    folder = str(model_dirs["bloom"])
    saved = load_model(folder, device="cpu")
    init0 = load_model(folder, "init-seed0", device="cpu")
    assert init0.source.init_seed == 0 and init0.revision == "init-seed0"
    # the same seed, the same initialisation (compared in memory: the identity of saved weights names
    # their files, that of an initialisation its config, seed and library versions)
    assert tensors_digest(init0.module) == tensors_digest(saved.module)
    assert init0.weights_hash != saved.weights_hash
    assert load_model(folder, "init", device="cpu").weights_hash == init0.weights_hash
    init1 = load_model(folder, "init-seed1", device="cpu")
    assert init1.weights_hash != init0.weights_hash
    assert tensors_digest(init1.module) != tensors_digest(init0.module)
    assert init1.site.n_units == saved.site.n_units and init1.site.n_layers == saved.site.n_layers
    assert init1.tokenizer("Hi.")["input_ids"] == saved.tokenizer("Hi.")["input_ids"]
    assert init1.provenance()["initialised_with_seed"] == 1
    assert "initialised_with_seed" not in saved.provenance()


def test_init_leaves_the_global_rng_alone(model_dirs):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_model(str(model_dirs["bloom"]), "init-seed4", device="cpu")
    assert torch.equal(torch.rand(3), expected)


def test_init_of_a_training_run_uses_its_latest_config_and_casts(run_with_step_zero):
    trained = load_model(str(run_with_step_zero), device="cpu")
    init = load_model(str(run_with_step_zero), "init-seed2", device="cpu", dtype="bfloat16")
    assert init.source.weights == trained.source.weights and trained.source.weights.endswith("checkpoint-5")
    assert init.dtype == torch.bfloat16
    assert next(init.module.parameters()).dtype == torch.bfloat16
    assert init.weights_hash != trained.weights_hash


def test_init_of_a_hub_model_resolves_to_its_final_config_without_a_download():
    source = resolve_source("bloom-560m", "init-seed0")
    assert (source.weights, source.revision, source.init_seed) == ("bigscience/bloom-560m", None, 0)
    assert resolve_source("bloom-560m", "global_step1000").init_seed is None


def test_init_measurements_are_cached_apart(model_dirs):
    folder = str(model_dirs["bloom"])
    measurements = Measurements(RunConfig(model=folder, device="cpu", use_cache=False, progress=False))
    saved = measurements.cache_key(measurements.loaded_model(None), "probe_states", seed=0)
    init = measurements.cache_key(measurements.loaded_model("init-seed0"), "probe_states", seed=0)
    assert saved != init and init["revision"] == "init-seed0"
    assert measurements.weights_hashes[f"{folder}@init-seed0"] == measurements.loaded_model("init-seed0").weights_hash


def test_saved_step_zero(run_with_step_zero, model_dirs):
    assert saved_step_zero(str(run_with_step_zero)) == "checkpoint-0"
    assert saved_step_zero(str(model_dirs["bloom"])) is None  # a saved model, not a run
    assert saved_step_zero("bloom-560m") is None  # hub models are not searched
    assert saved_step_zero("/no/such/folder") is None


def _run(model: str, series: tuple[str, ...]):
    return SimpleNamespace(plan=SimpleNamespace(series=series), config=RunConfig(model=model))


def test_untrained_revision_prefers_the_series_step_zero(run_with_step_zero, model_dirs):
    assert is_step_zero("global_step0") and is_step_zero("checkpoint-0") and not is_step_zero("step100")
    assert untrained_revision(_run("bloom-560m", ("global_step0", "global_step1000"))) == "global_step0"
    # a run whose series starts later: its saved checkpoint-0
    assert untrained_revision(_run(str(run_with_step_zero), ("checkpoint-5",))) == "checkpoint-0"
    # no step 0 anywhere: the architecture initialised under seed 0
    assert untrained_revision(_run("bloom-560m", ("global_step1000", "global_step400000"))) == "init-seed0"
    assert untrained_revision(_run(str(model_dirs["bloom"]), ())) == "init-seed0"
