"""``python -m harness measure``: fill the measurement cache of a run, split over processes by Accelerate.

It takes the run options of ``pytest claims/`` (:mod:`harness.run_options`) and computes every
measurement the claims ask for, so that ``pytest claims/`` with the same options afterwards only reads
the on-disk cache and loads no model. What the claims need is not listed by hand: the command runs
the claims' own computations (``harness.claim_registry``) against a :class:`ShardedCache`, so every
measurement a claim asks for is asked for here, in the same order and with the same cache key (phase 1
below only measures ahead what the claims will ask for, to spread it over the processes; whatever it
misses, the claim rounds measure).

Under ``accelerate launch --num_processes N -m harness measure …`` (one process per GPU; on a
CPU-only machine add ``--multi_gpu``, Accelerate's name for its torchrun launcher) the work is split
between the processes (``PartialState().process_index`` of ``num_processes``) by :class:`WorkSplit`,
in two phases separated by a barrier (``wait_for_everyone``):

1. **Per checkpoint and language** (:func:`prefetch`): the measurements that depend on nothing but
   the model and the text — concept-pool responses and expert scores (RF-2 … RF-4), the similarity
   sample's responses (LF-1 … LF-7), the probes' hidden states (RF-1) — of every checkpoint of the run
   (the series, the single-checkpoint revision, the untrained control), each kind only when one of the
   chosen claims uses it (:data:`PREFETCH`). The ``c``-th checkpoint in language ``l`` (the ``l``-th of
   the run's languages) belongs to process ``(c + l) mod N``, so each process measures about 1/N of
   every checkpoint.
2. **Claim rounds** (:func:`fill`): every claim is computed; a measurement still missing belongs to
   the process of its checkpoint (``c mod N``; a checkpoint outside the run's list, e.g. a family
   model, takes a fixed position from a hash of its name), which computes all of that checkpoint's
   dependent measurements (steering generations from the top-k experts, perplexities with key
   regions zeroed) in one go. A claim that asks for another process's measurement before it is on
   disk stops (:class:`Deferred`) and is run again in the next round, after a barrier. Results
   derived from measurements only (``Measurements.derived``, no model) are computed by whichever
   process needs them. The rounds end when no process has a claim left waiting; a round in which
   nothing new was stored while claims still wait (their measurement failed in its own process)
   ends them with an error.

Each process stores what it computes in the shared on-disk cache (entries are written atomically).
Without ``accelerate launch`` the command is one process and does all the work itself. Each
measurement a process computes is logged as one line ``measure[i/N] computed <kind> <model>@<revision>
<lang> <digest>``; the last line of each process sums up.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Sequence

from harness.errors import HarnessError
from harness.measurement_cache import MeasurementCache, canonical_key
from harness.run_options import RUN_OPTIONS, RunOptionError, csv, run_config_from

__all__ = ["Deferred", "ShardedCache", "WorkSplit", "add_measure", "fill", "measure"]

#: how long a process waits for the others at a barrier (a round of a large model's series is long)
BARRIER_TIMEOUT = datetime.timedelta(hours=24)


class Deferred(BaseException):
    """A claim asked for a measurement of another process that is not on disk yet: run it again next round.

    A ``BaseException``, like pytest's skip, so that no ``except Exception`` in an analysis swallows it.
    """


def _log(line: str) -> None:
    """One line of the work log on stdout, flushed at once (several processes share the stream).

    One ``write`` of the line with its newline: ``print`` writes the end separately, and two processes'
    lines then interleave ("…0 failedmeasure[0/2] …"); a pipe keeps a write of under 4 KiB whole.
    """
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _stable_position(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@dataclass(frozen=True)
class WorkSplit:
    """Which process computes which measurement (see the module docstring): process ``index`` of ``count``.

    ``checkpoints`` are the run's checkpoints of ``model`` in a fixed order (positions ``c``),
    ``languages`` its languages (positions ``l``); ``by_language``: a measurement in a language goes to
    ``(c + l) mod count`` (phase 1), else every measurement of a checkpoint to ``c mod count`` (phase 2).
    A key without a model and revision (a derived result) belongs to no process: whoever needs it
    computes it.
    """

    index: int = 0
    count: int = 1
    model: str = ""
    checkpoints: tuple[str | None, ...] = ()
    languages: tuple[str, ...] = ()
    by_language: bool = False

    def position(self, model: Any, revision: Any) -> int:
        """The checkpoint's place: its index among the run's checkpoints, else a fixed number from its name."""
        if model == self.model and revision in self.checkpoints:
            return self.checkpoints.index(revision)
        return _stable_position(f"{model}\0{revision}")

    def owner(self, key: dict[str, Any]) -> int | None:
        """The process that computes ``key``'s measurement; None: whichever process needs it."""
        if "model" not in key or "revision" not in key:
            return None
        if self.count == 1:
            return 0
        position = self.position(key["model"], key["revision"])
        lang = key.get("lang")
        if self.by_language and lang in self.languages:
            position += self.languages.index(lang)
        return position % self.count

    def owns(self, model: str, revision: str | None, lang: str | None = None) -> bool:
        return self.owner({"model": model, "revision": revision, "lang": lang}) == self.index


