"""The papers' figures, redrawn for the model at hand from the ``data`` recorded in ``claims.json``.

One function per figure; each reads only the ``data`` keys that the claim tests record (see the
claims contract) and returns ``None`` when the claims it draws from did not run or lack the data.
matplotlib (the ``plots`` extra) is imported only when figures are drawn, always with the Agg
canvas, never pyplot; each PNG is rendered to memory and written atomically.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.cache import atomic_write_bytes
from harness.report.catalogue import language_name

DPI = 110
RAN = ("supported", "not supported")
EARLY_COLOR = "#1f77b4"
LATE_COLOR = "#d62728"
CONTROL_COLOR = "0.35"
MATPLOTLIB_MISSING = "matplotlib is not installed (install the `plots` extra: pip install 'lingua-claims[plots]')"


# --------------------------------------------------------------------------------------------
# What the figures and the Markdown share: the run's claims, read from claims.json


_STEP = re.compile(r"^(?:global_step|step|checkpoint-)(\d+)$")


def step_of(revision: str) -> int | None:
    match = _STEP.match(str(revision))
    return int(match.group(1)) if match else None


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


def _floats(values) -> list[float]:
    out = []
    for v in values or []:
        try:
            out.append(math.nan if v is None else float(v))
        except (TypeError, ValueError):
            out.append(math.nan)
    return out


def _matrix(rows) -> list[list[float]] | None:
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        return None
    m = [_floats(r) for r in rows]
    return m if len({len(r) for r in m}) == 1 and len(m[0]) else None


def _is_fraction(*groups) -> bool:
    """True when every finite value lies in [0, 1] (then shown as percent)."""
    vals = [v for g in groups for v in g if not math.isnan(v)]
    return bool(vals) and all(0.0 <= v <= 1.0 for v in vals)


def _title(ctx: ReportContext, figure: str, what: str, revisions=(), *, subject: str | None = None) -> str:
    """Two lines: the paper's figure and what it shows; the model and the checkpoints drawn."""
    revisions = list(revisions)
    if len(revisions) > 2:
        revs = f"{rev_label(revisions[0])} → {rev_label(revisions[-1])} ({len(revisions)} checkpoints)"
    else:
        revs = ", ".join(rev_label(r) for r in revisions)
    return f"{figure}: {what}\n{subject or ctx.model}" + (f" · {revs}" if revs else "")


def _new_figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _series_colors(n: int):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.1 + 0.75 * i / max(n - 1, 1)) for i in range(n)]


def _categorical_x(ax, labels: list[str], xlabel: str = "checkpoint") -> list[int]:
    xs = list(range(len(labels)))
    ax.set_xticks(xs, labels, rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
    ax.set_xlabel(xlabel)
    ax.set_xlim(-0.4, len(labels) - 0.6)
    return xs


def _heatmap(ax, matrix, rows, cols, *, cmap, norm=None, vmin=None, vmax=None, annotate=None, fontsize=7):
    import numpy as np

    arr = np.array(matrix, dtype=float)
    masked = np.ma.masked_invalid(arr)
    from matplotlib import colormaps

    cm = colormaps[cmap].with_extremes(bad="0.85")
    image = ax.imshow(masked, cmap=cm, norm=norm, vmin=None if norm else vmin, vmax=None if norm else vmax, aspect="auto")
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


def _outline(ax, i: int, j: int, *, color="black", lw=1.4, h=1, w=1):
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((j - 0.5, i - 0.5), w, h, fill=False, edgecolor=color, linewidth=lw))


def layer_groups(n_layers: int, recorded: Any = None) -> tuple[list[int], list[int], list[int]]:
    """First, middle and last layers: as the claim recorded them (``layer_groups``), else quarters."""
    if isinstance(recorded, dict):
        groups = [recorded.get(k) for k in ("first", "middle", "last")]
        if all(isinstance(g, list) and all(isinstance(i, int) and 0 <= i < n_layers for i in g) for g in groups):
            return groups[0], groups[1], groups[2]
    q = max(1, n_layers // 4)
    first, last = list(range(q)), list(range(n_layers - q, n_layers))
    return first, [i for i in range(n_layers) if i not in first and i not in last], last


def _layer_axis_label(layers: list) -> str:
    return "layer (hidden state; 0 = embeddings)" if layers and layers[0] == 0 else "layer"


# --------------------------------------------------------------------------------------------
# RF figures


def rf1_lid_by_layer(ctx: ReportContext):
    """RF Fig. 1: LID probe accuracy by layer at the early and late checkpoints, majority class dashed."""
    lid, majority, layers = {}, None, None
    for cid in ("RF-1a", "RF-1b"):
        by_rev = ctx.data(cid, "lid_by_layer")
        if isinstance(by_rev, dict):
            for rev, entry in by_rev.items():
                if isinstance(entry, dict) and entry.get("mean"):
                    lid.setdefault(str(rev), entry)
            majority = majority if majority is not None else ctx.data(cid, "majority_rate")
            layers = layers or ctx.data(cid, "layers")
    if not lid:
        return None
    revs = ctx.order(lid)
    means = {r: _floats(lid[r]["mean"]) for r in revs}
    stds = {r: _floats(lid[r].get("std") or [0.0] * len(means[r])) for r in revs}
    n_layers = max(len(m) for m in means.values())
    layers = list(layers) if layers and len(layers) == n_layers else list(range(n_layers))
    pct = _is_fraction(*means.values(), [majority if majority is not None else 0.0])
    scale = 100.0 if pct else 1.0

    fig = _new_figure(8.0, 4.6)
    ax = fig.add_subplot()
    colors = [EARLY_COLOR, LATE_COLOR] if len(revs) == 2 else _series_colors(len(revs))
    for rev, color in zip(revs, colors):
        m = [v * scale for v in means[rev]]
        s = [v * scale for v in stds[rev]]
        xs = layers[: len(m)]
        ax.plot(xs, m, marker="o", ms=4, color=color, label=rev_label(rev))
        ax.fill_between(xs, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)], color=color, alpha=0.15, lw=0)
    if majority is not None:
        ax.axhline(majority * scale, ls="--", color=CONTROL_COLOR, lw=1.2, label="majority-class rate (control)")
    ax.set_xlabel(_layer_axis_label(layers))
    ax.set_ylabel("held-out LID accuracy (%)" if pct else "held-out LID accuracy")
    if pct:
        ax.set_ylim(0, 102)
    ax.set_xticks(layers if len(layers) <= 26 else layers[::2])
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    ax.set_title(_title(ctx, "RF Fig. 1", "language identification by layer (mean ± std over probe seeds)", revs), fontsize=10)
    return fig


