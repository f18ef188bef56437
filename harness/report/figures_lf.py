"""The LF paper's figures, redrawn for the model at hand.

Each function draws one figure from the :class:`~harness.claim_registry.RecordedClaim` of the
claims that declare it (``claims/``) and returns ``None`` when their numbers hold nothing to draw.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from harness.claim_registry import Figure, RecordedClaim
from harness.layer_groups import lf_quarters
from harness.report.figures import (
    CONTROL_COLOR,
    EARLY_COLOR,
    LATE_COLOR,
    categorical_x,
    figure_title,
    floats,
    heatmap,
    is_fraction,
    matrix_of,
    new_figure,
    outline,
    rev_label,
    series_colors,
)

#: LF §4.1's related languages, boxed on the similarity map when a claim records no group
DEFAULT_GROUP = ("fr", "es", "pt")


def recorded_layer_groups(n_layers: int, recorded: Any = None) -> tuple[list[int], list[int], list[int]]:
    """First, middle and last layers: as the claim recorded them (``layer_groups``), else LF's quarters."""
    if isinstance(recorded, dict):
        groups = [recorded.get(k) for k in ("first", "middle", "last")]
        if all(isinstance(g, list) and all(isinstance(i, int) and 0 <= i < n_layers for i in g) for g in groups):
            return groups[0], groups[1], groups[2]
    return lf_quarters(n_layers)


def _claim_with(claims: Sequence[RecordedClaim], field: str) -> RecordedClaim | None:
    """The first of ``claims`` whose numbers have a non-empty ``field``, else None."""
    return next((c for c in claims if getattr(c.numbers, field, None)), None)


def _used_checkpoints(claims: Sequence[RecordedClaim]) -> list[str]:
    """Every checkpoint the claims used, in checkpoint order."""
    return claims[0].context.order({str(rev) for c in claims for rev in c.checkpoints})


# --------------------------------------------------------------------------------------------
# LF Fig. 2: the similarity map


def _boxed_group(ax, languages: list[str], group) -> list[int]:
    """Outline the related languages' block when they are adjacent; their indices (empty if not boxed)."""
    related = [languages.index(x) for x in group if x in languages]
    if not (len(related) >= 2 and max(related) - min(related) + 1 == len(related)):
        return []
    lo = min(related)
    outline(ax, lo, lo, color="#ff7f0e", lw=2.0, h=len(related), w=len(related))
    return related


def _score_text(lrds: Any, sads: Any) -> str:
    scores = []
    if lrds is not None:
        scores.append(f"LRDS = {float(lrds):.3f}")
    if sads is not None:
        scores.append(f"SADS = {float(sads):.3f}")
    return " (" + ", ".join(scores) + ")" if scores else ""


def language_similarity_map(claims: Sequence[RecordedClaim]):
    """LF Fig. 2: mean activation similarity between language blocks."""
    claim = _claim_with(claims, "language_similarity")
    m = matrix_of(claim.numbers.language_similarity) if claim else None
    languages = claim.numbers.languages if claim else None
    if not m or not languages or len(languages) != len(m):
        return None
    numbers = claim.numbers
    n = len(languages)
    fig = new_figure(7.6, 6.6)
    ax = fig.add_subplot()
    image = heatmap(ax, m, list(languages), list(languages), cmap="viridis", annotate=lambda v: f"{v:.2f}",
                    fontsize=7 if n <= 12 else 5)
    for i in range(n):
        outline(ax, i, i, color="white", lw=1.6)
    boxed = _boxed_group(ax, languages, getattr(numbers, "group", None) or list(DEFAULT_GROUP))
    ax.set_xlabel("language of sentence j")
    ax.set_ylabel("language of sentence i")
    cbar = fig.colorbar(image, ax=ax, shrink=0.85)
    cbar.set_label("mean cosine similarity of activation vectors")
    note = "white boxes: same language (i ≠ j); off-diagonal cells are the control"
    if boxed:
        note += "; orange: " + "/".join(languages[i] for i in sorted(boxed))
    what = "language similarity map" + _score_text(numbers.lrds, numbers.sads)
    title = figure_title(claims[0].context, "LF Fig. 2", what, _used_checkpoints(claims))
    ax.set_title(title + "\n" + note, fontsize=9)
    return fig


# --------------------------------------------------------------------------------------------
# LF Fig. 3: per-layer scores


