"""The claim registry: every claim declared once, in one module per group under ``claims/``.

A declaration names the claim's id and gives, in one place,

* its **computation**: measurements → a :class:`ClaimOutcome` (the statistical decision and a frozen
  dataclass of the numbers it rests on, written to ``claims.json`` as the record's ``data``);
* its **summary**: one paragraph of our numbers in the terms the paper uses, for ``claims.md``;
* its **figures**: :class:`Figure` objects, drawn from the recorded numbers of every claim that
  lists them;
* optionally a **table** of extra Markdown lines for its report section.

Titles and the papers' statements come from the catalogue (``harness.report.catalogue``) only.
The decorator returns a pytest test function of the same name, so a claim module stays the
place a reader opens to see what each claim decides, and test ids stay stable::

    @claim("XY-1", numbers=GapNumbers, summary=lambda c: f"gap {c.numbers.gap:.3f}")
    def test_xy_1_gap_is_positive(measurements) -> ClaimOutcome[GapNumbers]:
        gap = my_analysis.gap(measurements, measurements.plan.revision)
        decision = bootstrap_decision(gap.per_verse, statistic="gap", n=gap.n)
        return ClaimOutcome(decision, GapNumbers(gap=gap.mean), checkpoints=(measurements.plan.revision,))

The pytest plugin (``harness.pytest_plugin``) records each outcome; the test then compares the
measured verdict (supported, contradicted or inconclusive, :attr:`Decision.verdict`) with the
model's expectation (``claims/expectations/<model>.json``, when it applies to the run), see
:func:`judge_verdict`: only a claim's decision (never an internal error) can be an expected failure,
and any change of verdict fails the run. A decision must carry a p-value or a confidence interval.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Sequence, TypeVar

import pytest

from harness.metrics.stats import Decision

#: The folder of the claim modules (``claims/test_*.py``) beside the package.
CLAIMS_DIR = Path(__file__).resolve().parent.parent / "claims"

NumbersT = TypeVar("NumbersT")


class ClaimNotSupported(AssertionError):
    """A claim's decision did not hold and no expectation says it should not."""


class ExpectationMismatch(AssertionError):
    """A claim's verdict differs from the one its model's expectations record."""


#: what a claim's verdict may be (as ``harness.report.records.VERDICTS``)
VERDICTS = ("supported", "contradicted", "inconclusive", "skipped")


@dataclass(frozen=True)
class Expectation:
    """A model's expected verdict of one claim (``claims/expectations/<model>.json``) and why."""

    verdict: str
    reason: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"an expected verdict must be one of {VERDICTS}, got {self.verdict!r}")


def require_evidence(claim_id: str, decision: Decision) -> None:
    """Refuse a decision that carries neither a p-value nor a confidence interval."""
    if not isinstance(decision, Decision):
        raise TypeError(f"{claim_id}: a claim's decision must be a Decision, got {type(decision).__name__}")
    if decision.p_value is None and decision.ci is None:
        raise TypeError(
            f"{claim_id}: its decision ({decision.statistic!r}, {decision.detail.get('test', 'no test named')}) "
            "has neither a p-value nor a confidence interval; every decided claim must report one "
            "(a rule alone, e.g. a rank, is not a statistical decision)"
        )


def judge_verdict(claim_id: str, measured: str, expectation: Expectation | None, failure: str = "") -> None:
    """Compare a claim's measured verdict with its expectation; return when it passes.

    * no expectation: supported passes, contradicted or inconclusive raise :class:`ClaimNotSupported`;
    * measured == expected: supported passes, otherwise ``pytest.xfail`` with the recorded reason;
    * expected "skipped" but the claim ran, or supported now while expected otherwise, or contradicted
      against inconclusive (or the reverse): :class:`ExpectationMismatch` (update the expectation);
    * expected supported, measured otherwise: :class:`ClaimNotSupported`.
    """
    why = f": {failure}" if failure else ""
    if expectation is None:
        if measured != "supported":
            raise ClaimNotSupported(f"{claim_id}: {measured}{why}")
        return
    expected = expectation.verdict
    if measured == expected:
        if measured != "supported":
            reason = expectation.reason or "no reason recorded"
            pytest.xfail(f"{claim_id}: {measured}, as expected on this model: {reason}")
        return
    if expected == "skipped":
        raise ExpectationMismatch(
            f"{claim_id}: the claim ran ({measured}) but this model's expectation says skipped: update the expectation"
        )
    if measured == "supported":
        raise ExpectationMismatch(
            f"{claim_id}: the claim now holds on this model (expected {expected}): update the expectation"
        )
    if expected == "supported":
        raise ClaimNotSupported(f"{claim_id}: {measured}, expected supported on this model{why}")
    raise ExpectationMismatch(f"{claim_id}: measured {measured}, expected {expected}: update the expectation{why}")


