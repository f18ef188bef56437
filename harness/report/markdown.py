"""``claims.md``: the verdict table, each claim beside the paper's statement and numbers, provenance.

Built only from ``claims.json`` (and the catalogue), so rebuilding it needs no model, and the
same ``claims.json`` always gives the same bytes: nothing here reads the clock or the machine.
"""

from __future__ import annotations

from typing import Any

from harness.claim_registry import figures_for, load_claims
from harness.report.catalogue import CATALOGUE, PAPERS
from harness.report.figures import FigureOutcomes, ReportContext, rev_label
from harness.report.text import cell, fmt, fmt_p


def claim_sort_key(claim_id: str) -> tuple:
    """As ``harness.report.records.claim_sort_key`` (not imported: records needs torch, the report does not)."""
    paper, _, rest = claim_id.partition("-")
    digits = "".join(ch for ch in rest if ch.isdigit())
    return (paper, int(digits) if digits else 0, rest)


# --------------------------------------------------------------------------------------------
# Formatting


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
# Our numbers, in the terms the paper states its own: each claim's declared summary


def ours_summary(ctx: ReportContext, cid: str) -> str | None:
    """One line of our measured numbers, from the claim's declared summary (None if none applies)."""
    recorded = ctx.recorded(cid)
    spec = load_claims().get(cid)
    if recorded is None or spec is None or spec.summary is None:
        return None
    return spec.summary(recorded)


# --------------------------------------------------------------------------------------------
# Sections


def _measured_parts(record: dict) -> list[str]:
    """Statistic = value vs control, p-value, interval and n, as recorded."""
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
    if record.get("verdict") == "contradicted" and record.get("p_value_opposite") is not None:
        parts.append(f"opposite direction p = {fmt_p(record['p_value_opposite'])}")
    if record.get("n") is not None:
        parts.append(f"n = {record['n']}")
    return parts


def _rule_part(record: dict) -> str | None:
    """``(alternative: …, α = …, effect size …)`` where recorded."""
    rule = []
    if record.get("alternative"):
        rule.append(f"alternative: {record['alternative']}")
    if record.get("alpha") is not None:
        rule.append(f"α = {fmt(record['alpha'])}")
    if record.get("effect_size") is not None:
        rule.append(f"effect size {fmt(record['effect_size'], 3)}")
    return "(" + ", ".join(rule) + ")" if rule else None


def _decision_line(record: dict) -> str:
    parts = _measured_parts(record)
    if not parts:
        return "—"
    rule = _rule_part(record)
    return " · ".join(parts + ([rule] if rule else []))


def _figure_lines(ctx: ReportContext, cid: str, outcomes: FigureOutcomes, embedded: set[str]) -> list[str]:
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


def _heading_lines(cid: str, record: dict, entry) -> list[str]:
    lines = [f'<a id="{anchor(cid)}"></a>', "", f"### {cid} · {cell(title_of(cid, record))}", ""]
    verdict = record.get("verdict")
    lines.append(f"**Verdict: {verdict_text(record) if verdict else 'not run in this session'}**")
    if record.get("title") and entry and record["title"] != entry.short_title:
        lines[-1] += f" — test: “{cell(record['title'])}”"
    return lines + [""]


def _paper_lines(ctx: ReportContext, cid: str, record: dict, entry) -> list[str]:
    """The paper's statement and numbers beside ours (catalogued claims), or ours alone."""
    ran = ctx.ran(cid) is not None
    ours = ours_summary(ctx, cid) if ran else None
    if entry is None:
        if not ran:
            return []
        return ([f"Ours: {cell(ours)}", ""] if ours else []) + [f"Decision: {_decision_line(record)}", ""]
    approx = " *(approx.: from the text, the authors' blog or third-party notes)*" if entry.approx else ""
    return [
        f"> **Paper ({entry.paper}, {entry.paper_figure}, {entry.reference_model}):** {entry.statement}",
        "",
        f"Tested as: {entry.test}",
        "",
        f"| | paper ({entry.reference_model}) | this run ({cell(ctx.model)}) |",
        "|---|---|---|",
        f"| numbers | {cell(entry.reference)}{approx} | {cell(ours) if ours else '—'} |",
        f"| decision | — | {_decision_line(record) if ran else '—'} |",
        "",
    ]


