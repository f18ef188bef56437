"""A typed fake of :class:`harness.measurement_source.MeasurementSource` for analyses that only read
the run's plan, config, data names and model size (settings such as languages, k and seeds).

It measures nothing: every measurement method raises, so a test that reaches one fails loudly.
"""

from __future__ import annotations

from typing import Any, Callable, NoReturn, Sequence, TypeVar

import numpy as np
import torch
from torch import nn

from harness.data import Concept, VerseKey
from harness.generation import GenerationConfig
from harness.loading import LoadedModel, Source
from harness.measurements import default_top_k
from harness.perplexity import Perplexity
from harness.profiles import ModelProfile
from harness.run_plan import RunConfig, RunPlan
from harness.sites import NeuronSite

T = TypeVar("T")


class NamesOnlyData:
    """Evaluation data that know their languages and concept names, and hold no text."""

    data_hash = "fake-data"

    def __init__(self, languages: Sequence[str], concept_names: Sequence[str]):
        self.languages = tuple(languages)
        self.concept_names = list(concept_names)

    def split_keys(self, split: str) -> list[VerseKey]:
        raise NotImplementedError("NamesOnlyData holds no verses")

    def texts(self, split: str, lang: str) -> list[str]:
        raise NotImplementedError("NamesOnlyData holds no verses")

    def concept(self, name: str) -> Concept:
        raise NotImplementedError("NamesOnlyData holds no verses")

    def concept_texts(self, name: str, lang: str) -> tuple[list[str], np.ndarray]:
        raise NotImplementedError("NamesOnlyData holds no verses")


def sized_model(n_units: int, name: str = "fake") -> LoadedModel:
    """A LoadedModel with one layer of ``n_units`` units around an identity module (nothing to run)."""
    site = NeuronSite("bloom", "fake site", (nn.Identity(),), "output", n_units)
    return LoadedModel(
        name=name, revision=None, source=Source(name, None, name, None, True), module=nn.Identity(), tokenizer=None,
        site=site, weights_hash="0" * 64, device=torch.device("cpu"), dtype=torch.float32, profile=None,
    )


class PlanOnlyMeasurements:
    """A run with a plan, a config, names-only data and a model of ``n_units`` units; measures nothing."""

    def __init__(self, config: RunConfig, profile: ModelProfile | None, data: NamesOnlyData, n_units: int):
        self.config = config
        self.data = data
        self.plan = RunPlan.build(config, profile, data.languages)
        self.model = sized_model(n_units, config.model)
        self._memo: dict[tuple, Any] = {}

    def loaded_model(self, revision: str | None = None, *, name: str | None = None) -> LoadedModel:
        return self.model

    def check_series(self, revisions: Sequence[str]) -> None:
        return None

    def top_k(self) -> int:
        return self.config.k or default_top_k(self.model.site.n_units)

    def memo(self, key: tuple, compute: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def memoised(self, key: tuple) -> bool:
        return key in self._memo

    # -------------------------------------------------------------------- nothing is measured
    def _unmeasured(self, what: str) -> NoReturn:
        raise NotImplementedError(f"PlanOnlyMeasurements measures nothing (asked for {what})")

    def concept_pool_responses(self, revision: str | None, lang: str) -> torch.Tensor:
        return self._unmeasured("concept_pool_responses")

    def concept_rows(self, concept: str) -> tuple[np.ndarray, np.ndarray]:
        return self._unmeasured("concept_rows")

    def expert_scores(self, revision: str | None, lang: str, concepts: Sequence[str] | None = None) -> torch.Tensor:
        return self._unmeasured("expert_scores")

    def positive_medians(self, revision: str | None, lang: str, concept: str) -> torch.Tensor:
        return self._unmeasured("positive_medians")

    def similarity_responses(self, revision: str | None) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        return self._unmeasured("similarity_responses")

    def probe_states(self, revision: str | None, *, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        return self._unmeasured("probe_states")

    def probe_states_for(self, revision: str | None, seeds: Sequence[int]) -> tuple[torch.Tensor, np.ndarray]:
        return self._unmeasured("probe_states_for")

    def perplexity(
        self,
        revision: str | None,
        lang: str,
        *,
        zeroed: torch.Tensor | None = None,
        label: str = "full",
        max_windows: int | None = None,
    ) -> Perplexity:
        return self._unmeasured("perplexity")

    def loglikelihoods(
        self, revision: str | None, contexts: Sequence[str], continuations: Sequence[str]
    ) -> torch.Tensor:
        return self._unmeasured("loglikelihoods")

    def generations(
        self,
        revision: str | None,
        seeds: Sequence[int],
        *,
        units: torch.Tensor | None = None,
        values: torch.Tensor | None = None,
        config: GenerationConfig = GenerationConfig(),
    ) -> list[str]:
        return self._unmeasured("generations")
