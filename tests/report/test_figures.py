"""Figures: drawn from the recorded data only, valid PNGs of modest size, none for skipped claims."""

from __future__ import annotations

import struct

import pytest

from harness.report.figures import FIGURES, ReportContext, render_figures, rev_label

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


def test_registry_covers_the_expected_figures():
    assert {spec.name for spec in FIGURES} == EXPECTED | OF_SKIPPED_CLAIMS


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


def test_every_figure_function_skips_when_its_claims_did_not_run():
    empty = ReportContext(model="toy", checkpoints=[], provenance={}, records={})
    skipped = ReportContext.from_payload({"model": "toy", "claims": [
        {"id": cid, "verdict": "skipped", "data": {}} for spec in FIGURES for cid in spec.claims]})
    for spec in FIGURES:
        assert spec.draw(empty) is None, spec.name
        assert spec.draw(skipped) is None, spec.name


def test_malformed_data_costs_only_its_own_figure(tmp_path):
    pytest.importorskip("matplotlib")
    ctx = ReportContext.from_payload({"model": "toy", "checkpoints": ["step0", "step64"], "claims": [
        {"id": "RF-2a", "verdict": "supported", "data": {"alignment_matrix": {"step0": [[1, 2], [3]]}, "languages": ["en", "es"]}},
        {"id": "LF-3a", "verdict": "supported", "data": {"ppl_increase": [["x", None], [None, 1]], "languages": ["en", "es"]}},
        {"id": "LF-2", "verdict": "not supported", "data": {"per_layer": "oops"}},
        {"id": "LF-8", "verdict": "supported", "data": {"accuracy": {"step0": 0.5, "step64": "n/a"}}},
    ]})
    outcomes = render_figures(ctx, tmp_path / "figures")
    assert outcomes.available
    assert set(outcomes.written) <= {"lf3_ppl_increase", "lf8_xstorycloze"}  # drawable with gaps, or not at all
    assert "rf2a_alignment_matrix" not in outcomes.written and "lf2_layer_scores" not in outcomes.written


def test_checkpoint_labels_and_order():
    assert rev_label("global_step10000") == "step 10k"
    assert rev_label("step256") == "step 256"
    assert rev_label("main") == "main"
    ctx = ReportContext(model="m", checkpoints=["step1", "step10"], provenance={}, records={})
    assert ctx.order(["global_step400000", "step10", "global_step1000", "step1"]) == [
        "step1", "step10", "global_step1000", "global_step400000"]