def rf1c_lid_over_training(ctx: ReportContext):
    """RF Fig. 2: first-layer accuracy, layer-mean accuracy and std between layers over training."""
    series = ctx.data("RF-1c", "lid_series")
    if not isinstance(series, dict) or not series.get("revisions"):
        return None
    revs = [str(r) for r in series["revisions"]]
    first, mean, std = (_floats(series.get(k)) for k in ("first_layer", "mean", "std"))
    if not (first or mean or std):
        return None
    _, majority = ctx.first_data(("RF-1a", "RF-1b"), "majority_rate")
    pct = _is_fraction(first, mean, [majority or 0.0])
    scale = 100.0 if pct else 1.0

    fig = _new_figure(10.0, 4.2)
    ax1, ax2 = fig.subplots(1, 2)
    labels = [rev_label(r) for r in revs]
    xs = _categorical_x(ax1, labels)
    if first:
        ax1.plot(xs[: len(first)], [v * scale for v in first], marker="o", color=LATE_COLOR, label="first layer")
    if mean:
        ax1.plot(xs[: len(mean)], [v * scale for v in mean], marker="s", color=EARLY_COLOR, label="mean over layers")
    if majority is not None:
        ax1.axhline(majority * scale, ls="--", color=CONTROL_COLOR, lw=1.2, label="majority-class rate (control)")
    ax1.set_ylabel("held-out LID accuracy (%)" if pct else "held-out LID accuracy")
    if pct:
        ax1.set_ylim(0, 102)
    ax1.set_title("accuracy", fontsize=10)
    ax1.legend(fontsize=8, loc="best")
    ax1.grid(alpha=0.3)
    xs2 = _categorical_x(ax2, labels)
    if std:
        ax2.plot(xs2[: len(std)], [v * scale for v in std], marker="o", color="#2ca02c")
    ax2.set_ylabel("std of accuracy between layers (pp)" if pct else "std of accuracy between layers")
    ax2.set_ylim(bottom=0)
    ax2.set_title("spread between layers", fontsize=10)
    ax2.grid(alpha=0.3)
    fig.suptitle(_title(ctx, "RF Fig. 2", "LID statistics over training", revs), fontsize=11)
    return fig


def rf2a_alignment_matrix(ctx: ReportContext):
    """RF Fig. 3: language-alignment matrices (Fisher-z mean Pearson r of AP vectors), early and late."""
    matrices = ctx.data("RF-2a", "alignment_matrix")
    languages = ctx.data("RF-2a", "languages")
    if not isinstance(matrices, dict) or not languages:
        return None
    revs = [r for r in ctx.order(matrices) if _matrix(matrices[r]) and len(_matrix(matrices[r])) == len(languages)]
    if not revs:
        return None
    if len(revs) > 2:
        revs = [revs[0], revs[-1]]
    mats = []
    for rev in revs:
        m = _matrix(matrices[rev])
        mats.append([[math.nan if i == j else v for j, v in enumerate(row)] for i, row in enumerate(m)])
    finite = [abs(v) for m in mats for row in m for v in row if not math.isnan(v)]
    limit = max(finite) if finite else 1.0
    limit = min(1.0, math.ceil(limit * 10) / 10) if limit > 0 else 1.0
    n = len(languages)
    annotate = (lambda v: f"{v:.2f}") if n <= 12 else None
    fig = _new_figure(6.0 * len(revs) + 1.2, 6.0)
    axes = fig.subplots(1, len(revs), squeeze=False)[0]
    image = None
    for ax, rev, m in zip(axes, revs, mats):
        image = _heatmap(ax, m, list(languages), list(languages), cmap="RdBu_r", vmin=-limit, vmax=limit,
                         annotate=annotate, fontsize=6)
        ax.set_title(rev_label(rev), fontsize=10)
        ax.set_xlabel("language l′")
        ax.set_ylabel("language l")
    cbar = fig.colorbar(image, ax=list(axes), shrink=0.85)
    cbar.set_label("alignment r (Fisher-z mean over concepts); 0 = no alignment")
    fig.suptitle(_title(ctx, "RF Fig. 3", "cross-lingual neuron alignment (diagonal not shown)", revs), fontsize=11)
    return fig