def describe(key: dict[str, Any]) -> str:
    """``<kind> <model>@<revision> [<lang>]`` of a cache key (for the work log)."""
    kind = str(key.get("kind", "?"))
    if "model" not in key:
        return kind
    revision = key.get("revision")
    where = f"{key['model']}@{revision}" if revision is not None else str(key["model"])
    return " ".join(str(p) for p in (kind, where, key.get("lang")) if p is not None)


class ShardedCache(MeasurementCache):
    """The measurement cache of one process of a split run: a miss on another process's measurement
    raises :class:`Deferred` instead of computing it; every entry this process stores is logged."""

    def __init__(self, split: WorkSplit, *, log: Callable[[str], None] = _log, **kwargs):
        super().__init__(**kwargs)
        self.split = split
        self.log = log
        self.stored: list[str] = []  # digests of the entries this process computed and stored
        self.deferred = 0

    def _ask(self, key: dict[str, Any]) -> None:
        """Raise :class:`Deferred` when ``key`` is missing here and belongs to another process."""
        owner = self.split.owner(key)
        if owner is not None and owner != self.split.index:
            self.deferred += 1
            raise Deferred(f"{describe(key)} belongs to process {owner}")

    def load(self, key: dict[str, Any]) -> Any | None:
        value = super().load(key)
        if value is None:
            self._ask(key)
        return value

    def get_or_compute(self, key: dict[str, Any], compute: Callable[[], Any]) -> Any:
        def guarded() -> Any:
            self._ask(key)
            return compute()

        return super().get_or_compute(key, guarded)

    def store(self, key: dict[str, Any], value: Any) -> None:
        super().store(key, value)
        digest = hashlib.sha256(canonical_key(key).encode()).hexdigest()
        self.stored.append(digest)
        split = self.split
        self.log(f"measure[{split.index}/{split.count}] computed {describe(key)} {digest[:16]}")


# ------------------------------------------------------------------------------------------------ phase 1
#: the claims that use each kind of phase-1 measurement on the run's checkpoints; only what the chosen
#: claims use is measured in phase 1 (a claim missing here is still measured, in the claim rounds)
PREFETCH: dict[str, tuple[str, ...]] = {
    "experts": ("RF-2a", "RF-2b", "RF-2c", "RF-2d", "RF-3a", "RF-3b", "RF-4a", "RF-4b", "RF-4c", "RF-4d"),
    "similarity": ("LF-1a", "LF-1b", "LF-1c", "LF-2", "LF-3a", "LF-3b", "LF-4", "LF-5", "LF-7"),
    "probes": ("RF-1a", "RF-1b", "RF-1c"),
}


def prefetch_kinds(claim_ids: Sequence[str]) -> list[str]:
    """The kinds of phase-1 measurement that the claims ``claim_ids`` use."""
    return [kind for kind, users in PREFETCH.items() if set(users) & set(claim_ids)]


@contextlib.contextmanager
def _only_language(measurements, lang: str) -> Iterator[None]:
    """``measurements`` whose plan holds ``lang`` alone (the methods that loop over the run's languages
    then measure that one); the plan is restored on leaving."""
    plan = measurements.plan
    measurements.__dict__["plan"] = replace(plan, languages=(lang,))
    try:
        yield
    finally:
        measurements.__dict__["plan"] = plan


def _measure_kind(measurements, kind: str, revision: str | None, lang: str) -> None:
    from harness.analyses.probing import PROBE_SEEDS

    if kind == "experts":
        measurements.expert_scores(revision, lang)
    elif kind == "similarity":
        measurements.similarity_responses(revision)
    else:
        measurements.probe_states_for(revision, PROBE_SEEDS)


