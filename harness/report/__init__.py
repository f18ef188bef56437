"""The claims report: ``claims.json`` → ``claims.md`` and ``figures/*.png``.

``write_report(dir)`` needs only ``dir/claims.json`` (no model, no measurement): the pytest plugin
calls it at the end of a claims run, and ``python -m harness report DIR`` calls it to rebuild.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ReportResult", "write_report"]


@dataclass
class ReportResult:
    markdown: Path
    figures: list[Path] = field(default_factory=list)
    figures_skipped: str = ""  # why no figures were drawn (e.g. matplotlib missing)
    figures_failed: dict[str, str] = field(default_factory=dict)


def write_report(report_dir, *, figures: bool = True) -> ReportResult:
    """Read ``report_dir/claims.json``; write ``claims.md`` and the figures under ``figures/``."""
    from harness.cache import atomic_write_text
    from harness.report.figures import ReportContext, render_figures
    from harness.report.markdown import build_markdown

    report_dir = Path(report_dir)
    # claims.json is plain JSON (see harness.report.records); read here without importing records,
    # which needs torch, so that rebuilding a report needs neither torch nor a model.
    payload = json.loads((report_dir / "claims.json").read_text(encoding="utf-8"))
    ctx = ReportContext.from_payload(payload)
    outcomes = render_figures(ctx, report_dir / "figures", enabled=figures)
    markdown_path = report_dir / "claims.md"
    atomic_write_text(markdown_path, build_markdown(payload, outcomes))
    return ReportResult(
        markdown=markdown_path,
        figures=[report_dir / rel for rel in outcomes.written.values()],
        figures_skipped="" if outcomes.available else outcomes.skipped_reason,
        figures_failed=dict(outcomes.failed),
    )
