"""Loading: every way of naming the same weights gives the same weights hash; bad ones are refused."""

from __future__ import annotations

import shutil

import pytest
import torch
import transformers
from tiny_models import build_model, save_model

from harness.errors import BadCheckpointError, ModelNotAvailableError
from harness.loading import (
    check_distinct,
    checkpoint_dirs,
    load_model,
    resolve_source,
    tensors_digest,
    weight_files,
    weights_digest,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, model_dirs, tokenizer):
    """Two training runs holding the bloom fixture as step 1 / 2 and a different model as step 3."""
    root = tmp_path_factory.mktemp("runs")
    same = model_dirs["bloom"]
    other = build_model("bloom", tokenizer, seed=123)

    hf_run = root / "hf_run"  # HF Trainer layout, tokenizer inside each checkpoint
    shutil.copytree(same, hf_run / "checkpoint-1")
    save_model(other, tokenizer, hf_run / "checkpoint-3")
    (hf_run / "checkpoint-7").mkdir()  # an incomplete folder (no config.json) is not a checkpoint
    (hf_run / "runs").mkdir()

    step_run = root / "step_run"  # step<N>/ with the tokenizer at the run's top level
    shutil.copytree(same, step_run / "step2")
    for f in (step_run / "step2").iterdir():
        if "token" in f.name:
            f.unlink()
    tokenizer.save_pretrained(step_run)
    return {"same": same, "hf_run": hf_run, "step_run": step_run}


def test_every_way_to_name_the_weights_gives_one_hash(runs, monkeypatch):
    same = runs["same"]
    reference = load_model(str(same), device="cpu")
    monkeypatch.chdir(same.parent)
    loaded = [
        load_model(same.name, device="cpu"),  # relative path, bare
        load_model(f"./{same.name}", device="cpu"),
        load_model(str(runs["hf_run"]), "checkpoint-1", device="cpu"),
        load_model(str(runs["hf_run"]), "1", device="cpu"),
        load_model(str(runs["step_run"]), "step2", device="cpu"),
        load_model(str(runs["step_run"]), "2", device="cpu"),
        load_model(str(runs["step_run"]), device="cpu"),  # the latest checkpoint
    ]
    for lm in loaded:
        assert lm.weights_hash == reference.weights_hash, lm.label
        assert lm.site.n_units == reference.site.n_units
        # the tokenizer was found too (for step_run, at the run's top level)
        assert lm.tokenizer("Hi.", add_special_tokens=False)["input_ids"] == reference.tokenizer(
            "Hi.", add_special_tokens=False
        )["input_ids"]
    latest = load_model(str(runs["hf_run"]), device="cpu")
    assert latest.weights_hash != reference.weights_hash
    assert latest.weights_hash == load_model(str(runs["hf_run"]), "checkpoint-3", device="cpu").weights_hash


def test_the_hash_tracks_the_weights(fresh_tiny, tokenizer, tmp_path):
    """The identity is the SHA-256 of the weight files, known without loading them (it was a hash of
    the tensors in memory, which cost 4.5 of 5 s per load at bloom-560m's shape): saving the same
    weights twice gives one identity, changing one weight another."""
    lm = fresh_tiny("llama")
    assert weights_digest(lm.source) == lm.weights_hash
    assert len(lm.weights_hash) == 64 and int(lm.weights_hash, 16) >= 0
    first = save_model(lm.module, tokenizer, tmp_path / "first")
    second = save_model(lm.module, tokenizer, tmp_path / "second")
    assert weights_digest(resolve_source(str(first))) == weights_digest(resolve_source(str(second)))
    before = tensors_digest(lm.module)
    with torch.no_grad():
        lm.module.model.layers[1].mlp.up_proj.weight[3, 4] += 1e-3
    assert tensors_digest(lm.module) != before
    changed = save_model(lm.module, tokenizer, tmp_path / "changed")
    assert weights_digest(resolve_source(str(changed))) != weights_digest(resolve_source(str(first)))
    assert load_model(str(changed), device="cpu").weights_hash == weights_digest(resolve_source(str(changed)))


def test_the_identity_names_the_files_from_pretrained_reads(tmp_path):
    """Safetensors before .bin, shards in order, never a Trainer's training_args.bin; no files: unknown."""
    for name in ("pytorch_model.bin", "training_args.bin", "optimizer.pt", "model-00002-of-00002.safetensors",
                 "model-00001-of-00002.safetensors", "config.json"):
        (tmp_path / name).write_bytes(name.encode())
    assert [p.name for p in weight_files(tmp_path)] == ["model-00001-of-00002.safetensors",
                                                       "model-00002-of-00002.safetensors"]
    for path in tmp_path.glob("*.safetensors"):
        path.unlink()
    assert [p.name for p in weight_files(tmp_path)] == ["pytorch_model.bin"]
    source = resolve_source(str(tmp_path))
    digest = weights_digest(source)
    (tmp_path / "training_args.bin").write_bytes(b"other arguments")
    assert weights_digest(source) == digest
    (tmp_path / "pytorch_model.bin").write_bytes(b"other weights")
    assert weights_digest(source) != digest
    (tmp_path / "pytorch_model.bin").unlink()
    assert weights_digest(source) is None