def _expectation_bullet(ctx: ReportContext, record: dict) -> str | None:
    expected, verdict = record.get("expected"), record.get("verdict")
    if not expected or expected == verdict == "skipped" or expected == verdict == "supported":
        return None
    if expected == verdict:
        return (f"Expected on this model: {expected} (recorded in `claims/expectations/{cell(ctx.model)}.json`; "
                "the run fails if the verdict changes)")
    return (f"Expected on this model: {expected}, measured: {verdict}; the run fails until the expectation "
            "is updated")


def _detectable_bullet(record: dict) -> str | None:
    """For an inconclusive claim: the smallest difference its test detects with 80 % power at this n."""
    effect = record.get("detectable_effect")
    if record.get("verdict") != "inconclusive" or effect is None:
        return None
    return (f"Smallest difference detectable at this sample size (80 % power, α = {fmt(record.get('alpha'))}): "
            f"about {fmt(effect)}")


def _bullet_lines(ctx: ReportContext, record: dict) -> list[str]:
    """Checkpoints, reason, expectation and test time, as a list."""
    bullets = []
    checkpoints = record.get("checkpoints") or []
    if checkpoints:
        bullets.append("Checkpoints: " + ", ".join(
            f"{rev_label(c)} (`{c}`)" if rev_label(c) != c else f"`{c}`" for c in checkpoints))
    reason = (record.get("reason") or "").strip()
    if reason:
        label = "Reason skipped" if record.get("verdict") == "skipped" else "Reason"
        bullets.append(f"{label}: {cell(reason)}")
    for extra in (_detectable_bullet(record), _expectation_bullet(ctx, record)):
        if extra:
            bullets.append(extra)
    if record.get("duration_s") is not None:
        bullets.append(f"Test time: {fmt(record['duration_s'], 3)} s")
    return [f"- {b}" for b in bullets] + ([""] if bullets else [])


def _table_lines(ctx: ReportContext, cid: str) -> list[str]:
    """The claim's declared extra table (e.g. LF-3a beside LF Table 1), where it has one and ran."""
    spec = load_claims().get(cid)
    recorded = ctx.recorded(cid) if spec is not None and spec.table is not None else None
    if spec is None or spec.table is None or recorded is None:
        return []
    return spec.table(recorded) + [""]


def claim_section(ctx: ReportContext, cid: str, record: dict | None, outcomes: FigureOutcomes,
                  embedded: set[str]) -> list[str]:
    entry = CATALOGUE.get(cid)
    record = record or {}
    lines = _heading_lines(cid, record, entry) + _paper_lines(ctx, cid, record, entry)
    lines += _bullet_lines(ctx, record) + _table_lines(ctx, cid)
    for line in _figure_lines(ctx, cid, outcomes, embedded):
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


#: the verdicts counted in the header, in this order
COUNTED = ("supported", "contradicted", "inconclusive", "skipped")


def verdict_counts(records: dict[str, dict], ids: list[str]) -> str:
    """"3 supported, 1 contradicted, 2 inconclusive (2 as expected for this model), 1 skipped"."""
    parts = []
    for verdict in COUNTED:
        group = [cid for cid in ids if records[cid].get("verdict") == verdict]
        expected = sum(1 for cid in group if records[cid].get("expected") == verdict)
        text = f"{len(group)} {verdict}"
        if expected and verdict not in ("supported", "skipped"):
            text += f" ({expected} as expected for this model)"
        parts.append(text)
    other = [cid for cid in ids if records[cid].get("verdict") not in COUNTED]
    if other:
        parts.append(f"{len(other)} with another verdict ({', '.join(other)})")
    return ", ".join(parts)


