"""The claim registry: one declaration per claim, tied to the catalogue, expectations and figures."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import FrozenInstanceError, dataclass, fields, replace

import pytest

from harness import claim_registry
from harness.claim_registry import (
    ClaimNotSupported,
    ClaimOutcome,
    Expectation,
    ExpectationMismatch,
    Figure,
    claim,
    judge_verdict,
    load_claims,
    numbers_from_data,
)
from harness.metrics import Decision
from harness.pytest_plugin import EXPECTATIONS_DIR, settings_differences
from harness.report.catalogue import CATALOGUE
from harness.report.records import VERDICTS


@pytest.fixture
def scratch_registry(monkeypatch):
    """Declarations made by a test stay out of the real registry."""
    monkeypatch.setattr(claim_registry, "REGISTRY", dict(load_claims()))
    return claim_registry.REGISTRY


def _decision(supported: bool, contradicted: bool = False, p_value: float | None = None,
              ci: tuple[float, float] | None = None) -> Decision:
    p = (0.001 if supported else 0.4) if p_value is None and ci is None else p_value
    return Decision(statistic="gap", value=0.3, control=0.0, effect_size=None, p_value=p, ci=ci, n=20,
                    alternative="greater", alpha=0.01, supported=supported, detail={"reason": "gap 0.3"},
                    contradicted=contradicted)


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
        payload = json.loads(path.read_text())
        ids = list(payload["claims"])
        unknown = [cid for cid in ids if cid not in registry]
        assert not unknown, f"{path.name} names undeclared claims {unknown}"
        assert len(ids) == len(set(ids))
        bad = {cid: e.get("verdict") for cid, e in payload["claims"].items() if e.get("verdict") not in VERDICTS}
        assert not bad, f"{path.name}: verdicts must be one of {VERDICTS}: {bad}"
        assert payload["settings"]["model"] == payload["model"], f"{path.name} names no settings"


def test_the_toy_expectations_cover_every_claim_with_their_settings():
    """So that a toy claim that starts to be skipped (or to run) is noticed."""
    payload = json.loads((EXPECTATIONS_DIR / "toy.json").read_text())
    assert sorted(payload["claims"]) == sorted(load_claims())
    assert {"model", "toy_seeds", "checkpoints", "languages", "top_k", "generation_seeds", "alpha"} <= set(
        payload["settings"])
    not_supported = [cid for cid, e in payload["claims"].items() if e["verdict"] in ("contradicted", "inconclusive")]
    assert all(payload["claims"][cid]["reason"] for cid in not_supported), "an expected failure states its reason"


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

    with pytest.raises(ClaimNotSupported, match="XX-2: inconclusive: gap 0.01 is not above 0"):
        test_xx_2(object(), lambda spec, outcome: recorded.append((spec.id, outcome.numbers.gap)))
    assert recorded == [("XX-2", 0.01)]


def test_a_decision_without_p_value_or_interval_is_refused_before_it_is_recorded(scratch_registry):
    recorded = []

    @claim("XX-9", numbers=GapNumbers)
    def test_xx_9(measurements):
        return ClaimOutcome(replace(_decision(True), p_value=None, ci=None), GapNumbers(gap=0.3))

    @claim("XX-10", numbers=GapNumbers)
    def test_xx_10(measurements):
        return ClaimOutcome(_decision(True, ci=(0.1, 0.5)), GapNumbers(gap=0.3))

    with pytest.raises(TypeError, match="XX-9: .* neither a p-value nor a confidence interval"):
        test_xx_9(object(), lambda spec, outcome: recorded.append(spec.id))
    test_xx_10(object(), lambda spec, outcome: recorded.append(spec.id))
    assert recorded == ["XX-10"]


@pytest.mark.parametrize(("measured", "expected", "outcome"), [
    ("supported", None, "passes"),
    ("inconclusive", None, ClaimNotSupported),
    ("contradicted", None, ClaimNotSupported),
    ("supported", "supported", "passes"),
    ("inconclusive", "inconclusive", "xfail"),
    ("contradicted", "contradicted", "xfail"),
    ("supported", "inconclusive", ExpectationMismatch),
    ("supported", "contradicted", ExpectationMismatch),
    ("contradicted", "inconclusive", ExpectationMismatch),
    ("inconclusive", "contradicted", ExpectationMismatch),
    ("inconclusive", "supported", ClaimNotSupported),
    ("contradicted", "supported", ClaimNotSupported),
    ("supported", "skipped", ExpectationMismatch),
    ("inconclusive", "skipped", ExpectationMismatch),
])
def test_the_measured_verdict_is_judged_against_the_exact_expected_one(measured, expected, outcome):
    expectation = Expectation(expected, "known on this model") if expected else None
    if outcome == "passes":
        judge_verdict("XX-1", measured, expectation)
    elif outcome == "xfail":
        with pytest.raises(pytest.xfail.Exception, match="XX-1: .*as expected on this model: known on this model"):
            judge_verdict("XX-1", measured, expectation)
    else:
        with pytest.raises(outcome):
            judge_verdict("XX-1", measured, expectation)


def test_an_unknown_expected_verdict_is_refused():
    with pytest.raises(ValueError, match="expected verdict must be one of"):
        Expectation("not supported")


def test_settings_are_compared_where_the_run_knows_them():
    expected = {"model": "toy", "toy_seeds": [0, 1], "checkpoints": ["step0", "step2048"], "top_k": 16, "alpha": 0.01}
    assert settings_differences({"model": "toy", "toy_seed": 1, "alpha": 0.01}, expected) == {}
    assert settings_differences({"model": "toy", "toy_seed": 2, "checkpoints": ("step0", "step2048"),
                                 "top_k": 16}, expected) == {"toy_seed": {"run": 2, "expected": [0, 1]}}
    assert settings_differences({"model": "toy", "checkpoints": ["step0"], "top_k": 32}, expected) == {
        "checkpoints": {"run": ["step0"], "expected": ["step0", "step2048"]},
        "top_k": {"run": 32, "expected": 16},
    }


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
# Expectations in a real pytest run: only a claim's decision may be an expected failure, and any
# change of verdict (supported, contradicted, inconclusive, skipped) fails


_PLUGIN_TEST = '''
from dataclasses import dataclass
import pytest
from harness.claim_registry import ClaimOutcome, claim
from harness.metrics import Decision

@pytest.fixture(scope="session")
def measurements():
    return None  # the plugin then knows the run's settings from the command line only

@dataclass(frozen=True)
class N:
    gap: float

def _d(verdict):
    return Decision(statistic="gap", value=0.0, control=0.0, effect_size=None, p_value=0.5, ci=None, n=3,
                    alternative="greater", alpha=0.01, supported=verdict == "supported",
                    contradicted=verdict == "contradicted", p_value_opposite=0.001, detail={"reason": "no gap"})

def _claim(cid, verdict):
    @claim(cid, numbers=N)
    def test(measurements):
        if verdict == "skipped":
            pytest.skip("nothing to measure")
        return ClaimOutcome(_d(verdict), N(gap=0.0))
    return test

# (claim, what it measures)
CASES = {CASES}
for _cid, _verdict in CASES.items():
    globals()["test_" + _cid.replace("-", "_")] = _claim(_cid, _verdict)

@claim("XX-99", numbers=N)
def test_internal_error(measurements):
    assert 1 + 1 == 3, "an internal consistency check"
    return ClaimOutcome(_d("inconclusive"), N(gap=0.0))
'''


def _run_with_expectations(pytester, monkeypatch, tmp_path, cases: dict, expected: dict, *, settings=None, args=()):
    from harness import pytest_plugin

    expectations = tmp_path / "expectations"
    expectations.mkdir(exist_ok=True)
    claims = {cid: {"verdict": verdict, "reason": f"known {cid}"} for cid, verdict in expected.items()}
    payload = {"model": "fake", "settings": settings or {"model": "fake", "alpha": 0.01}, "claims": claims}
    (expectations / "fake.json").write_text(json.dumps(payload))
    monkeypatch.setattr(pytest_plugin, "EXPECTATIONS_DIR", expectations)
    pytester.makepyfile(test_fake_claims=_PLUGIN_TEST.replace("{CASES}", repr(cases)))
    report = tmp_path / "report"
    result = pytester.runpytest_inprocess("-p", "harness.pytest_plugin", "--model", "fake", "--report-dir",
                                          str(report), "-p", "no:cacheprovider", "-rxXfs", *args)
    return result, json.loads((report / "claims.json").read_text())


def test_an_expectation_covers_the_decision_never_an_internal_error(pytester, monkeypatch, scratch_registry, tmp_path):
    result, _ = _run_with_expectations(pytester, monkeypatch, tmp_path, {"XX-7": "inconclusive"},
                                       {"XX-7": "inconclusive", "XX-99": "inconclusive"})
    result.assert_outcomes(xfailed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: an internal consistency check*", "FAILED *test_internal_error*"])


def test_the_exact_expected_verdict_is_an_expected_failure(pytester, monkeypatch, scratch_registry, tmp_path):
    cases = {"XX-1": "supported", "XX-2": "inconclusive", "XX-3": "contradicted", "XX-4": "skipped"}
    result, payload = _run_with_expectations(pytester, monkeypatch, tmp_path, cases, dict(cases))
    result.assert_outcomes(passed=1, xfailed=2, skipped=1, failed=1)  # the failure: the internal error
    result.stdout.fnmatch_lines(["XFAIL *test_XX_2* - XX-2: inconclusive, as expected on this model: known XX-2",
                                 "XFAIL *test_XX_3* - XX-3: contradicted, as expected on this model: known XX-3"])
    records = {r["id"]: r for r in payload["claims"]}
    assert {cid: records[cid]["verdict"] for cid in cases} == cases
    assert {cid: records[cid]["expected"] for cid in cases} == cases
    assert payload["expectations"]["applies"] is True


@pytest.mark.parametrize(("measured", "expected", "message"), [
    ("supported", "inconclusive", "XX-1: the claim now holds on this model (expected inconclusive): update the "
                                  "expectation"),
    ("supported", "contradicted", "XX-1: the claim now holds on this model (expected contradicted)*"),
    ("contradicted", "inconclusive", "XX-1: measured contradicted, expected inconclusive: update the expectation*"),
    ("inconclusive", "contradicted", "XX-1: measured inconclusive, expected contradicted: update the expectation*"),
    ("inconclusive", "supported", "XX-1: inconclusive, expected supported on this model*"),
    ("skipped", "inconclusive", "XX-1: skipped (nothing to measure) but this model's expectation says inconclusive*"),
    ("skipped", "supported", "XX-1: skipped (nothing to measure) but this model's expectation says supported*"),
    ("supported", "skipped", "XX-1: the claim ran (supported) but this model's expectation says skipped*"),
    ("contradicted", "skipped", "XX-1: the claim ran (contradicted) but this model's expectation says skipped*"),
])
def test_any_change_of_verdict_fails(pytester, monkeypatch, scratch_registry, tmp_path, measured, expected, message):
    result, payload = _run_with_expectations(pytester, monkeypatch, tmp_path, {"XX-1": measured},
                                             {"XX-1": expected})
    result.assert_outcomes(failed=2)  # XX-1 and the internal error
    result.stdout.fnmatch_lines([f"*{message}", "FAILED *test_XX_1*"])
    record = next(r for r in payload["claims"] if r["id"] == "XX-1")
    assert (record["verdict"], record["expected"]) == (measured, expected)


def test_without_an_expectation_a_claim_must_hold(pytester, monkeypatch, scratch_registry, tmp_path):
    cases = {"XX-1": "supported", "XX-2": "inconclusive", "XX-3": "contradicted", "XX-4": "skipped"}
    result, _ = _run_with_expectations(pytester, monkeypatch, tmp_path, cases, {})
    result.assert_outcomes(passed=1, failed=3, skipped=1)
    result.stdout.fnmatch_lines(["*ClaimNotSupported: XX-2: inconclusive: no gap",
                                 "*ClaimNotSupported: XX-3: contradicted: no gap"])


def test_expectations_measured_with_other_settings_do_not_apply(pytester, monkeypatch, scratch_registry, tmp_path):
    cases = {"XX-2": "inconclusive", "XX-4": "skipped"}
    settings = {"model": "fake", "top_k": 16, "alpha": 0.01}
    result, payload = _run_with_expectations(pytester, monkeypatch, tmp_path, cases,
                                             {"XX-2": "inconclusive", "XX-4": "supported"},
                                             settings=settings, args=("--top-k", "32"))
    # no xfail: the inconclusive claim fails, the skipped one is not compared with its expectation
    result.assert_outcomes(failed=2, skipped=1)
    result.stdout.fnmatch_lines(["*expectations in * do not apply: this run's settings differ (top_k: run 32, "
                                 "expectations 16)*"])
    assert payload["expectations"]["applies"] is False
    assert payload["expectations"]["differences"] == {"top_k": {"run": 32, "expected": 16}}
    assert all(r["expected"] is None for r in payload["claims"])
    text = (tmp_path / "report" / "claims.md").read_text()
    assert "does **not** apply" in text and "top_k: run 32, expectations 16" in text


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


@pytest.mark.parametrize(("seed", "expected"), [(0, "inconclusive"), (1, "contradicted"), (2, "inconclusive")])
def test_a_verdict_that_differs_between_toy_seeds_is_expected_per_seed(tmp_path, seed, expected):
    from harness.pytest_plugin import Expectations

    entry = {"verdict": "inconclusive", "verdict_by_seed": {"0": "inconclusive", "1": "contradicted"}, "reason": "r"}
    expectations = Expectations(tmp_path / "toy.json", claims={"LF-6": entry}, settings={}, found=True)
    expectations.check({"toy_seed": seed})
    assert expectations.expectation("LF-6").verdict == expected
