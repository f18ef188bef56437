"""The pytest side of the harness: options, claim fixtures, expectations and the claims report.

Loaded from the root ``conftest.py`` so that its options exist whatever folder is named on the
command line. Claims are declared with :func:`harness.claim_registry.claim` in ``claims/``; each
declaration is a test that asks the session fixture ``measurements`` (a
:class:`harness.measurements.Measurements`) for measurements, hands its outcome to
``record_claim`` and compares its verdict (supported, contradicted, inconclusive; or skipped) with
the model's expectation in ``claims/expectations/<model>.json``
(:func:`harness.claim_registry.judge_verdict`): the expected verdict of a claim that does not hold
is an expected failure, any other difference fails the run (a claim that starts to hold, flips
between contradicted and inconclusive, starts or stops being skipped), so every change of verdict is
noticed. The file's ``settings`` name what its verdicts were measured with; a run with other
settings is not compared with it (the terminal summary and the report say so).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.claim_registry import CLAIMS_DIR, ClaimOutcome, ClaimSpec, Expectation, numbers_to_data
from harness.errors import HarnessError
from harness.metrics import ALPHA
from harness.report.catalogue import CATALOGUE
from harness.report.records import ClaimRecord, to_jsonable, write_claims_json
from harness.run_options import csv

EXPECTATIONS_DIR = CLAIMS_DIR / "expectations"
_RECORDS = pytest.StashKey[dict]()
_MEASURE = pytest.StashKey[object]()
_EXPECT = pytest.StashKey["Expectations"]()


def pytest_addoption(parser):
    from harness.run_options import RUN_OPTIONS

    group = parser.getgroup("claims", "claims of multilingual-LM papers")
    for option in RUN_OPTIONS:  # shared with `python -m harness measure`
        group.addoption(option.flag, **option.kwargs)
    group.addoption("--report-dir", default="reports", help="where claims.json, claims.md and figures/ are written")
    group.addoption("--no-measurement-cache", action="store_true", help="recompute every measurement")


def pytest_configure(config):
    config.addinivalue_line("markers", "claim(id): the claim id of CLAIMS.md that a test asserts")
    config.stash[_RECORDS] = {}
    run_config(config)  # options refused together stop the run here, with one line


def run_config(config):
    """The run's RunConfig from the command line (``harness.run_options``: the options ``measure`` shares);
    a refused combination of options stops the run with one line."""
    from harness.run_options import RunOptionError, run_config_from

    try:
        return run_config_from(config.getoption, use_cache=not config.getoption("--no-measurement-cache"))
    except RunOptionError as error:
        raise pytest.UsageError(str(error)) from None


# ------------------------------------------------------------------------------------------------
# Expectations: claims/expectations/<model>.json


def expectations_path(model: str) -> Path:
    name = Path(model).name if Path(model).exists() else model.replace("/", "--")
    return EXPECTATIONS_DIR / f"{name}.json"


def _same(run: Any, expected: Any) -> bool:
    if isinstance(run, (list, tuple)) or isinstance(expected, (list, tuple)):
        return isinstance(run, (list, tuple)) and isinstance(expected, (list, tuple)) and list(run) == list(expected)
    if isinstance(run, float) or isinstance(expected, float):
        return isinstance(run, (int, float)) and isinstance(expected, (int, float)) and abs(run - expected) < 1e-12
    return run == expected


def settings_differences(run: dict, expected: dict) -> dict[str, dict]:
    """The settings of ``expected`` that the run knows and that differ: ``{name: {"run", "expected"}}``.

    ``toy_seeds`` (a list) matches a run's ``toy_seed`` in it; any other name matches the run's
    value of the same name. A setting the run does not know (absent from ``run``) is not compared.
    """
    differences = {}
    for name, value in expected.items():
        if name == "toy_seeds":
            seed = run.get("toy_seed")
            if seed is not None and seed not in (value or []):
                differences["toy_seed"] = {"run": seed, "expected": value}
        elif name in run and not _same(run[name], value):
            differences[name] = {"run": run[name], "expected": value}
    return differences


@dataclass
class Expectations:
    """A model's expectations file and whether it applies to this run (its settings match)."""

    path: Path
    claims: dict[str, dict] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    found: bool = False
    differences: dict[str, dict] = field(default_factory=dict)  # sticky: once a setting differs, never applies
    seed: int | None = None  # the run's toy seed (selects ``verdict_by_seed``)

    @classmethod
    def load(cls, model: str) -> "Expectations":
        path = expectations_path(model)
        if not path.exists():
            return cls(path)
        payload = json.loads(path.read_text())
        claims = payload.get("claims", {})
        for cid, entry in claims.items():
            for verdict in [entry.get("verdict")] + list((entry.get("verdict_by_seed") or {}).values()):
                Expectation(verdict, entry.get("reason", ""))  # refuses an unknown verdict
        return cls(path, claims=claims, settings=payload.get("settings") or {}, found=True)

    def check(self, run: dict) -> None:
        self.differences.update(settings_differences(run, self.settings))
        if run.get("toy_seed") is not None:
            self.seed = run["toy_seed"]

    @property
    def applies(self) -> bool:
        return self.found and not self.differences

    def expectation(self, cid: str) -> Expectation | None:
        entry = self.claims.get(cid) if self.applies else None
        if not entry:
            return None
        # a claim whose verdict differs between the measured toy seeds records one per seed
        by_seed = entry.get("verdict_by_seed") or {}
        verdict = by_seed.get(str(self.seed), entry.get("verdict")) if by_seed else entry["verdict"]
        return Expectation(verdict, entry.get("reason", ""))

    def to_record(self) -> dict | None:
        if not self.found:
            return None
        try:
            shown = str(self.path.relative_to(CLAIMS_DIR.parent))
        except ValueError:
            shown = str(self.path)
        return {"file": shown, "applies": self.applies, "differences": self.differences, "settings": self.settings}