@dataclass(frozen=True)
class ClaimOutcome(Generic[NumbersT]):
    """What one claim computed: the decision and the numbers it rests on.

    ``numbers`` is an instance of the claim's frozen numbers dataclass; ``checkpoints`` the
    revisions the claim used; ``failure`` the assertion message when the decision fails (default:
    the decision's own reason); ``reason`` overrides the recorded reason.
    """

    decision: Decision
    numbers: NumbersT
    checkpoints: tuple[str, ...] = ()
    failure: str = ""
    reason: str = ""

    def failure_message(self) -> str:
        return self.failure or str(self.decision.detail.get("reason", "")) or "the claim's decision does not hold"


@dataclass(frozen=True)
class RecordedClaim(Generic[NumbersT]):
    """A claim as ``claims.json`` recorded it, with its numbers rebuilt as their dataclass.

    ``context`` is the report's ``ReportContext`` (run model and checkpoint order): summaries and
    figures use it to order revisions, never to look up other claims.
    """

    id: str
    numbers: NumbersT
    checkpoints: tuple[str, ...]
    record: dict
    context: Any

    @property
    def model(self) -> str:
        return str(self.context.model)

    def ordered(self, revisions) -> list[str]:
        """Revisions in checkpoint order (the run's series first, then by step)."""
        return self.context.order(revisions) if isinstance(revisions, (dict, list, tuple, set)) else []

    def own_revision(self, revisions: list[str], *, late: bool) -> str:
        """The claim's own first (early) or last (late) checkpoint among ``revisions``, else theirs."""
        own = [str(c) for c in self.checkpoints if str(c) in revisions]
        pool = own or revisions
        return pool[-1] if late else pool[0]


@dataclass(frozen=True)
class Figure:
    """A figure of the report: file stem, caption and a drawing function.

    ``draw(claims)`` receives the :class:`RecordedClaim` of every claim that lists this figure
    and ran, in catalogue order, and returns a matplotlib ``Figure`` or ``None`` (nothing to draw).
    """

    name: str
    caption: str
    draw: Callable[[Sequence[RecordedClaim]], Any]

    @property
    def filename(self) -> str:
        return f"{self.name}.png"


@dataclass(frozen=True)
class ClaimSpec:
    """One registered claim (see the module docstring)."""

    id: str
    numbers: type
    compute: Callable[[Any], ClaimOutcome]
    summary: Callable[[RecordedClaim], str | None] | None
    figures: tuple[Figure, ...]
    table: Callable[[RecordedClaim], list[str]] | None
    module: str
    test_name: str


REGISTRY: dict[str, ClaimSpec] = {}


def _register(spec: ClaimSpec) -> None:
    existing = REGISTRY.get(spec.id)
    # the same declaration imported twice (pytest, then the report loader) replaces itself
    if existing is not None and (existing.module, existing.test_name) != (spec.module, spec.test_name):
        raise ValueError(
            f"claim {spec.id} is declared twice: {existing.module}.{existing.test_name} "
            f"and {spec.module}.{spec.test_name}"
        )
    REGISTRY[spec.id] = spec


