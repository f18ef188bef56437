"""`python -m harness report DIR` and the end of a claims run: no model, the same report."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from synthetic_claims import build_claims

from harness.__main__ import main
from harness.report.catalogue import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MPLBACKEND"] = "tkagg"  # an interactive default (no display here): the report must use Agg regardless
    return env


def test_report_command_rebuilds_from_claims_json_without_a_model(tmp_path):
    pytest.importorskip("matplotlib")
    keep = {"RF-2c", "LF-2"}
    build_claims(tmp_path, skipped={cid: "not in this test" for cid in CATALOGUE if cid not in keep})
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "harness", "report", str(tmp_path)],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {tmp_path / 'claims.md'}" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "matplotlib" in imported
    for heavy in ("transformers", "harness.loading", "harness.measurements", "harness.extract"):
        assert heavy not in imported, f"{heavy} was imported: the report must not need a model"
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["lf2_layer_scores.png", "rf2_over_training.png"]
    assert "| [RF-2c](#rf-2c) | Expert overlap rises above chance | supported |" in (tmp_path / "claims.md").read_text()


def test_report_command_without_claims_json(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "claims.json not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([])  # a command is required


def test_claims_run_writes_report_and_summary(tmp_path):
    """A claim test run with the plugin: claims.json, claims.md, a figure and the terminal summary."""
    pytest.importorskip("matplotlib")
    (tmp_path / "test_claim.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass

        import pytest

        from harness.claim_registry import ClaimOutcome, Figure, claim
        from harness.metrics import Decision


        @pytest.fixture(scope="session")
        def measurements():  # no model needed: the claim below measures nothing
            return None


        @dataclass(frozen=True)
        class OverlapNumbers:
            overlap: list


        def draw_overlap(claims):
            from harness.report.figures import new_figure

            fig = new_figure(6.0, 4.0)
            fig.add_subplot().plot(claims[0].numbers.overlap)
            return fig


        @claim("XY-1", numbers=OverlapNumbers, summary=lambda c: f"overlap rose to {c.numbers.overlap[-1]}",
               figures=(Figure("xy1_overlap", "overlap over training", draw_overlap),))
        def test_overlap(measurements):
            decision = Decision(statistic="overlap late / chance", value=0.15, control=0.005, effect_size=None,
                                p_value=0.001, ci=None, n=40, alternative="greater", alpha=0.01, supported=True)
            return ClaimOutcome(decision, OverlapNumbers(overlap=[0.01, 0.15]), checkpoints=("step0", "step64"))


        @pytest.mark.claim("LF-8")
        def test_storycloze():
            pytest.skip("XStoryCloze data not found")
    '''))
    report_dir = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "harness.pytest_plugin",
         # a model without recorded expectations, so the synthetic verdicts stand as they are
         "--model", "synthetic-model", "--rootdir", str(tmp_path), "--report-dir", str(report_dir),
         str(tmp_path / "test_claim.py")],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "XY-1" in out and "0.15 vs 0.005" in out and "p=0.001" in out
    assert "Cross-lingual understanding improves" in out and "reason: XStoryCloze data not found" in out
    assert f"report: {report_dir / 'claims.md'}" in out
    assert (report_dir / "claims.json").is_file() and (report_dir / "figures" / "xy1_overlap.png").is_file()
    markdown = (report_dir / "claims.md").read_text()
    assert "XStoryCloze data not found" in markdown and "overlap rose to 0.15" in markdown
