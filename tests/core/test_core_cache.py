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


# ------------------------------------------------------------------ bounded memory: mmap, byte budget
def _mapped_files() -> str:
    from pathlib import Path

    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs /proc/self/maps to see memory-mapped files")
    return maps.read_text()


def test_tensors_are_memory_mapped_from_the_entry_and_equal_the_stored(tmp_path):
    stored = {"max": torch.randn(64, 257, generator=torch.Generator().manual_seed(0)), "n": 64}
    MeasurementCache(tmp_path).store(KEY, stored)
    (payload,) = tmp_path.rglob("*.pt")
    loaded = MeasurementCache(tmp_path, memory_budget=0).load(KEY)
    assert torch.equal(loaded["max"], stored["max"]) and loaded["n"] == 64
    assert str(payload) in _mapped_files()  # read lazily from the file, not copied into memory
    loaded["max"] += 1  # copy-on-write: the entry on disk is unchanged
    assert torch.equal(MeasurementCache(tmp_path, memory_budget=0).load(KEY)["max"], stored["max"])


def test_the_memo_keeps_at_most_its_byte_budget_least_recently_used_dropped(tmp_path):
    one_kib = lambda i: torch.full((256,), float(i))  # noqa: E731  1,024 bytes of storage each
    cache = MeasurementCache(tmp_path, memory_budget=3 * 1024 + 512)  # three values, not four
    for i in range(3):
        cache.store({**KEY, "i": i}, one_kib(i))
    assert cache.memo.evictions == 0 and len(cache.memo) == 3
    cache.load({**KEY, "i": 0})  # now the most recently used
    cache.store({**KEY, "i": 3}, one_kib(3))
    assert cache.memo.evictions == 1 and len(cache.memo) == 3 and cache.memo.bytes <= cache.memo.budget
    for path in tmp_path.rglob("*"):  # what the memo still holds is served without the disk
        if path.is_file():
            path.unlink()
    assert cache.load({**KEY, "i": 1}) is None  # the least recently used one was dropped
    for i in (0, 2, 3):
        assert torch.equal(cache.load({**KEY, "i": i}), one_kib(i))


def test_a_value_larger_than_the_budget_is_not_kept_but_read_back_from_disk(tmp_path):
    cache = MeasurementCache(tmp_path, memory_budget=1000)
    big = torch.arange(1000, dtype=torch.float64)
    compute = Counter()
    assert cache.get_or_compute(KEY, lambda: big) is big
    assert len(cache.memo) == 0 and cache.memo.bytes == 0
    again = cache.get_or_compute(KEY, compute)
    assert compute.calls == 0 and cache.hits == 1 and torch.equal(again, big) and again is not big


def test_a_payload_damaged_after_it_was_verified_is_verified_again(tmp_path):
    cache = MeasurementCache(tmp_path, memory_budget=0)
    cache.store(KEY, _value())
    assert cache.load(KEY) is not None  # verified once
    (payload,) = tmp_path.rglob("*.pt")
    _flip_payload_byte(payload)
    assert cache.load(KEY) is None and cache.misses == 1


def test_without_the_disk_every_value_is_kept(tmp_path):
    cache = MeasurementCache(tmp_path / "off", enabled=False, memory_budget=10)
    for i in range(20):
        cache.store({**KEY, "i": i}, torch.zeros(1000))
    assert cache.memo.budget is None and len(cache.memo) == 20 and cache.memo.evictions == 0


def test_payload_bytes_counts_shared_storage_once():
    from harness.measurement_cache import payload_bytes

    base = torch.zeros(1000)
    assert payload_bytes({"a": base, "b": base[:10], "c": [base]}) < 4000 + 2000
    assert payload_bytes({"a": base, "b": torch.zeros(1000)}) >= 8000


def test_the_memo_budget_comes_from_the_environment(monkeypatch, tmp_path):
    from harness.measurement_cache import MEMO_BYTES_ENV

    monkeypatch.setenv(MEMO_BYTES_ENV, "4096")
    assert MeasurementCache(tmp_path).memo.budget == 4096
    monkeypatch.setenv(MEMO_BYTES_ENV, "lots")
    with pytest.raises(ValueError, match=MEMO_BYTES_ENV):
        MeasurementCache(tmp_path)


# ------------------------------------------------------------------ the per-run memo and derived results
def test_the_run_memo_drops_least_recently_used_values_beyond_its_budget(monkeypatch, tmp_path):
    from harness.measurement_cache import MEMO_BYTES_ENV
    from harness.measurements import Measurements, RunConfig

    monkeypatch.setenv(MEMO_BYTES_ENV, str(10_000))
    run = Measurements(RunConfig(model="tiny"), cache=MeasurementCache(tmp_path))
    calls = []

    def compute(i):
        calls.append(i)
        return torch.zeros(1000)  # 4,000 bytes: two fit

    for i in (0, 1, 0, 2):
        run.memo(("x", i), lambda i=i: compute(i))
    assert calls == [0, 1, 2] and run.memoised(("x", 0)) and not run.memoised(("x", 1))
    run.memo(("x", 1), lambda: compute(1))
    assert calls == [0, 1, 2, 1]


