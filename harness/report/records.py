"""Claim records: what each claim test measured and decided, as written to ``claims.json``.

Report contract (issues 5–7, 14): ``claims.json`` holds ``model``, ``checkpoints``, ``provenance``,
``expectations`` (which ``claims/expectations`` file applied to the run, or why none did) and
``claims``, a list of objects with ``id``, ``title``, ``verdict`` (:data:`VERDICTS`: "supported",
"contradicted" — the opposite of the claim is significant —, "inconclusive" — neither — or
"skipped"), ``statistic``, ``value``, ``control``, ``p_value`` and/or ``ci``, ``p_value_opposite``,
``detectable_effect`` (the smallest difference the test detects with 80 % power, where known), ``n``
and ``reason``; ``data`` holds the numbers the figures are drawn from, so the report can be rebuilt
without a model.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.cache import atomic_write_text

VERDICTS = ("supported", "contradicted", "inconclusive", "skipped")


def to_jsonable(value: Any) -> Any:
    """Numbers, arrays and tensors as plain JSON values; NaN and infinity as null."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    return value


@dataclass
class ClaimRecord:
    id: str
    title: str
    verdict: str
    statistic: str | None = None
    value: float | None = None
    control: float | None = None
    p_value: float | None = None
    ci: list[float] | None = None
    n: int | None = None
    alternative: str | None = None
    alpha: float | None = None
    effect_size: float | None = None
    p_value_opposite: float | None = None  # p-value of the opposite one-sided statement, where the test has one
    detectable_effect: float | None = None  # smallest difference detectable (80 % power) at this n, where known
    reason: str = ""
    checkpoints: list[str] = field(default_factory=list)
    expected: str | None = None  # the per-model expected verdict, when the expectations apply to the run
    expected_reason: str = ""  # the expectation's recorded reason
    data: dict[str, Any] = field(default_factory=dict)
    duration_s: float | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def to_dict(self) -> dict:
        return to_jsonable(asdict(self))


def write_claims_json(
    path: Path,
    *,
    model: str,
    checkpoints: list[str],
    provenance: dict,
    records: list[ClaimRecord],
    expectations: dict | None = None,
) -> None:
    """``expectations``: ``{"file", "applies", "differences"}`` (see ``harness.pytest_plugin``), or None."""
    payload = {
        "model": model,
        "checkpoints": list(checkpoints),
        "provenance": to_jsonable(provenance),
        "expectations": to_jsonable(expectations),
        "claims": [r.to_dict() for r in sorted(records, key=lambda r: claim_sort_key(r.id))],
    }
    atomic_write_text(Path(path), json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def claim_sort_key(claim_id: str) -> tuple:
    paper, _, rest = claim_id.partition("-")
    digits = "".join(ch for ch in rest if ch.isdigit())
    return (paper, int(digits) if digits else 0, rest)


def read_claims_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