def layer_scores(claims: Sequence[RecordedClaim]):
    """LF Fig. 3: per-layer LRDS and SADS."""
    claim = _claim_with(claims, "per_layer")
    per_layer = claim.numbers.per_layer if claim else None
    if not isinstance(per_layer, dict):
        return None
    lrds, sads = floats(per_layer.get("lrds")), floats(per_layer.get("sads"))
    if not lrds and not sads:
        return None
    n = max(len(lrds), len(sads))
    fig = new_figure(8.0, 4.4)
    ax = fig.add_subplot()
    first, _, last = recorded_layer_groups(n, getattr(claim.numbers, "layer_groups", None))
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
    ax.set_title(figure_title(claims[0].context, "LF Fig. 3", "layer-wise LRDS and SADS", _used_checkpoints(claims)),
                 fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------
# LF Table 1: perplexity increase after zeroing key regions

#: percent; smaller increases (and decreases) share the lightest colour of the log scale
PPL_FLOOR = 0.5


def _ppl_text(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 9.5 else f"{v:.1f}"


def _ppl_controls(numbers: Any, n: int) -> list[tuple[str, list[float]]]:
    controls = []
    for key, label in (("random_same_size", "random\nsame size"), ("random_10pct", "random\n10 %")):
        values = floats(getattr(numbers, key, None))
        if len(values) == n:
            controls.append((label, values))
    return controls


def _ppl_row_labels(languages: list[str], sizes: list[float]) -> list[str]:
    if len(sizes) == len(languages) and not any(math.isnan(v) for v in sizes):
        return [f"{lang} ({int(v):,})" for lang, v in zip(languages, sizes)]
    return list(languages)


def _ppl_increase_panel(ax, increase, row_labels: list[str], languages: list[str], norm):
    """The zeroed-region × evaluated-language heatmap, values written in, diagonal boxed."""
    import numpy as np

    n = len(languages)
    shown = np.clip(increase, PPL_FLOOR, None)
    shown[~np.isfinite(increase)] = np.nan
    image = heatmap(ax, shown, row_labels, list(languages), cmap="YlOrRd", norm=norm, fontsize=7)
    for i in range(n):
        for j in range(n):
            if np.isfinite(increase[i, j]):
                rgba = image.cmap(norm(shown[i, j]))
                dark = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2] < 0.5
                ax.text(j, i, _ppl_text(increase[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if dark else "black", in_layout=False)
        outline(ax, i, i)
    ax.set_xlabel("evaluated language (perplexity measured on)")
    ax.set_ylabel("zeroed key region of language" + (" (|K| neurons)" if row_labels != list(languages) else ""))
    ax.set_title("key region zeroed (diagonal boxed)", fontsize=9)
    return image


def _ppl_controls_panel(ax, ctrl, controls: list, languages: list[str], norm) -> None:
    import numpy as np

    n = len(languages)
    shown_c = np.clip(ctrl, PPL_FLOOR, None)
    shown_c[~np.isfinite(ctrl)] = np.nan
    heatmap(ax, shown_c, list(languages), [c[0] for c in controls], cmap="YlOrRd", norm=norm, fontsize=7)
    for i in range(n):
        for j in range(len(controls)):
            if np.isfinite(ctrl[i, j]):
                ax.text(j, i, _ppl_text(ctrl[i, j]), ha="center", va="center", fontsize=7, color="black",
                        in_layout=False)
    ax.set_yticks(range(n), [f"own: {lang}" for lang in languages], fontsize=8)
    ax.set_title("controls", fontsize=9)
    ax.set_xlabel("random neurons zeroed")


def _ppl_colorbar(fig, image, axes, vmax: float) -> None:
    cbar = fig.colorbar(image, ax=list(axes), shrink=0.85)
    ticks = [t for t in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if PPL_FLOOR <= t <= vmax]
    cbar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    cbar.minorticks_off()
    cbar.set_label("perplexity increase (%, log scale)")


def perplexity_increase_matrix(claims: Sequence[RecordedClaim]):
    """LF Table 1: perplexity increase after zeroing each language's key region, with random controls."""
    claim = _claim_with(claims, "ppl_increase")
    m = matrix_of(claim.numbers.ppl_increase) if claim else None
    languages = claim.numbers.languages if claim else None
    if not m or not languages or len(languages) != len(m) or len(m[0]) != len(languages):
        return None
    import numpy as np
    from matplotlib.colors import LogNorm

    n = len(languages)
    controls = _ppl_controls(claim.numbers, n)
    increase = np.array(m, dtype=float) * 100.0
    ctrl = np.array([c[1] for c in controls], dtype=float).T * 100.0 if controls else np.zeros((n, 0))
    finite = np.concatenate([increase[np.isfinite(increase)], ctrl[np.isfinite(ctrl)]])
    vmax = max(float(finite.max()) if finite.size else 1.0, 2.0)
    norm = LogNorm(vmin=PPL_FLOOR, vmax=vmax)
    row_labels = _ppl_row_labels(list(languages), floats(getattr(claim.numbers, "key_sizes", None)))

    width = min(1.0 + 0.62 * (n + len(controls)) + 2.2, 14.0)
    fig = new_figure(width, 1.6 + 0.5 * n + 1.2)
    ratios = [n, max(len(controls), 0.01)] if controls else [n]
    axes = fig.subplots(1, len(ratios), squeeze=False, gridspec_kw={"width_ratios": ratios})[0]
    image = _ppl_increase_panel(axes[0], increase, row_labels, languages, norm)
    if controls:
        _ppl_controls_panel(axes[1], ctrl, controls, languages, norm)
    _ppl_colorbar(fig, image, axes, vmax)
    fig.suptitle(figure_title(claims[0].context, "LF Table 1", "perplexity increase after zeroing key neurons (%)",
                              _used_checkpoints(claims)), fontsize=11)
    return fig


# --------------------------------------------------------------------------------------------
# LF Fig. 4 (left): regions and alignment over training


def regions_over_training(claims: Sequence[RecordedClaim]):
    """LF Fig. 4 (left): key-region size, LRDS and SADS over training."""
    claim = _claim_with(claims, "series")
    series = claim.numbers.series if claim else None
    if not isinstance(series, dict) or not series.get("revisions"):
        return None
    revs = [str(r) for r in series["revisions"]]
    panels = [(k, label, floats(series.get(k))) for k, label in
              (("sklr", r"SKLR = $\Sigma_l\,|K_l|$ (neurons)"), ("lrds", "LRDS"), ("sads", "SADS"))]
    panels = [p for p in panels if p[2] and len(p[2]) == len(revs)]
    if not panels:
        return None
    fig = new_figure(4.0 * len(panels) + 0.4, 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colors = {"sklr": "#9467bd", "lrds": LATE_COLOR, "sads": EARLY_COLOR}
    for ax, (key, label, values) in zip(axes, panels):
        xs = categorical_x(ax, [rev_label(r) for r in revs])
        ax.plot(xs, values, marker="o", color=colors[key])
        if key != "sklr":
            ax.axhline(0.0, ls="--", color=CONTROL_COLOR, lw=1.0, label="0 = no difference")
            ax.legend(fontsize=8)
        else:
            ax.set_ylim(bottom=0)
        ax.set_ylabel(label)
        ax.set_title(key.upper(), fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(figure_title(claims[0].context, "LF Fig. 4", "linguistic regions and semantic alignment over training",
                              revs), fontsize=11)
    return fig


# --------------------------------------------------------------------------------------------
# LF Fig. 5–6: key neurons by layer and by language


def _key_layer_revisions(claims: Sequence[RecordedClaim]) -> tuple[dict, list[str], list[str]]:
    """``(key_by_layer, languages, revisions with a [language × layer] matrix)`` of the first claim recording them."""
    claim = _claim_with(claims, "key_by_layer")
    by_layer = claim.numbers.key_by_layer if claim else None
    languages = getattr(claim.numbers, "languages", None) if claim else None
    if not (isinstance(by_layer, dict) and languages):
        return {}, [], []
    revs = [r for r in claims[0].context.order(by_layer)
            if matrix_of(by_layer[r]) and len(matrix_of(by_layer[r])) == len(languages)]
    return by_layer, list(languages), revs


def _key_sizes_by_language(claims: Sequence[RecordedClaim]) -> dict | None:
    """``{language: |K_l|}`` of the first claim that records key-region sizes by language."""
    return next((c.numbers.key_sizes for c in claims if isinstance(getattr(c.numbers, "key_sizes", None), dict)), None)


def _layer_share_panel(ax, by_layer: dict, layer_revs: list[str]) -> None:
    n_layers = 0
    for rev, color in zip(layer_revs, series_colors(len(layer_revs))):
        m = matrix_of(by_layer[rev])
        per_layer = [sum(v for v in col if not math.isnan(v)) for col in zip(*m)]
        total = sum(per_layer)
        shares = [100.0 * v / total if total else math.nan for v in per_layer]
        ax.plot(range(len(shares)), shares, marker="o", ms=3.5, color=color,
                label=f"{rev_label(rev)} (Σ = {int(total)})")
        n_layers = max(n_layers, len(shares))
    ax.axhline(100.0 / n_layers, ls="--", color=CONTROL_COLOR, lw=1.2, label=f"uniform (100/{n_layers} %)")
    ax.set_xlabel("MLP layer")
    ax.set_ylabel("share of all key neurons in the layer (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="checkpoint (total key neurons)", title_fontsize=8)
    ax.set_title("LF Fig. 5: key neurons by layer", fontsize=10)


def _language_bars(by_layer: dict, languages: list[str], layer_revs: list[str], sizes) -> list[tuple]:
    """``(label, languages, sizes, colour)`` per bar series: first and last checkpoint, else the recorded sizes."""
    if not layer_revs:
        langs = list(sizes)
        return [("key region size", langs, floats(sizes[lang] for lang in langs), LATE_COLOR)]
    bars: list[tuple[str, list[str], list[float], Any]] = []
    picks = [layer_revs[0], layer_revs[-1]] if len(layer_revs) > 1 else layer_revs
    for rev, color in zip(picks, [EARLY_COLOR, LATE_COLOR] if len(picks) == 2 else [LATE_COLOR]):
        m = matrix_of(by_layer[rev])
        bars.append((rev_label(rev), list(languages), [sum(v for v in row if not math.isnan(v)) for row in m], color))
    return bars


def _language_panel(ax, bars: list[tuple]) -> None:
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


def key_neurons_by_layer_and_language(claims: Sequence[RecordedClaim]):
    """LF Fig. 5–6: key neurons by layer over training, and key-region size by language."""
    by_layer, languages, layer_revs = _key_layer_revisions(claims)
    sizes = _key_sizes_by_language(claims)
    if not layer_revs and not sizes:
        return None
    n_panels = (1 if layer_revs else 0) + 1
    fig = new_figure(5.8 * n_panels + 0.4, 4.6)
    axes = list(fig.subplots(1, n_panels, squeeze=False)[0])
    if layer_revs:
        _layer_share_panel(axes.pop(0), by_layer, layer_revs)
    _language_panel(axes.pop(0), _language_bars(by_layer, languages, layer_revs, sizes))
    fig.suptitle(figure_title(claims[0].context, "LF Fig. 5–6", "where the language-specific key neurons are (z > 2)",
                              layer_revs), fontsize=11)
    return fig


#: declared by claims of two modules (key regions by language; key neurons over training), so defined once here
KEY_NEURONS = Figure("lf5_key_neurons", "key neurons by layer and by language (LF Fig. 5–6)",
                     key_neurons_by_layer_and_language)


# --------------------------------------------------------------------------------------------
# LF Fig. 7: scale; LF Fig. 4 (right): XStoryCloze


def scores_across_model_sizes(claims: Sequence[RecordedClaim]):
    """LF Fig. 7: LRDS and SADS across model sizes."""
    claim = _claim_with(claims, "family")
    family = claim.numbers.family if claim else None
    if not isinstance(family, dict) or not family.get("models"):
        return None
    models = [str(m) for m in family["models"]]
    lrds, sads = floats(family.get("lrds")), floats(family.get("sads"))
    fig = new_figure(6.4, 4.3)
    ax = fig.add_subplot()
    xs = categorical_x(ax, models, xlabel="model (smallest first)")
    if len(lrds) == len(xs):
        ax.plot(xs, lrds, marker="o", color=LATE_COLOR, label="LRDS (language-specific)")
    if len(sads) == len(xs):
        ax.plot(xs, sads, marker="s", color=EARLY_COLOR, label="SADS (semantic alignment)")
    ax.axhline(0.0, ls="--", color=CONTROL_COLOR, lw=1.0, label="0 = no difference")
    ax.set_ylabel("score (difference of mean cosine similarity)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(figure_title(claims[0].context, "LF Fig. 7", "LRDS and SADS across model sizes", (),
                              subject=f"{models[0]} → {models[-1]} ({len(models)} models)"), fontsize=10)
    return fig


def story_cloze_over_training(claims: Sequence[RecordedClaim]):
    """LF Fig. 4 (right): XStoryCloze accuracy over training, chance = 50 %."""
    claim = _claim_with(claims, "accuracy")
    accuracy = claim.numbers.accuracy if claim else None
    if not isinstance(accuracy, dict) or not accuracy:
        return None
    ctx = claims[0].context
    revs = ctx.order(accuracy)
    values = floats(accuracy[r] for r in revs)
    pct = is_fraction(values)
    fig = new_figure(6.0, 4.2)
    ax = fig.add_subplot()
    xs = categorical_x(ax, [rev_label(r) for r in revs])
    ax.plot(xs, [v * (100 if pct else 1) for v in values], marker="o", color=LATE_COLOR, label="accuracy")
    ax.axhline(50.0 if pct else 0.5, ls="--", color=CONTROL_COLOR, lw=1.1, label="chance (2 endings)")
    ax.set_ylabel("XStoryCloze accuracy (%)" if pct else "XStoryCloze accuracy")
    if pct:
        ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(figure_title(ctx, "LF Fig. 4", "cross-lingual understanding over training", revs), fontsize=10)
    return fig