def test_loaded_model_is_in_eval_mode_on_the_requested_device(load_tiny):
    lm = load_tiny("gpt2")
    assert not lm.module.training
    assert lm.device == torch.device("cpu")
    assert lm.dtype == torch.float32
    assert next(lm.module.parameters()).dtype == torch.float32
    assert lm.tokenizer.padding_side == "right" and lm.tokenizer.pad_token_id is not None
    record = lm.provenance()
    assert record["weights_sha256"] == lm.weights_hash and record["architecture"] == "gpt2"


def test_checkpoint_dirs_lists_complete_checkpoints(runs):
    assert sorted(checkpoint_dirs(runs["hf_run"])) == [1, 3]
    assert list(checkpoint_dirs(runs["step_run"])) == [2]


def test_a_missing_revision_lists_the_available_ones(runs):
    with pytest.raises(ModelNotAvailableError) as info:
        load_model(str(runs["hf_run"]), "checkpoint-2", device="cpu")
    assert "checkpoint-1" in str(info.value) and "checkpoint-3" in str(info.value)
    with pytest.raises(ModelNotAvailableError, match="available: step2"):
        resolve_source(str(runs["step_run"]), "global_step5")


def test_an_empty_folder_is_not_a_model(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="config.json"):
        load_model(str(tmp_path), device="cpu")


def test_unknown_bare_name_is_not_available():
    with pytest.raises(ModelNotAvailableError) as info:
        load_model("no-such-model", device="cpu")
    message = str(info.value)
    assert "no-such-model" in message and "bloom-560m" in message


def test_a_missing_local_path_is_not_available(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="no such local folder"):
        load_model(str(tmp_path / "missing"), device="cpu")


def test_unreachable_hub_id_says_how_to_provide_it():
    with pytest.raises(ModelNotAvailableError) as info:
        load_model("someorg/some-model-not-cached", device="cpu")
    message = str(info.value)
    assert "someorg/some-model-not-cached" in message
    assert "save_pretrained" in message  # a local folder works
    assert "hf download someorg/some-model-not-cached" in message  # the command of the installed hub client


def test_unreachable_bloom_checkpoint_names_the_intermediate_repo():
    source = resolve_source("bloom-560m", "global_step10000")
    assert source.weights == "bigscience/bloom-560m-intermediate" and source.revision == "global_step10000"
    assert source.tokenizer == "bigscience/bloom-560m" and not source.local
    with pytest.raises(ModelNotAvailableError, match="--revision global_step10000"):
        load_model("bloom-560m", "global_step10000", device="cpu")


def test_missing_tokenizer_names_the_repo_it_comes_from(monkeypatch, tokenizer):
    """An intermediate BLOOM checkpoint takes its tokenizer from the final repo: say that one."""
    model = build_model("bloom", tokenizer)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: model)
    with pytest.raises(ModelNotAvailableError) as info:
        load_model("bloom-560m", "global_step10000", device="cpu")
    message = str(info.value)
    assert "tokenizer of bigscience/bloom-560m" in message
    assert "hf download bigscience/bloom-560m)" in message  # no --revision: the final repo's tokenizer


@pytest.mark.parametrize(
    "name, revision",
    [("bloom-560m", "global_step600000"), ("bloom-560m", "global_step500000"), ("bloom-7b1", "global_step100000")],
)
def test_known_bad_checkpoints_are_refused_before_any_download(monkeypatch, name, revision):
    def no_download(*args, **kwargs):
        raise AssertionError("a known-bad checkpoint must be refused before any download")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_download)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", no_download)
    with pytest.raises(BadCheckpointError, match="refused") as info:
        load_model(name, revision, device="cpu")
    assert revision in str(info.value)


def test_known_bad_checkpoint_is_refused_whatever_the_revision_spelling(monkeypatch):
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: 1 / 0)
    for spelling in ("600000", "step600000"):
        with pytest.raises(BadCheckpointError, match="broken"):
            resolve_source("bloom-560m", spelling)
    assert resolve_source("bloom-560m", "1000").revision == "global_step1000"


def test_non_finite_weights_are_refused(tmp_path, tokenizer):
    model = build_model("bloom", tokenizer)
    with torch.no_grad():
        model.transformer.h[0].mlp.dense_4h_to_h.weight[1, 2] = float("nan")
    save_model(model, tokenizer, tmp_path / "nan")
    with pytest.raises(BadCheckpointError, match=r"non-finite.*dense_4h_to_h"):
        load_model(str(tmp_path / "nan"), device="cpu")
    with torch.no_grad():
        model.transformer.h[0].mlp.dense_4h_to_h.weight[1, 2] = float("inf")
    save_model(model, tokenizer, tmp_path / "inf")
    with pytest.raises(BadCheckpointError):
        load_model(str(tmp_path / "inf"), device="cpu")


def test_check_distinct_refuses_duplicate_weights():
    check_distinct({"global_step1000": "a", "global_step10000": "b"})
    with pytest.raises(BadCheckpointError) as info:
        check_distinct({"global_step10000": "a", "global_step100000": "b", "global_step500000": "a"})
    assert "global_step500000" in str(info.value) and "global_step10000" in str(info.value)


def test_dtype_option(model_dirs):
    lm = load_model(str(model_dirs["qwen2"]), device="cpu", dtype="bfloat16")
    assert lm.dtype == torch.bfloat16 and next(lm.module.parameters()).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="dtype"):
        load_model(str(model_dirs["qwen2"]), device="cpu", dtype="float8")
