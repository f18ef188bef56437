"""``python -m harness measure`` (``harness.scale_out``): the split of a run's work, the claim rounds, the
shared run options, ``--device-map`` plumbing, and one end-to-end run under ``accelerate launch`` with two
CPU processes, after which ``pytest claims/`` with the same options loads no model.

The end-to-end test builds three tiny GPT-NeoX checkpoints (as ``tests/test_suite_run_folder.py``), runs
``accelerate launch --multi_gpu --num_processes 2 -m harness measure`` for RF-2a and LF-1a on three
languages with a private measurement cache (the evaluation data linked from the session's cache), then
``pytest claims/`` on the same options: 50 s wall for both subprocesses on 2 cores under load 6; the whole
module 70 s wall, 42 CPU-seconds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from harness.scale_out import Deferred, ShardedCache, WorkSplit, fill, prefetch_kinds

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "core"))

from claims_process import offline_env  # noqa: E402
from tiny_models import build_model, build_tokenizer, save_gpt_neox_run, save_model  # noqa: E402

STEPS = (0, 100, 200)
LANGUAGES = ("en", "es", "zh")
SERIES = tuple(f"checkpoint-{s}" for s in STEPS)


# ------------------------------------------------------------------------------------------ the split
def _key(revision, lang=None, kind="concept_pool_max", model="m"):
    return {"kind": kind, "model": model, "revision": revision, **({"lang": lang} if lang else {})}


def _owners(count: int, *, by_language: bool) -> dict[tuple, int]:
    owners: dict[tuple, int] = {}
    for index in range(count):
        split = WorkSplit(index, count, "m", SERIES, LANGUAGES, by_language=by_language)
        for rev in SERIES:
            for lang in (*LANGUAGES, None):
                if split.owner(_key(rev, lang)) == index:
                    assert (rev, lang) not in owners, "two processes own one measurement"
                    owners[(rev, lang)] = index
    return owners


@pytest.mark.parametrize("count", [2, 3])
def test_every_measurement_has_exactly_one_owner_and_languages_spread_within_a_checkpoint(count):
    owners = _owners(count, by_language=True)
    assert len(owners) == len(SERIES) * (len(LANGUAGES) + 1)  # each exactly once (no duplicates: asserted above)
    for c, rev in enumerate(SERIES):
        assert [owners[(rev, lang)] for lang in LANGUAGES] == [(c + i) % count for i in range(len(LANGUAGES))]
        assert owners[(rev, None)] == c % count
    assert set(owners.values()) == set(range(count))


def test_in_the_claim_rounds_a_checkpoint_belongs_to_one_process():
    owners = _owners(2, by_language=False)
    for c, rev in enumerate(SERIES):
        assert {owners[(rev, lang)] for lang in (*LANGUAGES, None)} == {c % 2}


def test_outside_the_run_checkpoints_and_derived_results():
    split = WorkSplit(0, 2, "m", SERIES, LANGUAGES, by_language=True)
    family = [split.owner(_key(None, "en", model=name)) for name in ("a", "b", "c", "d", "e", "f")]
    assert set(family) == {0, 1}  # a fixed place from the name, not always process 0
    assert family == [WorkSplit(1, 2, "m", SERIES, LANGUAGES, by_language=True).owner(_key(None, "en", model=name))
                      for name in ("a", "b", "c", "d", "e", "f")]  # every process agrees
    assert split.owner({"kind": "derived:mi", "inputs": ["ab"]}) is None
    assert WorkSplit().owner(_key("x", "en")) == 0


def test_phase_one_measures_only_what_the_chosen_claims_use():
    assert prefetch_kinds(["RF-2a"]) == ["experts"]
    assert prefetch_kinds(["RF-1a", "LF-1a"]) == ["similarity", "probes"]
    assert prefetch_kinds(["LF-8"]) == []


# ------------------------------------------------------------------------------------------ the cache
def test_a_sharded_cache_defers_another_process_measurement_and_computes_its_own(tmp_path):
    lines: list[str] = []
    cache = ShardedCache(WorkSplit(0, 2, "m", SERIES, LANGUAGES, by_language=True), log=lines.append,
                         root=tmp_path)
    mine, theirs = _key(SERIES[0], "en"), _key(SERIES[0], "es")
    assert cache.get_or_compute(mine, lambda: torch.ones(2)).tolist() == [1.0, 1.0]
    with pytest.raises(Deferred, match="belongs to process 1"):
        cache.get_or_compute(theirs, lambda: pytest.fail("computed another process's measurement"))
    with pytest.raises(Deferred):
        cache.load(theirs)
    # once the other process has stored it, it is read like any entry
    ShardedCache(WorkSplit(1, 2, "m", SERIES, LANGUAGES, by_language=True), log=lines.append,
                 root=tmp_path).store(theirs, torch.zeros(3))
    assert cache.get_or_compute(theirs, lambda: pytest.fail("recomputed")).tolist() == [0.0, 0.0, 0.0]
    assert [line.split()[:4] for line in lines] == [
        ["measure[0/2]", "computed", "concept_pool_max", f"m@{SERIES[0]}"],
        ["measure[1/2]", "computed", "concept_pool_max", f"m@{SERIES[0]}"]]
    assert len(cache.stored) == 1 and cache.deferred == 2


# ------------------------------------------------------------------------------------------ the rounds
class _Peer:
    """The state of process 0 of two; the other process stores ``theirs`` at the barrier of round ``when``."""

    process_index, num_processes = 0, 2

    def __init__(self, cache: ShardedCache, theirs: dict, when: int | None):
        self.cache, self.theirs, self.when, self.barriers = cache, theirs, when, 0

    def wait_for_everyone(self) -> None:
        self.barriers += 1
        if self.barriers == self.when:
            ShardedCache(replace_index(self.cache.split, 1), root=self.cache.root, log=lambda _: None).store(
                self.theirs, torch.full((2,), 7.0))

    def gather_values(self, value):
        return [value, (0, 1 if self.barriers == self.when else 0)]


def replace_index(split: WorkSplit, index: int) -> WorkSplit:
    from dataclasses import replace

    return replace(split, index=index)


def _spec(cid, compute):
    return SimpleNamespace(id=cid, compute=compute)


def _claims(cache):
    mine, theirs = _key(SERIES[0], "en"), _key(SERIES[1], "en")
    seen = []

    def their_value():
        assert cache.split.count == 1, "computed another process's measurement"
        return torch.full((2,), 7.0)

    def needs_both(_m):
        seen.append(cache.get_or_compute(mine, lambda: torch.ones(2)).sum().item())
        seen.append(cache.get_or_compute(theirs, their_value).sum().item())

    def skips(_m):
        pytest.skip("no early checkpoint")

    def breaks(_m):
        raise ValueError("bad data\nsecond line")

    return [_spec("A", needs_both), _spec("S", skips), _spec("E", breaks)], theirs, seen


def test_a_claim_waiting_for_another_process_runs_again_after_the_barrier(tmp_path):
    cache = ShardedCache(WorkSplit(0, 2, "m", SERIES, LANGUAGES), root=tmp_path, log=lambda _: None)
    specs, theirs, seen = _claims(cache)
    lines: list[str] = []
    result = fill(specs, None, cache, _Peer(cache, theirs, when=1), log=lines.append)
    assert result.rounds == 2 and result.done == ["A"] and seen == [2.0, 2.0, 14.0]
    assert result.skipped == {"S": "no early checkpoint"}
    assert result.failed == {"E": "ValueError: bad data"}
    assert lines == ["measure[0/2] E failed: ValueError: bad data"]


def test_rounds_stop_with_an_error_when_nothing_is_stored_while_claims_wait(tmp_path):
    cache = ShardedCache(WorkSplit(0, 2, "m", SERIES, LANGUAGES), root=tmp_path, log=lambda _: None)
    specs, theirs, _ = _claims(cache)
    result = fill(specs[:1], None, cache, _Peer(cache, theirs, when=None), log=lambda _: None)
    assert result.rounds == 2 and result.done == []
    assert "waits on a measurement that another process could not compute" in result.failed["A"]


def test_one_process_does_everything_in_one_round(tmp_path):
    cache = ShardedCache(WorkSplit(0, 1, "m", SERIES, LANGUAGES), root=tmp_path, log=lambda _: None)
    specs, _, seen = _claims(cache)
    result = fill(specs[:1], None, cache)
    assert (result.rounds, result.done, seen, len(cache.stored)) == (1, ["A"], [2.0, 14.0], 2)


# ------------------------------------------------------------------------------------------ options
def test_measure_and_pytest_share_the_run_options(pytester):
    from harness.__main__ import build_parser
    from harness.pytest_plugin import run_config

    argv = ["--model", "m", "--checkpoints", "a, b", "--languages", "en,es", "--batch-size", "4", "--top-k", "3",
            "--device-map", "auto", "--max-memory", "0:20GiB,cpu:60GiB", "--toy-seed", "1"]
    from harness.run_options import run_config_from

    args = build_parser().parse_args(["measure", *argv])
    measured = run_config_from(lambda flag: getattr(args, flag.lstrip("-").replace("-", "_")))
    tested = run_config(pytester.parseconfig("-p", "harness.pytest_plugin", *argv))
    assert measured == tested
    assert (tested.checkpoints, tested.languages, tested.batch_size, tested.k, tested.toy_seed) == (
        ("a", "b"), ("en", "es"), 4, 3, 1)
    assert (tested.device_map, tested.max_memory) == ("auto", ((0, "20GiB"), ("cpu", "60GiB")))
    with pytest.raises(pytest.UsageError, match="--max-memory needs --device-map"):
        run_config(pytester.parseconfig("-p", "harness.pytest_plugin", "--max-memory", "cpu:1GiB"))


def test_max_memory_is_read_as_device_size_pairs():
    import argparse
    import doctest

    import harness.run_options
    from harness.run_options import max_memory

    assert max_memory("0:20GiB,1:20GiB,cpu:60GiB,disk:1TB") == (
        (0, "20GiB"), (1, "20GiB"), ("cpu", "60GiB"), ("disk", "1TB"))
    assert max_memory("cpu:1073741824") == (("cpu", "1073741824"),)
    for bad, why in (("0:20GiB,0:1GiB", "given twice"), ("gpu0:1GiB", "not DEVICE:SIZE"),
                     ("0:lots", "not DEVICE:SIZE"), (",", "at least one")):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            max_memory(bad)
    result = doctest.testmod(harness.run_options)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "0"], "argument --batch-size: must be ≥ 1, got 0"),
    (["--max-memory", "lots"], "argument --max-memory: 'lots' is not DEVICE:SIZE"),
    (["--device-map", "everywhere"], "argument --device-map: invalid choice: 'everywhere'"),
    (["--max-memory", "cpu:1GiB"], "error: --max-memory needs --device-map"),
    (["--claims", "RF-9z"], "error: unknown claim(s) RF-9z; the claims: "),
])
def test_bad_options_give_one_error_line(argv, message, capsys):
    from harness.__main__ import main

    try:
        status = main(["measure", *argv])
    except SystemExit as exit_:  # argparse
        status = exit_.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert status == 2 and len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------ device_map
def test_device_map_and_max_memory_reach_from_pretrained(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    from harness.loading import load_model
    from harness.measurement_cache import MeasurementCache
    from harness.measurements import Measurements
    from harness.run_plan import RunConfig

    tokenizer = build_tokenizer(tmp_path / "tok")
    folder = save_model(build_model("gpt_neox", tokenizer), tokenizer, tmp_path / "model")
    ids = torch.tensor([[5, 6, 7, 8]])
    for revision in (None, "init-seed3"):  # from files (from_pretrained), and initialised (accelerate's dispatch)
        whole = load_model(str(folder), revision, device="cpu")
        spread = load_model(str(folder), revision, device="cpu", device_map="auto", max_memory=(("cpu", "1GiB"),))
        assert spread.device == torch.device("cpu")  # on one device: where the inputs go
        assert torch.equal(spread.module(ids).logits, whole.module(ids).logits)
    with pytest.raises(ValueError, match="max_memory needs a device_map"):
        load_model(str(folder), device="cpu", max_memory={"cpu": "1GiB"})

    calls = []
    real = AutoModelForCausalLM.from_pretrained

    def recording(*args, **kwargs):
        calls.append({"device_map": kwargs.get("device_map"), "max_memory": dict(kwargs.get("max_memory") or {})})
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", recording)
    config = RunConfig(model=str(folder), device="cpu", device_map="sequential", max_memory=(("cpu", "1GiB"),))
    Measurements(config, cache=MeasurementCache(enabled=False)).weights_of_revision(str(folder), None)
    assert calls == [{"device_map": "sequential", "max_memory": {"cpu": "1GiB"}}]


# ------------------------------------------------------------------------------------------ end to end
def _env(cache: Path) -> dict[str, str]:
    return offline_env(LINGUA_CLAIMS_CACHE=str(cache))


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    return save_gpt_neox_run(tmp_path_factory.mktemp("run") / "run", LANGUAGES, STEPS)


@pytest.fixture
def private_cache(tmp_path) -> Path:
    """An empty measurement cache; the evaluation data are linked from the session's cache (built once)."""
    from harness.cache import cache_root

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "data").symlink_to(cache_root() / "data", target_is_directory=True)
    return cache


