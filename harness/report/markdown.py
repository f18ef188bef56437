"""``claims.md``: the verdict table, each claim beside the paper's statement and numbers, provenance.

Built only from ``claims.json`` (and the catalogue), so rebuilding it needs no model, and the
same ``claims.json`` always gives the same bytes: nothing here reads the clock or the machine.
"""

from __future__ import annotations

import math
from typing import Any

from harness.report.catalogue import CATALOGUE, LF_TABLE1, PAPERS, language_name
from harness.report.figures import (
    FigureOutcomes,
    layer_groups,
    ReportContext,
    figures_for,
    rev_label,
)



def claim_sort_key(claim_id: str) -> tuple:
    """As ``harness.report.records.claim_sort_key`` (not imported: records needs torch, the report does not)."""
    paper, _, rest = claim_id.partition("-")
    digits = "".join(ch for ch in rest if ch.isdigit())
    return (paper, int(digits) if digits else 0, rest)


# --------------------------------------------------------------------------------------------
# Formatting


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


def evidence(record: dict) -> str:
    if record.get("p_value") is not None:
        return f"p = {fmt_p(record['p_value'])}"
    ci = record.get("ci")
    if ci and len(ci) == 2:
        return f"CI [{fmt(ci[0])}, {fmt(ci[1])}]"
    return "—"


def value_vs_control(record: dict) -> str:
    value, control = record.get("value"), record.get("control")
    if value is None and control is None:
        return "—"
    return fmt(value) if control is None else f"{fmt(value)} vs {fmt(control)}"


def verdict_text(record: dict) -> str:
    verdict = record.get("verdict") or "—"
    expected = record.get("expected")
    if expected and verdict != "skipped":
        if expected == verdict:
            return f"{verdict} (expected)"
        return f"{verdict} (expected: {expected})"
    return verdict


def report_order(claim_id: str) -> tuple:
    """The catalogue's order (RF before LF, as in CLAIMS.md), then any other ids."""
    ids = list(CATALOGUE)
    if claim_id in CATALOGUE:
        return (0, ids.index(claim_id), ())
    return (1, 0, claim_sort_key(claim_id))


def anchor(claim_id: str) -> str:
    return claim_id.lower()


def title_of(claim_id: str, record: dict | None) -> str:
    entry = CATALOGUE.get(claim_id)
    if entry:
        return entry.short_title
    return (record or {}).get("title") or claim_id


# --------------------------------------------------------------------------------------------
# Our numbers, in the terms the paper states its own


def _revs(ctx: ReportContext, mapping: dict) -> list[str]:
    return ctx.order(mapping) if isinstance(mapping, dict) else []


def _claim_rev(ctx: ReportContext, cid: str, revs: list[str], late: bool) -> str:
    """The claim's own early (first) or late (last) checkpoint where recorded, else the series' end."""
    own = [str(c) for c in (ctx.ran(cid) or {}).get("checkpoints") or [] if str(c) in revs]
    pool = own or revs
    return pool[-1] if late else pool[0]


def _lid_summary(ctx: ReportContext, cid: str, late: bool) -> str | None:
    lid = ctx.data(cid, "lid_by_layer")
    if not isinstance(lid, dict) or not lid:
        return None
    revs = _revs(ctx, lid)
    rev = _claim_rev(ctx, cid, revs, late)
    means = [float(v) for v in lid[rev].get("mean") or [] if v is not None]
    if not means:
        return None
    layers = ctx.data(cid, "layers") or list(range(len(means)))
    std = (sum((m - sum(means) / len(means)) ** 2 for m in means) / len(means)) ** 0.5
    if layers[0] == 0 and len(means) > 1:
        first = f"layer 0 (embeddings) {pct(means[0])}, layer 1 {pct(means[1])}"
    else:
        first = f"layer {layers[0]} {pct(means[0])}"
    text = f"{rev_label(rev)}: {first}, mean {pct(sum(means) / len(means))}, std between layers {100 * std:.1f} pp"
    if late and len(means) >= 4:
        lo, hi = len(means) // 4, len(means) - len(means) // 4
        middle = means[lo:hi]
        i = lo + middle.index(min(middle))
        text += f"; middle minimum {pct(means[i])} at layer {layers[i]}, final layer {pct(means[-1])}"
    majority = ctx.data(cid, "majority_rate")
    if majority is not None:
        text += f" (majority class {pct(majority)})"
    return text


