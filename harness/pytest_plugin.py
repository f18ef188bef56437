"""The pytest side of the harness: options, claim fixtures, expectations and the claims report.

Loaded from the root ``conftest.py`` so that its options exist whatever folder is named on the
command line. Claims are declared with :func:`harness.claim_registry.claim` in ``claims/``; each
declaration is a test that asks the session fixture ``measurements`` (a
:class:`harness.measurements.Measurements`) for measurements, hands its outcome to
``record_claim`` and raises :class:`~harness.claim_registry.ClaimNotSupported` when the decision
fails. Where a model is known not to reproduce a claim, ``claims/expectations/<model>.json`` turns
that failure (and only that one) into a strict expected failure: a claim that starts to hold fails
the run, so every change of verdict is noticed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.claim_registry import CLAIMS_DIR, ClaimNotSupported, ClaimOutcome, ClaimSpec, numbers_to_data
from harness.errors import HarnessError
from harness.report.catalogue import CATALOGUE
from harness.report.records import ClaimRecord, to_jsonable, write_claims_json

EXPECTATIONS_DIR = CLAIMS_DIR / "expectations"
_RECORDS = pytest.StashKey[dict]()
_MEASURE = pytest.StashKey[object]()


def _csv(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def pytest_addoption(parser):
    group = parser.getgroup("claims", "claims of multilingual-LM papers")
    group.addoption("--model", default="toy", help="toy (default), bloom-560m … bloom-7b1, a hub id, or a local folder")
    group.addoption(
        "--revision", default=None, help="checkpoint for single-checkpoint claims (e.g. global_step10000, step256)"
    )
    group.addoption(
        "--checkpoints", default=None, help="comma-separated checkpoint series for trend claims, earliest first"
    )
    group.addoption("--models", default=None, help="comma-separated model family, smallest first, for the scale claims")
    group.addoption("--languages", default=None, help="comma-separated evaluation languages (default: the model's)")
    group.addoption("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 …")
    group.addoption("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, float16")
    group.addoption("--toy-seed", type=int, default=0, help="training seed of the toy model")
    group.addoption(
        "--top-k", type=int, default=None, help="k of the top-k expert neurons (default: 500/98,304 of the units)"
    )
    group.addoption(
        "--generation-seeds", type=int, default=None, help="samples per steering condition (default per model)"
    )
    group.addoption("--data", default=None, help="folder with optional data (XStoryCloze JSONL for LF-8)")
    group.addoption("--report-dir", default="reports", help="where claims.json, claims.md and figures/ are written")
    group.addoption("--no-measurement-cache", action="store_true", help="recompute every measurement")


def pytest_configure(config):
    config.addinivalue_line("markers", "claim(id): the claim id of CLAIMS.md that a test asserts")
    config.stash[_RECORDS] = {}


def run_config(config):
    from harness.measurements import RunConfig

    opt = config.getoption
    data = opt("--data")
    return RunConfig(
        model=opt("--model"),
        revision=opt("--revision"),
        checkpoints=_csv(opt("--checkpoints")),
        models=_csv(opt("--models")),
        languages=_csv(opt("--languages")),
        device=opt("--device"),
        dtype=opt("--dtype"),
        toy_seed=opt("--toy-seed"),
        k=opt("--top-k"),
        generation_seeds=opt("--generation-seeds"),
        data_dir=Path(data) if data else None,
        use_cache=not opt("--no-measurement-cache"),
    )


def load_expectations(model: str) -> dict:
    """Per-model expected verdicts: ``{claim_id: {"verdict": ..., "reason": ...}}``."""
    name = Path(model).name if Path(model).exists() else model.replace("/", "--")
    path = EXPECTATIONS_DIR / f"{name}.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text()).get("claims", {})


def claim_id(item) -> str | None:
    marker = item.get_closest_marker("claim")
    return marker.args[0] if marker and marker.args else None


def pytest_collection_modifyitems(config, items):
    expectations = load_expectations(config.getoption("--model"))
    for item in items:
        cid = claim_id(item)
        expected = expectations.get(cid) if cid else None
        if expected and expected.get("verdict") == "not supported":
            item.add_marker(pytest.mark.xfail(
                strict=True, raises=ClaimNotSupported, reason=f"expected on this model: {expected.get('reason', '')}"
            ))


@pytest.fixture(scope="session")
def measurements(request):
    """The session's Measurements; a bad --model/--revision stops the run with one line."""
    from harness.loading import resolve_source
    from harness.measurements import Measurements

    cfg = run_config(request.config)
    try:
        resolve_source(cfg.model, cfg.revision, toy_seed=cfg.toy_seed)
        session_measurements = Measurements(cfg)
        session_measurements.plan  # validates --languages against the data (raises UnknownLanguageError)
    except HarnessError as error:
        pytest.exit(f"error: {error}", returncode=4)
    request.config.stash[_MEASURE] = session_measurements
    return session_measurements


