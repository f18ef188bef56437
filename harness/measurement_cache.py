"""On-disk cache of measurements, keyed by everything that determines them.

A key names the model, revision, weights hash, data hash, neuron site, pooling, the measurement
code's version and any parameters. Entries are written atomically as a payload (``torch.save``)
plus a JSON sidecar holding the key and the payload's SHA-256; an entry whose sidecar is missing
or unreadable, whose key differs, or whose payload fails its hash is treated as absent and
recomputed. Within a process, entries are also memoised so that claims sharing a measurement
compute it once per run.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any, Callable

import torch

from harness.cache import atomic_write_bytes, atomic_write_text, cache_dir, sha256_bytes

# Bump when the meaning of a cached measurement changes (pooling, masking, sites, …).
MEASUREMENT_VERSION = 1

log = logging.getLogger(__name__)


def canonical_key(key: dict[str, Any]) -> str:
    return json.dumps({"measurement_version": MEASUREMENT_VERSION, **key}, sort_keys=True, default=str)


class MeasurementCache:
    def __init__(self, root: Path | None = None, *, enabled: bool = True):
        self.root = Path(root) if root is not None else cache_dir("measurements")
        self.enabled = enabled
        self._memory: dict[str, Any] = {}
        self.hits = 0
        self.misses = 0

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
        if digest in self._memory:
            return self._memory[digest]
        if not self.enabled:
            return None
        payload_path, meta_path = self._paths(digest)
        try:
            meta = json.loads(meta_path.read_text())
            blob = payload_path.read_bytes()
            if meta.get("key") != text or meta.get("sha256") != sha256_bytes(blob):
                raise ValueError("key or hash mismatch")
            value = torch.load(io.BytesIO(blob), weights_only=False)
        except FileNotFoundError:
            return None
        except Exception as error:  # a corrupt entry is recomputed, never used
            log.warning("measurement cache entry %s is corrupt (%s); recomputing", digest[:12], error)
            return None
        self._memory[digest] = value
        return value

    def store(self, key: dict[str, Any], value: Any) -> None:
        text = canonical_key(key)
        digest = sha256_bytes(text.encode())
        self._memory[digest] = value
        if not self.enabled:
            return
        buffer = io.BytesIO()
        torch.save(value, buffer)
        blob = buffer.getvalue()
        payload_path, meta_path = self._paths(digest)
        atomic_write_bytes(payload_path, blob)
        # The sidecar is written last: an entry without one is incomplete and ignored.
        atomic_write_text(meta_path, json.dumps({"key": text, "sha256": sha256_bytes(blob)}, sort_keys=True))

    def get_or_compute(self, key: dict[str, Any], compute: Callable[[], Any]) -> Any:
        value = self.load(key)
        if value is not None:
            return value
        value = compute()
        self.store(key, value)
        return value