def run_settings(config) -> dict:
    """What this run's verdicts depend on, as far as it is known now (see ``Expectations.check``).

    From the command line, and from the session's Measurements once it exists: the plan's checkpoint
    series and languages, and the default top-k of a held model.
    """
    opt = config.getoption
    model = opt("--model")
    settings: dict[str, Any] = {"model": model, "alpha": ALPHA}
    if model == "toy":
        settings["toy_seed"] = opt("--toy-seed")
    if opt("--checkpoints"):
        settings["checkpoints"] = list(csv(opt("--checkpoints")) or ())
    if opt("--languages"):
        settings["languages"] = list(csv(opt("--languages")) or ())
    if opt("--top-k"):
        settings["top_k"] = opt("--top-k")
    if opt("--generation-seeds"):
        settings["generation_seeds"] = opt("--generation-seeds")
    measurements: Any = config.stash.get(_MEASURE, None)
    if measurements is not None:
        plan = measurements.plan
        settings["checkpoints"], settings["languages"] = list(plan.series), list(plan.languages)
        if not opt("--generation-seeds") and plan.profile is not None:
            settings["generation_seeds"] = plan.profile.generation_seeds
        held = measurements.held_model
        if not opt("--top-k") and held is not None and held.name == model:
            from harness.measurements import default_top_k

            settings["top_k"] = default_top_k(held.site.n_units)
    return settings


def session_expectations(config) -> Expectations:
    """The run's expectations, checked against the settings known now."""
    expectations = config.stash.get(_EXPECT, None)
    if expectations is None:
        expectations = Expectations.load(config.getoption("--model"))
        config.stash[_EXPECT] = expectations
    if expectations.found:
        expectations.check(run_settings(config))
    return expectations


def claim_id(item) -> str | None:
    marker = item.get_closest_marker("claim")
    return marker.args[0] if marker and marker.args else None