def prefetch(measurements, split: WorkSplit, kinds: Sequence[str], log: Callable[[str], None] = _log) -> int:
    """Phase 1: this process's measurements of ``kinds`` per checkpoint and language; the number that failed
    (each logged; the claim rounds meet the same error and report it per claim)."""
    plan = measurements.plan
    failed = 0
    for revision in split.checkpoints:
        for lang in plan.languages:
            if not split.owns(plan.model, revision, lang):
                continue
            with _only_language(measurements, lang):
                for kind in kinds:
                    try:
                        _measure_kind(measurements, kind, revision, lang)
                    except (Exception, Deferred) as error:
                        failed += 1
                        log(f"measure[{split.index}/{split.count}] {kind} {revision} {lang} failed: "
                            f"{type(error).__name__}: {error}".splitlines()[0])
    return failed


# ------------------------------------------------------------------------------------------------ rounds
@dataclass
class FillResult:
    """What one process did: rounds run, claims finished, skipped (with why) and failed (with the error)."""

    rounds: int = 0
    done: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def _run_claim(spec, measurements) -> tuple[str, str]:
    """``("done" | "skipped" | "deferred" | "failed", detail)`` of one claim's computation."""
    import pytest

    try:
        spec.compute(measurements)
    except Deferred as waiting:
        return "deferred", str(waiting)
    except pytest.skip.Exception as skip:
        return "skipped", str(skip.msg)
    except (Exception, pytest.fail.Exception) as error:  # the claim fails the same way under pytest
        return "failed", f"{type(error).__name__}: {error}".splitlines()[0]
    return "done", ""


class _Single:
    """The one process of a run without ``accelerate launch`` (what :func:`fill` needs of PartialState)."""

    process_index = 0
    num_processes = 1

    def wait_for_everyone(self) -> None:
        pass


def _gather(state, value: tuple) -> list[tuple]:
    """``value`` of every process (a state of the tests brings its own ``gather_values``)."""
    if hasattr(state, "gather_values"):
        return list(state.gather_values(value))
    if state.num_processes == 1:
        return [value]
    from accelerate.utils import gather_object

    return list(gather_object([value]))


def fill(specs: Sequence, measurements, cache: ShardedCache, state=None,
         log: Callable[[str], None] = _log) -> FillResult:
    """Run the claims ``specs`` on ``measurements`` (whose cache is ``cache``) in rounds until none waits."""
    state = state or _Single()
    result = FillResult()
    pending = list(specs)
    tag = f"measure[{state.process_index}/{state.num_processes}]"
    while True:
        result.rounds += 1
        stored_before = len(cache.stored)
        waiting = []
        for spec in pending:
            status, detail = _run_claim(spec, measurements)
            if status == "deferred":
                waiting.append(spec)
            elif status == "skipped":
                result.skipped[spec.id] = detail
            elif status == "failed":
                result.failed[spec.id] = detail
                log(f"{tag} {spec.id} failed: {detail}")
            else:
                result.done.append(spec.id)
        state.wait_for_everyone()  # the round's measurements are on disk before anyone reads them
        totals = _gather(state, (len(waiting), len(cache.stored) - stored_before))
        if sum(t[0] for t in totals) == 0:
            return result
        if sum(t[1] for t in totals) == 0:  # claims wait on measurements that failed elsewhere
            for spec in waiting:
                result.failed[spec.id] = "waits on a measurement that another process could not compute (its error " \
                                         "is above)"
                log(f"{tag} {spec.id} failed: {result.failed[spec.id]}")
            return result
        pending = waiting


# ------------------------------------------------------------------------------------------------ command
def _select(claim_ids: tuple[str, ...] | None) -> list:
    from harness.claim_registry import load_claims

    registry = load_claims()
    if not claim_ids:
        return list(registry.values())
    by_id = {cid.lower(): spec for cid, spec in registry.items()}
    unknown = [cid for cid in claim_ids if cid.lower() not in by_id]
    if unknown:
        raise RunOptionError(f"unknown claim(s) {', '.join(unknown)}; the claims: {', '.join(registry)}")
    return [by_id[cid.lower()] for cid in claim_ids]


