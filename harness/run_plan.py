"""What a run measures: the command line (:class:`RunConfig`) resolved into a :class:`RunPlan`.

A plan fixes, once per run, the model, its profile, the checkpoint series of the trend claims with
its "early", "mid" and "late" points, the checkpoint of single-checkpoint claims and the evaluation
languages (checked against the evaluation data). Measurements builds it on first use
(``Measurements.plan``); the rules live here, one small function each, so that they can be read and
tested without a model:

* ``series``: ``--checkpoints``, else the profile's series, else none;
* the roles ``early``, ``mid`` (RF's mid-training point, steering) and ``late`` are **named, never
  inferred from a position in the list**: a role comes from its option (``--early``, ``--mid``,
  ``--late``), else from the profile when the profile's point is in the series, else ``late`` is the
  last checkpoint of the series (the final model is what "late" means) and ``early`` / ``mid`` are
  None (the claims that need them skip and name the option to pass);
* every role must be a checkpoint of the series, and early ≤ mid ≤ late in the series' order
  (equal points are allowed: the toy's early and mid are both step128); anything else raises
  :class:`CheckpointRoleError`, which the pytest plugin turns into a one-line exit;
* ``revision``: ``--revision``, else ``late`` for the toy and a training-run folder, else None (the
  final model);
* a checkpoint suite's short forms (``step1000``, ``1000``) become its own names in the series,
  the roles and the revision (OLMo: ``step1000-tokens4B``; ``harness.profiles.RevisionScheme``);
* a training-run folder (``checkpoint-<N>/`` or ``step<N>/`` subfolders) is a series by itself:
  its profile (``harness.profiles.run_folder_profile``) lists every checkpoint ordered by N, step 0
  first as the untrained point, early = the first checkpoint after step 0, mid = the middle trained
  one, late = the last;
* ``languages``: ``--languages``, else the profile's languages, else every language of the data.

Example: bloom-560m with ``--checkpoints global_step1000,global_step10000,global_step400000`` has
early = global_step1000 and mid = global_step10000 (the profile's, both in the series) and late =
global_step400000; the toy with ``--checkpoints step0,step64,step1024`` has early = mid = None (the
profile's step128 is not in the series) and late = step1024 (the series' last).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

from harness.errors import HarnessError, UnknownLanguageError
from harness.profiles import ModelProfile

__all__ = [
    "ROLES",
    "CheckpointPoints",
    "CheckpointRoleError",
    "RunConfig",
    "RunPlan",
    "checkpoint_points",
    "evaluation_languages",
    "missing_role",
]

#: the named checkpoints of a series, in the order they must keep
ROLES = ("early", "mid", "late")


class CheckpointRoleError(HarnessError, ValueError):
    """``--early`` / ``--mid`` / ``--late`` (or the profile's point) is not in the series, or out of order."""


@dataclass(frozen=True)
class RunConfig:
    """What the user asked for on the command line (see the root conftest's options)."""

    model: str = "toy"
    revision: str | None = None
    checkpoints: tuple[str, ...] | None = None
    early: str | None = None  # --early: the series' "early" checkpoint
    mid: str | None = None  # --mid: RF's mid-training checkpoint (steering)
    late: str | None = None  # --late: the series' "late" checkpoint
    models: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    device: str = "auto"
    dtype: str = "auto"
    device_map: str | None = None  # --device-map: from_pretrained's device_map (a model over several devices)
    max_memory: tuple[tuple[int | str, str], ...] | None = None  # --max-memory: (device, size) pairs for device_map
    toy_seed: int = 0
    k: int | None = None
    generation_seeds: int | None = None
    data_dir: Path | None = None
    batch_size: int | None = None  # --batch-size: texts per forward pass; None: automatic (Measurements.batch_size)
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


def missing_role(role: str, series: Sequence[str] = ()) -> str:
    """The skip message of a claim that needs the checkpoint ``role`` when the run names none."""
    where = f"one of the series {', '.join(series)}" if series else "a checkpoint of --checkpoints"
    return (f"no '{role}' checkpoint: the model's profile names none in this series; "
            f"pass --{role} ({where})")


def _native(profile: ModelProfile | None, revision: str | None) -> str | None:
    """``revision`` in the profile's checkpoint naming (short forms of Pythia, OLMo); else unchanged."""
    return profile.native_revision(revision) if profile else revision


def _series(config: RunConfig, profile: ModelProfile | None) -> tuple[str, ...]:
    if config.checkpoints:
        return tuple(str(_native(profile, c)) for c in config.checkpoints)
    return tuple(profile.series) if profile else ()


def _role(
    role: str, config: RunConfig, profile: ModelProfile | None, series: tuple[str, ...]
) -> tuple[str | None, str]:
    """``(checkpoint, source)`` of ``role``: its option, the profile's point in the series, or the default."""
    given = getattr(config, role)
    if given:
        return _native(profile, given), f"--{role}"
    from_profile = getattr(profile, role, None) if profile else None
    if from_profile and from_profile in series:
        return from_profile, "the profile"
    if role == "late" and series:
        return series[-1], "the series' last checkpoint"
    return None, ""


def _check_roles(series: tuple[str, ...], roles: dict[str, tuple[str | None, str]]) -> None:
    """Every named role is in ``series`` and early ≤ mid ≤ late there; else :class:`CheckpointRoleError`."""
    for role, (rev, source) in roles.items():
        if rev is not None and rev not in series:
            listed = ", ".join(series) if series else "none (pass --checkpoints)"
            raise CheckpointRoleError(f"--{role} {rev} is not a checkpoint of the series; the series: {listed}")
    named = [(role, rev, source) for role, (rev, source) in roles.items() if rev is not None]
    for (a, rev_a, src_a), (b, rev_b, src_b) in zip(named, named[1:]):
        if series.index(rev_a) > series.index(rev_b):
            raise CheckpointRoleError(
                f"'{a}' ({rev_a}, from {src_a}) comes after '{b}' ({rev_b}, from {src_b}) in the series "
                f"{', '.join(series)}; early ≤ mid ≤ late is required: pass --{a} or --{b}"
            )


def checkpoint_points(config: RunConfig, profile: ModelProfile | None) -> CheckpointPoints:
    """Series, early, mid, late and single-checkpoint revision of ``config`` with ``profile``.

    Raises :class:`CheckpointRoleError` when a role is not in the series or the roles are out of order.
    """
    series = _series(config, profile)
    roles = {role: _role(role, config, profile, series) for role in ROLES}
    _check_roles(series, roles)
    early, mid, late = (roles[role][0] for role in ROLES)
    local = config.model == "toy" or (profile is not None and profile.local_run)
    revision = _native(profile, config.revision) or (late if local else None)
    return CheckpointPoints(series, early, mid, late, revision)


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
    """The run's model, profile, checkpoints and evaluation languages.

    The checkpoint roles are named, never inferred from a position in the series: each of
    ``early``, ``mid`` and ``late`` comes from its option (``--early``/``--mid``/``--late``), else from
    the profile when the profile's point is in the series, else ``late`` is the series' last
    checkpoint and ``early``/``mid`` are None (claims that need them skip, naming the option). Each
    role is a checkpoint of the series, with early ≤ mid ≤ late (see the module docstring).
    """

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
        ``available_languages``, :class:`CheckpointRoleError` when a checkpoint role is not in the
        series or the roles are out of order.
        """
        points = checkpoint_points(config, profile)
        languages = evaluation_languages(config, profile, available_languages)
        return cls(model=config.model, profile=profile, languages=languages, **points._asdict())
