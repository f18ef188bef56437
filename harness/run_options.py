"""The run options shared by ``pytest claims/`` and ``python -m harness measure``: one table, one RunConfig.

Each :class:`RunOption` is added to pytest's option group (``harness.pytest_plugin``) and to the
``measure`` subcommand's argparse parser (``harness.scale_out``) with the same flag, type, default and
help; :func:`run_config_from` builds the :class:`~harness.run_plan.RunConfig` from either (a function
that returns an option's value by its flag). A value refused by its type gives argparse's one-line
``error: argument --flag: …``; a combination refused here raises :class:`RunOptionError`.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.errors import HarnessError
from harness.run_plan import RunConfig

__all__ = ["DEVICE_MAPS", "RUN_OPTIONS", "RunOption", "RunOptionError", "csv", "max_memory", "positive_int",
           "run_config_from"]

#: what ``--device-map`` accepts: the strategies of ``from_pretrained(device_map=…)``
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")

_SIZE = re.compile(r"^\d+(?:\.\d+)?\s*(?:[KMGT]i?B|B)?$", re.IGNORECASE)
_DEVICE = re.compile(r"^(?:\d+|cpu|disk|mps)$")


class RunOptionError(HarnessError, ValueError):
    """Run options that are valid one by one but not together (e.g. ``--max-memory`` without ``--device-map``)."""


def csv(value: str | None) -> tuple[str, ...] | None:
    """``"a, b,,c"`` → ``("a", "b", "c")``; empty or None → None."""
    if not value:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def positive_int(value: str) -> int:
    """An integer ≥ 1 (argparse type)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 1, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {number}")
    return number


def max_memory(value: str) -> tuple[tuple[int | str, str], ...]:
    """``"0:20GiB,cpu:60GiB"`` → ``((0, "20GiB"), ("cpu", "60GiB"))`` (argparse type).

    A device is a GPU index, ``cpu``, ``disk`` or ``mps``; a size is a number of bytes or a
    number with a unit (``B``, ``KB`` … ``TB``, ``KiB`` … ``TiB``), as ``from_pretrained(max_memory=…)`` takes.

    >>> max_memory("0:20GiB, cpu:60GiB")
    ((0, '20GiB'), ('cpu', '60GiB'))
    """
    pairs: list[tuple[int | str, str]] = []
    for part in csv(value) or ():
        device, sep, size = (s.strip() for s in part.partition(":"))
        if not sep or not _DEVICE.match(device) or not _SIZE.match(size):
            raise argparse.ArgumentTypeError(
                f"{part!r} is not DEVICE:SIZE (e.g. 0:20GiB,cpu:60GiB; DEVICE a GPU index, cpu or disk)")
        key: int | str = int(device) if device.isdigit() else device
        if key in dict(pairs):
            raise argparse.ArgumentTypeError(f"device {device} is given twice")
        pairs.append((key, size.replace(" ", "")))
    if not pairs:
        raise argparse.ArgumentTypeError("needs at least one DEVICE:SIZE (e.g. 0:20GiB,cpu:60GiB)")
    return tuple(pairs)


@dataclass(frozen=True)
class RunOption:
    """One option of a run: its flag and the keyword arguments of ``addoption`` / ``add_argument``."""

    flag: str
    kwargs: dict[str, Any] = field(default_factory=dict)


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption("--model", dict(default="toy",
                              help="toy (default), bloom-560m … bloom-7b1, a hub id, or a local folder")),
    RunOption("--revision", dict(default=None,
                                 help="checkpoint for single-checkpoint claims (e.g. global_step10000, step256)")),
    RunOption("--checkpoints", dict(default=None,
                                    help="comma-separated checkpoint series for trend claims, earliest first")),
    RunOption("--early", dict(default=None,
                              help="the series' 'early' checkpoint (default: the profile's when in the series)")),
    RunOption("--mid", dict(default=None, help="RF's mid-training checkpoint for steering (default: the profile's "
                                               "when in the series)")),
    RunOption("--late", dict(default=None, help="the series' 'late' checkpoint (default: the profile's when in the "
                                                "series, else the last checkpoint)")),
    RunOption("--models", dict(default=None,
                               help="comma-separated model family, smallest first, for the scale claims")),
    RunOption("--languages", dict(default=None,
                                  help="comma-separated evaluation languages (default: the model's)")),
    RunOption("--device", dict(default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 …")),
    RunOption("--dtype", dict(default="auto", help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, float16")),
    RunOption("--device-map", dict(default=None, choices=DEVICE_MAPS,
                                   help="spread each model over the GPUs (and CPU) with from_pretrained's "
                                        "device_map, for models too large for one GPU (default: one device)")),
    RunOption("--max-memory", dict(default=None, type=max_memory,
                                   help="with --device-map: memory per device, e.g. 0:20GiB,1:20GiB,cpu:60GiB")),
    RunOption("--toy-seed", dict(type=int, default=0, help="training seed of the toy model")),
    RunOption("--top-k", dict(type=positive_int, default=None,
                              help="k of the top-k expert neurons (default: 500/98,304 of the units)")),
    RunOption("--generation-seeds", dict(type=positive_int, default=None,
                                         help="samples per steering condition (default per model)")),
    RunOption("--batch-size", dict(type=positive_int, default=None,
                                   help="texts per forward pass (default: automatic, 32 on the CPU, sized from "
                                        "free memory on CUDA)")),
    RunOption("--data", dict(default=None, help="folder with optional data (XStoryCloze JSONL for LF-8)")),
)


def run_config_from(option: Callable[[str], Any], *, use_cache: bool = True) -> RunConfig:
    """The RunConfig of the values that ``option(flag)`` returns for the flags of :data:`RUN_OPTIONS`.

    Raises :class:`RunOptionError` for ``--max-memory`` without ``--device-map``.
    """
    data = option("--data")
    device_map, memory = option("--device-map"), option("--max-memory")
    if memory and not device_map:
        raise RunOptionError("--max-memory needs --device-map (e.g. --device-map auto --max-memory 0:20GiB,cpu:60GiB)")
    return RunConfig(
        model=option("--model"),
        revision=option("--revision"),
        checkpoints=csv(option("--checkpoints")),
        early=option("--early"),
        mid=option("--mid"),
        late=option("--late"),
        models=csv(option("--models")),
        languages=csv(option("--languages")),
        device=option("--device"),
        dtype=option("--dtype"),
        device_map=device_map,
        max_memory=memory,
        toy_seed=option("--toy-seed"),
        k=option("--top-k"),
        generation_seeds=option("--generation-seeds"),
        data_dir=Path(data) if data else None,
        batch_size=option("--batch-size"),
        use_cache=use_cache,
    )
