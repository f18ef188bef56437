"""claims.md: verdict table, the papers' numbers beside ours, provenance; deterministic; works without matplotlib."""

from __future__ import annotations

import builtins
import json
import re

import pytest
from synthetic_claims import build_claims

import harness.report.figures as figures_module
from harness.report import write_report
from harness.report.catalogue import CATALOGUE


def _block_matplotlib(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib.") or name.startswith("mpl_toolkits"):
            raise ImportError(f"No module named {name!r} (simulated)")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_rebuilding_gives_identical_markdown(synthetic_report, report_copy, monkeypatch):
    report_dir, _ = synthetic_report
    first = (report_dir / "claims.md").read_bytes()
    # Rebuild elsewhere, twice. The PNG encoding is stubbed to keep this test fast: the figures are
    # still drawn, so the Markdown sees the same outcomes as the real run above.
    monkeypatch.setattr(figures_module, "png_bytes", lambda fig: b"\x89PNG\r\n\x1a\nstub")
    write_report(report_copy)
    second = (report_copy / "claims.md").read_bytes()
    write_report(report_copy)
    third = (report_copy / "claims.md").read_bytes()
    assert first == second == third


def test_verdict_table_has_one_row_per_claim_in_catalogue_order(synthetic_report):
    report_dir, _ = synthetic_report
    text = (report_dir / "claims.md").read_text()
    table = text.split("## Verdicts", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in table.splitlines() if line.startswith("| [")]
    assert [re.match(r"\| \[([^\]]+)\]", r).group(1) for r in rows] == list(CATALOGUE)
    header = table.splitlines()[0]
    assert header == "| id | claim | verdict | statistic | value vs control | p-value or CI | n |"
    row = {re.match(r"\| \[([^\]]+)\]", r).group(1): r for r in rows}
    assert "| Expert overlap rises above chance | supported |" in row["RF-2c"]
    assert "0.15 vs 0.0052" in row["RF-2c"] and "| 1320 |" in row["RF-2c"]
    assert "| inconclusive (expected) |" in row["RF-1b"]
    assert "| contradicted (expected) |" in row["LF-4"]
    assert "| contradicted (expected: inconclusive) |" in row["RF-1c"]
    assert "| inconclusive |" in row["RF-4c"]
    assert "| skipped |" in row["LF-8"]
    assert "CI [0.019, 0.027]" in row["LF-1b"]
    assert "SADS (all pairs \\| zh, ar pairs)" in row["LF-1b"]  # pipes escaped inside cells


def _section(text: str, claim_id: str) -> str:
    start = text.index(f'<a id="{claim_id.lower()}"></a>')
    end = text.find("<a id=", start + 1)
    return text[start:end if end > 0 else len(text)]


def test_claim_sections_show_the_paper_beside_ours(synthetic_report):
    report_dir, _ = synthetic_report
    text = (report_dir / "claims.md").read_text()
    rf4a = _section(text, "RF-4a")
    assert CATALOGUE["RF-4a"].statement in rf4a
    assert "step 10k: es ≈ 45 %, en ≈ 25 %, pt ≈ 10 %, zh ≈ 8 %" in rf4a and "approx." in rf4a
    assert "step 256: es 4" in rf4a  # ours at the claim's early checkpoint, es first
    assert "Checkpoints: step 256 (`step256`), step 1700 (`step1700`)" in rf4a
    assert "![language of steered generations (RF Fig. 7, 18–20)](figures/rf4_steering.png)" in rf4a
    rf4b = _section(text, "RF-4b")
    assert "(figures/rf4_steering.png) (shown above)" in rf4b  # shared figures are shown once, then linked

    lf3a = _section(text, "LF-3a")
    assert "| en (English) | 22 % | 27.4 % | 12 % |" in lf3a  # LF Table 1 beside ours
    assert "| de (German) | — |" in lf3a  # languages the paper did not evaluate

    rf1b = _section(text, "RF-1b")
    assert "**Verdict: inconclusive (expected)**" in rf1b
    assert "Expected on this model: inconclusive (recorded in `claims/expectations/toy.json`" in rf1b
    assert "Reason: first-layer accuracy late 0.66 vs early 0.70" in rf1b
    assert "Smallest difference detectable at this sample size (80 % power, α = 0.01): about 0.085" in rf1b
    rf1c = _section(text, "RF-1c")
    assert "Expected on this model: inconclusive, measured: contradicted; the run fails" in rf1c
    assert "opposite direction p = 0.001" in rf1c and "Smallest difference" not in rf1c
    assert "opposite direction p" not in rf1b

    lf4 = _section(text, "LF-4")
    assert "SKLR 2243 (step 256) → 1911 (step 1700), 1350 at step 0" in lf4  # from the claim's early checkpoint
    assert "LRDS first/last layers 0.25 vs middle 0.138" in _section(text, "LF-2")  # the recorded layer groups

    lf8 = _section(text, "LF-8")
    assert "**Verdict: skipped**" in lf8 and "Reason skipped: XStoryCloze data not found" in lf8
    assert ".png" not in lf8


def test_the_header_counts_the_four_verdicts_and_says_whether_the_expectations_apply(synthetic_report, tmp_path):
    report_dir, _ = synthetic_report
    text = (report_dir / "claims.md").read_text()
    assert ("**24 claims:** 18 supported, 2 contradicted (1 as expected for this model), "
            "2 inconclusive (1 as expected for this model), 2 skipped.") in text
    assert "Expectations: `claims/expectations/toy.json` applies" in text
    build_claims(tmp_path, expectations={"file": "claims/expectations/toy.json", "applies": False,
                                         "differences": {"top_k": {"run": 32, "expected": 16}}})
    write_report(tmp_path, figures=False)
    other = (tmp_path / "claims.md").read_text()
    assert ("Expectations: `claims/expectations/toy.json` does **not** apply: this run's settings differ from those "
            "its verdicts were measured with (top_k: run 32, expectations 16)") in other


def test_figure_links_are_relative_and_exist(synthetic_report):
    report_dir, result = synthetic_report
    text = (report_dir / "claims.md").read_text()
    links = set(re.findall(r"\]\((figures/[^)]+\.png)\)", text))
    assert links == {f"figures/{p.name}" for p in result.figures}
    assert all((report_dir / link).is_file() for link in links)


def test_provenance_block(synthetic_report):
    report_dir, _ = synthetic_report
    text = (report_dir / "claims.md").read_text()
    prov = text.split("## Provenance", 1)[1]
    payload = json.loads((report_dir / "claims.json").read_text())["provenance"]
    for label in ("model", "revision", "checkpoints", "weights (sha256)", "data (sha256)", "toy seed", "device",
                  "dtype", "versions", "git commit", "date of the run"):
        assert f"| {label} |" in prov
    assert payload["git_commit"] in prov and payload["data_sha256"] in prov
    assert payload["weights_sha256"]["step64"] in prov
    assert "torch: `2.4.1`" in prov and "2026-11-21T12:00:00+00:00" in prov


def test_without_matplotlib_the_markdown_says_figures_were_skipped(tmp_path, monkeypatch):
    build_claims(tmp_path)
    _block_matplotlib(monkeypatch)
    result = write_report(tmp_path)
    text = (tmp_path / "claims.md").read_text()
    assert result.figures == [] and "matplotlib is not installed" in result.figures_skipped
    assert "Figures: skipped, matplotlib is not installed" in text
    assert "*Figure (language of steered generations (RF Fig. 7, 18–20)) skipped: matplotlib is not installed" in text
    assert not (tmp_path / "figures").exists()
    assert "| [RF-2c](#rf-2c) |" in text and "## Provenance" in text
    # still deterministic
    write_report(tmp_path)
    assert (tmp_path / "claims.md").read_text() == text


def test_claims_not_run_and_unknown_ids(tmp_path):
    payload = {"model": "toy", "checkpoints": [], "provenance": {}, "claims": [
        {"id": "RF-2c", "title": "overlap", "verdict": "supported", "statistic": "s", "value": 0.2, "control": 0.01,
         "p_value": 0.001, "n": 10, "data": {}},
        {"id": "XX-1", "title": "a claim of another paper", "verdict": "inconclusive", "value": 1.0, "data": {}},
    ]}
    (tmp_path / "claims.json").write_text(json.dumps(payload))
    write_report(tmp_path, figures=False)
    text = (tmp_path / "claims.md").read_text()
    assert "Not run in this session: RF-1a, RF-1b" in text
    assert "| [XX-1](#xx-1) | a claim of another paper | inconclusive |" in text
    assert "## Other claims" in text
    assert "*Figure (alignment, MI and overlap over training (RF Fig. 4)) skipped: figures were not requested" in text


@pytest.mark.parametrize(
    "value, expected", [(None, "—"), (0.0, "0"), (0.123456, "0.1235"), (12, "12"), (1e-7, "1e-07")]
)
def test_number_format(value, expected):
    from harness.report.markdown import fmt

    assert fmt(value) == expected
