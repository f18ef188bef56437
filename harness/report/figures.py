"""Figure machinery of the report: the run's records, plotting helpers and the renderer.

The figures themselves are declared by the claims (``claims/``, :class:`harness.claim_registry.Figure`)
and drawn by the functions of ``figures_rf`` and ``figures_lf`` from the numbers recorded in
``claims.json``; nothing here knows a claim id. matplotlib (the ``plots`` extra) is imported only
when figures are drawn, always with the Agg canvas, never pyplot; each PNG is rendered to memory
and written atomically.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cache import atomic_write_bytes
from harness.claim_registry import RecordedClaim, all_figures, load_claims, numbers_from_data
from harness.report.catalogue import CATALOGUE
from harness.revisions import step_of

DPI = 110
#: the verdicts of a claim that ran (its decision was computed): records.VERDICTS less "skipped", and the
#: "not supported" of claims.json files written before verdicts had three outcomes
RAN = ("supported", "contradicted", "inconclusive", "not supported")
EARLY_COLOR = "#1f77b4"
LATE_COLOR = "#d62728"
CONTROL_COLOR = "0.35"
MATPLOTLIB_MISSING = "matplotlib is not installed (install the `plots` extra: pip install 'lingua-claims[plots]')"


# --------------------------------------------------------------------------------------------
# What the figures and the Markdown share: the run's claims, read from claims.json


def rev_label(revision: Any) -> str:
    """``global_step10000`` → ``step 10k``; names that are not steps stay as they are."""
    step = step_of(str(revision))
    if step is None:
        return str(revision)
    if step >= 1000 and step % 1000 == 0:
        return f"step {step // 1000}k"
    return f"step {step}"


@dataclass
class ReportContext:
    """The contents of ``claims.json``: model, checkpoint order and claim records by id."""

    model: str
    checkpoints: list[str]
    provenance: dict
    records: dict[str, dict]

    @classmethod
    def from_payload(cls, payload: dict) -> "ReportContext":
        records = {}
        for entry in payload.get("claims") or []:
            if isinstance(entry, dict) and entry.get("id"):
                records[str(entry["id"])] = entry
        provenance = payload.get("provenance") or {}
        checkpoints = [str(c) for c in (payload.get("checkpoints") or provenance.get("checkpoints") or [])]
        return cls(model=str(payload.get("model") or provenance.get("model") or "unknown model"),
                   checkpoints=checkpoints, provenance=provenance, records=records)

    def ran(self, claim_id: str) -> dict | None:
        record = self.records.get(claim_id)
        return record if record and record.get("verdict") in RAN else None

    def data(self, claim_id: str, key: str) -> Any:
        """``data[key]`` of a claim that ran, else None."""
        record = self.ran(claim_id)
        if record is None:
            return None
        data = record.get("data") or {}
        return data.get(key) if isinstance(data, dict) else None

    def first_data(self, claim_ids: tuple[str, ...], key: str) -> tuple[str | None, Any]:
        for cid in claim_ids:
            value = self.data(cid, key)
            if value:
                return cid, value
        return None, None

    def claim_order(self) -> list[str]:
        """Every declared claim id in catalogue order (RF before LF), then any others by id."""
        registry = load_claims()
        catalogued = [cid for cid in CATALOGUE if cid in registry]
        return catalogued + sorted(cid for cid in registry if cid not in CATALOGUE)

    def recorded(self, claim_id: str) -> RecordedClaim | None:
        """The claim's recorded numbers as its declared dataclass; None if it did not run or they do not fit."""
        record = self.ran(claim_id)
        spec = load_claims().get(claim_id)
        if record is None or spec is None or not isinstance(record.get("data"), dict):
            return None
        try:
            numbers = numbers_from_data(spec.numbers, record["data"])
        except TypeError:  # a claims.json from another version of the claim: nothing to summarise
            return None
        checkpoints = tuple(str(c) for c in record.get("checkpoints") or [])
        return RecordedClaim(claim_id, numbers, checkpoints, record, self)

    def order(self, revisions) -> list[str]:
        """Revisions in checkpoint order: the run's series first, then by step, then by name."""
        position = {rev: i for i, rev in enumerate(self.checkpoints)}

        def key(rev: str):
            step = step_of(rev)
            return (position.get(rev, len(position)), step if step is not None else math.inf, rev)

        return sorted((str(r) for r in revisions), key=key)

    def used_checkpoints(self, claim_ids) -> list[str]:
        revs = set()
        for cid in claim_ids:
            record = self.ran(cid)
            if record:
                revs.update(str(c) for c in record.get("checkpoints") or [])
        return self.order(revs)


# --------------------------------------------------------------------------------------------
# Helpers


def floats(values) -> list[float]:
    out = []
    for v in values or []:
        try:
            out.append(math.nan if v is None else float(v))
        except (TypeError, ValueError):
            out.append(math.nan)
    return out


def matrix_of(rows) -> list[list[float]] | None:
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        return None
    m = [floats(r) for r in rows]
    return m if len({len(r) for r in m}) == 1 and len(m[0]) else None


def is_fraction(*groups) -> bool:
    """True when every finite value lies in [0, 1] (then shown as percent)."""
    vals = [v for g in groups for v in g if not math.isnan(v)]
    return bool(vals) and all(0.0 <= v <= 1.0 for v in vals)