def claim_title(cid: str) -> str:
    """The claim's title: the catalogue's, for ids outside it the id itself."""
    entry = CATALOGUE.get(cid)
    return entry.title if entry and entry.title else cid


@pytest.fixture
def record_claim(request):
    """Record a declared claim's outcome for the report: ``record_claim(spec, outcome)``."""
    expectations = load_expectations(request.config.getoption("--model"))
    started = time.perf_counter()

    def _record(spec: ClaimSpec, outcome: ClaimOutcome) -> ClaimRecord:
        decision = outcome.decision
        detail = decision.detail if isinstance(decision.detail, dict) else {}
        entry = ClaimRecord(
            id=spec.id,
            title=claim_title(spec.id),
            verdict="supported" if decision.supported else "not supported",
            statistic=decision.statistic,
            value=decision.value,
            control=decision.control,
            p_value=decision.p_value,
            ci=list(decision.ci) if decision.ci is not None else None,
            n=decision.n,
            alternative=decision.alternative,
            alpha=decision.alpha,
            effect_size=decision.effect_size,
            reason=outcome.reason or str(detail.get("reason", "")),
            checkpoints=[str(c) for c in outcome.checkpoints if c is not None],
            expected=(expectations.get(spec.id) or {}).get("verdict"),
            data=to_jsonable({**numbers_to_data(outcome.numbers), "decision_detail": detail}),
            duration_s=round(time.perf_counter() - started, 2),
        )
        request.config.stash[_RECORDS][spec.id] = entry
        return entry

    return _record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    cid = claim_id(item)
    if cid and report.skipped and call.when in ("setup", "call"):
        records = item.config.stash[_RECORDS]
        if cid not in records:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            records[cid] = ClaimRecord(
                id=cid, title=claim_title(cid), verdict="skipped", reason=reason.removeprefix("Skipped: ")
            )
    return report


def pytest_sessionfinish(session, exitstatus):
    records = session.config.stash.get(_RECORDS, {})
    if not records:
        return
    measurements = session.config.stash.get(_MEASURE, None)
    report_dir = Path(session.config.getoption("--report-dir"))
    provenance = measurements.provenance() if measurements is not None else {}
    write_claims_json(
        report_dir / "claims.json",
        model=session.config.getoption("--model"),
        checkpoints=list(provenance.get("checkpoints", [])),
        provenance=provenance,
        records=list(records.values()),
    )
    try:
        from harness.report import write_report
    except ImportError:
        return
    write_report(report_dir)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    records = config.stash.get(_RECORDS, {})
    if not records:
        return
    from harness.report.catalogue import CATALOGUE, short_title

    def order(cid: str) -> tuple:  # RF before LF, as in the catalogue
        from harness.report.records import claim_sort_key

        ids = list(CATALOGUE)
        return (0, ids.index(cid), ()) if cid in CATALOGUE else (1, 0, claim_sort_key(cid))

    def num(value) -> str:
        return "" if value is None else f"{value:.4g}"

    tr = terminalreporter
    tr.section("claims")
    tr.write_line(f"{'id':<6} {'claim':<40} {'verdict':<15} {'value vs control':>22} {'p / CI':>20}")
    counts: dict[str, int] = {}
    for cid in sorted(records, key=order):
        r = records[cid]
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
        title = short_title(cid, r.title)
        title = title if len(title) <= 40 else title[:39] + "…"
        value = num(r.value) + (f" vs {num(r.control)}" if r.control is not None else "")
        if r.p_value is not None:
            evidence = f"p={r.p_value:.2g}"
        elif r.ci:
            evidence = f"[{r.ci[0]:.3g}, {r.ci[1]:.3g}]"
        else:
            evidence = ""
        verdict = r.verdict + ("*" if r.expected and r.expected == r.verdict and r.verdict != "supported" else "")
        expected_failure = verdict.endswith("*")
        markup = {"supported": {"green": True},
                  "not supported": {"yellow": True} if expected_failure else {"red": True},
                  "skipped": {"yellow": True}}.get(r.verdict, {})
        tr.write(f"{cid:<6} {title:<40} ")
        tr.write(f"{verdict:<15}", **markup)
        tr.write_line(f" {value:>22} {evidence:>20}")
        if r.reason and r.verdict != "supported":
            tr.write_line(f"{'':<6}   reason: {r.reason}")
    tr.write_line(", ".join(f"{counts[v]} {v}" for v in ("supported", "not supported", "skipped") if counts.get(v)))
    tr.write_line("* matches this model's recorded expectation (claims/expectations)")
    report_dir = Path(config.getoption("--report-dir"))
    md = report_dir / "claims.md"
    where = (f"report: {md} (figures under {report_dir / 'figures'})" if md.exists()
             else f"report: {report_dir / 'claims.json'}")
    tr.write_line(where)
