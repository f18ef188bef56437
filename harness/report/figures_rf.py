"""The RF paper's figures, redrawn for the model at hand.

Each function draws one figure from the :class:`~harness.claim_registry.RecordedClaim` of the
claims that declare it (``claims/``) and returns ``None`` when their numbers hold nothing to draw.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from harness.claim_registry import RecordedClaim
from harness.report.catalogue import language_name
from harness.report.figures import (
    CONTROL_COLOR,
    EARLY_COLOR,
    LATE_COLOR,
    categorical_x,
    figure_title,
    floats,
    heatmap,
    is_fraction,
    language_colors,
    layer_axis_label,
    matrix_of,
    new_figure,
    rev_label,
    series_colors,
)

# --------------------------------------------------------------------------------------------
# RF figures


def lid_by_layer(claims: Sequence[RecordedClaim]):
    """RF Fig. 1: LID probe accuracy by layer at the early and late checkpoints, majority class dashed."""
    lid: dict[str, Any] = {}
    majority, layers = None, None
    for claim in claims:
        for rev, entry in (claim.numbers.lid_by_layer or {}).items():
            if isinstance(entry, dict) and entry.get("mean"):
                lid.setdefault(str(rev), entry)
        majority = majority if majority is not None else claim.numbers.majority_rate
        layers = layers or claim.numbers.layers
    if not lid:
        return None
    ctx = claims[0].context
    revs = ctx.order(lid)
    means = {r: floats(lid[r]["mean"]) for r in revs}
    stds = {r: floats(lid[r].get("std") or [0.0] * len(means[r])) for r in revs}
    n_layers = max(len(m) for m in means.values())
    layers = list(layers) if layers and len(layers) == n_layers else list(range(n_layers))
    pct = is_fraction(*means.values(), [majority if majority is not None else 0.0])
    scale = 100.0 if pct else 1.0

    fig = new_figure(8.0, 4.6)
    ax = fig.add_subplot()
    colors = [EARLY_COLOR, LATE_COLOR] if len(revs) == 2 else series_colors(len(revs))
    for rev, color in zip(revs, colors):
        m = [v * scale for v in means[rev]]
        s = [v * scale for v in stds[rev]]
        xs = layers[: len(m)]
        ax.plot(xs, m, marker="o", ms=4, color=color, label=rev_label(rev))
        ax.fill_between(xs, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)], color=color, alpha=0.15, lw=0)
    if majority is not None:
        ax.axhline(majority * scale, ls="--", color=CONTROL_COLOR, lw=1.2, label="majority-class rate (control)")
    ax.set_xlabel(layer_axis_label(layers))
    ax.set_ylabel("held-out LID accuracy (%)" if pct else "held-out LID accuracy")
    if pct:
        ax.set_ylim(0, 102)
    ax.set_xticks(layers if len(layers) <= 26 else layers[::2])
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    ax.set_title(
        figure_title(ctx, "RF Fig. 1", "language identification by layer (mean ± std over probe seeds)", revs),
        fontsize=10,
    )
    return fig


def lid_over_training(claims: Sequence[RecordedClaim]):
    """RF Fig. 2: first-layer accuracy, layer-mean accuracy and std between layers over training."""
    numbers = claims[0].numbers
    series = numbers.lid_series
    if not isinstance(series, dict) or not series.get("revisions"):
        return None
    ctx = claims[0].context
    revs = [str(r) for r in series["revisions"]]
    first, mean, std = (floats(series.get(k)) for k in ("first_layer", "mean", "std"))
    if not (first or mean or std):
        return None
    majority = numbers.majority_rate
    pct = is_fraction(first, mean, [majority or 0.0])
    scale = 100.0 if pct else 1.0

    fig = new_figure(10.0, 4.2)
    ax1, ax2 = fig.subplots(1, 2)
    labels = [rev_label(r) for r in revs]
    xs = categorical_x(ax1, labels)
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
    xs2 = categorical_x(ax2, labels)
    if std:
        ax2.plot(xs2[: len(std)], [v * scale for v in std], marker="o", color="#2ca02c")
    ax2.set_ylabel("std of accuracy between layers (pp)" if pct else "std of accuracy between layers")
    ax2.set_ylim(bottom=0)
    ax2.set_title("spread between layers", fontsize=10)
    ax2.grid(alpha=0.3)
    fig.suptitle(figure_title(ctx, "RF Fig. 2", "LID statistics over training", revs), fontsize=11)
    return fig


def _claim_with(claims: Sequence[RecordedClaim], field: str) -> RecordedClaim | None:
    """The first of ``claims`` whose numbers have a non-empty ``field``, else None."""
    return next((c for c in claims if getattr(c.numbers, field, None)), None)


def _series_with(claims: Sequence[RecordedClaim], key: str) -> dict | None:
    """The ``series`` of the first of ``claims`` whose series has a non-empty ``key``, else None."""
    for claim in claims:
        series = getattr(claim.numbers, "series", None)
        if isinstance(series, dict) and series.get(key):
            return series
    return None


def _off_diagonal(matrix: list[list[float]]) -> list[list[float]]:
    return [[math.nan if i == j else v for j, v in enumerate(row)] for i, row in enumerate(matrix)]


def alignment_matrix(claims: Sequence[RecordedClaim]):
    """RF Fig. 3: language-alignment matrices (Fisher-z mean Pearson r of AP vectors), early and late."""
    claim = _claim_with(claims, "alignment_matrix")
    if claim is None:
        return None
    matrices, languages = claim.numbers.alignment_matrix, claim.numbers.languages
    if not isinstance(matrices, dict) or not languages:
        return None
    ctx = claims[0].context
    revs = [r for r in ctx.order(matrices) if matrix_of(matrices[r]) and len(matrix_of(matrices[r])) == len(languages)]
    if not revs:
        return None
    if len(revs) > 2:
        revs = [revs[0], revs[-1]]
    mats = [_off_diagonal(matrix_of(matrices[rev])) for rev in revs]
    finite = [abs(v) for m in mats for row in m for v in row if not math.isnan(v)]
    limit = max(finite) if finite else 1.0
    limit = min(1.0, math.ceil(limit * 10) / 10) if limit > 0 else 1.0
    n = len(languages)
    annotate = (lambda v: f"{v:.2f}") if n <= 12 else None
    fig = new_figure(6.0 * len(revs) + 1.2, 6.0)
    axes = fig.subplots(1, len(revs), squeeze=False)[0]
    image = None
    for ax, rev, m in zip(axes, revs, mats):
        image = heatmap(ax, m, list(languages), list(languages), cmap="RdBu_r", vmin=-limit, vmax=limit,
                         annotate=annotate, fontsize=6)
        ax.set_title(rev_label(rev), fontsize=10)
        ax.set_xlabel("language l′")
        ax.set_ylabel("language l")
    cbar = fig.colorbar(image, ax=list(axes), shrink=0.85)
    cbar.set_label("alignment r (Fisher-z mean over concepts); 0 = no alignment")
    fig.suptitle(figure_title(ctx, "RF Fig. 3", "cross-lingual neuron alignment (diagonal not shown)", revs),
                 fontsize=11)
    return fig


def script_alignment(claims: Sequence[RecordedClaim]):
    """RF §7 / Fig. 3: alignment of same-script vs cross-script language pairs."""
    claim = _claim_with(claims, "same_script")
    if claim is None:
        return None
    same, cross = floats(claim.numbers.same_script), floats(claim.numbers.cross_script)
    same, cross = [v for v in same if not math.isnan(v)], [v for v in cross if not math.isnan(v)]
    if not same or not cross:
        return None
    import numpy as np

    fig = new_figure(5.5, 4.4)
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
    ctx = claims[0].context
    revs = ctx.order({str(c) for c in claim.checkpoints})
    ax.set_title(figure_title(ctx, "RF Fig. 3", "alignment by script", revs), fontsize=10)
    return fig


#: The panels of RF Fig. 4: title, the series key, the y label.
_OVER_TRAINING_PANELS = (
    ("alignment", "alignment", "alignment r (Fisher-z mean)"),
    ("mutual information", "mi", "MI between AP vectors (nats)"),
    ("top-k expert overlap", "overlap", "overlap |E(c,l) ∩ E(c,l′)| / k"),
)


def _series_panel(ax, name: str, series: dict, key: str, ylabel: str) -> None:
    """One panel of RF Fig. 4: ``series[key]`` over the checkpoints, with its controls."""
    revs = [str(r) for r in series.get("revisions") or []]
    values = floats(series.get(key))
    if not revs or len(revs) != len(values):
        revs = revs[: len(values)] if revs else [str(i) for i in range(len(values))]
    xs = categorical_x(ax, [rev_label(r) for r in revs])
    ax.plot(xs, values, marker="o", color=LATE_COLOR, label="matched concept")
    mismatched = floats(series.get(f"mismatched_{key}"))
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


def experts_over_training(claims: Sequence[RecordedClaim]):
    """RF Fig. 4: alignment, MI and top-k overlap over training, with chance and mismatched concepts."""
    panels = []
    for name, key, ylabel in _OVER_TRAINING_PANELS:
        series = _series_with(claims, key)
        if series is not None:
            panels.append((name, series, key, ylabel))
    if not panels:
        return None
    fig = new_figure(4.3 * len(panels) + 0.4, 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, series, key, ylabel) in zip(axes, panels):
        _series_panel(ax, name, series, key, ylabel)
    revs = [str(r) for r in panels[0][1].get("revisions") or []]
    fig.suptitle(figure_title(claims[0].context, "RF Fig. 4",
                              "alignment over training (mean over concepts and language pairs)", revs), fontsize=11)
    return fig


def _layer_distribution_panel(ax, ctx: Any, dist: dict, k: Any) -> list[str]:
    """RF Fig. 5: the share of the top-k experts in each layer per checkpoint; returns the checkpoints drawn."""
    revs = ctx.order(r for r, v in dist.items() if v)
    n_layers = 0
    for rev, color in zip(revs, series_colors(len(revs))):
        counts = floats(dist[rev])
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
    return revs


def _layer_overlap_panel(ax, ctx: Any, overlap: dict) -> list[str]:
    """RF Fig. 6: per-layer cross-lingual overlap of the experts per checkpoint; returns the checkpoints drawn."""
    revs = ctx.order(r for r, v in overlap.items() if v)
    for rev, color in zip(revs, series_colors(len(revs))):
        values = floats(overlap[rev])
        ax.plot(range(len(values)), values, marker="o", ms=3.5, color=color, label=rev_label(rev))
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel("MLP layer")
    ax.set_ylabel("cross-lingual overlap of experts in the layer")
    ax.set_title("RF Fig. 6: where the experts are shared", fontsize=10)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="checkpoint", title_fontsize=8)
    return revs


def expert_layers(claims: Sequence[RecordedClaim]):
    """RF Fig. 5–6: layer distribution of the top-k experts and per-layer cross-lingual overlap."""
    dist_claim = _claim_with(claims, "layer_distribution")
    overlap_claim = _claim_with(claims, "layer_overlap")
    dist = dist_claim.numbers.layer_distribution if dist_claim else None
    k = dist_claim.numbers.k if dist_claim else None
    overlap = overlap_claim.numbers.layer_overlap if overlap_claim else None
    has_dist = isinstance(dist, dict) and any(dist.values())
    has_ov = isinstance(overlap, dict) and any(overlap.values())
    if not (has_dist or has_ov):
        return None
    ctx = claims[0].context
    n_panels = int(has_dist) + int(has_ov)
    fig = new_figure(5.6 * n_panels + 0.4, 4.5)
    axes = list(fig.subplots(1, n_panels, squeeze=False)[0])
    revs_shown = []
    if has_dist:
        revs_shown = _layer_distribution_panel(axes.pop(0), ctx, dist, k)
    if has_ov:
        revs = _layer_overlap_panel(axes.pop(0), ctx, overlap)
        revs_shown = revs_shown or revs
    fig.suptitle(figure_title(ctx, "RF Fig. 5–6", "layer distribution of top-k expert neurons", revs_shown),
                 fontsize=11)
    return fig


def _steering_by_source(claims: Sequence[RecordedClaim]) -> tuple[dict, dict]:
    """Steered shares by source language, and the controls (random units kept apart per source)."""
    steering: dict[str, dict] = {}
    controls: dict[tuple[str, str | None], dict] = {}
    for claim in claims:
        s = getattr(claim.numbers, "steering", None)
        if isinstance(s, dict):
            for source, by_rev in s.items():
                if isinstance(by_rev, dict):
                    steering.setdefault(str(source), {}).update(by_rev)
        c = getattr(claim.numbers, "controls", None)
        source = getattr(claim.numbers, "source_language", None)
        if isinstance(c, dict):
            for name, by_rev in c.items():
                if isinstance(by_rev, dict):
                    # random units are drawn per source language: keep es and sw controls apart
                    key = (str(name), str(source)) if name == "random_units" and source else (str(name), None)
                    controls.setdefault(key, {}).update(by_rev)
    return steering, controls


def _steering_panels(steering: dict, controls: dict) -> list[tuple[str, dict, str | None]]:
    """(title, revision → shares, source language or None) per panel: the steered sources, then the controls."""
    panels = [(f"{src}-derived neurons\n({language_name(src)})", by_rev, src) for src, by_rev in steering.items()]
    names = {"unsteered": "unsteered (control)", "random_units": "random units (control)"}
    panels += [
        (f"random units, {src} medians\n(control)" if src else names.get(n, f"{n} (control)"), by_rev, None)
        for (n, src), by_rev in controls.items()
        if by_rev
    ]
    return panels


def _shown_languages(panels: list, sources) -> list[str]:
    """Languages with a notable share anywhere get their own colour, the rest are "other"."""
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
    shown += [lang for lang in (*sources, "en") if peak.get(lang, 0.0) > 0 and lang not in shown]
    return sorted(shown, key=lambda lang: ({"en": 0, "es": 1, "pt": 2, "fr": 3, "zh": 4}.get(lang, 9), lang))


def _share_of(dist: dict, lang: str, shown: list[str]) -> float:
    if lang == "other":
        return sum(float(v) for l2, v in dist.items() if v is not None and l2 not in shown and l2 != "unknown")
    return float(dist.get(lang) or 0.0)


def _stacked_shares(ax, ctx, panel: tuple, stack: list[str], shown: list[str], colors: dict, handles: dict) -> None:
    """One panel: per checkpoint, the shares of ``stack`` stacked; the source language hatched."""
    from matplotlib.patches import Patch

    title, by_rev, source = panel
    revs = ctx.order(by_rev)
    xs = categorical_x(ax, [rev_label(r) for r in revs])
    if len(revs) > 3:  # four labels do not fit side by side in a narrow panel
        for label in ax.get_xticklabels():
            label.set_rotation(30)
            label.set_horizontalalignment("right")
    bottoms = [0.0] * len(revs)
    for lang in stack:
        heights = [100.0 * _share_of(by_rev.get(rev) or {}, lang, shown) for rev in revs]
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


def steering_languages(claims: Sequence[RecordedClaim]):
    """RF Fig. 7, 18–20: language of steered generations per checkpoint, with unsteered and random-unit controls."""
    steering, controls = _steering_by_source(claims)
    if not steering:
        return None
    ctx = claims[0].context
    panels = _steering_panels(steering, controls)
    shown = _shown_languages(panels, steering)
    colors = language_colors(shown)
    stack = shown + ["other", "unknown"]

    from matplotlib.patches import Patch

    n = len(panels)
    fig = new_figure(min(3.1 * n + 2.2, 14.5), 4.8)
    axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
    handles: dict[str, Any] = {}
    for ax, panel in zip(axes, panels):
        _stacked_shares(ax, ctx, panel, stack, shown, colors, handles)
    axes[0].set_ylabel("share of generations (%)")
    order = [lang for lang in stack if lang in handles]
    labels = [f"{lang} ({language_name(lang)})" if lang not in ("other", "unknown") else
              ("other languages" if lang == "other" else "unknown (langdetect failed)") for lang in order]
    fig.legend([handles[lang] for lang in order] + [Patch(facecolor="white", edgecolor="black", hatch="//")],
               labels + ["source language of the neurons"],
               loc="outside right center", fontsize=8, title="detected language", title_fontsize=8)
    all_revs = ctx.order({rev for _, by_rev, _ in panels for rev in by_rev})
    fig.suptitle(figure_title(ctx, "RF Fig. 7, 18–20", "language of generations steered by concept experts "
                        "(hatched = source language)", all_revs), fontsize=11)
    return fig


def concept_rate(claims: Sequence[RecordedClaim]):
    """RF Table 1 (quantified): how often generations are about the concept, steered vs controls."""
    claim = next((c for c in claims if isinstance(getattr(c.numbers, "concept_rate", None), dict)), None)
    rates = claim.numbers.concept_rate if claim is not None else None
    if not isinstance(rates, dict) or rates.get("steered") is None:
        return None
    ctx = claim.context
    names = [("steered", "steered\n(concept experts)", LATE_COLOR),
             ("unsteered", "unsteered\n(control)", CONTROL_COLOR),
             ("random_units", "random units\n(control)", "0.65")]
    items = [(label, float(rates[key]), color) for key, label, color in names if rates.get(key) is not None]
    pct = is_fraction([v for _, v, _ in items])
    fig = new_figure(5.4, 4.2)
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
    revs = ctx.order({str(c) for c in claim.checkpoints})
    ax.set_title(figure_title(ctx, "RF Table 1", "steered generations are about the concept", revs), fontsize=10)
    return fig

# --------------------------------------------------------------------------------------------
# LF figures