def rf2d_script_alignment(ctx: ReportContext):
    """RF §7 / Fig. 3: alignment of same-script vs cross-script language pairs."""
    same, cross = (_floats(ctx.data("RF-2d", k)) for k in ("same_script", "cross_script"))
    same, cross = [v for v in same if not math.isnan(v)], [v for v in cross if not math.isnan(v)]
    if not same or not cross:
        return None
    import numpy as np

    fig = _new_figure(5.5, 4.4)
    ax = fig.add_subplot()
    groups = [("same script", same, LATE_COLOR), ("different script (control)", cross, CONTROL_COLOR)]
    rng = np.random.default_rng(0)
    for i, (name, values, color) in enumerate(groups):
        jitter = rng.uniform(-0.12, 0.12, len(values))
        ax.scatter(i + jitter, values, s=14, color=color, alpha=0.6, lw=0)
        ax.boxplot([values], positions=[i], widths=0.45, showfliers=False,
                   medianprops={"color": "black"}, boxprops={"color": color}, whiskerprops={"color": color},
                   capprops={"color": color})
    ax.set_xticks([0, 1], [f"{g[0]}\n(n = {len(g[1])} pairs)" for g in groups])
    ax.set_xlim(-0.6, 1.6)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_ylabel("alignment r of the language pair")
    ax.grid(axis="y", alpha=0.3)
    revs = ctx.used_checkpoints(("RF-2d",))
    ax.set_title(_title(ctx, "RF Fig. 3", "alignment by script", revs), fontsize=10)
    return fig


def rf2_over_training(ctx: ReportContext):
    """RF Fig. 4: alignment, MI and top-k overlap over training, with chance and mismatched concepts."""
    panels = []
    _, s_align = ctx.first_data(("RF-2a", "RF-2b"), "series")
    s_mi = ctx.data("RF-2b", "series")
    s_ov = ctx.data("RF-2c", "series")
    if isinstance(s_align, dict) and s_align.get("alignment"):
        panels.append(("alignment", s_align, "alignment", "alignment r (Fisher-z mean)"))
    if isinstance(s_mi, dict) and s_mi.get("mi"):
        panels.append(("mutual information", s_mi, "mi", "MI between AP vectors (nats)"))
    if isinstance(s_ov, dict) and s_ov.get("overlap"):
        panels.append(("top-k expert overlap", s_ov, "overlap", "overlap |E(c,l) ∩ E(c,l′)| / k"))
    if not panels:
        return None
    fig = _new_figure(4.3 * len(panels) + 0.4, 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, series, key, ylabel) in zip(axes, panels):
        revs = [str(r) for r in series.get("revisions") or []]
        values = _floats(series.get(key))
        if not revs or len(revs) != len(values):
            revs = revs[: len(values)] if revs else [str(i) for i in range(len(values))]
        xs = _categorical_x(ax, [rev_label(r) for r in revs])
        ax.plot(xs, values, marker="o", color=LATE_COLOR, label="matched concept")
        mismatched = _floats(series.get(f"mismatched_{key}"))
        if mismatched and len(mismatched) == len(xs):
            ax.plot(xs, mismatched, marker="x", ls=":", color=CONTROL_COLOR, label="mismatched concepts (control)")
        chance = series.get("chance") if key == "overlap" else None
        if chance is not None:
            ax.axhline(float(chance), ls="--", color="black", lw=1.1, label=f"chance k/N = {float(chance):.3g}")
        if key in ("alignment", "mi"):
            ax.axhline(0.0, ls="--", color="0.6", lw=1.0, label="no dependence (0)")
        ax.set_ylabel(ylabel)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    revs = [str(r) for r in panels[0][1].get("revisions") or []]
    fig.suptitle(_title(ctx, "RF Fig. 4", "alignment over training (mean over concepts and language pairs)", revs),
                 fontsize=11)
    return fig


def rf3_expert_layers(ctx: ReportContext):
    """RF Fig. 5–6: layer distribution of the top-k experts and per-layer cross-lingual overlap."""
    dist = ctx.data("RF-3a", "layer_distribution")
    k = ctx.data("RF-3a", "k")
    overlap = ctx.data("RF-3b", "layer_overlap")
    has_dist = isinstance(dist, dict) and any(dist.values())
    has_ov = isinstance(overlap, dict) and any(overlap.values())
    if not (has_dist or has_ov):
        return None
    n_panels = int(has_dist) + int(has_ov)
    fig = _new_figure(5.6 * n_panels + 0.4, 4.5)
    axes = list(fig.subplots(1, n_panels, squeeze=False)[0])
    revs_shown = []
    if has_dist:
        ax = axes.pop(0)
        revs = ctx.order(r for r, v in dist.items() if v)
        revs_shown = revs
        n_layers = 0
        for rev, color in zip(revs, _series_colors(len(revs))):
            counts = _floats(dist[rev])
            total = float(k) if k else sum(v for v in counts if not math.isnan(v))
            shares = [100.0 * v / total if total else math.nan for v in counts]
            ax.plot(range(len(shares)), shares, marker="o", ms=3.5, color=color, label=rev_label(rev))
            n_layers = max(n_layers, len(shares))
        if n_layers:
            ax.axhline(100.0 / n_layers, ls="--", color=CONTROL_COLOR, lw=1.2, label=f"uniform (100/{n_layers} %)")
        ax.set_xlabel("MLP layer")
        ax.set_ylabel("share of top-k experts in the layer (%)" + (f", k = {int(k)}" if k else ""))
        ax.set_title("RF Fig. 5: where the experts are", fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="checkpoint", title_fontsize=8)
    if has_ov:
        ax = axes.pop(0)
        revs = ctx.order(r for r, v in overlap.items() if v)
        revs_shown = revs_shown or revs
        for rev, color in zip(revs, _series_colors(len(revs))):
            values = _floats(overlap[rev])
            ax.plot(range(len(values)), values, marker="o", ms=3.5, color=color, label=rev_label(rev))
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_xlabel("MLP layer")
        ax.set_ylabel("cross-lingual overlap of experts in the layer")
        ax.set_title("RF Fig. 6: where the experts are shared", fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="checkpoint", title_fontsize=8)
    fig.suptitle(_title(ctx, "RF Fig. 5–6", "layer distribution of top-k expert neurons", revs_shown), fontsize=11)
    return fig