def expectations_line(payload: dict) -> str | None:
    """Whether the model's expectations file applied to this run (None when the run recorded nothing)."""
    info = payload.get("expectations")
    if not isinstance(info, dict) or not info.get("file"):
        return None
    if info.get("applies"):
        return (f"Expectations: `{cell(info['file'])}` applies (the run's settings match those it was measured "
                "with); “(expected)” marks a verdict it records.")
    differences = info.get("differences") or {}
    diff = "; ".join(f"{cell(k)}: run {cell(_provenance_value(v.get('run')))}, expectations "
                     f"{cell(_provenance_value(v.get('expected')))}" for k, v in differences.items()
                     if isinstance(v, dict))
    return (f"Expectations: `{cell(info['file'])}` does **not** apply: this run's settings differ from those its "
            f"verdicts were measured with ({diff or 'settings not recorded'}); no verdict is compared with it.")


def _header_lines(ctx: ReportContext, ids: list[str], outcomes: FigureOutcomes, payload: dict) -> list[str]:
    """Title, run line, verdict counts, expectations, figures and the papers."""
    meta = [f"Model **{cell(ctx.model)}**"]
    if ctx.checkpoints:
        meta.append("checkpoints " + ", ".join(rev_label(c) for c in ctx.checkpoints))
    if ctx.provenance.get("date"):
        meta.append(f"run of {cell(ctx.provenance['date'])}")
    summary = f"**{len(ids)} claims:** {verdict_counts(ctx.records, ids)}."
    expectations = expectations_line(payload)
    figures = (f"Figures: {len(outcomes.written)} written to `figures/`." if outcomes.available
               else f"Figures: skipped, {outcomes.skipped_reason}.")
    papers = (f"Papers: **RF** = {PAPERS['RF']}; **LF** = {PAPERS['LF']}. The paper's numbers are for the model it "
              "names (RF: bloom-560m; LF: bloom-7b1), ours for the model above.")
    return ([f"# Claims report: {cell(ctx.model)}", "", " · ".join(meta) + ".", "", summary, ""]
            + ([expectations, ""] if expectations else []) + [figures, "", papers, ""])


def _verdict_lines(ctx: ReportContext, ids: list[str]) -> list[str]:
    lines = ["## Verdicts", "",
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
    return lines + ["Verdicts: *supported* — the claimed direction is significant at α; *contradicted* — the "
                    "opposite direction is significant at the same α; *inconclusive* — neither (see each claim's "
                    "reason and, where known, the smallest difference its test could detect). "
                    "“(expected)”: the verdict this model is known to give (`claims/expectations/`); "
                    "value vs control: the claim's statistic and what it was compared with.", ""]


def _section_lines(ctx: ReportContext, ids: list[str], outcomes: FigureOutcomes) -> list[str]:
    """One section per paper (RF, LF), then any other claims."""
    embedded: set[str] = set()
    groups = [(f"## {paper}: {PAPERS[paper]}", [cid for cid in ids if cid.startswith(paper + "-")])
              for paper in ("RF", "LF")]
    groups.append(("## Other claims", [cid for cid in ids if not cid.startswith(("RF-", "LF-"))]))
    lines: list[str] = []
    for heading, group in groups:
        if group:
            lines += [heading, ""]
            for cid in group:
                lines += claim_section(ctx, cid, ctx.records[cid], outcomes, embedded)
    return lines


def build_markdown(payload: dict, outcomes: FigureOutcomes) -> str:
    ctx = ReportContext.from_payload(payload)
    ids = sorted(ctx.records, key=report_order)
    lines = _header_lines(ctx, ids, outcomes, payload) + _verdict_lines(ctx, ids) + _section_lines(ctx, ids, outcomes)
    lines += provenance_lines(ctx)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


__all__ = ["build_markdown", "claim_section", "ours_summary"]