def claim(
    claim_id: str,
    *,
    numbers: type,
    summary: Callable[[RecordedClaim], str | None] | None = None,
    figures: Sequence[Figure] = (),
    table: Callable[[RecordedClaim], list[str]] | None = None,
):
    """Declare a claim; the decorated function computes its :class:`ClaimOutcome` from measurements."""
    if not (is_dataclass(numbers) and isinstance(numbers, type)):
        raise TypeError(f"claim {claim_id}: numbers must be a dataclass type, got {numbers!r}")

    def declare(compute: Callable[[Any], ClaimOutcome]):
        spec = ClaimSpec(
            id=claim_id, numbers=numbers, compute=compute, summary=summary, figures=tuple(figures), table=table,
            module=compute.__module__, test_name=compute.__name__,
        )
        _register(spec)
        return _as_test(spec, compute)

    return declare


def _as_test(spec: ClaimSpec, compute: Callable[[Any], ClaimOutcome]):
    """The pytest test of a declaration: compute, record, then judge the verdict against the expectation.

    ``record_claim(spec, outcome)`` returns the record; its ``expected`` (and ``expected_reason``) is the
    expectation when the model's expectations apply to the run.
    """

    def test(measurements, record_claim):
        outcome = compute(measurements)
        if not isinstance(outcome.numbers, spec.numbers):
            raise TypeError(f"{spec.id} returned {type(outcome.numbers).__name__}, declared {spec.numbers.__name__}")
        require_evidence(spec.id, outcome.decision)
        record = record_claim(spec, outcome)
        expected = getattr(record, "expected", None)
        expectation = Expectation(expected, getattr(record, "expected_reason", "")) if expected else None
        failure = "" if outcome.decision.supported else outcome.failure_message()
        judge_verdict(spec.id, outcome.decision.verdict, expectation, failure)

    # no functools.wraps: pytest would read the fixtures from the wrapped signature
    test.__name__ = test.__qualname__ = compute.__name__
    test.__doc__ = compute.__doc__
    test.__module__ = compute.__module__
    test.claim_spec = spec  # type: ignore[attr-defined]  # for tools that list declarations
    return pytest.mark.claim(spec.id)(test)


# ------------------------------------------------------------------------------------------------
# Numbers as recorded data and back


def numbers_to_data(numbers: Any) -> dict[str, Any]:
    """The numbers dataclass as the record's ``data`` dict (field order kept, values not converted)."""
    return {f.name: getattr(numbers, f.name) for f in fields(numbers)}


def numbers_from_data(numbers_type: type, data: dict) -> Any:
    """Rebuild a claim's numbers from ``claims.json``; raises ``TypeError`` when fields are missing."""
    names = {f.name for f in fields(numbers_type)}
    return numbers_type(**{key: value for key, value in data.items() if key in names})


# ------------------------------------------------------------------------------------------------
# Loading the declarations (the report needs them without pytest having imported claims/)


_LOADED_DIRS: set[Path] = set()


def load_claims(claims_dir: Path = CLAIMS_DIR) -> dict[str, ClaimSpec]:
    """Import every ``claims/test_*.py`` module (as pytest's default import mode names them), once.

    The report asks for the registry once per claim and figure; the folder is read on the first call.
    """
    if claims_dir in _LOADED_DIRS or not claims_dir.is_dir():
        return REGISTRY
    path = str(claims_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
    for module_path in sorted(claims_dir.glob("test_*.py")):
        importlib.import_module(module_path.stem)
    _LOADED_DIRS.add(claims_dir)
    return REGISTRY


def figures_for(claim_id: str) -> tuple[Figure, ...]:
    spec = REGISTRY.get(claim_id)
    return spec.figures if spec else ()


def all_figures(claim_order: Sequence[str]) -> list[tuple[Figure, list[str]]]:
    """Every declared figure once, with the claims that list it, in ``claim_order``."""
    seen: dict[str, tuple[Figure, list[str]]] = {}
    for cid in claim_order:
        for figure in figures_for(cid):
            if figure.name in seen:
                if seen[figure.name][0] is not figure:
                    raise ValueError(f"two different figures are named {figure.name}")
                seen[figure.name][1].append(cid)
            else:
                seen[figure.name] = (figure, [cid])
    return list(seen.values())