# Fixed colours for the evaluation languages, so every figure and every run colours them alike;
# en and es (RF's headline pair) get the two most distinct hues.
_LANGUAGE_COLORS = {
    "en": "#1f77b4", "es": "#d62728", "pt": "#ff9896", "fr": "#9467bd", "zh": "#2ca02c", "ar": "#8c564b",
    "hi": "#e377c2", "vi": "#bcbd22", "id": "#17becf", "sw": "#ff7f0e", "de": "#c5b0d5", "ru": "#98df8a",
}
_EXTRA_COLORS = ("#ffbb78", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#aec7e8", "#393b79", "#637939", "#843c39",
                 "#7b4173", "#e7ba52", "#5254a3")


def _language_colors(codes: list[str]) -> dict[str, Any]:
    colors = dict(_LANGUAGE_COLORS)
    extra = iter(_EXTRA_COLORS * 4)
    for code in sorted(c for c in codes if c not in colors and c not in ("unknown", "other")):
        colors[code] = next(extra)
    colors["other"] = "#d9d9d9"
    colors["unknown"] = "#7f7f7f"
    return colors


def rf4_steering(ctx: ReportContext):
    """RF Fig. 7, 18–20: language of steered generations per checkpoint, with unsteered and random-unit controls."""
    steering, controls = {}, {}
    for cid in ("RF-4a", "RF-4b", "RF-4c"):
        s = ctx.data(cid, "steering")
        if isinstance(s, dict):
            for source, by_rev in s.items():
                if isinstance(by_rev, dict):
                    steering.setdefault(str(source), {}).update(by_rev)
        c = ctx.data(cid, "controls")
        source = ctx.data(cid, "source_language")
        if isinstance(c, dict):
            for name, by_rev in c.items():
                if isinstance(by_rev, dict):
                    # random units are drawn per source language: keep es and sw controls apart
                    key = (str(name), str(source)) if name == "random_units" and source else (str(name), None)
                    controls.setdefault(key, {}).update(by_rev)
    if not steering:
        return None
    panels = [(f"{src}-derived neurons\n({language_name(src)})", by_rev, src) for src, by_rev in steering.items()]
    names = {"unsteered": "unsteered (control)", "random_units": "random units (control)"}
    panels += [
        (f"random units, {src} medians\n(control)" if src else names.get(n, f"{n} (control)"), by_rev, None)
        for (n, src), by_rev in controls.items()
        if by_rev
    ]

    # Languages with a notable share anywhere get their own colour, the rest are "other".
    peak: dict[str, float] = {}
    for _, by_rev, _ in panels:
        for dist in by_rev.values():
            if isinstance(dist, dict):
                for lang, share in dist.items():
                    if share is not None:
                        peak[lang] = max(peak.get(lang, 0.0), float(share))
    shown = [lang for lang, p in peak.items() if p >= 0.03 and lang != "unknown"]
    shown = sorted(shown, key=lambda lang: (-peak[lang], lang))[:12]
    # the source languages and English are what the claims are about: always their own colour
    shown += [lang for lang in (*steering, "en") if peak.get(lang, 0.0) > 0 and lang not in shown]
    shown = sorted(shown, key=lambda lang: ({"en": 0, "es": 1, "pt": 2, "fr": 3, "zh": 4}.get(lang, 9), lang))
    colors = _language_colors(shown)
    stack = shown + ["other", "unknown"]

    from matplotlib.patches import Patch

    n = len(panels)
    fig = _new_figure(min(3.1 * n + 2.2, 14.5), 4.8)
    axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
    handles = {}
    for ax, (title, by_rev, source) in zip(axes, panels):
        revs = ctx.order(by_rev)
        xs = _categorical_x(ax, [rev_label(r) for r in revs])
        if len(revs) > 3:  # four labels do not fit side by side in a narrow panel
            for label in ax.get_xticklabels():
                label.set_rotation(30)
                label.set_horizontalalignment("right")
        bottoms = [0.0] * len(revs)
        for lang in stack:
            heights = []
            for rev in revs:
                dist = by_rev.get(rev) or {}
                if lang == "other":
                    h = sum(float(v) for l2, v in dist.items() if v is not None and l2 not in shown and l2 != "unknown")
                else:
                    h = float(dist.get(lang) or 0.0)
                heights.append(100.0 * h)
            if not any(heights):
                continue
            ax.bar(xs, heights, bottom=bottoms, width=0.7, color=colors[lang],
                         edgecolor="black" if lang == source else "white",
                         linewidth=1.2 if lang == source else 0.4, hatch="//" if lang == source else None)
            handles.setdefault(lang, Patch(facecolor=colors[lang], edgecolor="white"))
            bottoms = [b + h for b, h in zip(bottoms, heights)]
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("share of generations (%)")
    order = [lang for lang in stack if lang in handles]
    labels = [f"{lang} ({language_name(lang)})" if lang not in ("other", "unknown") else
              ("other languages" if lang == "other" else "unknown (langdetect failed)") for lang in order]
    fig.legend([handles[lang] for lang in order] + [Patch(facecolor="white", edgecolor="black", hatch="//")],
               labels + ["source language of the neurons"],
               loc="outside right center", fontsize=8, title="detected language", title_fontsize=8)
    all_revs = ctx.order({rev for _, by_rev, _ in panels for rev in by_rev})
    fig.suptitle(_title(ctx, "RF Fig. 7, 18–20", "language of generations steered by concept experts "
                        "(hatched = source language)", all_revs), fontsize=11)
    return fig


