"""claims.json records: the four verdicts, their evidence and the expectations of the run."""

from __future__ import annotations

import json

import pytest

from harness.report.records import VERDICTS, ClaimRecord, read_claims_json, write_claims_json


def test_the_four_verdicts_round_trip_through_claims_json(tmp_path):
    records = [
        ClaimRecord(id="XX-1", title="holds", verdict="supported", p_value=0.001),
        ClaimRecord(id="XX-2", title="opposite", verdict="contradicted", p_value=0.99, p_value_opposite=0.004),
        ClaimRecord(id="XX-3", title="neither", verdict="inconclusive", ci=[-0.1, 0.2], detectable_effect=0.25,
                    reason="fails: gap (gap = 0.05 vs 0 98% CI [-0.1, 0.2])", expected="inconclusive",
                    expected_reason="too few verses"),
        ClaimRecord(id="XX-4", title="not run", verdict="skipped", reason="no data"),
    ]
    expectations = {"file": "claims/expectations/fake.json", "applies": True, "differences": {}}
    write_claims_json(tmp_path / "claims.json", model="fake", checkpoints=[], provenance={}, records=records,
                      expectations=expectations)
    payload = read_claims_json(tmp_path / "claims.json")
    assert [c["verdict"] for c in payload["claims"]] == list(VERDICTS)
    assert payload["expectations"] == expectations
    by_id = {c["id"]: c for c in payload["claims"]}
    assert by_id["XX-2"]["p_value_opposite"] == 0.004
    assert (by_id["XX-3"]["detectable_effect"], by_id["XX-3"]["expected"]) == (0.25, "inconclusive")
    assert by_id["XX-3"]["reason"].startswith("fails: gap")
    assert json.loads((tmp_path / "claims.json").read_text()) == payload


@pytest.mark.parametrize("verdict", ["not supported", "failed", ""])
def test_other_verdicts_are_refused(verdict):
    with pytest.raises(ValueError, match="verdict must be one of"):
        ClaimRecord(id="XX-1", title="t", verdict=verdict)


# ------------------------------------------------------------------------------------------------
# Nothing lost on interruption: claims.json and claims.md are rewritten after every claim

_STOPPED_RUN = '''
import os
import signal
from dataclasses import dataclass

import pytest

from harness.claim_registry import ClaimOutcome, claim
from harness.metrics import Decision


@pytest.fixture(scope="session")
def measurements():
    return None


@dataclass(frozen=True)
class N:
    gap: float


def _supported():
    return Decision(statistic="gap", value=1.0, control=0.0, effect_size=None, p_value=0.001, ci=None, n=3,
                    alternative="greater", alpha=0.01, supported=True, contradicted=False)


@claim("XX-1", numbers=N)
def test_xx_1(measurements):
    return ClaimOutcome(_supported(), N(gap=1.0))


@claim("XX-2", numbers=N)
def test_xx_2(measurements):
    pytest.skip("nothing to measure")


@claim("XX-3", numbers=N)
def test_xx_3(measurements):
    os.kill(os.getpid(), signal.SIGKILL)  # the run is stopped hard: no teardown, no session end


@claim("XX-4", numbers=N)
def test_xx_4(measurements):
    return ClaimOutcome(_supported(), N(gap=2.0))
'''


def test_a_run_killed_half_way_keeps_every_claim_that_finished(pytester, tmp_path):
    """A claims run killed (SIGKILL: pytest's session end never runs) during its third claim leaves a
    valid claims.json and claims.md holding the two claims that finished, and nothing half-written."""
    pytester.makepyfile(test_stopped_run=_STOPPED_RUN)
    report = tmp_path / "report"
    result = pytester.runpytest_subprocess("-p", "harness.pytest_plugin", "--model", "fake", "--report-dir",
                                           str(report), "-p", "no:cacheprovider", "-q")
    assert result.ret == -9  # killed, as a stopped job would be
    payload = read_claims_json(report / "claims.json")
    assert [(c["id"], c["verdict"]) for c in payload["claims"]] == [("XX-1", "supported"), ("XX-2", "skipped")]
    markdown = (report / "claims.md").read_text()
    assert "XX-1" in markdown and "XX-2" in markdown and "XX-4" not in markdown
    assert "had not finished" in markdown
    assert sorted(p.name for p in report.iterdir()) == ["claims.json", "claims.md"]  # no temporary files left


def test_a_finished_run_writes_the_full_report(pytester, tmp_path):
    """Without the kill every claim is recorded and the final claims.md no longer says the run is unfinished."""
    pytester.makepyfile(test_full_run=_STOPPED_RUN.replace(
        "os.kill(os.getpid(), signal.SIGKILL)", "return ClaimOutcome(_supported(), N(gap=3.0))"
    ))
    report = tmp_path / "report"
    # a subprocess: its claims must not enter this process's claim registry
    pytester.runpytest_subprocess("-p", "harness.pytest_plugin", "--model", "fake", "--report-dir", str(report),
                                  "-p", "no:cacheprovider", "-q")
    payload = read_claims_json(report / "claims.json")
    assert [c["id"] for c in payload["claims"]] == ["XX-1", "XX-2", "XX-3", "XX-4"]
    assert "had not finished" not in (report / "claims.md").read_text()
