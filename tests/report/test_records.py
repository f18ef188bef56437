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
