"""Figures: drawn from the recorded data only, valid PNGs of modest size, none for skipped claims."""

from __future__ import annotations

import struct

import pytest

from harness.claim_registry import all_figures, load_claims
from harness.report.catalogue import CATALOGUE
from harness.report.figures import ReportContext, render_figures, rev_label

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Figures the synthetic run (every claim but LF-6 and LF-8) must produce, and the ones it must not.
EXPECTED = {
    "rf1_lid_by_layer", "rf1c_lid_over_training", "rf2a_alignment_matrix", "rf2d_script_alignment", "rf2_over_training",
    "rf3_expert_layers", "rf4_steering", "rf4d_concept_rate", "lf1_similarity_map", "lf2_layer_scores",
    "lf3_ppl_increase", "lf4_over_training", "lf5_key_neurons",
}
OF_SKIPPED_CLAIMS = {"lf6_scale", "lf8_xstorycloze"}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def declared_figures():
    load_claims()
    return all_figures(list(CATALOGUE))


def test_registry_covers_the_expected_figures():
    assert {figure.name for figure, _ in declared_figures()} == EXPECTED | OF_SKIPPED_CLAIMS


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_figure_of_a_claim_that_ran_is_a_valid_png(synthetic_report, name):
    report_dir, result = synthetic_report
    path = report_dir / "figures" / f"{name}.png"
    assert path.is_file(), f"{name} was not written ({result.figures_failed.get(name, 'no error')})"
    width, height = png_size(path.read_bytes())
    assert 400 <= width <= 1600 and 300 <= height <= 1200, (width, height)
    assert path.stat().st_size > 10_000  # something was drawn


def test_no_figure_for_skipped_claims_and_stale_ones_removed(synthetic_report):
    report_dir, result = synthetic_report
    for name in OF_SKIPPED_CLAIMS:
        assert not (report_dir / "figures" / f"{name}.png").exists()  # lf8's stale file was removed
    assert {p.stem for p in (report_dir / "figures").iterdir()} == EXPECTED
    assert result.figures_failed == {} and result.figures_skipped == ""
    assert not list((report_dir / "figures").glob(".*"))  # no temporary files left behind


def test_no_figure_is_drawn_when_its_claims_did_not_run(tmp_path):
    pytest.importorskip("matplotlib")
    stale = tmp_path / "figures" / "rf3_expert_layers.png"
    stale.parent.mkdir()
    stale.write_bytes(b"stale")
    skipped = ReportContext.from_payload({"model": "toy", "claims": [
        {"id": cid, "verdict": "skipped", "data": {}} for figure, ids in declared_figures() for cid in ids]})
    outcomes = render_figures(skipped, tmp_path / "figures")
    assert outcomes.written == {} and outcomes.failed == {}
    assert not stale.exists()


def test_malformed_data_costs_only_its_own_figure(tmp_path, synthetic_report):
    """Records whose data lacks the claim's fields draw nothing; a field of the wrong shape fails its figure only."""
    pytest.importorskip("matplotlib")
    import json

    payload = json.loads((synthetic_report[0] / "claims.json").read_text())
    by_id = {record["id"]: record for record in payload["claims"]}
    by_id["RF-2a"]["data"] = {"alignment_matrix": {"step0": [[1, 2], [3]]}, "languages": ["en", "es"]}  # fields missing
    by_id["LF-2"]["data"]["per_layer"] = "oops"  # present, but not what the claim records
    outcomes = render_figures(ReportContext.from_payload(payload), tmp_path / "figures")
    assert outcomes.available
    assert "rf2a_alignment_matrix" not in outcomes.written and "lf2_layer_scores" not in outcomes.written
    assert set(outcomes.failed) <= {"lf2_layer_scores"}
    assert EXPECTED - {"rf2a_alignment_matrix", "lf2_layer_scores"} <= set(outcomes.written)


def test_checkpoint_labels_and_order():
    assert rev_label("global_step10000") == "step 10k"
    assert rev_label("step256") == "step 256"
    assert rev_label("main") == "main"
    ctx = ReportContext(model="m", checkpoints=["step1", "step10"], provenance={}, records={})
    assert ctx.order(["global_step400000", "step10", "global_step1000", "step1"]) == [
        "step1", "step10", "global_step1000", "global_step400000"]


@pytest.mark.parametrize(("verdict", "ran"), [("supported", True), ("contradicted", True), ("inconclusive", True),
                                              ("skipped", False), (None, False)])
def test_a_claim_ran_when_its_decision_was_computed(verdict, ran):
    ctx = ReportContext.from_payload({"model": "toy", "claims": [
        {"id": "RF-2c", "verdict": verdict, "data": {"overlap": 1}}]})
    assert (ctx.ran("RF-2c") is not None) is ran
    assert ctx.data("RF-2c", "overlap") == (1 if ran else None)
