"""The claim registry: one declaration per claim, tied to the catalogue, expectations and figures."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import FrozenInstanceError, dataclass, fields

import pytest

from harness import claim_registry
from harness.claim_registry import ClaimNotSupported, ClaimOutcome, Figure, claim, load_claims, numbers_from_data
from harness.metrics import Decision
from harness.pytest_plugin import EXPECTATIONS_DIR
from harness.report.catalogue import CATALOGUE


@pytest.fixture
def scratch_registry(monkeypatch):
    """Declarations made by a test stay out of the real registry."""
    monkeypatch.setattr(claim_registry, "REGISTRY", dict(load_claims()))
    return claim_registry.REGISTRY


def _decision(supported: bool) -> Decision:
    return Decision(statistic="gap", value=0.3, control=0.0, effect_size=None, p_value=0.001 if supported else 0.4,
                    ci=None, n=20, alternative="greater", alpha=0.01, supported=supported, detail={"reason": "gap 0.3"})


@dataclass(frozen=True)
class GapNumbers:
    gap: float


# ------------------------------------------------------------------------------------------------
# The registry against the catalogue, the expectations and the figures


def test_every_catalogue_claim_is_declared_exactly_once():
    registry = load_claims()
    assert sorted(registry) == sorted(CATALOGUE), "claims declared in claims/ and the catalogue differ"
    tests = [(spec.module, spec.test_name) for spec in registry.values()]
    assert len(set(tests)) == len(tests), "one test function declares two claims"


def test_every_claim_has_a_title_and_a_summary_and_frozen_numbers():
    for cid, spec in load_claims().items():
        assert CATALOGUE[cid].title, f"{cid} has no title in the catalogue"
        assert spec.summary is not None, f"{cid} declares no summary"
        assert spec.test_name.startswith("test_"), f"{cid}: {spec.test_name} would not be collected"
        assert getattr(spec.numbers, "__dataclass_params__").frozen, f"{cid}: numbers must be a frozen dataclass"


def test_expectations_name_only_declared_claims():
    registry = load_claims()
    files = sorted(EXPECTATIONS_DIR.glob("*.json"))
    assert files, "no expectations file found"
    for path in files:
        ids = list(json.loads(path.read_text())["claims"])
        unknown = [cid for cid in ids if cid not in registry]
        assert not unknown, f"{path.name} names undeclared claims {unknown}"
        assert len(ids) == len(set(ids))


def test_every_figure_is_declared_once_and_drawn_by_its_claims():
    registry = load_claims()
    figures = claim_registry.all_figures(list(CATALOGUE))
    names = [figure.name for figure, _ in figures]
    assert len(names) == len(set(names))
    assert len(figures) >= 10
    for figure, claim_ids in figures:
        assert callable(figure.draw) and figure.caption, figure.name
        for cid in claim_ids:
            assert figure in registry[cid].figures


# ------------------------------------------------------------------------------------------------
# Declaring a claim


def test_a_declaration_becomes_a_marked_test_of_the_same_name(scratch_registry):
    @claim("XX-1", numbers=GapNumbers)
    def test_xx_1_gap(measurements):
        """A gap is positive."""
        return ClaimOutcome(_decision(True), GapNumbers(gap=0.3))

    assert test_xx_1_gap.__name__ == "test_xx_1_gap"
    assert test_xx_1_gap.__doc__ == "A gap is positive."
    assert [m.args for m in test_xx_1_gap.pytestmark if m.name == "claim"] == [("XX-1",)]
    assert scratch_registry["XX-1"].numbers is GapNumbers


def test_the_test_records_then_raises_its_own_exception_when_not_supported(scratch_registry):
    recorded = []

    @claim("XX-2", numbers=GapNumbers)
    def test_xx_2(measurements):
        return ClaimOutcome(_decision(False), GapNumbers(gap=0.01), failure="gap 0.01 is not above 0")

    with pytest.raises(ClaimNotSupported, match="XX-2: gap 0.01 is not above 0"):
        test_xx_2(object(), lambda spec, outcome: recorded.append((spec.id, outcome.numbers.gap)))
    assert recorded == [("XX-2", 0.01)]


def test_a_supported_claim_passes_and_is_recorded(scratch_registry):
    recorded = []

    @claim("XX-3", numbers=GapNumbers)
    def test_xx_3(measurements):
        return ClaimOutcome(_decision(True), GapNumbers(gap=0.3))

    test_xx_3(object(), lambda spec, outcome: recorded.append(spec.id))
    assert recorded == ["XX-3"]


def test_numbers_of_another_type_are_refused(scratch_registry):
    @dataclass(frozen=True)
    class Other:
        gap: float

    @claim("XX-4", numbers=GapNumbers)
    def test_xx_4(measurements):
        return ClaimOutcome(_decision(True), Other(gap=0.3))

    with pytest.raises(TypeError, match="XX-4 returned Other, declared GapNumbers"):
        test_xx_4(object(), lambda spec, outcome: None)


def test_the_same_id_declared_by_two_tests_is_refused(scratch_registry):
    @claim("XX-5", numbers=GapNumbers)
    def test_first(measurements):
        return ClaimOutcome(_decision(True), GapNumbers(gap=0.3))

    with pytest.raises(ValueError, match="XX-5 is declared twice"):
        @claim("XX-5", numbers=GapNumbers)
        def test_second(measurements):
            return ClaimOutcome(_decision(True), GapNumbers(gap=0.3))


def test_numbers_must_be_a_dataclass():
    with pytest.raises(TypeError, match="must be a dataclass"):
        claim("XX-6", numbers=dict)


def test_numbers_round_trip_through_recorded_data_and_are_frozen():
    numbers = numbers_from_data(GapNumbers, {"gap": 0.5, "decision_detail": {"rule": "ignored"}})
    assert numbers == GapNumbers(gap=0.5)
    with pytest.raises(FrozenInstanceError):
        numbers.gap = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        numbers_from_data(GapNumbers, {"other": 1})
    assert [f.name for f in fields(GapNumbers)] == ["gap"]


def test_a_figure_names_its_file():
    assert Figure("x_y", "caption", lambda claims: None).filename == "x_y.png"


# ------------------------------------------------------------------------------------------------
# Expected failures: only a claim's decision may be one


_PLUGIN_TEST = '''
from dataclasses import dataclass
import pytest
from harness.claim_registry import ClaimOutcome, claim
from harness.metrics import Decision

@pytest.fixture(scope="session")
def measurements():
    return object()

@dataclass(frozen=True)
class N:
    gap: float

def _d(ok):
    return Decision(statistic="gap", value=0.0, control=0.0, effect_size=None, p_value=0.5, ci=None, n=3,
                    alternative="greater", alpha=0.01, supported=ok, detail={"reason": "no gap"})

@claim("XX-7", numbers=N)
def test_decision_fails(measurements):
    return ClaimOutcome(_d(False), N(gap=0.0))

@claim("XX-8", numbers=N)
def test_internal_error(measurements):
    assert 1 + 1 == 3, "an internal consistency check"
    return ClaimOutcome(_d(False), N(gap=0.0))
'''


def test_an_expectation_covers_the_decision_never_an_internal_error(pytester, monkeypatch, scratch_registry, tmp_path):
    from harness import pytest_plugin

    expectations = tmp_path / "expectations"
    expectations.mkdir()
    (expectations / "fake.json").write_text(json.dumps({"claims": {
        "XX-7": {"verdict": "not supported", "reason": "known"},
        "XX-8": {"verdict": "not supported", "reason": "known"},
    }}))
    monkeypatch.setattr(pytest_plugin, "EXPECTATIONS_DIR", expectations)
    pytester.makepyfile(test_fake_claims=_PLUGIN_TEST)
    result = pytester.runpytest_inprocess("-p", "harness.pytest_plugin", "--model", "fake",
                                          "--report-dir", str(tmp_path / "report"), "-p", "no:cacheprovider")
    result.assert_outcomes(xfailed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: an internal consistency check*", "FAILED *test_internal_error*"])


def test_the_readme_example_declares_a_claim(scratch_registry, monkeypatch):
    """The README's "Adding a claim" example is one declaration that the registry accepts as a test."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Adding a claim", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    module = types.ModuleType("readme_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, "README.md", "exec", dont_inherit=True), module.__dict__)
    namespace = module.__dict__
    spec = scratch_registry["XY-1"]
    assert spec.test_name == "test_xy_1_romance_languages_cluster"
    assert spec.summary is not None and spec.numbers.__name__ == "RomanceGap"
    assert [m.args for m in namespace["test_xy_1_romance_languages_cluster"].pytestmark] == [("XY-1",)]
