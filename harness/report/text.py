"""Plain-text formatting of numbers for the report and the claims' summaries (no claim knowledge)."""

from __future__ import annotations

import math
from typing import Any

from harness.report.figures import rev_label


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "—"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def fmt_p(p: Any) -> str:
    if p is None:
        return "—"
    try:
        p = float(p)
    except (TypeError, ValueError):
        return str(p)
    if math.isnan(p):
        return "—"
    if p == 0:
        return "0"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3g}"


def pct(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    v = float(value)
    return "—" if math.isnan(v) else f"{100.0 * v:.{digits}f} %"


def cell(text: Any) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def series_change(series: dict, key: str, label: str | None = None, early: str | None = None) -> str | None:
    """``key`` from the first checkpoint (or the claim's early one, naming the first too) to the last."""
    values = series.get(key) if isinstance(series, dict) else None
    revs = [str(r) for r in series.get("revisions") or []] if isinstance(series, dict) else []
    if not values or len(values) != len(revs) or values[0] is None or values[-1] is None:
        return None
    start = revs.index(early) if early in revs else 0
    text = (f"{label or key} {fmt(values[start], 3)} ({rev_label(revs[start])}) "
            f"→ {fmt(values[-1], 3)} ({rev_label(revs[-1])})")
    if start > 0:
        text += f", {fmt(values[0], 3)} at {rev_label(revs[0])}"
    return text


def span(layers: list[int]) -> str:
    """``3–7`` for a run of layers, ``3`` for one, ``none`` for none."""
    if not layers:
        return "none"
    return str(layers[0]) if len(layers) == 1 else f"{min(layers)}–{max(layers)}"


def mean_of(values) -> float | None:
    """Mean of the finite values, None when there are none."""
    vals = [float(v) for v in values or [] if v is not None and not math.isnan(float(v))]
    return sum(vals) / len(vals) if vals else None


def join_parts(parts) -> str | None:
    """The non-empty parts joined with "; ", None when there are none."""
    text = "; ".join(p for p in parts if p)
    return text or None
