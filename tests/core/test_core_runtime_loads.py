"""One load per checkpoint and run, none when every measurement is cached (issue 13).

A small local training run (three tiny BLOOM checkpoints) is measured through a real
:class:`Measurements` whose evaluation data are fixed (``run_fixtures.FixedData``); the loader is
counted. Cache keys come from the checkpoints' weight files, so the series check, ``top_k`` and the
steering plan need no weights, a cold run loads each checkpoint once however the claims interleave
their requests, and a warm rerun loads none.
"""

from __future__ import annotations

from functools import cached_property

import pytest
import torch
from run_fixtures import FixedData
from tiny_models import build_model, save_model

import harness.measurements as measurements_module
from harness.errors import BadCheckpointError, HarnessError
from harness.measurement_cache import MeasurementCache
from harness.measurements import Measurements, ModelSkeleton, RunConfig

SERIES = ("checkpoint-0", "checkpoint-1", "checkpoint-2")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("series") / "run"
    for seed, name in enumerate(SERIES):
        save_model(build_model("bloom", tokenizer, seed=10 + seed), tokenizer, root / name)
    return root


class DataRun(Measurements):
    """A real Measurements on fixed evaluation data (three verses per language)."""

    @cached_property
    def data(self) -> FixedData:
        return FixedData()


@pytest.fixture
def loads(monkeypatch):
    """The label of every model the measurements load with its weights, in order."""
    seen: list[str] = []
    real = measurements_module.load_model

    def counting(name, revision=None, **kwargs):
        seen.append(f"{name}@{revision}")
        return real(name, revision, **kwargs)

    monkeypatch.setattr(measurements_module, "load_model", counting)
    return seen


def _run(run_dir, cache_root, **config) -> DataRun:
    cfg = RunConfig(model=str(run_dir), checkpoints=SERIES, device="cpu", progress=False, **config)
    return DataRun(cfg, cache=MeasurementCache(root=cache_root))


def _measure_like_the_claims(run: Measurements) -> dict:
    """What the claims ask of a series, interleaved: each claim walks the whole series in turn."""
    results = {}
    run.check_series(SERIES)
    results["k"] = run.top_k()
    for rev in SERIES:  # RF-2: experts per checkpoint
        results[("ap", rev)] = run.expert_scores(rev, "en")
    for rev in reversed(SERIES):  # LF-1: similarity per checkpoint, the other way round
        results[("sim", rev)] = run.similarity_responses(rev)[0]
    for rev in SERIES:  # RF-1: probes
        results[("probe", rev)] = run.probe_states(rev)[0]
    results["ppl"] = run.perplexity(None, "en")  # the final model is the series' last checkpoint
    results["gen"] = run.generations(SERIES[-1], [0, 1])
    return results


def test_a_cold_run_loads_each_checkpoint_once_and_a_warm_run_none(run_dir, tmp_path, loads):
    cold = _run(run_dir, tmp_path)
    first = _measure_like_the_claims(cold)
    assert sorted(loads) == sorted(f"{run_dir}@{rev}" for rev in SERIES)  # once each; None is checkpoint-2
    assert cold.loads == [label for label in cold.loads if label in {f"{run_dir}@{rev}" for rev in SERIES}]

    loads.clear()
    warm = _run(run_dir, tmp_path)
    second = _measure_like_the_claims(warm)
    assert loads == [] and warm.loads == []
    assert second.keys() == first.keys()
    for key, value in first.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(second[key], value), key
        else:
            assert second[key] == value, key
    assert isinstance(warm.held_model, ModelSkeleton)
    assert warm.provenance()["weights_sha256"] == cold.provenance()["weights_sha256"]


def test_series_check_top_k_and_steering_plan_load_nothing(run_dir, tmp_path, loads):
    from harness.analyses.steering import steering_plan

    run = _run(run_dir, tmp_path)
    run.check_series(SERIES)
    assert run.top_k() == 1  # 500/98,304 of 2 × 128 units, at least 1
    plan = steering_plan(run)
    assert plan.k == 1
    assert run.loaded_model(None).site.n_units == 2 * 128
    assert loads == []


def test_the_skeleton_keys_equal_the_loaded_models_keys(run_dir, tmp_path, loads):
    """A cache key computed without the weights is the key the loaded model gives."""
    run = _run(run_dir, tmp_path)
    skeleton = run.loaded_model("checkpoint-1")
    assert isinstance(skeleton, ModelSkeleton) and loads == []
    loaded = run.weights_of(skeleton)
    assert not isinstance(loaded, ModelSkeleton) and len(loads) == 1
    assert run.cache_key(skeleton, "probe_states", lang="en", seed=0) == run.cache_key(loaded, "probe_states",
                                                                                         lang="en", seed=0)
    assert run.weights_of(skeleton) is loaded and len(loads) == 1  # kept, not reloaded


def test_models_beyond_the_memory_budget_are_released(run_dir, tmp_path, loads):
    """With room for one model only, the least recently used one is released (and loaded again when needed)."""
    run = _run(run_dir, tmp_path)
    run.model_memory_budget = 1  # bytes: every model is over budget; the one in use is still kept
    for rev in (*SERIES, SERIES[0]):
        run.weights_of(run.loaded_model(rev))
    assert len(run._weights) == 1
    assert loads == [f"{run_dir}@{rev}" for rev in (*SERIES, SERIES[0])]


def test_duplicate_checkpoints_are_refused_without_loading(run_dir, tmp_path, loads):
    import shutil

    dup = tmp_path / "dup"
    shutil.copytree(run_dir, dup)
    shutil.rmtree(dup / "checkpoint-1")
    shutil.copytree(dup / "checkpoint-0", dup / "checkpoint-1")
    run = _run(dup, tmp_path / "cache")
    with pytest.raises(BadCheckpointError, match="checkpoint-1.*identical to checkpoint-0"):
        run.check_series(SERIES)
    assert loads == []


def test_weights_changed_during_the_run_are_refused(run_dir, tmp_path, tokenizer):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    run = _run(copy, tmp_path / "cache")
    skeleton = run.loaded_model("checkpoint-0")
    save_model(build_model("bloom", tokenizer, seed=99), tokenizer, copy / "checkpoint-0")
    with pytest.raises(HarnessError, match="changed during the run"):
        run.weights_of(skeleton)