def rf4d_concept_rate(ctx: ReportContext):
    """RF Table 1 (quantified): how often generations are about the concept, steered vs controls."""
    rates = ctx.data("RF-4d", "concept_rate")
    if not isinstance(rates, dict) or rates.get("steered") is None:
        return None
    names = [("steered", "steered\n(concept experts)", LATE_COLOR), ("unsteered", "unsteered\n(control)", CONTROL_COLOR),
             ("random_units", "random units\n(control)", "0.65")]
    items = [(label, float(rates[key]), color) for key, label, color in names if rates.get(key) is not None]
    pct = _is_fraction([v for _, v, _ in items])
    fig = _new_figure(5.4, 4.2)
    ax = fig.add_subplot()
    xs = range(len(items))
    bars = ax.bar(xs, [v * (100 if pct else 1) for _, v, _ in items], color=[c for _, _, c in items], width=0.6)
    for bar, (_, v, _) in zip(bars, items):
        ax.annotate(f"{v * 100:.1f} %" if pct else f"{v:.3g}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=9, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(list(xs), [label for label, _, _ in items])
    ax.set_ylabel("generations about the concept (%)" if pct else "concept rate")
    ax.set_ylim(0, max(100 if pct else 0, max(b.get_height() for b in bars) * 1.15))
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(_title(ctx, "RF Table 1", "steered generations are about the concept", ctx.used_checkpoints(("RF-4d",))),
                 fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------
# LF figures


def lf1_similarity_map(ctx: ReportContext):
    """LF Fig. 2: mean activation similarity between language blocks."""
    cid, matrix = ctx.first_data(("LF-1a", "LF-1b", "LF-1c"), "language_similarity")
    m = _matrix(matrix)
    languages = ctx.data(cid, "languages") if cid else None
    if not m or not languages or len(languages) != len(m):
        return None
    lrds, sads = ctx.data(cid, "lrds"), ctx.data(cid, "sads")
    n = len(languages)
    fig = _new_figure(7.6, 6.6)
    ax = fig.add_subplot()
    image = _heatmap(ax, m, list(languages), list(languages), cmap="viridis", annotate=lambda v: f"{v:.2f}",
                     fontsize=7 if n <= 12 else 5)
    for i in range(n):
        _outline(ax, i, i, color="white", lw=1.6)
    group = ctx.data(cid, "group") or ["fr", "es", "pt"]
    romance = [languages.index(x) for x in group if x in languages]
    boxed = len(romance) >= 2 and max(romance) - min(romance) + 1 == len(romance)
    if boxed:
        lo = min(romance)
        _outline(ax, lo, lo, color="#ff7f0e", lw=2.0, h=len(romance), w=len(romance))
    ax.set_xlabel("language of sentence j")
    ax.set_ylabel("language of sentence i")
    cbar = fig.colorbar(image, ax=ax, shrink=0.85)
    cbar.set_label("mean cosine similarity of activation vectors")
    scores = []
    if lrds is not None:
        scores.append(f"LRDS = {float(lrds):.3f}")
    if sads is not None:
        scores.append(f"SADS = {float(sads):.3f}")
    note = "white boxes: same language (i ≠ j); off-diagonal cells are the control"
    if boxed:
        note += "; orange: " + "/".join(languages[i] for i in sorted(romance))
    ax.set_title(_title(ctx, "LF Fig. 2", "language similarity map" + (" (" + ", ".join(scores) + ")" if scores else ""),
                        ctx.used_checkpoints(("LF-1a", "LF-1b", "LF-1c"))) + "\n" + note, fontsize=9)
    return fig


def lf2_layer_scores(ctx: ReportContext):
    """LF Fig. 3: per-layer LRDS and SADS."""
    per_layer = ctx.data("LF-2", "per_layer")
    if not isinstance(per_layer, dict):
        return None
    lrds, sads = _floats(per_layer.get("lrds")), _floats(per_layer.get("sads"))
    if not lrds and not sads:
        return None
    n = max(len(lrds), len(sads))
    fig = _new_figure(8.0, 4.4)
    ax = fig.add_subplot()
    first, _, last = layer_groups(n, ctx.data("LF-2", "layer_groups"))
    label = "first / last layers (compared with the middle)"
    for group in (first, last):
        if group:
            ax.axvspan(min(group) - 0.5, max(group) + 0.5, color="0.92", lw=0, label=label)
            label = None
    if lrds:
        ax.plot(range(len(lrds)), lrds, marker="o", ms=4, color=LATE_COLOR, label="LRDS (language-specific)")
    if sads:
        ax.plot(range(len(sads)), sads, marker="s", ms=4, color=EARLY_COLOR, label="SADS (semantic alignment)")
    ax.axhline(0.0, ls="--", color=CONTROL_COLOR, lw=1.1, label="0 = no difference (control)")
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_xlabel("MLP layer")
    ax.set_ylabel("score (difference of mean cosine similarity)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(_title(ctx, "LF Fig. 3", "layer-wise LRDS and SADS", ctx.used_checkpoints(("LF-2",))), fontsize=10)
    return fig


def lf3_ppl_increase(ctx: ReportContext):
    """LF Table 1: perplexity increase after zeroing each language's key region, with random controls."""
    cid, matrix = ctx.first_data(("LF-3a", "LF-3b"), "ppl_increase")
    m = _matrix(matrix)
    languages = ctx.data(cid, "languages") if cid else None
    if not m or not languages or len(languages) != len(m) or len(m[0]) != len(languages):
        return None
    import numpy as np
    from matplotlib.colors import LogNorm

    n = len(languages)
    controls = []
    for key, label in (("random_same_size", "random\nsame size"), ("random_10pct", "random\n10 %")):
        values = _floats(ctx.data(cid, key))
        if len(values) == n:
            controls.append((label, values))
    increase = np.array(m, dtype=float) * 100.0
    ctrl = np.array([c[1] for c in controls], dtype=float).T * 100.0 if controls else np.zeros((n, 0))
    finite = np.concatenate([increase[np.isfinite(increase)], ctrl[np.isfinite(ctrl)]])
    floor = 0.5  # percent; smaller increases (and decreases) share the lightest colour
    vmax = max(float(finite.max()) if finite.size else 1.0, 2.0)
    norm = LogNorm(vmin=floor, vmax=vmax)
    sizes = _floats(ctx.data(cid, "key_sizes"))
    row_labels = list(languages)
    if len(sizes) == n and not any(math.isnan(v) for v in sizes):
        row_labels = [f"{lang} ({int(v):,})" for lang, v in zip(languages, sizes)]

    def fmt(v: float) -> str:
        return f"{v:.0f}" if abs(v) >= 9.5 else f"{v:.1f}"

    width = min(1.0 + 0.62 * (n + len(controls)) + 2.2, 14.0)
    fig = _new_figure(width, 1.6 + 0.5 * n + 1.2)
    ratios = [n, max(len(controls), 0.01)] if controls else [n]
    axes = fig.subplots(1, len(ratios), squeeze=False, gridspec_kw={"width_ratios": ratios})[0]
    shown = np.clip(increase, floor, None)
    shown[~np.isfinite(increase)] = np.nan
    image = _heatmap(axes[0], shown, row_labels, list(languages), cmap="YlOrRd", norm=norm, fontsize=7)
    for i in range(n):
        for j in range(n):
            if np.isfinite(increase[i, j]):
                rgba = image.cmap(norm(shown[i, j]))
                dark = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2] < 0.5
                axes[0].text(j, i, fmt(increase[i, j]), ha="center", va="center", fontsize=7,
                             color="white" if dark else "black", in_layout=False)
        _outline(axes[0], i, i)
    axes[0].set_xlabel("evaluated language (perplexity measured on)")
    axes[0].set_ylabel("zeroed key region of language" + (" (|K| neurons)" if row_labels != list(languages) else ""))
    axes[0].set_title("key region zeroed (diagonal boxed)", fontsize=9)
    if controls:
        shown_c = np.clip(ctrl, floor, None)
        shown_c[~np.isfinite(ctrl)] = np.nan
        _heatmap(axes[1], shown_c, list(languages), [c[0] for c in controls], cmap="YlOrRd", norm=norm, fontsize=7)
        for i in range(n):
            for j in range(len(controls)):
                if np.isfinite(ctrl[i, j]):
                    axes[1].text(j, i, fmt(ctrl[i, j]), ha="center", va="center", fontsize=7, color="black",
                                 in_layout=False)
        axes[1].set_yticks(range(n), [f"own: {lang}" for lang in languages], fontsize=8)
        axes[1].set_title("controls", fontsize=9)
        axes[1].set_xlabel("random neurons zeroed")
    cbar = fig.colorbar(image, ax=list(axes), shrink=0.85)
    ticks = [t for t in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if floor <= t <= vmax]
    cbar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    cbar.minorticks_off()
    cbar.set_label("perplexity increase (%, log scale)")
    fig.suptitle(_title(ctx, "LF Table 1", "perplexity increase after zeroing key neurons (%)",
                        ctx.used_checkpoints(("LF-3a", "LF-3b"))), fontsize=11)
    return fig


def lf4_over_training(ctx: ReportContext):
    """LF Fig. 4 (left): key-region size, LRDS and SADS over training."""
    series = ctx.data("LF-4", "series")
    if not isinstance(series, dict) or not series.get("revisions"):
        return None
    revs = [str(r) for r in series["revisions"]]
    panels = [(k, label, _floats(series.get(k))) for k, label in
              (("sklr", r"SKLR = $\Sigma_l\,|K_l|$ (neurons)"), ("lrds", "LRDS"), ("sads", "SADS"))]
    panels = [p for p in panels if p[2] and len(p[2]) == len(revs)]
    if not panels:
        return None
    fig = _new_figure(4.0 * len(panels) + 0.4, 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colors = {"sklr": "#9467bd", "lrds": LATE_COLOR, "sads": EARLY_COLOR}
    for ax, (key, label, values) in zip(axes, panels):
        xs = _categorical_x(ax, [rev_label(r) for r in revs])
        ax.plot(xs, values, marker="o", color=colors[key])
        if key != "sklr":
            ax.axhline(0.0, ls="--", color=CONTROL_COLOR, lw=1.0, label="0 = no difference")
            ax.legend(fontsize=8)
        else:
            ax.set_ylim(bottom=0)
        ax.set_ylabel(label)
        ax.set_title(key.upper(), fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(_title(ctx, "LF Fig. 4", "linguistic regions and semantic alignment over training", revs), fontsize=11)
    return fig


def lf5_key_neurons(ctx: ReportContext):
    """LF Fig. 5–6: key neurons by layer over training, and key-region size by language."""
    by_layer = ctx.data("LF-5", "key_by_layer")
    languages = ctx.data("LF-5", "languages")
    sizes = ctx.data("LF-7", "key_sizes")
    layer_revs = []
    if isinstance(by_layer, dict) and languages:
        layer_revs = [r for r in ctx.order(by_layer) if _matrix(by_layer[r]) and len(_matrix(by_layer[r])) == len(languages)]
    has_sizes = isinstance(sizes, dict) and bool(sizes)
    if not layer_revs and not has_sizes:
        return None
    n_panels = (1 if layer_revs else 0) + 1
    fig = _new_figure(5.8 * n_panels + 0.4, 4.6)
    axes = list(fig.subplots(1, n_panels, squeeze=False)[0])
    if layer_revs:
        ax = axes.pop(0)
        n_layers = 0
        for rev, color in zip(layer_revs, _series_colors(len(layer_revs))):
            m = _matrix(by_layer[rev])
            per_layer = [sum(v for v in col if not math.isnan(v)) for col in zip(*m)]
            total = sum(per_layer)
            shares = [100.0 * v / total if total else math.nan for v in per_layer]
            ax.plot(range(len(shares)), shares, marker="o", ms=3.5, color=color, label=f"{rev_label(rev)} (Σ = {int(total)})")
            n_layers = max(n_layers, len(shares))
        ax.axhline(100.0 / n_layers, ls="--", color=CONTROL_COLOR, lw=1.2, label=f"uniform (100/{n_layers} %)")
        ax.set_xlabel("MLP layer")
        ax.set_ylabel("share of all key neurons in the layer (%)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="checkpoint (total key neurons)", title_fontsize=8)
        ax.set_title("LF Fig. 5: key neurons by layer", fontsize=10)
    ax = axes.pop(0)
    bars: list[tuple[str, list[str], list[float], Any]] = []
    if layer_revs:
        picks = [layer_revs[0], layer_revs[-1]] if len(layer_revs) > 1 else layer_revs
        for rev, color in zip(picks, [EARLY_COLOR, LATE_COLOR] if len(picks) == 2 else [LATE_COLOR]):
            m = _matrix(by_layer[rev])
            bars.append((rev_label(rev), list(languages), [sum(v for v in row if not math.isnan(v)) for row in m], color))
    else:
        langs = list(sizes)
        bars.append(("key region size", langs, _floats(sizes[lang] for lang in langs), LATE_COLOR))
    width = 0.8 / len(bars)
    langs = bars[0][1]
    for b, (label, _, values, color) in enumerate(bars):
        xs = [i - 0.4 + width * (b + 0.5) for i in range(len(langs))]
        ax.bar(xs, values, width=width, color=color, label=label)
    ax.set_xticks(range(len(langs)), langs)
    ax.set_xlabel("language")
    ax.set_ylabel(r"key region size $|K_l|$ (neurons)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("LF Fig. 6: key neurons by language", fontsize=10)
    fig.suptitle(_title(ctx, "LF Fig. 5–6", "where the language-specific key neurons are (z > 2)", layer_revs),
                 fontsize=11)
    return fig


def lf6_scale(ctx: ReportContext):
    """LF Fig. 7: LRDS and SADS across model sizes."""
    family = ctx.data("LF-6", "family")
    if not isinstance(family, dict) or not family.get("models"):
        return None
    models = [str(m) for m in family["models"]]
    lrds, sads = _floats(family.get("lrds")), _floats(family.get("sads"))
    fig = _new_figure(6.4, 4.3)
    ax = fig.add_subplot()
    xs = _categorical_x(ax, models, xlabel="model (smallest first)")
    if len(lrds) == len(xs):
        ax.plot(xs, lrds, marker="o", color=LATE_COLOR, label="LRDS (language-specific)")
    if len(sads) == len(xs):
        ax.plot(xs, sads, marker="s", color=EARLY_COLOR, label="SADS (semantic alignment)")
    ax.axhline(0.0, ls="--", color=CONTROL_COLOR, lw=1.0, label="0 = no difference")
    ax.set_ylabel("score (difference of mean cosine similarity)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(_title(ctx, "LF Fig. 7", "LRDS and SADS across model sizes", (),
                        subject=f"{models[0]} → {models[-1]} ({len(models)} models)"), fontsize=10)
    return fig


def lf8_xstorycloze(ctx: ReportContext):
    """LF Fig. 4 (right): XStoryCloze accuracy over training, chance = 50 %."""
    accuracy = ctx.data("LF-8", "accuracy")
    if not isinstance(accuracy, dict) or not accuracy:
        return None
    revs = ctx.order(accuracy)
    values = _floats(accuracy[r] for r in revs)
    pct = _is_fraction(values)
    fig = _new_figure(6.0, 4.2)
    ax = fig.add_subplot()
    xs = _categorical_x(ax, [rev_label(r) for r in revs])
    ax.plot(xs, [v * (100 if pct else 1) for v in values], marker="o", color=LATE_COLOR, label="accuracy")
    ax.axhline(50.0 if pct else 0.5, ls="--", color=CONTROL_COLOR, lw=1.1, label="chance (2 endings)")
    ax.set_ylabel("XStoryCloze accuracy (%)" if pct else "XStoryCloze accuracy")
    if pct:
        ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(_title(ctx, "LF Fig. 4", "cross-lingual understanding over training", revs), fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------
# Registry and rendering


@dataclass(frozen=True)
class FigureSpec:
    name: str  # file stem under figures/
    claims: tuple[str, ...]  # the claims it draws from (and whose report sections link it)
    caption: str
    draw: Callable[[ReportContext], Any]

    @property
    def filename(self) -> str:
        return f"{self.name}.png"


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("rf1_lid_by_layer", ("RF-1a", "RF-1b"), "LID accuracy by layer, early vs late (RF Fig. 1)", rf1_lid_by_layer),
    FigureSpec("rf1c_lid_over_training", ("RF-1c",), "LID statistics over training (RF Fig. 2)", rf1c_lid_over_training),
    FigureSpec("rf2a_alignment_matrix", ("RF-2a",), "language-alignment matrices (RF Fig. 3)", rf2a_alignment_matrix),
    FigureSpec("rf2d_script_alignment", ("RF-2d",), "alignment by script (RF Fig. 3)", rf2d_script_alignment),
    FigureSpec("rf2_over_training", ("RF-2a", "RF-2b", "RF-2c"), "alignment, MI and overlap over training (RF Fig. 4)",
               rf2_over_training),
    FigureSpec("rf3_expert_layers", ("RF-3a", "RF-3b"), "expert layer distribution and per-layer overlap (RF Fig. 5–6)",
               rf3_expert_layers),
    FigureSpec("rf4_steering", ("RF-4a", "RF-4b", "RF-4c"), "language of steered generations (RF Fig. 7, 18–20)",
               rf4_steering),
    FigureSpec("rf4d_concept_rate", ("RF-4d",), "concept rate of steered generations (RF Table 1)", rf4d_concept_rate),
    FigureSpec("lf1_similarity_map", ("LF-1a", "LF-1b", "LF-1c"), "language similarity map (LF Fig. 2)", lf1_similarity_map),
    FigureSpec("lf2_layer_scores", ("LF-2",), "per-layer LRDS and SADS (LF Fig. 3)", lf2_layer_scores),
    FigureSpec("lf3_ppl_increase", ("LF-3a", "LF-3b"), "perplexity-increase matrix (LF Table 1)", lf3_ppl_increase),
    FigureSpec("lf4_over_training", ("LF-4",), "key regions, LRDS and SADS over training (LF Fig. 4)", lf4_over_training),
    FigureSpec("lf5_key_neurons", ("LF-5", "LF-7"), "key neurons by layer and by language (LF Fig. 5–6)", lf5_key_neurons),
    FigureSpec("lf6_scale", ("LF-6",), "scores across model sizes (LF Fig. 7)", lf6_scale),
    FigureSpec("lf8_xstorycloze", ("LF-8",), "XStoryCloze accuracy over training (LF Fig. 4)", lf8_xstorycloze),
)


def figures_for(claim_id: str) -> list[FigureSpec]:
    return [spec for spec in FIGURES if claim_id in spec.claims]


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
    """Draw every figure whose claims ran; remove stale files of figures that were not drawn."""
    figures_dir = Path(figures_dir)
    if not enabled:
        return FigureOutcomes(available=False, skipped_reason="figures were not requested (--no-figures)")
    if not matplotlib_available():
        return FigureOutcomes(available=False, skipped_reason=MATPLOTLIB_MISSING)
    outcomes = FigureOutcomes()
    for spec in FIGURES:
        path = figures_dir / spec.filename
        try:
            fig = spec.draw(ctx)
        except Exception as error:  # a malformed record must not cost the other figures
            fig = None
            outcomes.failed[spec.name] = f"{type(error).__name__}: {error}"
        if fig is None:
            if path.exists():
                path.unlink()  # stale: from an earlier run whose claims differed
            continue
        atomic_write_bytes(path, png_bytes(fig))
        outcomes.written[spec.name] = f"figures/{spec.filename}"
    return outcomes