def _process_state(config):
    """Accelerate's PartialState for this process (one process without ``accelerate launch``)."""
    # Before the process group exists: torch.distributed.checkpoint, fsdp and pipelining (which transformers'
    # model code imports) keep a reference to a group that exists when they are imported, so that
    # destroy_process_group cannot stop its threads, and a process may abort at exit.
    import transformers.modeling_utils  # noqa: F401
    from accelerate import PartialState

    from harness.loading import _auto_device

    cpu = _auto_device(config.device).type == "cpu"
    return PartialState(cpu=cpu, timeout=BARRIER_TIMEOUT)


def _per_process(config, state):
    """The run's config in this process: its own GPU when ``--device`` is auto, progress bars when alone."""
    if state.num_processes > 1 and config.device_map:
        raise RunOptionError("--device-map spreads one model over every GPU: run measure as one process (without "
                             "accelerate launch), or one process per GPU without --device-map")
    device = str(state.device) if config.device == "auto" and state.device.type == "cuda" else config.device
    return replace(config, device=device, progress=state.num_processes == 1)


def _prepare(config, state, log: Callable[[str], None]):
    """The process's Measurements on a ShardedCache (phase 1's split), after the checks ``pytest claims/``
    makes before any claim; the run's checkpoints are the series, the single-checkpoint revision and the
    untrained control."""
    from harness.analyses.untrained import untrained_revision
    from harness.loading import resolve_source
    from harness.measurements import Measurements
    from harness.sites import check_saved_site

    source = resolve_source(config.model, config.revision, toy_seed=config.toy_seed)  # the toy: trained now
    check_saved_site(source.weights, source.revision)
    cache = ShardedCache(WorkSplit(state.process_index, state.num_processes), log=log)
    measurements = Measurements(config, cache=cache)
    plan = measurements.plan  # validates --languages and the checkpoint roles
    checkpoints = tuple(dict.fromkeys([*plan.series, plan.revision, untrained_revision(measurements)]))
    cache.split = WorkSplit(state.process_index, state.num_processes, config.model, checkpoints, plan.languages,
                            by_language=True)
    return measurements, cache


def measure(args: argparse.Namespace, log: Callable[[str], None] = _log) -> int:
    """The ``measure`` command (see the module docstring); its exit status."""
    state = None
    try:
        config = run_config_from(lambda flag: getattr(args, flag.lstrip("-").replace("-", "_")))
        specs = _select(csv(args.claims))
        state = _process_state(config)
        return _measure(config, specs, state, log)
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        # Left to interpreter shutdown, the process group's threads can be destroyed while still joinable:
        # the process then aborts ("terminate called without an active exception") after its work is done.
        if state is not None:
            state.destroy_process_group()


def _measure(config, specs: list, state, log: Callable[[str], None]) -> int:
    config = _per_process(config, state)
    with state.main_process_first():  # the toy and the data are built once, by the first process
        measurements, cache = _prepare(config, state, log)
    tag = f"measure[{state.process_index}/{state.num_processes}]"
    if state.num_processes > 1:
        prefetch(measurements, cache.split, prefetch_kinds([spec.id for spec in specs]), log)
        state.wait_for_everyone()
        log(f"{tag} phase 1 done: {len(cache.stored)} measurement(s) computed")
    cache.split = replace(cache.split, by_language=False)
    result = fill(specs, measurements, cache, state, log)
    log(f"{tag} finished after {result.rounds} claim round(s): {len(cache.stored)} measurement(s) computed, "
        f"{len(measurements.loads)} model load(s); claims: {len(result.done)} measured, {len(result.skipped)} skipped, "
        f"{len(result.failed)} failed")
    for cid, why in result.skipped.items():
        log(f"{tag} {cid} skipped: {why}")
    return 1 if result.failed else 0


def add_measure(subparsers) -> None:
    """The ``measure`` subcommand: the run options of ``pytest claims/`` and ``--claims``."""
    parser = subparsers.add_parser(
        "measure", help="fill the measurement cache of a run (split over processes under accelerate launch)",
        description="Compute every measurement that `pytest claims/` with the same options asks for and store it in "
        "the measurement cache, so that the pytest run loads no model. Under `accelerate launch --num_processes N -m "
        "harness measure …` the checkpoints and languages are split between the N processes.",
    )
    for option in RUN_OPTIONS:
        parser.add_argument(option.flag, **option.kwargs)
    parser.add_argument("--claims", default=None,
                        help="comma-separated claim ids to measure for (default: every claim), e.g. RF-2a,LF-4")
    parser.set_defaults(func=measure)