@pytest.fixture(scope="session")
def measurements(request):
    """The session's Measurements; a bad --model/--revision stops the run with one line."""
    from harness.loading import resolve_source
    from harness.measurements import Measurements
    from harness.sites import check_saved_site

    cfg = run_config(request.config)
    try:
        source = resolve_source(cfg.model, cfg.revision, toy_seed=cfg.toy_seed)
        check_saved_site(source.weights, source.revision)  # no neuron site: stop before any claim
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
    """Record a declared claim's outcome for the report: ``record_claim(spec, outcome)`` → the record.

    The record's ``expected``/``expected_reason`` hold the model's expectation when it applies to
    the run; a decision with neither a p-value nor an interval is refused (``TypeError``).
    """
    started = time.perf_counter()

    def _record(spec: ClaimSpec, outcome: ClaimOutcome) -> ClaimRecord:
        from harness.claim_registry import require_evidence

        decision = outcome.decision
        require_evidence(spec.id, decision)
        expectation = session_expectations(request.config).expectation(spec.id)
        detail = decision.detail if isinstance(decision.detail, dict) else {}
        reason = outcome.reason or str(detail.get("reason", ""))
        if not reason and not decision.supported:
            reason = outcome.failure_message()
        entry = ClaimRecord(
            id=spec.id,
            title=claim_title(spec.id),
            verdict=decision.verdict,
            statistic=decision.statistic,
            value=decision.value,
            control=decision.control,
            p_value=decision.p_value,
            ci=list(decision.ci) if decision.ci is not None else None,
            n=decision.n,
            alternative=decision.alternative,
            alpha=decision.alpha,
            effect_size=decision.effect_size,
            p_value_opposite=decision.p_value_opposite,
            detectable_effect=decision.detectable_effect,
            reason=reason,
            checkpoints=[str(c) for c in outcome.checkpoints if c is not None],
            expected=expectation.verdict if expectation else None,
            expected_reason=expectation.reason if expectation else "",
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
    if cid and report.skipped and not hasattr(report, "wasxfail") and call.when in ("setup", "call"):
        records = item.config.stash[_RECORDS]
        if cid not in records:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            reason = reason.removeprefix("Skipped: ")
            expectation = session_expectations(item.config).expectation(cid)
            records[cid] = ClaimRecord(
                id=cid, title=claim_title(cid), verdict="skipped", reason=reason,
                expected=expectation.verdict if expectation else None,
                expected_reason=expectation.reason if expectation else "",
            )
            if expectation is not None and expectation.verdict != "skipped":
                # a claim that starts to be skipped must not go unnoticed
                report.outcome = "failed"
                report.longrepr = (f"{cid}: skipped ({reason}) but this model's expectation says "
                                   f"{expectation.verdict}: update the expectation or restore what the claim needs")
    return report


def write_claims(config, *, final: bool) -> bool:
    """Rewrite ``claims.json`` and ``claims.md`` from the claims recorded so far; False when none is.

    Called after every claim (``final=False``: no figures, and ``claims.md`` says the run has not
    finished) and once at the end of the session (``final=True``: the full report with figures).
    Both files are replaced atomically, so a run stopped at any point leaves a valid report of every
    claim that finished.
    """
    records = config.stash.get(_RECORDS, {})
    if not records:
        return False
    measurements = config.stash.get(_MEASURE, None)
    report_dir = Path(config.getoption("--report-dir"))
    provenance = measurements.provenance() if measurements is not None else {}
    if measurements is not None:  # 0 after `python -m harness measure` with the same options
        provenance["models_loaded"] = len(measurements.loads)
    write_claims_json(
        report_dir / "claims.json",
        model=config.getoption("--model"),
        checkpoints=list(provenance.get("checkpoints", [])),
        provenance=provenance,
        records=list(records.values()),
        expectations=session_expectations(config).to_record(),
    )
    try:
        if final:
            from harness.report import write_report

            write_report(report_dir)
        else:
            _write_partial_markdown(report_dir, len(records))
    except ImportError:
        pass
    return True


def _write_partial_markdown(report_dir: Path, n_claims: int) -> None:
    """``claims.md`` of the claims recorded so far, without figures (drawn when the run ends)."""
    from harness.cache import atomic_write_text
    from harness.report.figures import FigureOutcomes
    from harness.report.markdown import build_markdown

    payload = json.loads((report_dir / "claims.json").read_text(encoding="utf-8"))
    outcomes = FigureOutcomes(
        available=False,
        skipped_reason=f"the run had not finished when this report was written ({n_claims} claim(s) recorded); "
        "figures are drawn when it ends",
    )
    atomic_write_text(report_dir / "claims.md", build_markdown(payload, outcomes))


class _Terminal:
    """stderr past pytest's output capture: where a claim's progress bars go, so that each
    measurement stage shows its count and ETA in ``pytest claims/ -q`` runs."""

    def __init__(self, config):
        self.capture = config.pluginmanager.getplugin("capturemanager")

    def write(self, text: str) -> None:
        if self.capture is None:
            sys.stderr.write(text)
            sys.stderr.flush()
            return
        with self.capture.global_and_fixture_disabled():
            sys.stderr.write(text)
            sys.stderr.flush()

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return bool(sys.__stderr__ and sys.__stderr__.isatty())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A claim's progress bars reach the terminal; once it has finished, the report is rewritten."""
    if claim_id(item) is None:
        return (yield)
    from harness.extract import progress_to

    with progress_to(_Terminal(item.config)):
        result = yield
    write_claims(item.config, final=False)
    return result


def pytest_sessionfinish(session, exitstatus):
    write_claims(session.config, final=True)


_MARKUP = {"supported": {"green": True}, "contradicted": {"red": True}, "inconclusive": {"red": True},
           "skipped": {"yellow": True}}


def _evidence(r: ClaimRecord) -> str:
    if r.p_value is not None:
        return f"p={r.p_value:.2g}"
    if r.ci:
        return f"[{r.ci[0]:.3g}, {r.ci[1]:.3g}]"
    return ""


def _expectations_summary(expectations: Expectations) -> str:
    path = (expectations.to_record() or {}).get("file", str(expectations.path))
    if not expectations.found:
        return f"no expectations for this model ({path}): every claim must hold or be skipped"
    if expectations.applies:
        return f"* matches this model's recorded expectation ({path})"
    differences = "; ".join(f"{k}: run {v['run']}, expectations {v['expected']}"
                            for k, v in expectations.differences.items())
    return (f"the expectations in {path} do not apply: this run's settings differ ({differences}); "
            "no verdict was compared with them")


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
        as_expected = r.expected == r.verdict and r.verdict not in ("supported", "skipped")
        markup = {"yellow": True} if as_expected else _MARKUP.get(r.verdict, {})
        tr.write(f"{cid:<6} {title:<40} ")
        tr.write(f"{r.verdict + ('*' if as_expected else ''):<15}", **markup)
        tr.write_line(f" {value:>22} {_evidence(r):>20}")
        if r.reason and r.verdict != "supported":
            tr.write_line(f"{'':<6}   reason: {r.reason}")
        if r.verdict == "inconclusive" and r.detectable_effect is not None:
            tr.write_line(f"{'':<6}   detectable difference at this n (80 % power): {r.detectable_effect:.3g}")
    tr.write_line(", ".join(f"{counts[v]} {v}" for v in ("supported", "contradicted", "inconclusive", "skipped")
                            if counts.get(v)))
    tr.write_line(_expectations_summary(session_expectations(config)))
    report_dir = Path(config.getoption("--report-dir"))
    md = report_dir / "claims.md"
    where = (f"report: {md} (figures under {report_dir / 'figures'})" if md.exists()
             else f"report: {report_dir / 'claims.json'}")
    tr.write_line(where)
