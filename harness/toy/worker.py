"""Training in a child process whose OpenMP threads sleep instead of spinning while they wait.

libgomp reads ``OMP_WAIT_POLICY`` once, when torch loads it, so a process cannot change it for
itself. On cores that other processes keep busy, spinning threads make each op wait for a
descheduled partner: the toy trained at ~260 tokens/s with 2 threads there, against ~4,800 with
``OMP_WAIT_POLICY=PASSIVE`` (bit-identical weights; the policy changes waiting, not arithmetic).
:func:`harness.toy.store.ensure_toy` therefore trains here when the machine is busy and the
policy is not already passive; on an idle machine it trains in-process, where spinning is fastest.

The child runs :func:`main` with ``RECIPE_JSON OUT_DIR SEED [--quiet]`` (internal).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.errors import HarnessError

from .recipe import ToyRecipe

_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
_CHILD = "import sys; from harness.toy.worker import main; sys.exit(main())"


def machine_is_busy(threads: int) -> bool:
    """More runnable work than cores (1-minute load average), while we want several threads."""
    if threads <= 1 or os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        return False
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average on this platform
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return load > cores


def train_in_child(recipe: ToyRecipe, out_dir: Path, seed: int, progress: bool) -> None:
    """``train_toy(recipe, out_dir, seed)`` in a child process with passive OpenMP waiting."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_PARENT), env.get("PYTHONPATH", "")) if p)
    fd, recipe_path = tempfile.mkstemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".recipe.json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(recipe.to_dict(), handle)
        # -c rather than -m: the package imports this module, and runpy warns about re-running it
        cmd = [sys.executable, "-c", _CHILD, recipe_path, str(out_dir), str(seed)]
        if not progress:
            cmd.append("--quiet")
        result = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=None if progress else subprocess.PIPE)
    finally:
        os.unlink(recipe_path)
    if result.returncode != 0:
        detail = (result.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] if not progress else []
        raise HarnessError(
            f"toy training failed in its worker process (exit status {result.returncode})"
            + (f": {detail[0]}" if detail else "; see its output above")
        )


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    quiet = "--quiet" in args
    args = [a for a in args if a != "--quiet"]
    if len(args) != 3:
        print("usage: harness.toy.worker.main RECIPE_JSON OUT_DIR SEED [--quiet]", file=sys.stderr)
        return 2
    from .train import train_toy

    recipe = ToyRecipe.from_dict(json.loads(Path(args[0]).read_text(encoding="utf-8")))
    train_toy(recipe, Path(args[1]), int(args[2]), progress=not quiet)
    return 0

