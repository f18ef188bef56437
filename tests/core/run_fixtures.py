"""Fixed runs for the Measurements tests: a fake model and fake data, nothing loaded or extracted.

``FixedRun`` is a real :class:`Measurements` whose ``loaded_model`` always returns one given
:class:`LoadedModel` (built from the real dataclass around an identity module) and whose data are
a :class:`FixedData`; its cache records every key it is asked for and never computes. The cache
keys of every measurement can then be compared with literal dicts, without a model.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from harness.data import Concept, VerseKey
from harness.loading import LoadedModel, Source
from harness.measurement_cache import MeasurementCache
from harness.measurements import Measurements, RunConfig
from harness.sites import NeuronSite

WEIGHTS_HASH = "0123456789abcdef" * 4
DATA_HASH = "d4a7a" * 8
N_VERSES = 3  # verses per language in every split
N_LAYERS, UNITS_PER_LAYER = 2, 8


class FixedData:
    """Evaluation data with fixed texts: verse ``i`` of ``lang`` in ``split`` is ``"<split> <lang> <i>"``."""

    def __init__(self, languages: tuple[str, ...] = ("en", "es", "zh"), data_hash: str = DATA_HASH):
        self.languages = languages
        self.data_hash = data_hash
        self.concept_names = ["water", "fire"]

    def split_keys(self, split: str) -> list[VerseKey]:
        return [("MAT", 1, i + 1) for i in range(N_VERSES)]

    def texts(self, split: str, lang: str) -> list[str]:
        return [f"{split} {lang} {i}" for i in range(N_VERSES)]

    def concept(self, name: str) -> Concept:
        return Concept(name=name, keys=self.split_keys("concepts"), labels=np.array([True, False, True]), regex=name)

    def concept_texts(self, name: str, lang: str) -> tuple[list[str], np.ndarray]:
        return self.texts("concepts", lang), self.concept(name).labels


class PrefixTokenizer:
    """A tokenizer that puts ``prefix`` before every text by default (characters → code points)."""

    def __init__(self, prefix: tuple[int, ...] = ()):
        self.prefix = prefix

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        ids = [ord(c) for c in text]
        return {"input_ids": [*self.prefix, *ids] if add_special_tokens else ids}


def fixed_loaded(
    *,
    name: str = "tiny",
    revision: str | None = "step128",
    prefix: tuple[int, ...] = (),
    units_per_layer: int = UNITS_PER_LAYER,
    n_layers: int = N_LAYERS,
) -> LoadedModel:
    """A LoadedModel of a BLOOM-like site (``n_layers`` × ``units_per_layer``) around identity modules."""
    modules = tuple(nn.Identity() for _ in range(n_layers))
    site = NeuronSite("bloom", "mlp.gelu_impl output", modules, "output", units_per_layer)
    source = Source(f"/models/{name}/{revision}", None, f"/models/{name}", None, True)
    return LoadedModel(
        name=name, revision=revision, source=source, module=nn.Identity(), tokenizer=PrefixTokenizer(prefix),
        site=site, weights_hash=WEIGHTS_HASH, device=torch.device("cpu"), dtype=torch.float32, profile=None,
    )


class RecordingCache(MeasurementCache):
    """Records every key; returns ``stub(key)`` for it and never computes or stores."""

    def __init__(self, root: Path, stub: Callable[[dict], Any]):
        super().__init__(root=root, enabled=False)
        self.keys: list[dict] = []
        self.stub = stub

    def load(self, key: dict) -> Any:
        self.keys.append(key)
        return self.stub(key)

    def get_or_compute(self, key: dict, compute: Callable[[], Any]) -> Any:
        if str(key["kind"]).startswith("derived:"):  # results derived from the stubs (Measurements.derived)
            self.keys.append(key)
            return compute()
        return self.load(key)

    def store(self, key: dict, value: Any) -> None:
        raise AssertionError("the recording cache never stores")


def stub_value(key: dict) -> Any:
    """A value of the right shape for each kind of measurement (zeros)."""
    n_units = N_LAYERS * UNITS_PER_LAYER
    return {
        "similarity_mean": lambda: torch.zeros(N_VERSES, n_units),
        "probe_states": lambda: torch.zeros(N_LAYERS + 1, N_VERSES, 4),
        "concept_pool_max": lambda: torch.zeros(N_VERSES, n_units),
        "expert_ap": lambda: torch.zeros(2, n_units, dtype=torch.float64),
        "loglikelihood": lambda: torch.zeros(1, dtype=torch.float64),
        "generations": lambda: ["text"],
    }.get(key["kind"], lambda: "stub")()


class FixedRun(Measurements):
    """A real Measurements whose model and data are fixed (see the module docstring)."""

    def __init__(self, config: RunConfig, cache: MeasurementCache, loaded: LoadedModel, data: FixedData):
        super().__init__(config, cache)
        self.fixed = loaded
        self.fixed_data = data
        self.revisions_asked: list[str | None] = []

    @cached_property
    def data(self) -> FixedData:
        return self.fixed_data

    def loaded_model(self, revision: str | None = None, *, name: str | None = None) -> LoadedModel:
        self.revisions_asked.append(revision)
        self._loaded = self.fixed  # held, as a loaded model would be
        return self.fixed
