"""The on-disk measurement cache: hits, memo, atomic writes, corrupt entries recomputed."""

from __future__ import annotations

import json

import pytest
import torch

from harness.measurement_cache import MeasurementCache

KEY = {"model": "tiny", "revision": None, "weights": "ab" * 32, "data": "cd" * 32, "site": "bloom:x", "pooling": "max"}


def _value():
    return {"max": torch.arange(12, dtype=torch.float32).view(3, 4), "n": 3}


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return _value()


def test_store_then_hit_across_instances(tmp_path):
    compute = Counter()
    first = MeasurementCache(tmp_path)
    value = first.get_or_compute(KEY, compute)
    assert compute.calls == 1 and (first.hits, first.misses) == (0, 1)
    assert first.get_or_compute(KEY, compute) is value  # memoised within the process
    second = MeasurementCache(tmp_path)  # a later run
    again = second.get_or_compute(KEY, compute)
    assert compute.calls == 1 and second.hits == 1
    assert torch.equal(again["max"], value["max"]) and again["n"] == 3


def test_every_key_field_matters(tmp_path):
    cache = MeasurementCache(tmp_path)
    cache.store(KEY, _value())
    for field in KEY:
        assert cache.load({**KEY, field: "something else"}) is None, field
    assert cache.load({**KEY, "extra_parameter": 1}) is None
    assert cache.load(dict(reversed(list(KEY.items())))) is not None  # key order does not matter


def test_in_memory_memo_without_disk(tmp_path):
    cache = MeasurementCache(tmp_path)
    cache.store(KEY, _value())
    for path in tmp_path.rglob("*"):
        if path.is_file():
            path.unlink()
    assert cache.load(KEY) is not None  # still memoised
    assert MeasurementCache(tmp_path).load(KEY) is None  # gone from disk
    disabled = MeasurementCache(tmp_path / "off", enabled=False)
    compute = Counter()
    disabled.get_or_compute(KEY, compute)
    disabled.get_or_compute(KEY, compute)
    assert compute.calls == 1
    assert not (tmp_path / "off").exists() or _files(tmp_path / "off") == []


def _corrupt_payload(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_payload_byte(path):
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_sidecar_key(path):
    meta = json.loads(path.read_text())
    meta["key"] = meta["key"].replace("tiny", "tinY")
    path.write_text(json.dumps(meta))


def _edit_sidecar_hash(path):
    meta = json.loads(path.read_text())
    meta["sha256"] = "0" * 64
    path.write_text(json.dumps(meta))


def _garble_sidecar(path):
    path.write_text("{not json")


@pytest.mark.parametrize(
    "suffix, damage",
    [
        (".pt", _corrupt_payload),
        (".pt", _flip_payload_byte),
        (".pt", lambda p: p.unlink()),
        (".json", _edit_sidecar_key),
        (".json", _edit_sidecar_hash),
        (".json", _garble_sidecar),
        (".json", lambda p: p.unlink()),
    ],
)
def test_a_damaged_entry_is_detected_and_recomputed(tmp_path, suffix, damage):
    MeasurementCache(tmp_path).store(KEY, _value())
    (target,) = [p for p in tmp_path.rglob(f"*{suffix}")]
    damage(target)
    compute = Counter()
    cache = MeasurementCache(tmp_path)
    value = cache.get_or_compute(KEY, compute)
    assert compute.calls == 1 and cache.misses == 1
    assert torch.equal(value["max"], _value()["max"])
    # the recomputed entry replaced the damaged one
    compute_again = Counter()
    MeasurementCache(tmp_path).get_or_compute(KEY, compute_again)
    assert compute_again.calls == 0


def test_writes_leave_no_temporary_files(tmp_path):
    cache = MeasurementCache(tmp_path)
    for i in range(3):
        cache.store({**KEY, "i": i}, _value())
    cache.store(KEY, _value())
    cache.store(KEY, {"other": 1})  # overwrite
    files = _files(tmp_path)
    assert len(files) == 2 * 4
    assert all(f.endswith((".pt", ".json")) and not f.split("/")[-1].startswith(".") for f in files)
    assert MeasurementCache(tmp_path).load(KEY) == {"other": 1}


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    cache = MeasurementCache(tmp_path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        cache.store(KEY, Unpicklable())
    assert _files(tmp_path) == []
    assert MeasurementCache(tmp_path).load(KEY) is None


def test_default_root_is_under_the_cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("LINGUA_CLAIMS_CACHE", str(tmp_path))
    cache = MeasurementCache()
    cache.store(KEY, _value())
    assert cache.root == tmp_path / "measurements"
    assert len(_files(tmp_path / "measurements")) == 2
