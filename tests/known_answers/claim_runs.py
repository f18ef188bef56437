"""Run claims the way a user does (``pytest claims/ --model <folder>``) and read their verdicts back.

The known answers must go through the real path: option parsing, the run plan, loading from a
folder, the measurement core and the claim's own decision. So each run is a separate pytest
process on the claims folder, selected with ``-k`` by the claims' test names, and the verdicts are
read from the ``claims.json`` it writes. A run on a planted model typically fails (claims that are
not supported fail their test); the exit status is therefore not the answer, the report is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.claim_registry import load_claims

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from claims_process import ROOT, claims_command, offline_env  # noqa: E402

CLAIMS_DIR = ROOT / "claims"


@dataclass(frozen=True)
class ClaimRun:
    """The verdicts of one ``pytest claims/`` run, and its output for the failure message."""

    verdicts: dict[str, str]
    records: dict[str, dict]
    output: str
    cpu_s: float  # user + system CPU seconds of the run's process and its children (its cost, whatever else
    # shares the machine)

    def verdict(self, claim_id: str) -> str:
        if claim_id not in self.verdicts:
            raise AssertionError(f"{claim_id} has no record in claims.json; the run said:\n{self.output[-4000:]}")
        return self.verdicts[claim_id]

    def explain(self, claim_id: str) -> str:
        record = self.records.get(claim_id, {})
        return f"{claim_id}: {record.get('verdict')} — {record.get('reason')}"


class PendingClaimRun:
    """A ``pytest claims/`` process started by :func:`start_claims`; :meth:`result` waits for it."""

    def __init__(self, command: list[str], report_dir: Path, timeout: float):
        self.command, self.report_dir, self.deadline = command, report_dir, time.monotonic() + timeout
        report_dir.mkdir(parents=True, exist_ok=True)
        self.log = report_dir.parent / f"{report_dir.name}.log"
        # PASSIVE: idle OpenMP threads sleep instead of spinning, which on a shared 2-core machine made
        # torch ~10× slower than one thread
        env = offline_env(one_thread=False)
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        with open(self.log, "wb") as out:  # a file, not a pipe: several runs may be waited for in any order
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self._result: ClaimRun | None = None

    def result(self) -> ClaimRun:
        """The run's verdicts (waits for the process; kills it past its timeout)."""
        if self._result is None:
            self._result = self._wait()
        return self._result

    def _wait(self) -> ClaimRun:
        pid = self.process.pid
        while True:
            # wait4: this child's own CPU time (RUSAGE_CHILDREN would mix runs that overlap)
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > self.deadline:
                self.process.kill()
                done, status, usage = os.wait4(pid, 0)
                raise AssertionError(f"timed out: {' '.join(self.command)}\n{self._output()[-4000:]}")
            time.sleep(0.2)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        output = self._output()
        report = self.report_dir / "claims.json"
        if not report.exists():
            raise AssertionError(f"no claims.json from {' '.join(self.command)}:\n{output[-6000:]}")
        records = {c["id"]: c for c in json.loads(report.read_text())["claims"]}
        return ClaimRun({cid: r["verdict"] for cid, r in records.items()}, records, output,
                        usage.ru_utime + usage.ru_stime)

    def stop(self) -> None:
        """Kill the process if it is still running (a session that ends before asking for the result)."""
        if self._result is None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _output(self) -> str:
        return self.log.read_text(errors="replace")


def start_claims(
    model: Path, claim_ids: Sequence[str], report_dir: Path, *, options: Sequence[str] = (), timeout: int = 3600
) -> PendingClaimRun:
    """Start ``pytest claims/ --model model -k <the claims' tests> <options>`` in a fresh process."""
    registry = load_claims(CLAIMS_DIR)
    unknown = [cid for cid in claim_ids if cid not in registry]
    if unknown:
        raise ValueError(f"unknown claim ids {unknown}")
    selection = " or ".join(registry[cid].test_name for cid in claim_ids)
    command = claims_command(model, report_dir, "-k", selection, "--device", "cpu", "--dtype", "float32", *options)
    return PendingClaimRun(command, report_dir, timeout)


def run_claims(
    model: Path, claim_ids: Sequence[str], report_dir: Path, *, options: Sequence[str] = (), timeout: int = 3600
) -> ClaimRun:
    """``pytest claims/ --model model -k <the claims' tests> <options>``, in a fresh process, waited for."""
    return start_claims(model, claim_ids, report_dir, options=options, timeout=timeout).result()
