"""Loading errors name their real cause (issue 13), and a hub checkpoint's identity is its cached files.

A hub cache is built here the way ``huggingface_hub`` lays it out (``blobs/<sha256>``, snapshot links,
``refs/main``), so the hub path runs offline: a cached revision loads and has the identity of the same
files in a local folder; a revision the cache lacks is named with what the cache holds. The hub's own
errors (no such revision, no such repository) are raised from a patched ``from_pretrained`` as
transformers raises them: an ``OSError`` from the hub client's error.
"""

from __future__ import annotations

import hashlib
import shutil

import huggingface_hub.constants
import pytest
import transformers
from huggingface_hub import errors as hub_errors

from harness.errors import ModelNotAvailableError
from harness.loading import load_model, resolve_source, weights_digest
from harness.measurement_cache import MeasurementCache
from harness.measurements import Measurements, ModelSkeleton, RunConfig

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, model_dirs, monkeypatch):
    """A hub cache holding ``org/tiny`` (the tiny BLOOM) at ``main`` only."""
    root = tmp_path / "hub"
    repo = root / "models--org--tiny"
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for path in sorted(model_dirs["bloom"].iterdir()):
        data = path.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / path.name).symlink_to(f"../../blobs/{blob.name}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(root))
    import transformers.utils.hub as transformers_hub

    if hasattr(transformers_hub, "TRANSFORMERS_CACHE"):  # transformers < 5 read its cache folder at import
        monkeypatch.setattr(transformers_hub, "TRANSFORMERS_CACHE", str(root))
    return root


def test_a_cached_hub_model_has_the_identity_of_its_files(hub_cache, model_dirs):
    """The cache names its files by their SHA-256: the identity needs no read and equals a local copy's."""
    lm = load_model("org/tiny", device="cpu")
    assert lm.weights_hash == weights_digest(resolve_source(str(model_dirs["bloom"])))
    run = Measurements(RunConfig(model="org/tiny", device="cpu", progress=False),
                       cache=MeasurementCache(enabled=False))
    skeleton = run.loaded_model(None)
    assert isinstance(skeleton, ModelSkeleton) and run.loads == []
    assert skeleton.weights_hash == lm.weights_hash


def test_a_revision_the_cache_lacks_names_what_it_holds(hub_cache):
    with pytest.raises(ModelNotAvailableError) as info:
        load_model("org/tiny", "global_step5", device="cpu")
    message = str(info.value)
    assert "hub is not reachable" in message
    assert "holds org/tiny at main but not at global_step5" in message
    assert "hf download org/tiny --revision global_step5" in message


def test_a_local_folder_missing_its_weights_says_so(tmp_path, model_dirs):
    folder = tmp_path / "no-weights"
    shutil.copytree(model_dirs["bloom"], folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelNotAvailableError) as info:
        load_model(str(folder), device="cpu")
    message = str(info.value)
    assert f"missing or unreadable in the local folder {folder}" in message
    assert "reachable" not in message and "hf download" not in message


def _raise_from(hub_error_type, message: str):
    def from_pretrained(*args, **kwargs):
        cause = hub_error_type.__new__(hub_error_type)
        Exception.__init__(cause, "404 Client Error")
        raise OSError(message) from cause

    return from_pretrained


@pytest.mark.parametrize(
    "hub_error, expected",
    [
        (hub_errors.RevisionNotFoundError, "the hub has no revision 'global_step123' of someorg/model"),
        (hub_errors.RepositoryNotFoundError, "the hub has no repository someorg/model"),
        (hub_errors.GatedRepoError, "someorg/model is gated"),
    ],
)
def test_hub_errors_name_their_cause(monkeypatch, hub_error, expected):
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        _raise_from(hub_error, "transformers' wrapping message"))
    with pytest.raises(ModelNotAvailableError) as info:
        load_model("someorg/model", "global_step123", device="cpu")
    message = str(info.value)
    assert expected in message
    assert "reachable" not in message and "hf download" not in message


def test_any_other_error_is_reported_with_its_own_message(monkeypatch):
    """E.g. transformers refusing a .bin checkpoint under torch < 2.6: not a connection problem."""

    def refuse(*args, **kwargs):
        raise ValueError("Due to a serious vulnerability issue in `torch.load` we now require torch >= 2.6")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    with pytest.raises(ModelNotAvailableError) as info:
        load_model("someorg/model", device="cpu")
    message = str(info.value)
    assert "ValueError: Due to a serious vulnerability" in message and "reachable" not in message
