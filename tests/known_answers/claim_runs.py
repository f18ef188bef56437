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
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.claim_registry import load_claims

ROOT = Path(__file__).resolve().parents[2]
CLAIMS_DIR = ROOT / "claims"


@dataclass(frozen=True)
class ClaimRun:
    """The verdicts of one ``pytest claims/`` run, and its output for the failure message."""

    verdicts: dict[str, str]
    records: dict[str, dict]
    output: str
    cpu_s: float  # user + system CPU seconds of the run's process (its cost, whatever else shares the machine)

    def verdict(self, claim_id: str) -> str:
        if claim_id not in self.verdicts:
            raise AssertionError(f"{claim_id} has no record in claims.json; the run said:\n{self.output[-4000:]}")
        return self.verdicts[claim_id]

    def explain(self, claim_id: str) -> str:
        record = self.records.get(claim_id, {})
        return f"{claim_id}: {record.get('verdict')} — {record.get('reason')}"


def run_claims(
    model: Path, claim_ids: Sequence[str], report_dir: Path, *, options: Sequence[str] = (), timeout: int = 3600
) -> ClaimRun:
    """``pytest claims/ --model model -k <the claims' tests> <options>``, in a fresh process."""
    registry = load_claims(CLAIMS_DIR)
    unknown = [cid for cid in claim_ids if cid not in registry]
    if unknown:
        raise ValueError(f"unknown claim ids {unknown}")
    selection = " or ".join(registry[cid].test_name for cid in claim_ids)
    command = [
        sys.executable, "-m", "pytest", str(CLAIMS_DIR), "-q", "-p", "no:cacheprovider",
        "--model", str(model), "-k", selection, "--report-dir", str(report_dir), "--no-measurement-cache",
        "--device", "cpu", "--dtype", "float32", *options,
    ]
    # PASSIVE: idle OpenMP threads sleep instead of spinning, which on a shared 2-core machine made
    # torch ~10× slower than one thread
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = done.stdout + done.stderr
    report = report_dir / "claims.json"
    if not report.exists():
        raise AssertionError(f"no claims.json from {' '.join(command)}:\n{output[-6000:]}")
    records = {c["id"]: c for c in json.loads(report.read_text())["claims"]}
    return ClaimRun({cid: r["verdict"] for cid, r in records.items()}, records, output, cpu_s)