def figure_title(ctx: Any, figure: str, what: str, revisions=(), *, subject: str | None = None) -> str:
    """Two lines: the paper's figure and what it shows; the model and the checkpoints drawn."""
    revisions = list(revisions)
    if len(revisions) > 2:
        revs = f"{rev_label(revisions[0])} → {rev_label(revisions[-1])} ({len(revisions)} checkpoints)"
    else:
        revs = ", ".join(rev_label(r) for r in revisions)
    return f"{figure}: {what}\n{subject or ctx.model}" + (f" · {revs}" if revs else "")


def new_figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def series_colors(n: int):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.1 + 0.75 * i / max(n - 1, 1)) for i in range(n)]


def categorical_x(ax, labels: list[str], xlabel: str = "checkpoint") -> list[int]:
    xs = list(range(len(labels)))
    ax.set_xticks(xs, labels, rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
    ax.set_xlabel(xlabel)
    ax.set_xlim(-0.4, len(labels) - 0.6)
    return xs


def heatmap(ax, matrix, rows, cols, *, cmap, norm=None, vmin=None, vmax=None, annotate=None, fontsize=7):
    import numpy as np

    arr = np.array(matrix, dtype=float)
    masked = np.ma.masked_invalid(arr)
    from matplotlib import colormaps

    cm = colormaps[cmap].with_extremes(bad="0.85")
    image = ax.imshow(
        masked, cmap=cm, norm=norm, vmin=None if norm else vmin, vmax=None if norm else vmax, aspect="auto"
    )
    ax.set_xticks(range(len(cols)), cols, rotation=90 if len(cols) > 8 and max(map(len, cols)) > 3 else 0)
    ax.set_yticks(range(len(rows)), rows)
    ax.tick_params(length=0)
    if annotate is not None:
        for i in range(arr.shape[0]):
            for j in range(arr.shape[1]):
                if math.isnan(arr[i, j]):
                    continue
                rgba = image.cmap(image.norm(arr[i, j]))
                luminance = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
                ax.text(j, i, annotate(arr[i, j]), ha="center", va="center", fontsize=fontsize,
                        color="black" if luminance > 0.5 else "white", in_layout=False)
    return image


def outline(ax, i: int, j: int, *, color="black", lw=1.4, h=1, w=1):
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((j - 0.5, i - 0.5), w, h, fill=False, edgecolor=color, linewidth=lw))


def layer_axis_label(layers: list) -> str:
    return "layer (hidden state; 0 = embeddings)" if layers and layers[0] == 0 else "layer"

LANGUAGE_COLORS = {
    "en": "#1f77b4", "es": "#d62728", "pt": "#ff9896", "fr": "#9467bd", "zh": "#2ca02c", "ar": "#8c564b",
    "hi": "#e377c2", "vi": "#bcbd22", "id": "#17becf", "sw": "#ff7f0e", "de": "#c5b0d5", "ru": "#98df8a",
}
EXTRA_COLORS = ("#ffbb78", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#aec7e8", "#393b79", "#637939", "#843c39",
                 "#7b4173", "#e7ba52", "#5254a3")


def language_colors(codes: list[str]) -> dict[str, Any]:
    colors = dict(LANGUAGE_COLORS)
    extra = iter(EXTRA_COLORS * 4)
    for code in sorted(c for c in codes if c not in colors and c not in ("unknown", "other")):
        colors[code] = next(extra)
    colors["other"] = "#d9d9d9"
    colors["unknown"] = "#7f7f7f"
    return colors


# --------------------------------------------------------------------------------------------
# Rendering: every figure declared by a claim (harness.claim_registry), drawn from the numbers
# recorded in claims.json


@dataclass
class FigureOutcomes:
    """What happened to each figure: written (path relative to the report), or why not."""

    available: bool = True  # False when matplotlib is missing
    skipped_reason: str = ""
    written: dict[str, str] = field(default_factory=dict)  # name -> "figures/<name>.png"
    failed: dict[str, str] = field(default_factory=dict)  # name -> error


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        return False
    return True


def render_figures(ctx: ReportContext, figures_dir: Path, *, enabled: bool = True) -> FigureOutcomes:
    """Draw every declared figure whose claims ran; remove stale files of figures that were not drawn."""
    figures_dir = Path(figures_dir)
    if not enabled:
        return FigureOutcomes(available=False, skipped_reason="figures were not requested (--no-figures)")
    if not matplotlib_available():
        return FigureOutcomes(available=False, skipped_reason=MATPLOTLIB_MISSING)
    outcomes = FigureOutcomes()
    for figure, claim_ids in all_figures(ctx.claim_order()):
        path = figures_dir / figure.filename
        claims = [c for c in (ctx.recorded(cid) for cid in claim_ids) if c is not None]
        try:
            fig = figure.draw(claims) if claims else None
        except Exception as error:  # a malformed record must not cost the other figures
            fig = None
            outcomes.failed[figure.name] = f"{type(error).__name__}: {error}"
        if fig is None:
            if path.exists():
                path.unlink()  # stale: from an earlier run whose claims differed
            continue
        atomic_write_bytes(path, png_bytes(fig))
        outcomes.written[figure.name] = f"figures/{figure.filename}"
    return outcomes
