"""Tiny models of every supported architecture, built from configs and saved locally.

Each model has hidden size 32 and 2 layers, random weights drawn from a fixed seed, and a tiny
byte-level BPE tokenizer trained here on a few multilingual sentences. Nothing is downloaded:
the hub is switched off before ``huggingface_hub`` is imported, so any hub lookup fails fast.
"""

from __future__ import annotations

import os

# huggingface_hub reads these once, at import: set them before anything imports it.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from tiny_models import ARCHITECTURES, build_model, build_tokenizer, save_model  # noqa: E402


# Module scope, not session scope: a session fixture of this conftest would stay active until the
# end of the whole run and send the claims (run after tests/) to an empty cache, retraining the toy.
@pytest.fixture(scope="module", autouse=True)
def _offline_and_private_cache(tmp_path_factory):
    """No hub, and a private measurement-cache root, for each core test module."""
    import huggingface_hub.constants

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        mp.setenv("LINGUA_CLAIMS_CACHE", str(tmp_path_factory.mktemp("lingua-cache")))
        yield


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory):
    return build_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, tokenizer):
    """{architecture: folder saved with save_pretrained (model + tokenizer)}, built on first use."""
    root = tmp_path_factory.mktemp("models")

    class _Dirs(dict[str, Path]):
        def __missing__(self, arch: str) -> Path:
            self[arch] = save_model(build_model(arch, tokenizer), tokenizer, root / arch)
            return self[arch]

    return _Dirs()


@pytest.fixture(scope="session")
def load_tiny(model_dirs):
    """``load_tiny(arch)``: the shared, loaded tiny model (do not modify it; use ``fresh_tiny``)."""
    from harness.loading import load_model

    cache = {}

    def load(arch: str):
        if arch not in cache:
            cache[arch] = load_model(str(model_dirs[arch]), device="cpu")
        return cache[arch]

    return load


@pytest.fixture
def fresh_tiny(model_dirs):
    """``fresh_tiny(arch)``: a private copy of the tiny model that a test may modify."""
    from harness.loading import load_model

    return lambda arch: load_model(str(model_dirs[arch]), device="cpu")


@pytest.fixture(params=ARCHITECTURES)
def arch(request):
    return request.param


@pytest.fixture
def lm(arch, load_tiny):
    return load_tiny(arch)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models gain nothing from intra-op threads; one thread keeps the suite fast on shared cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