def _steering_summary(ctx: ReportContext, cid: str, source: str, which: str) -> str | None:
    steering = ctx.data(cid, "steering")
    if not isinstance(steering, dict) or not isinstance(steering.get(source), dict):
        return None
    by_rev = steering[source]
    revs = _revs(ctx, by_rev)
    if not revs:
        return None
    picks = {"early": [_claim_rev(ctx, cid, revs, False)], "late": [_claim_rev(ctx, cid, revs, True)], "all": revs}[which]
    parts = []
    for rev in picks:
        dist = {k: float(v) for k, v in (by_rev[rev] or {}).items() if v is not None}
        top = sorted(dist.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
        shares = ", ".join(f"{lang} {pct(share, 0)}" for lang, share in top)
        if which == "all":
            parts.append(f"{rev_label(rev)}: {source} {pct(dist.get(source, 0.0), 0)}")
        else:
            parts.append(f"{rev_label(rev)}: {shares}")
    return "; ".join(parts)


def _series_change(series: dict, key: str, label: str | None = None, early: str | None = None) -> str | None:
    """``key`` from the first checkpoint (or the claim's early one, naming the first too) to the last."""
    values = series.get(key) if isinstance(series, dict) else None
    revs = [str(r) for r in series.get("revisions") or []] if isinstance(series, dict) else []
    if not values or len(values) != len(revs) or values[0] is None or values[-1] is None:
        return None
    start = revs.index(early) if early in revs else 0
    text = f"{label or key} {fmt(values[start], 3)} ({rev_label(revs[start])}) → {fmt(values[-1], 3)} ({rev_label(revs[-1])})"
    if start > 0:
        text += f", {fmt(values[0], 3)} at {rev_label(revs[0])}"
    return text


def _span(layers: list[int]) -> str:
    if not layers:
        return "none"
    return str(layers[0]) if len(layers) == 1 else f"{min(layers)}–{max(layers)}"


def _mean(values) -> float | None:
    vals = [float(v) for v in values or [] if v is not None and not math.isnan(float(v))]
    return sum(vals) / len(vals) if vals else None


def ours_summary(ctx: ReportContext, cid: str) -> str | None:
    """One line of our measured numbers, shaped like the paper's reference numbers."""
    d = lambda key: ctx.data(cid, key)  # noqa: E731
    try:
        if cid == "RF-1a":
            return _lid_summary(ctx, cid, late=False)
        if cid == "RF-1b":
            return _lid_summary(ctx, cid, late=True)
        if cid == "RF-1c":
            s = d("lid_series") or {}
            parts = [_series_change(s, "first_layer", "first-layer accuracy"), _series_change(s, "mean", "mean accuracy"),
                     _series_change(s, "std", "std between layers")]
            return "; ".join(p for p in parts if p) or None
        if cid in ("RF-2a", "RF-2b"):
            s = d("series") or {}
            parts = [_series_change(s, "alignment"), _series_change(s, "mi", "MI")]
            return "; ".join(p for p in parts if p) or None
        if cid == "RF-2c":
            s = d("series") or {}
            text = _series_change(s, "overlap")
            if text and s.get("overlap"):
                late = s["overlap"][-1]
                if late:
                    text += f" ≈ 1/{1 / float(late):.1f} of the top k"
                if s.get("chance") is not None:
                    text += f"; chance k/N = {fmt(s['chance'], 3)}"
                mism = s.get("mismatched_overlap")
                if mism and mism[-1] is not None:
                    text += f"; mismatched concepts {fmt(mism[-1], 3)}"
            return text
        if cid == "RF-2d":
            same, cross = _mean(d("same_script")), _mean(d("cross_script"))
            if same is None or cross is None:
                return None
            return (f"mean alignment of same-script pairs {fmt(same, 3)} (n = {len(d('same_script'))}) vs "
                    f"cross-script {fmt(cross, 3)} (n = {len(d('cross_script'))})")
        if cid == "RF-3a":
            dist = d("layer_distribution")
            revs = _revs(ctx, dist)
            if not revs:
                return None
            k = d("k")
            shares = {}
            for rev in (revs[0], revs[-1]):
                counts = [float(v or 0) for v in dist[rev]]
                total = float(k) if k else sum(counts)
                shares[rev] = [c / total if total else 0.0 for c in counts]
            late = shares[revs[-1]]
            n = len(late)
            lo, hi = 1, max(2, n - 1)
            low = lo + late[lo:hi].index(min(late[lo:hi])) if hi > lo else 0
            peak = late.index(max(late))
            return (f"layer-0 share {pct(shares[revs[0]][0])} ({rev_label(revs[0])}) → {pct(late[0])} ({rev_label(revs[-1])}); "
                    f"at {rev_label(revs[-1])} the inner layers' minimum is layer {low}, the peak layer {peak} "
                    f"(layers 0–{n - 1}), final layer {pct(late[-1])}")
        if cid == "RF-3b":
            overlap = d("layer_overlap")
            revs = _revs(ctx, overlap)
            if not revs:
                return None
            late = [float(v or 0) for v in overlap[revs[-1]]]
            n = len(late)
            third = max(1, n // 3)
            mid = _mean(late[third:n - third])
            text = (f"{rev_label(revs[-1])}: middle third {fmt(mid, 3)} vs first layer {fmt(late[0], 3)}, "
                    f"last layer {fmt(late[-1], 3)}")
            if len(revs) > 1:
                early = [float(v or 0) for v in overlap[revs[0]]]
                text += f"; middle third at {rev_label(revs[0])} {fmt(_mean(early[third:n - third]), 3)}"
            return text
        if cid == "RF-4a":
            return _steering_summary(ctx, cid, "es", "early")
        if cid == "RF-4b":
            return _steering_summary(ctx, cid, "es", "late")
        if cid == "RF-4c":
            return _steering_summary(ctx, cid, "sw", "all")
        if cid == "RF-4d":
            r = d("concept_rate") or {}
            if r.get("steered") is None:
                return None
            return (f"about the concept: steered {pct(r.get('steered'))}, unsteered {pct(r.get('unsteered'))}, "
                    f"random units {pct(r.get('random_units'))}")
        if cid in ("LF-1a", "LF-1b", "LF-1c"):
            parts = []
            if cid == "LF-1a" and d("lrds") is not None:
                parts.append(f"LRDS = {fmt(d('lrds'), 3)}")
            if cid == "LF-1b" and d("sads") is not None:
                parts.append(f"SADS = {fmt(d('sads'), 3)}")
            if cid == "LF-1c":
                m, langs = d("language_similarity"), d("languages") or []
                names = [x for x in (d("group") or ["fr", "es", "pt"]) if x in langs]
                group = [langs.index(x) for x in names]
                if m and len(group) >= 2:
                    within = _mean(m[i][j] for i in group for j in group if i != j)
                    rest = _mean(m[i][j] for i in group for j in range(len(langs)) if j not in group)
                    parts.append(f"mean block similarity within {'/'.join(names)} {fmt(within, 3)} vs to the other languages {fmt(rest, 3)}")
            return "; ".join(parts) or None
        if cid == "LF-2":
            per = d("per_layer") or {}
            parts = []
            for key in ("lrds", "sads"):
                values = per.get(key)
                if values:
                    first, middle, last = layer_groups(len(values), d("layer_groups"))
                    ends = _mean([values[i] for i in first + last])
                    mid = _mean([values[i] for i in middle])
                    parts.append(f"{key.upper()} first/last layers {fmt(ends, 3)} vs middle {fmt(mid, 3)}")
            return "; ".join(parts) or None
        if cid in ("LF-3a", "LF-3b"):
            m, langs = d("ppl_increase"), d("languages") or []
            if not m or not langs:
                return None
            diag = [m[i][i] for i in range(len(langs))]
            if cid == "LF-3a":
                wins = sum(1 for i in range(len(langs)) if all(m[i][i] > m[i][j] for j in range(len(langs)) if j != i))
                return (f"own-language increase " + ", ".join(f"{lang} {pct(v, 0)}" for lang, v in zip(langs, diag))
                        + f"; the diagonal tops its row for {wins} of {len(langs)} languages")
            parts = [f"mean own-language increase {pct(_mean(diag), 0)}"]
            if d("random_same_size"):
                parts.append(f"random same size {pct(_mean(d('random_same_size')), 0)}")
            if d("random_10pct"):
                parts.append(f"random 10 % {pct(_mean(d('random_10pct')), 0)}")
            return "; ".join(parts)
        if cid == "LF-4":
            s = d("series") or {}
            early = d("early")
            parts = [_series_change(s, "sklr", "SKLR", early), _series_change(s, "lrds", "LRDS", early),
                     _series_change(s, "sads", "SADS", early)]
            return "; ".join(p for p in parts if p) or None
        if cid == "LF-5":
            by_layer = d("key_by_layer")
            revs = _revs(ctx, by_layer)
            if not revs:
                return None
            parts = []
            for rev in (revs[0], revs[-1]) if len(revs) > 1 else revs:
                per_layer = [sum(float(v or 0) for v in col) for col in zip(*by_layer[rev])]
                total = sum(per_layer) or 1.0
                n = len(per_layer)
                first, _, last = layer_groups(n, d("layer_groups"))
                ends = sum(per_layer[i] for i in first + last) / total
                parts.append(f"{rev_label(rev)}: first+last layers {pct(ends)} of key neurons "
                             f"(layers {_span(first)} and {_span(last)} of 0–{n - 1}), first layer {pct(per_layer[0] / total)}")
            return "; ".join(parts)
        if cid == "LF-6":
            fam = d("family") or {}
            models, lrds, sads = fam.get("models") or [], fam.get("lrds") or [], fam.get("sads") or []
            if not models:
                return None
            return "; ".join(f"{m}: LRDS {fmt(a, 3)}, SADS {fmt(b, 3)}" for m, a, b in zip(models, lrds, sads))
        if cid == "LF-7":
            sizes = d("key_sizes") or {}
            ordered = sorted(sizes.items(), key=lambda kv: (-(kv[1] or 0), kv[0]))
            return "key neurons " + ", ".join(f"{lang} {int(v or 0):,}" for lang, v in ordered) if ordered else None
        if cid == "LF-8":
            acc = d("accuracy") or {}
            revs = _revs(ctx, acc)
            return "; ".join(f"{rev_label(r)}: {pct(acc[r])}" for r in revs) or None
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, AttributeError):
        return None
    return None


# --------------------------------------------------------------------------------------------
# Sections


def _decision_line(record: dict) -> str:
    parts = []
    stat = record.get("statistic")
    if stat:
        parts.append(f"`{cell(stat)}` = {value_vs_control(record)}")
    elif record.get("value") is not None:
        parts.append(value_vs_control(record))
    if record.get("p_value") is not None:
        parts.append(f"p = {fmt_p(record['p_value'])}")
    ci = record.get("ci")
    if ci and len(ci) == 2:
        parts.append(f"CI [{fmt(ci[0])}, {fmt(ci[1])}]")
    if record.get("n") is not None:
        parts.append(f"n = {record['n']}")
    if not parts:
        return "—"
    rule = []
    if record.get("alternative"):
        rule.append(f"alternative: {record['alternative']}")
    if record.get("alpha") is not None:
        rule.append(f"α = {fmt(record['alpha'])}")
    if record.get("effect_size") is not None:
        rule.append(f"effect size {fmt(record['effect_size'], 3)}")
    if rule:
        parts.append("(" + ", ".join(rule) + ")")
    return " · ".join(parts)


def _figure_lines(ctx: ReportContext, cid: str, record: dict | None, outcomes: FigureOutcomes, embedded: set[str]) -> list[str]:
    specs = figures_for(cid)
    if not specs or ctx.ran(cid) is None:
        return []
    lines = []
    for spec in specs:
        if not outcomes.available:
            lines.append(f"*Figure ({spec.caption}) skipped: {outcomes.skipped_reason}.*")
        elif spec.name in outcomes.written:
            rel = outcomes.written[spec.name]
            if spec.name in embedded:
                lines.append(f"Figure: [{spec.caption}]({rel}) (shown above).")
            else:
                embedded.add(spec.name)
                lines.append(f"![{cell(spec.caption)}]({rel})")
        elif spec.name in outcomes.failed:
            lines.append(f"*Figure ({spec.caption}) not drawn: {cell(outcomes.failed[spec.name])}.*")
        else:
            lines.append(f"*Figure ({spec.caption}) not drawn: the recorded data lacks the keys it needs.*")
    return lines


def _lf_table1_lines(ctx: ReportContext, cid: str) -> list[str]:
    """LF Table 1's numbers beside ours, per language the run shares with the paper."""
    m, langs = ctx.data(cid, "ppl_increase"), ctx.data(cid, "languages")
    if not m or not langs:
        return []

    def at(key, i):
        values = ctx.data(cid, key)
        return values[i] if isinstance(values, list) and i < len(values) else None

    rows = ["| language | own-language increase: paper | ours | random 10 %: paper | ours | random same size: ours "
            "| key neurons: paper | ours |", "|---|---|---|---|---|---|---|---|"]
    for i, lang in enumerate(langs):
        in_paper = lang in LF_TABLE1["languages"]
        paper_diag = f"{LF_TABLE1['increase'][lang][lang]} %" if in_paper else "—"
        paper_rand = f"{LF_TABLE1['random_10pct'][lang]} %" if in_paper else "—"
        paper_keys = f"{LF_TABLE1['key_neurons'][lang]:,}" if in_paper else "—"
        ours_diag = pct(m[i][i], 1) if i < len(m) and i < len(m[i]) else "—"
        keys = at("key_sizes", i)
        rows.append(f"| {lang} ({language_name(lang)}) | {paper_diag} | {ours_diag} | {paper_rand} | {pct(at('random_10pct', i))} "
                    f"| {pct(at('random_same_size', i))} | {paper_keys} | {'—' if keys is None else f'{int(keys):,}'} |")
    return [
        f"Paper: LF Table 1, {LF_TABLE1['model']} (its random 10 % zeroes {LF_TABLE1['random_10pct_neurons']:,} neurons); "
        f"ours: {ctx.model}.",
        "",
        *rows,
    ]


def claim_section(ctx: ReportContext, cid: str, record: dict | None, outcomes: FigureOutcomes, embedded: set[str]) -> list[str]:
    entry = CATALOGUE.get(cid)
    record = record or {}
    lines = [f'<a id="{anchor(cid)}"></a>', "", f"### {cid} · {cell(title_of(cid, record))}", ""]
    verdict = record.get("verdict")
    lines.append(f"**Verdict: {verdict_text(record) if verdict else 'not run in this session'}**")
    if record.get("title") and entry and record["title"] != entry.short_title:
        lines[-1] += f" — test: “{cell(record['title'])}”"
    lines.append("")
    if entry:
        lines.append(f"> **Paper ({entry.paper}, {entry.paper_figure}, {entry.reference_model}):** {entry.statement}")
        lines.append("")
        lines.append(f"Tested as: {entry.test}")
        lines.append("")
        approx = " *(approx.: from the text, the authors' blog or third-party notes)*" if entry.approx else ""
        ours = ours_summary(ctx, cid) if ctx.ran(cid) else None
        lines += [
            f"| | paper ({entry.reference_model}) | this run ({cell(ctx.model)}) |",
            "|---|---|---|",
            f"| numbers | {cell(entry.reference)}{approx} | {cell(ours) if ours else '—'} |",
            f"| decision | — | {_decision_line(record) if ctx.ran(cid) else '—'} |",
            "",
        ]
    elif ctx.ran(cid):
        lines += [f"Decision: {_decision_line(record)}", ""]
    bullets = []
    checkpoints = record.get("checkpoints") or []
    if checkpoints:
        bullets.append("Checkpoints: " + ", ".join(f"{rev_label(c)} (`{c}`)" if rev_label(c) != c else f"`{c}`" for c in checkpoints))
    reason = (record.get("reason") or "").strip()
    if reason:
        label = "Reason skipped" if verdict == "skipped" else "Reason"
        bullets.append(f"{label}: {cell(reason)}")
    expected = record.get("expected")
    if expected and verdict != "skipped":
        if expected == verdict:
            bullets.append(f"Expected on this model: {expected} (a strict expected failure recorded in "
                           f"`claims/expectations/{cell(ctx.model)}.json`; the run fails if the claim starts to hold)")
        else:
            bullets.append(f"Expected on this model: {expected}, measured: {verdict}; the expectation needs revisiting")
    if record.get("duration_s") is not None:
        bullets.append(f"Test time: {fmt(record['duration_s'], 3)} s")
    lines += [f"- {b}" for b in bullets]
    if bullets:
        lines.append("")
    if cid == "LF-3a" and ctx.ran(cid):
        lines += _lf_table1_lines(ctx, cid) + [""]
    figure_lines = _figure_lines(ctx, cid, record, outcomes, embedded)
    for line in figure_lines:
        lines += [line, ""]
    return lines


_PROVENANCE_ORDER = (
    ("model", "model"),
    ("revision", "revision"),
    ("checkpoints", "checkpoints"),
    ("weights_sha256", "weights (sha256)"),
    ("data_sha256", "data (sha256)"),
    ("languages", "languages"),
    ("toy_seed", "toy seed"),
    ("seeds", "seeds"),
    ("device", "device"),
    ("dtype", "dtype"),
    ("versions", "versions"),
    ("git_commit", "git commit"),
    ("date", "date of the run"),
)


def _provenance_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict):
        if not value:
            return "—"
        return "<br>".join(f"{cell(k)}: `{cell(_provenance_value(v))}`" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value) if value else "—"
    return cell(fmt(value) if isinstance(value, float) else value)