def test_a_derived_result_is_cached_on_disk_keyed_by_its_inputs(tmp_path):
    from harness.measurements import Measurements, RunConfig

    inputs = [{**KEY, "lang": "en"}, {**KEY, "lang": "es"}]
    compute = Counter()
    first = Measurements(RunConfig(model="tiny"), cache=MeasurementCache(tmp_path))
    value = first.derived("thing", inputs, compute, version=1)
    second = Measurements(RunConfig(model="tiny"), cache=MeasurementCache(tmp_path))  # a warm rerun
    assert torch.equal(second.derived("thing", inputs, compute, version=1)["max"], value["max"])
    assert compute.calls == 1 and second.cache.hits == 1
    second.derived("thing", inputs[::-1], compute, version=1)  # other inputs, other version: computed
    second.derived("thing", inputs, compute, version=2)
    assert compute.calls == 3


def test_mutual_information_is_cached_per_language_pair_across_runs(tmp_path, monkeypatch):
    from harness.analyses import experts
    from harness.measurements import Measurements, RunConfig

    gen = torch.Generator().manual_seed(1)
    ap = torch.rand(3, 4, 200, generator=gen, dtype=torch.float64)
    keys = tuple({**KEY, "kind": "expert_ap", "lang": lang} for lang in ("en", "es", "fr"))

    def scores(run):
        return experts.ExpertScores("step1", ("en", "es", "fr"), tuple("abcd"), ap, 2, 100, keys, run.derived)

    first_run = Measurements(RunConfig(model="tiny"), cache=MeasurementCache(tmp_path))
    first = experts.mutual_information(scores(first_run))
    assert first_run.cache.misses == 3  # one entry per pair
    uncached = experts.mutual_information(experts.ExpertScores("step1", ("en", "es", "fr"), tuple("abcd"), ap, 2, 100))
    assert first.shape == (4, 3) and (first == uncached).all()

    def no_mi(*args, **kwargs):
        raise AssertionError("MI recomputed on a warm rerun")

    monkeypatch.setattr(experts, "mutual_info_knn_batch", no_mi)
    warm = Measurements(RunConfig(model="tiny"), cache=MeasurementCache(tmp_path))
    assert (experts.mutual_information(scores(warm)) == first).all() and warm.cache.hits == 3
    sub = scores(warm).subset(["en", "fr"])  # a subset cites its own languages' keys
    assert (experts.mutual_information(sub)[:, 0] == first[:, 1]).all()


def test_similarity_and_key_regions_are_cached_on_disk_across_runs(tmp_path, monkeypatch):
    import numpy as np
    from run_fixtures import FixedData, FixedRun, fixed_loaded

    from harness.analyses import key_regions, similarity
    from harness.measurements import RunConfig

    langs = ("en", "es", "fr", "pt", "zh", "ar", "hi")  # enough languages for key neurons (z > 2)
    g = torch.Generator().manual_seed(0)
    sample = (torch.rand(len(langs) * 5, 16, generator=g), np.repeat(np.arange(len(langs)), 5),
              np.tile(np.arange(5), len(langs)))

    def run():
        fixed = FixedRun(RunConfig(model="tiny", languages=langs), MeasurementCache(tmp_path), fixed_loaded(),
                         FixedData(langs))
        monkeypatch.setattr(fixed, "similarity_responses", lambda rev: sample)
        return fixed

    first = run()
    sim = similarity.similarity_at(first, "step1")
    regions, counts = key_regions.key_regions_at(first, "step1")
    assert first.cache.misses == 2

    def recomputed(*args, **kwargs):
        raise AssertionError("recomputed on a warm rerun")

    monkeypatch.setattr(similarity, "analyse_similarity", recomputed)
    monkeypatch.setattr(key_regions, "count_key_regions", recomputed)
    warm = run()
    again = similarity.similarity_at(warm, "step1")
    regions_again, counts_again = key_regions.key_regions_at(warm, "step1")
    assert warm.cache.hits == 2 and warm.cache.misses == 0
    np.testing.assert_array_equal(again.lrds, sim.lrds)  # NaN where a bootstrap replicate is degenerate
    assert torch.equal(again.gram, sim.gram) and torch.equal(regions_again.mask, regions.mask)
    np.testing.assert_array_equal(counts_again.by_layer, counts.by_layer)
    with pytest.raises(AssertionError, match="warm rerun"):  # other parameters are another entry
        similarity.similarity_at(run(), "step1", per_layer=False)
