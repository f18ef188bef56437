"""Fixtures of the report tests: one synthetic claims run, rendered once per session."""

from __future__ import annotations

import shutil

import pytest
from synthetic_claims import build_claims


@pytest.fixture(scope="session")
def synthetic_report(tmp_path_factory):
    """A report folder built from the synthetic claims.json (LF-6 and LF-8 skipped), with figures.

    A stale figure of a skipped claim is planted first: the report must remove it.
    """
    pytest.importorskip("matplotlib")
    from harness.report import write_report

    report_dir = tmp_path_factory.mktemp("report")
    build_claims(report_dir)
    (report_dir / "figures").mkdir()
    (report_dir / "figures" / "lf8_xstorycloze.png").write_bytes(b"stale")
    result = write_report(report_dir)
    return report_dir, result


@pytest.fixture
def report_copy(synthetic_report, tmp_path):
    """A fresh folder holding only the synthetic claims.json."""
    src, _ = synthetic_report
    shutil.copy(src / "claims.json", tmp_path / "claims.json")
    return tmp_path
