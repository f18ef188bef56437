"""``pytest claims/`` in a subprocess, as a user runs it: the environment and the command the tests share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def offline_env(*, one_thread: bool = True, **extra: str) -> dict[str, str]:
    """This environment without the hub, plus ``extra``. ``one_thread``: one intra-op thread (tiny models
    gain nothing from more, and idle OpenMP threads that spin cost up to 4× the CPU on a shared machine)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if one_thread:
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return {**env, **extra}


def claims_command(model: Path | str, report_dir: Path, *options: str) -> list[str]:
    """``pytest claims/ --model <model>`` offline, without the measurement cache, reporting to ``report_dir``."""
    return [sys.executable, "-m", "pytest", str(ROOT / "claims"), "-p", "no:cacheprovider", "-q",
            "--model", str(model), "--report-dir", str(report_dir), "--no-measurement-cache", *options]


def run_claims_offline(model: Path | str, report_dir: Path, *options: str, timeout: int = 600,
                       **env: str) -> subprocess.CompletedProcess:
    """:func:`claims_command` run to the end in one thread, its output captured."""
    return subprocess.run(claims_command(model, report_dir, *options), cwd=ROOT, env=offline_env(**env),
                          capture_output=True, text=True, timeout=timeout)
