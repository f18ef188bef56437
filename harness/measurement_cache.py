"""On-disk cache of measurements, keyed by everything that determines them.

A key names the model, revision, weights hash, data hash, neuron site, pooling, the measurement
code's version and any parameters. Entries are written atomically as a payload (``torch.save``,
streamed to a temporary file, never held twice in memory) plus a JSON sidecar holding the key and
the payload's SHA-256; an entry whose sidecar is missing or unreadable, whose key differs, or whose
payload fails its hash is treated as absent and recomputed.

Memory stays bounded: a payload is read back lazily, its tensors memory-mapped from the file
(``torch.load(mmap=True)``, copy-on-write: a caller that writes into one never changes the entry),
after its SHA-256 is verified by streaming the file (once per process while the file's ``stat`` is
unchanged). Within a process, entries are also memoised so that claims sharing a measurement
compute it once per run, but only up to a byte budget (:data:`DEFAULT_MEMO_BYTES`, or
``$LINGUA_CLAIMS_MEMO_BYTES``): the least recently used values are dropped first, and a value
larger than the budget is never kept (it is mapped from disk again when asked for).

With the cache disabled (``--no-measurement-cache``) nothing is written or read on disk, so the
memo keeps every value of the run (no budget): memory then grows with the run as it did before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Hashable

import numpy as np
import torch

from harness.cache import atomic_write_text, cache_dir, sha256_bytes, sha256_file

# Bump when the meaning of a cached measurement changes (pooling, masking, sites, …).
MEASUREMENT_VERSION = 1
#: bytes of values memoised in one process (per MeasurementCache and per Measurements memo)
DEFAULT_MEMO_BYTES = 512 * 2**20
MEMO_BYTES_ENV = "LINGUA_CLAIMS_MEMO_BYTES"

log = logging.getLogger(__name__)


def canonical_key(key: dict[str, Any]) -> str:
    return json.dumps({"measurement_version": MEASUREMENT_VERSION, **key}, sort_keys=True, default=str)


def key_digest(key: dict[str, Any]) -> str:
    """The SHA-256 of ``key``'s canonical form: what names its entry (and what derived keys cite)."""
    return sha256_bytes(canonical_key(key).encode())


def memo_budget() -> int:
    """The memo's byte budget: ``$LINGUA_CLAIMS_MEMO_BYTES`` if set, else :data:`DEFAULT_MEMO_BYTES`."""
    text = os.environ.get(MEMO_BYTES_ENV)
    if not text:
        return DEFAULT_MEMO_BYTES
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"${MEMO_BYTES_ENV} must be a whole number of bytes, not {text!r}") from None
    if value < 0:
        raise ValueError(f"${MEMO_BYTES_ENV} must be ≥ 0, not {value}")
    return value


def payload_bytes(value: Any) -> int:
    """An estimate of the memory ``value`` holds: the bytes of its tensors and arrays (each storage
    counted once), plus the shallow size of everything else it contains."""
    seen: set[int] = set()
    storages: set[tuple[int, int]] = set()
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            if (storage.data_ptr(), storage.nbytes()) not in storages:
                storages.add((storage.data_ptr(), storage.nbytes()))
                total += storage.nbytes()
            continue
        if isinstance(item, np.ndarray):
            total += item.nbytes
            continue
        total += sys.getsizeof(item, 64)
        stack.extend(_children(item))
    return total


def _children(item: Any) -> list:
    if isinstance(item, (str, bytes, int, float, bool, type(None), torch.nn.Module)):
        return []  # a model is held by the run, not by a memoised value that refers to it
    if isinstance(item, dict):
        return [*item.keys(), *item.values()]
    if isinstance(item, (list, tuple, set, frozenset)):
        return list(item)
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return [getattr(item, f.name, None) for f in dataclasses.fields(item)]
    return list(vars(item).values()) if hasattr(item, "__dict__") and not isinstance(item, type) else []


class ByteBudgetMemo:
    """A memo that keeps at most ``budget`` bytes of values (``None``: no limit), least recently used
    dropped first; a value larger than the budget is not kept. ``evictions`` counts dropped values."""

    def __init__(self, budget: int | None):
        self.budget = budget
        self._values: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.bytes = 0
        self.evictions = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable) -> tuple[bool, Any]:
        """``(True, value)`` when ``key`` is held (now the most recently used), else ``(False, None)``."""
        if key not in self._values:
            return False, None
        self._values.move_to_end(key)
        return True, self._values[key][0]

    def put(self, key: Hashable, value: Any) -> bool:
        """Keep ``value`` under ``key`` if it fits the budget; returns whether it is kept."""
        self.discard(key)
        size = payload_bytes(value) if self.budget is not None else 0
        if self.budget is not None and size > self.budget:
            return False
        self._values[key] = (value, size)
        self.bytes += size
        while self.budget is not None and self.bytes > self.budget:
            _, (_, dropped) = self._values.popitem(last=False)
            self.bytes -= dropped
            self.evictions += 1
        return True

    def discard(self, key: Hashable) -> None:
        if key in self._values:
            self.bytes -= self._values.pop(key)[1]


