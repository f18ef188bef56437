"""What the analyses may ask of a run: the :class:`MeasurementSource` protocol.

``harness.measurements.Measurements`` is the one real implementation; tests hand the analyses
small fakes that implement the same members. An analysis takes a ``measurements:
MeasurementSource`` and uses nothing else of it: the run's ``plan`` (checkpoints, languages,
profile), its ``config`` (the command line), the evaluation ``data``, the loaded model's neuron
site (``loaded_model``), the cached measurements, ``top_k`` and the per-run ``memo``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol, Sequence, TypeVar, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import torch

    from harness.data import Concept, VerseKey
    from harness.generation import GenerationConfig
    from harness.loading import LoadedModel
    from harness.perplexity import Perplexity
    from harness.run_plan import RunConfig, RunPlan

T = TypeVar("T")

__all__ = ["EvalDataSource", "MeasurementSource"]


@runtime_checkable
class EvalDataSource(Protocol):
    """The part of ``harness.data.EvalData`` that measurements and analyses read."""

    @property
    def data_hash(self) -> str: ...

    @property
    def languages(self) -> tuple[str, ...]: ...

    @property
    def concept_names(self) -> list[str]: ...

    def split_keys(self, split: str) -> list[VerseKey]: ...

    def texts(self, split: str, lang: str) -> list[str]: ...

    def concept(self, name: str) -> Concept: ...

    def concept_texts(self, name: str, lang: str) -> tuple[list[str], np.ndarray]: ...


@runtime_checkable
class MeasurementSource(Protocol):
    """The run as the analyses see it (implemented by ``harness.measurements.Measurements``)."""

    @property
    def config(self) -> RunConfig: ...

    @property
    def plan(self) -> RunPlan: ...

    @property
    def data(self) -> EvalDataSource: ...

    def loaded_model(self, revision: str | None = None, *, name: str | None = None) -> LoadedModel:
        """The model at ``revision`` (``name``: another model than the run's), loaded on demand."""
        ...

    def check_series(self, revisions: Sequence[str]) -> None:
        """Refuse a series in which two checkpoints hold the same weights."""
        ...

    def top_k(self) -> int:
        """k of the top-k experts: ``--top-k``, else RF's fraction of the units."""
        ...

    def memo(self, key: tuple, compute: Callable[[], T]) -> T:
        """``compute()`` once per ``key`` and run; later calls with the key return the same object."""
        ...

    def memoised(self, key: tuple) -> bool:
        """Whether :meth:`memo` holds a value for ``key`` (computes nothing)."""
        ...

    # ------------------------------------------------------------- measurements (cached on disk)
    def concept_pool_responses(self, revision: str | None, lang: str) -> torch.Tensor: ...

    def concept_rows(self, concept: str) -> tuple[np.ndarray, np.ndarray]: ...

    def expert_scores(self, revision: str | None, lang: str, concepts: Sequence[str] | None = None) -> torch.Tensor: ...

    def positive_medians(self, revision: str | None, lang: str, concept: str) -> torch.Tensor: ...

    def similarity_responses(self, revision: str | None) -> tuple[torch.Tensor, np.ndarray, np.ndarray]: ...

    def probe_states(self, revision: str | None, *, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]: ...

    def probe_states_for(self, revision: str | None, seeds: Sequence[int]) -> tuple[torch.Tensor, np.ndarray]: ...

    def perplexity(
        self,
        revision: str | None,
        lang: str,
        *,
        zeroed: torch.Tensor | None = None,
        label: str = "full",
        max_windows: int | None = None,
    ) -> Perplexity: ...

    def loglikelihoods(
        self, revision: str | None, contexts: Sequence[str], continuations: Sequence[str]
    ) -> torch.Tensor: ...

    def generations(
        self,
        revision: str | None,
        seeds: Sequence[int],
        *,
        units: torch.Tensor | None = None,
        values: torch.Tensor | None = None,
        config: GenerationConfig = ...,
    ) -> list[str]: ...