def provenance_lines(ctx: ReportContext) -> list[str]:
    prov = dict(ctx.provenance)
    prov.setdefault("model", ctx.model)
    if ctx.checkpoints and not prov.get("checkpoints"):
        prov["checkpoints"] = ctx.checkpoints
    lines = ["## Provenance", "", "| | |", "|---|---|"]
    known = {key for key, _ in _PROVENANCE_ORDER}
    for key, label in _PROVENANCE_ORDER:
        if key in prov:
            value = prov[key]
            text = _provenance_value(value)
            if key in ("git_commit", "data_sha256") and isinstance(value, str):
                text = f"`{cell(value)}`"
            lines.append(f"| {label} | {text} |")
    for key in sorted(k for k in prov if k not in known):
        lines.append(f"| {cell(key)} | {_provenance_value(prov[key])} |")
    lines.append("")
    return lines


def build_markdown(payload: dict, outcomes: FigureOutcomes) -> str:
    ctx = ReportContext.from_payload(payload)
    ids = sorted(ctx.records, key=report_order)
    counts = {v: sum(1 for cid in ids if ctx.records[cid].get("verdict") == v) for v in ("supported", "not supported", "skipped")}
    expected_ns = sum(1 for cid in ids if ctx.records[cid].get("verdict") == "not supported"
                      and ctx.records[cid].get("expected") == "not supported")

    lines = [f"# Claims report: {cell(ctx.model)}", ""]
    meta = [f"Model **{cell(ctx.model)}**"]
    if ctx.checkpoints:
        meta.append("checkpoints " + ", ".join(rev_label(c) for c in ctx.checkpoints))
    if ctx.provenance.get("date"):
        meta.append(f"run of {cell(ctx.provenance['date'])}")
    lines += [" · ".join(meta) + ".", ""]
    summary = f"**{len(ids)} claims:** {counts['supported']} supported, {counts['not supported']} not supported"
    if expected_ns:
        summary += f" ({expected_ns} as expected for this model)"
    summary += f", {counts['skipped']} skipped."
    lines += [summary, ""]
    if outcomes.available:
        lines += [f"Figures: {len(outcomes.written)} written to `figures/`.", ""]
    else:
        lines += [f"Figures: skipped, {outcomes.skipped_reason}.", ""]
    lines += [f"Papers: **RF** = {PAPERS['RF']}; **LF** = {PAPERS['LF']}. The paper's numbers are for the model it names "
              "(RF: bloom-560m; LF: bloom-7b1), ours for the model above.", ""]

    lines += ["## Verdicts", "",
              "| id | claim | verdict | statistic | value vs control | p-value or CI | n |",
              "|---|---|---|---|---|---|---|"]
    for cid in ids:
        r = ctx.records[cid]
        lines.append(f"| [{cid}](#{anchor(cid)}) | {cell(title_of(cid, r))} | {cell(verdict_text(r))} | "
                     f"{cell(r.get('statistic') or '—')} | {value_vs_control(r)} | {evidence(r)} | {fmt(r.get('n'))} |")
    lines.append("")
    missing = [cid for cid in CATALOGUE if cid not in ctx.records]
    if missing:
        lines += ["Not run in this session: " + ", ".join(missing) + ".", ""]
    lines += ["“(expected)”: the verdict this model is known to give (`claims/expectations/`); "
              "value vs control: the claim's statistic and what it was compared with.", ""]

    embedded: set[str] = set()
    for paper in ("RF", "LF"):
        paper_ids = [cid for cid in ids if cid.startswith(paper + "-")]
        if not paper_ids:
            continue
        lines += [f"## {paper}: {PAPERS[paper]}", ""]
        for cid in paper_ids:
            lines += claim_section(ctx, cid, ctx.records[cid], outcomes, embedded)
    others = [cid for cid in ids if not (cid.startswith("RF-") or cid.startswith("LF-"))]
    if others:
        lines += ["## Other claims", ""]
        for cid in others:
            lines += claim_section(ctx, cid, ctx.records[cid], outcomes, embedded)

    lines += provenance_lines(ctx)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


__all__ = ["build_markdown", "claim_section", "ours_summary"]
