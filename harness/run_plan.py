"""What a run measures: the command line (:class:`RunConfig`) resolved into a :class:`RunPlan`.

A plan fixes, once per run, the model, its profile, the checkpoint series of the trend claims with
its "early", "mid" and "late" points, the checkpoint of single-checkpoint claims and the evaluation
languages (checked against the evaluation data). Measurements builds it on first use
(``Measurements.plan``); the rules live here, one small function each, so that they can be read and
tested without a model:

* ``series``: ``--checkpoints``, else the profile's series, else none;
* ``early``: the **second** entry of ``--checkpoints`` (its only entry when it has one), else the
  profile's ``early``;
* ``mid`` (RF's mid-training point, steering): ``early`` under ``--checkpoints``, else the profile's
  ``mid``, else its ``early``;
* ``late``: the last entry of ``--checkpoints``, else the profile's ``late``;
* ``revision``: ``--revision``, else ``late`` for the toy, else None (the final model);
* ``languages``: ``--languages``, else the profile's languages, else every language of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

from harness.errors import UnknownLanguageError
from harness.profiles import ModelProfile

__all__ = ["CheckpointPoints", "RunConfig", "RunPlan", "checkpoint_points", "evaluation_languages"]


@dataclass(frozen=True)
class RunConfig:
    """What the user asked for on the command line (see the root conftest's options)."""

    model: str = "toy"
    revision: str | None = None
    checkpoints: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    device: str = "auto"
    dtype: str = "auto"
    toy_seed: int = 0
    k: int | None = None
    generation_seeds: int | None = None
    data_dir: Path | None = None
    batch_size: int = 32
    max_length: int = 128
    use_cache: bool = True
    progress: bool = True


class CheckpointPoints(NamedTuple):
    """The checkpoints of a run (see the module docstring for the rules)."""

    series: tuple[str, ...]
    early: str | None
    mid: str | None
    late: str | None
    revision: str | None


def _early(config: RunConfig, profile: ModelProfile | None) -> str | None:
    if config.checkpoints:
        return config.checkpoints[min(1, len(config.checkpoints) - 1)]
    return profile.early if profile else None


def _mid(config: RunConfig, profile: ModelProfile | None) -> str | None:
    if config.checkpoints:
        return _early(config, profile)
    return (profile.mid or profile.early) if profile else None


def _late(config: RunConfig, profile: ModelProfile | None) -> str | None:
    if config.checkpoints:
        return config.checkpoints[-1]
    return profile.late if profile else None


def checkpoint_points(config: RunConfig, profile: ModelProfile | None) -> CheckpointPoints:
    """Series, early, mid, late and single-checkpoint revision of ``config`` with ``profile``."""
    if config.checkpoints:
        series = config.checkpoints
    else:
        series = profile.series if profile else ()
    late = _late(config, profile)
    revision = config.revision or (late if config.model == "toy" else None)
    return CheckpointPoints(series, _early(config, profile), _mid(config, profile), late, revision)


def evaluation_languages(
    config: RunConfig, profile: ModelProfile | None, available: Sequence[str]
) -> tuple[str, ...]:
    """``--languages``, else the profile's, else all of ``available``; each must be in ``available``."""
    available = tuple(available)
    wanted = config.languages or (profile.languages if profile and profile.languages else available)
    missing = [lang for lang in wanted if lang not in available]
    if missing:
        raise UnknownLanguageError(
            f"language(s) {', '.join(missing)} are not in the evaluation data; available: {', '.join(available)}"
        )
    return tuple(wanted)


@dataclass(frozen=True)
class RunPlan:
    """The run's model, profile, checkpoints and evaluation languages (see the module docstring)."""

    model: str
    profile: ModelProfile | None
    series: tuple[str, ...]  # checkpoints of the trend claims, earliest first
    early: str | None
    mid: str | None  # RF's "mid-training" checkpoint (steering claims)
    late: str | None
    revision: str | None  # checkpoint of single-checkpoint claims; None: the final model
    languages: tuple[str, ...]  # evaluation languages, all present in the evaluation data

    @classmethod
    def build(cls, config: RunConfig, profile: ModelProfile | None, available_languages: Sequence[str]) -> "RunPlan":
        """The plan of ``config`` with the model's ``profile`` and the data's languages.

        Raises :class:`~harness.errors.UnknownLanguageError` when a requested language is not in
        ``available_languages``.
        """
        points = checkpoint_points(config, profile)
        languages = evaluation_languages(config, profile, available_languages)
        return cls(model=config.model, profile=profile, languages=languages, **points._asdict())