class MeasurementCache:
    """Measurements on disk under ``root``, memoised in memory up to ``memory_budget`` bytes
    (default: :func:`memo_budget`; without the disk, ``enabled=False``, every value is kept)."""

    def __init__(self, root: Path | None = None, *, enabled: bool = True, memory_budget: int | None = None):
        self.root = Path(root) if root is not None else cache_dir("measurements")
        self.enabled = enabled
        self._memory = ByteBudgetMemo((memory_budget if memory_budget is not None else memo_budget()) if enabled
                                      else None)
        self._verified: dict[str, tuple] = {}  # payload path → (stat identity, sha256) checked in this process
        self.hits = 0
        self.misses = 0

    @property
    def memo(self) -> ByteBudgetMemo:
        """The in-process memo (its ``bytes``, ``evictions`` and ``budget``)."""
        return self._memory

    def _paths(self, digest: str) -> tuple[Path, Path]:
        folder = self.root / digest[:2]
        return folder / f"{digest}.pt", folder / f"{digest}.json"

    def load(self, key: dict[str, Any]) -> Any | None:
        """The stored value of ``key``, or None (counted as a hit or a miss)."""
        value = self._load(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def _load(self, key: dict[str, Any]) -> Any | None:
        text = canonical_key(key)
        digest = sha256_bytes(text.encode())
        found, value = self._memory.get(digest)
        if found:
            return value
        if not self.enabled:
            return None
        payload_path, meta_path = self._paths(digest)
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("key") != text:
                raise ValueError("key mismatch")
            self._verify(payload_path, str(meta.get("sha256")))
            value = _read_payload(payload_path)
        except FileNotFoundError:
            return None
        except Exception as error:  # a corrupt entry is recomputed, never used
            log.warning("measurement cache entry %s is corrupt (%s); recomputing", digest[:12], error)
            return None
        self._memory.put(digest, value)
        return value

    def _verify(self, path: Path, expected: str) -> None:
        """Raise ValueError unless the file's SHA-256 (streamed) is ``expected``; a file already
        verified in this process is not read again while its size, mtime and inode are unchanged."""
        stat = path.stat()
        identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if self._verified.get(str(path)) == (identity, expected):
            return
        if sha256_file(path) != expected:
            raise ValueError("hash mismatch")
        self._verified[str(path)] = (identity, expected)

    def store(self, key: dict[str, Any], value: Any) -> None:
        text = canonical_key(key)
        digest = sha256_bytes(text.encode())
        self._memory.put(digest, value)
        if not self.enabled:
            return
        payload_path, meta_path = self._paths(digest)
        try:
            sha = _save_atomically(payload_path, value)
        except BaseException:
            self._memory.discard(digest)
            raise
        # The sidecar is written last: an entry without one is incomplete and ignored.
        atomic_write_text(meta_path, json.dumps({"key": text, "sha256": sha}, sort_keys=True))

    def get_or_compute(self, key: dict[str, Any], compute: Callable[[], Any]) -> Any:
        value = self.load(key)
        if value is not None:
            return value
        value = compute()
        self.store(key, value)
        return value


def _read_payload(path: Path) -> Any:
    """The payload at ``path``, its tensors memory-mapped (a file in torch's legacy format is read whole)."""
    try:
        return torch.load(path, mmap=True, weights_only=False)
    except RuntimeError as error:
        if "zip" not in str(error).lower():
            raise
        return torch.load(path, weights_only=False)


def _save_atomically(path: Path, value: Any) -> str:
    """``torch.save(value)`` to ``path`` through a temporary sibling (removed on failure); its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
        with os.fdopen(fd, "wb") as handle:
            torch.save(value, handle)
            handle.flush()
            os.fsync(handle.fileno())
        sha = sha256_file(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return sha


def derived_result(measurements: Any, name: str, inputs: Callable[[], list[dict]], compute: Callable[[], Any],
                   **params) -> Any:
    """``measurements.derived(name, inputs(), compute, **params)`` (an expensive result derived from
    cached measurements, cached on disk keyed by their cache keys ``inputs()``) where the run has it;
    else ``compute()`` (the analyses' test fakes, which cache nothing)."""
    derived = getattr(measurements, "derived", None)
    if derived is None:
        return compute()
    return derived(name, inputs(), compute, **params)