def test_one_process_does_all_the_work_and_a_rerun_computes_nothing(run_folder, private_cache, monkeypatch,
                                                                     capsys):
    from harness.__main__ import main

    monkeypatch.setenv("LINGUA_CLAIMS_CACHE", str(private_cache))
    argv = ["measure", "--model", str(run_folder), "--languages", ",".join(LANGUAGES), "--claims", "LF-1a"]
    status = main(argv)
    lines = capsys.readouterr().out.splitlines()
    assert status == 0, lines
    first = [line for line in lines if line.startswith("measure[0/1] computed similarity_mean")]
    # LF-1a: the similarity sample at the single-checkpoint revision and at the untrained checkpoint
    assert len(first) == 2 * len(LANGUAGES), lines
    assert re.search(r"finished after 1 claim round\(s\): \d+ measurement\(s\) computed, 2 model load\(s\); "
                     r"claims: 1 measured", lines[-1]), lines
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("measure[0/1] finished after 1 claim round(s): 0 measurement(s) computed, "
                                "0 model load(s)"), lines


class _TrackedState:
    """Accelerate's PartialState of a one-process run that counts the tear-downs of its process group."""

    def __init__(self, real):
        self.real, self.destroyed = real, 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def destroy_process_group(self) -> None:
        self.destroyed += 1
        self.real.destroy_process_group()


@pytest.mark.parametrize("languages, status", [(",".join(LANGUAGES), 0), ("en,xx", 2)], ids=["done", "bad language"])
def test_measure_tears_down_its_process_group_however_it_ends(run_folder, private_cache, monkeypatch, languages,
                                                                status):
    """A process group left to interpreter shutdown aborted a finished ``accelerate launch`` run in CI."""
    from harness import scale_out
    from harness.__main__ import main

    states = []
    real_state = scale_out._process_state

    def tracked_state(config):
        states.append(_TrackedState(real_state(config)))
        return states[-1]

    monkeypatch.setattr(scale_out, "_process_state", tracked_state)
    monkeypatch.setenv("LINGUA_CLAIMS_CACHE", str(private_cache))
    assert main(["measure", "--model", str(run_folder), "--languages", languages, "--claims", "LF-1a"]) == status
    assert [state.destroyed for state in states] == [1]


LAUNCH_TWO = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]

TEAR_DOWN_SCRIPT = """
import os
from types import SimpleNamespace

from harness.scale_out import _process_state

state = _process_state(SimpleNamespace(device="cpu"))
import torch.distributed.checkpoint  # noqa: E402,F401  (what loading a model with transformers imports)

state.wait_for_everyone()
state.destroy_process_group()
names = [open(f"/proc/self/task/{task}/comm").read().strip() for task in os.listdir("/proc/self/task")]
os.write(1, f"rank {state.process_index}: gloo threads left {sorted(n for n in names if 'gloo' in n)}\\n".encode())
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process's threads from /proc")
def test_a_launched_process_group_stops_its_threads_when_torn_down(tmp_path):
    """Threads of a process group still running at exit aborted a finished two-process run in CI ("terminate
    called without an active exception"): the group was imported into torch.distributed.checkpoint, whose
    reference outlived destroy_process_group."""
    script = tmp_path / "tear_down.py"
    script.write_text(TEAR_DOWN_SCRIPT)
    done = subprocess.run([*LAUNCH_TWO, str(script)], cwd=ROOT, env=offline_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert sorted(re.findall(r"rank \d: gloo threads left (\[[^]]*\])", done.stdout)) == ["[]", "[]"], done.stdout


def test_two_processes_fill_the_cache_and_pytest_then_loads_no_model(run_folder, private_cache, tmp_path):
    options = ["--model", str(run_folder), "--languages", ",".join(LANGUAGES)]
    measured = subprocess.run([*LAUNCH_TWO, "-m", "harness", "measure", *options, "--claims", "RF-2a,LF-1a"],
                              cwd=ROOT, env=_env(private_cache), capture_output=True, text=True, timeout=600)
    output = measured.stdout + measured.stderr
    assert measured.returncode == 0, output[-3000:]
    logged = {i: re.findall(rf"^measure\[{i}/2\] computed (.*) ([0-9a-f]{{16}})$", measured.stdout, re.M)
              for i in (0, 1)}
    # a model's measurements (not the results derived from them, which whoever needs them computes)
    computed = {i: {digest for what, digest in logged[i] if "@" in what} for i in (0, 1)}
    assert computed[0] and computed[1] and not computed[0] & computed[1], output[-3000:]
    for i in (0, 1):
        assert re.search(rf"^measure\[{i}/2\] finished .* claims: 2 measured, 0 skipped, 0 failed$", measured.stdout,
                         re.M), output[-3000:]
    stored = {p.stem[:16] for p in (private_cache / "measurements").rglob("*.pt")}
    assert stored == {digest for i in (0, 1) for _, digest in logged[i]}  # what was logged is what is on disk

    claims = subprocess.run([sys.executable, "-m", "pytest", "claims/", "-p", "no:cacheprovider", "-q", *options,
                             "-k", "rf_2a or lf1a", "--report-dir", str(tmp_path / "report")],
                            cwd=ROOT, env=_env(private_cache), capture_output=True, text=True, timeout=600)
    assert claims.returncode in (0, 1), (claims.stdout + claims.stderr)[-3000:]  # no expectations: 1 if one fails
    payload = json.loads((tmp_path / "report" / "claims.json").read_text())
    assert payload["provenance"]["models_loaded"] == 0
    records = {r["id"]: r for r in payload["claims"]}
    assert set(records) == {"RF-2a", "LF-1a"}
    assert all(r["verdict"] in ("supported", "contradicted", "inconclusive") for r in records.values()), records
    assert {p.stem[:16] for p in (private_cache / "measurements").rglob("*.pt")} == stored  # nothing new measured
