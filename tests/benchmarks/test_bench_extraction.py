"""Benchmarks of pooled-response extraction (harness.extract.pooled_responses).

1. Overhead against a plain forward pass over the same padded, length-sorted batches, timed in
   the same run (rounds interleaved, order alternating) on a BLOOM of the toy's shape. The bound
   (≤ 10 %) is asserted against the transformer backbone's forward, which is exactly the
   computation extraction runs (it skips the LM head, see ``harness.extract._backbone``); the
   ratio against the full causal-LM forward is recorded too. Timed with one intra-op thread, as
   the user CPU time of the timing thread, so that other processes on a shared 2-core machine
   do not decide the result; the statistic is the median of paired per-round ratios over 21
   rounds. System time is left out of the bound and recorded: on this machine up to a third of a
   CPU forward pass was page faults from glibc handing freed activation memory back to the kernel
   (zero with MALLOC_TRIM_THRESHOLD_/MALLOC_MMAP_THRESHOLD_ raised), and its split between the
   two sides shifted from process to process by up to ±10 %, whatever the code under test did.
   A measurement above the bound is repeated, up to 3 in all, and the test fails only if every
   one is above it: a systematic overhead fails all three (the first version of the core measured
   28–31 % in each).
2. Probe states for RF's three position seeds from one forward pass per batch
   (``hidden_states_at_seeds``) against three single-seed passes, paired in the same run: at most
   half the CPU time (ideal: a third plus the cost of gathering the positions).
3. Throughput in tokens/s on the toy's shape (hidden 128, 6 layers, vocabulary 4096) and on a
   BLOOM of bloom-560m's real shape (24 layers, hidden 1024, 16 heads, vocabulary 250,880), with
   random weights; on CUDA too where available, synchronised inside the timed function. CPU runs
   use one intra-op thread: on a shared 2-core machine two OpenMP threads spin against other
   processes and were both slower and far less repeatable.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import copy  # noqa: E402
import gc  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("pytest_benchmark")

# random concatenations of sentences sometimes exceed max_length; truncation is expected here
pytestmark = pytest.mark.filterwarnings("ignore:.*were truncated:UserWarning")

_CORE_TESTS = Path(__file__).resolve().parents[1] / "core"
if str(_CORE_TESTS) not in sys.path:
    sys.path.insert(0, str(_CORE_TESTS))

from tiny_models import SENTENCES, build_tokenizer, random_bloom  # noqa: E402

from harness.extract import (  # noqa: E402
    bloom_gelu_inplace,
    fast_exact_gelu,
    hidden_states_at,
    hidden_states_at_seeds,
    length_sorted_batches,
    pooled_responses,
    tokenize,
)
from harness.loading import LoadedModel, Source  # noqa: E402
from harness.sites import neuron_site  # noqa: E402

TOY_SHAPE = dict(hidden_size=128, n_layer=6, n_head=4, vocab_size=4096)
BLOOM_560M_SHAPE = dict(hidden_size=1024, n_layer=24, n_head=16, vocab_size=250_880)
MAX_OVERHEAD = 0.10
ROUNDS = 21
ATTEMPTS = 3

CUDA = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: GPU benchmarks run only where one exists"
)


def _random_bloom(shape: dict, tokenizer, seed: int = 0) -> torch.nn.Module:
    """A BLOOM of ``shape`` with random weights (``tiny_models.random_bloom``) and the tokenizer's special ids."""
    from transformers import BloomConfig

    config = BloomConfig(
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **shape,
    )
    return random_bloom(config, seed)


def _loaded(model, tokenizer, label: str, device="cpu", dtype=torch.float32) -> LoadedModel:
    if device != "cpu" or dtype != torch.float32:
        model = copy.deepcopy(model)  # leave the shared CPU fp32 model as it is
    model = model.to(device=device, dtype=dtype)
    source = Source("random weights", None, "test tokenizer", None, True)
    return LoadedModel(
        label, None, source, model, tokenizer, neuron_site(model), "random", torch.device(device), dtype, None
    )


def _texts(n: int, seed: int = 0, max_sentences: int = 5) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, max_sentences))) for _ in range(n)]


def _batches(lm: LoadedModel, texts, batch_size: int, max_length: int):
    """The padded, length-sorted batches pooled_responses builds, built here independently."""
    ids = tokenize(lm, texts, max_length)
    out = []
    for rows in length_sorted_batches([len(s) for s in ids], batch_size):
        width = max(len(ids[i]) for i in rows)
        input_ids = torch.full((len(rows), width), lm.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            input_ids[r, : len(ids[i])] = torch.tensor(ids[i])
            mask[r, : len(ids[i])] = 1
        out.append((input_ids.to(lm.device), mask.to(lm.device)))
    return out, sum(len(s) for s in ids)


def _thread_times() -> tuple[float, float]:
    """(user, user + system) CPU seconds of the calling thread."""
    if hasattr(resource, "RUSAGE_THREAD"):
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        return usage.ru_utime, usage.ru_utime + usage.ru_stime
    total = time.thread_time()
    return total, total


def _paired_cpu_times(baseline, candidate, rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """User and user+system CPU seconds of ``baseline`` and ``candidate`` (this thread), interleaved
    ABBA across rounds, with the garbage collector paused (as pytest-benchmark's
    --benchmark-disable-gc does) so that objects left by earlier tests are not traversed inside one
    side's timing. Returns {"user": (baseline, candidate), "total": (baseline, candidate)}."""
    times = {"user": ([], []), "total": ([], [])}
    gc.collect()
    gc.disable()
    try:
        for round_ in range(rounds):
            for side in (0, 1) if round_ % 2 == 0 else (1, 0):
                user0, total0 = _thread_times()
                (baseline, candidate)[side]()
                user1, total1 = _thread_times()
                times["user"][side].append(user1 - user0)
                times["total"][side].append(total1 - total0)
    finally:
        gc.enable()
    return times


def _median_ratio(pair: tuple[list[float], list[float]]) -> float:
    return statistics.median(c / b for b, c in zip(*pair))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tokenizer(tmp_path_factory.mktemp("bench-tokenizer"))


@pytest.fixture(scope="module")
def toy_model(tokenizer):
    return _random_bloom(TOY_SHAPE, tokenizer)


@pytest.fixture(scope="module")
def bloom_560m_shape(tokenizer):
    return _random_bloom(BLOOM_560M_SHAPE, tokenizer)


def test_extraction_overhead_against_a_plain_forward(benchmark, tokenizer, toy_model, one_thread):
    lm = _loaded(toy_model, tokenizer, "toy-shape")
    # short timed units (2 batches) and many interleaved rounds
    texts = _texts(32, max_sentences=3)
    batch_size, max_length = 16, 128
    batches, n_tokens = _batches(lm, texts, batch_size, max_length)

    @torch.inference_mode()
    def full_forward():
        for input_ids, mask in batches:
            lm.module(input_ids=input_ids, attention_mask=mask, use_cache=False)

    @torch.inference_mode()
    def backbone_forward():  # with the GELU extraction runs (bit-identical to BLOOM's, faster): overhead only
        with fast_exact_gelu(lm.module):
            for input_ids, mask in batches:
                lm.module.transformer(input_ids=input_ids, attention_mask=mask, use_cache=False)

    def extract():
        return pooled_responses(lm, texts, batch_size=batch_size, max_length=max_length, progress=False)

    # the extraction really runs over the batches the baseline runs over
    assert int(extract().n_tokens.sum()) == n_tokens
    for fn in (full_forward, backbone_forward, extract):  # warm up
        fn()
    attempts = []
    for _ in range(ATTEMPTS):
        attempts.append(_paired_cpu_times(backbone_forward, extract, ROUNDS))
        overhead = _median_ratio(attempts[-1]["user"]) - 1
        if overhead <= MAX_OVERHEAD:
            break
    measured = attempts[-1]
    versus_full = _paired_cpu_times(full_forward, extract, 5)
    vs_full = _median_ratio(versus_full["user"])
    median = statistics.median

    benchmark.extra_info.update(
        model="BLOOM, toy shape (hidden 128, 6 layers, vocab 4096), random weights",
        threads=1,
        timer="user CPU time of this thread, median of paired per-round ratios, GC paused",
        rounds=ROUNDS,
        attempts=len(attempts),
        sentences=len(texts),
        tokens=n_tokens,
        batch_size=batch_size,
        overhead_vs_backbone_forward_pct=round(100 * overhead, 2),
        overhead_all_attempts_pct=[round(100 * (_median_ratio(a["user"]) - 1), 2) for a in attempts],
        overhead_user_plus_system_pct=round(100 * (_median_ratio(measured["total"]) - 1), 2),
        system_share_of_backbone_forward=round(
            1 - median(measured["user"][0]) / max(median(measured["total"][0]), 1e-9), 3
        ),
        ratio_vs_full_forward=round(vs_full, 3),
        backbone_forward_user_s=round(median(measured["user"][0]), 4),
        extract_user_s=round(median(measured["user"][1]), 4),
        full_forward_user_s=round(median(versus_full["user"][0]), 4),
        tokens_per_s_user_cpu_1_thread=round(n_tokens / median(measured["user"][1]), 1),
    )
    benchmark.pedantic(extract, rounds=2, iterations=1)
    assert overhead <= MAX_OVERHEAD, (
        f"pooled_responses costs {100 * overhead:.1f} % more than a plain forward over the same batches "
        f"(bound {100 * MAX_OVERHEAD:.0f} %)"
    )
    assert vs_full <= 1 + MAX_OVERHEAD


MIN_GELU_SPEEDUP = 1.05


def test_inplace_bloom_gelu_against_transformers(benchmark, one_thread):
    """``bloom_gelu_inplace`` (what extraction runs) against transformers' ``bloom_gelu_forward`` on one
    batch of the toy's MLP activations [32 sentences, 60 tokens, 512 units], paired in the same run:
    ~1.15x faster in user CPU time (1 thread) where the allocator reuses freed memory, 2.5x (10.5 against
    4.2 ms, user + system) in a fresh process whose allocator maps every temporary afresh; pooled extraction
    on the toy ~9 % cheaper. The values are bit-identical (tests/core/test_core_extract)."""
    from transformers.models.bloom.modeling_bloom import bloom_gelu_forward

    x = torch.randn(32, 60, 512, generator=torch.Generator().manual_seed(0))

    def run(fn):
        def timed():
            with torch.inference_mode():
                for _ in range(5):
                    fn(x)

        return timed

    baseline, candidate = run(bloom_gelu_forward), run(bloom_gelu_inplace)
    baseline(), candidate()
    times = _paired_cpu_times(baseline, candidate, ROUNDS)
    speedup = 1 / _median_ratio(times["user"])
    benchmark.extra_info.update(
        shape=[32, 60, 512],
        threads=1,
        timer="user CPU time of this thread, median of paired per-round ratios (5 calls a round), GC paused",
        transformers_ms=round(1e3 * statistics.median(times["user"][0]) / 5, 3),
        inplace_ms=round(1e3 * statistics.median(times["user"][1]) / 5, 3),
        speedup=round(speedup, 3),
        speedup_user_plus_system=round(1 / _median_ratio(times["total"]), 3),
    )
    benchmark.pedantic(candidate, rounds=3, iterations=1)
    assert speedup > MIN_GELU_SPEEDUP, f"in-place GELU only {speedup:.2f}x transformers' (need > {MIN_GELU_SPEEDUP}x)"


MAX_SEEDS_RATIO = 0.5


def test_probe_states_for_three_seeds_cost_one_pass(benchmark, tokenizer, toy_model, one_thread):
    lm = _loaded(toy_model, tokenizer, "toy-shape")
    texts = _texts(32, seed=1, max_sentences=2)
    seeds = (0, 1, 2)

    def one_at_a_time():
        return [hidden_states_at(lm, texts, seed=s, batch_size=16, progress=False)[0] for s in seeds]

    def together():
        return hidden_states_at_seeds(lm, texts, seeds, batch_size=16, progress=False)[0]

    for a, b in zip(one_at_a_time(), together()):  # the same states, and a warm-up
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    times = _paired_cpu_times(one_at_a_time, together, 11)
    ratio = _median_ratio(times["user"])
    benchmark.extra_info.update(
        model="BLOOM, toy shape, random weights", threads=1, sentences=len(texts), seeds=len(seeds),
        ratio_vs_one_seed_at_a_time=round(ratio, 3),
        timer="user CPU time of this thread, median of paired per-round ratios over 11 rounds, GC paused",
    )
    benchmark.pedantic(together, rounds=2, iterations=1)
    assert ratio <= MAX_SEEDS_RATIO, f"three seeds in one pass cost {ratio:.2f}× three passes (bound {MAX_SEEDS_RATIO})"


def _throughput(benchmark, lm, texts, *, batch_size, max_length, rounds, label):
    batches, n_tokens = _batches(lm, texts, batch_size, max_length)

    durations = []

    def extract():
        start = time.perf_counter()
        result = pooled_responses(lm, texts, batch_size=batch_size, max_length=max_length, progress=False)
        _synchronize(lm.device)
        durations.append(time.perf_counter() - start)
        return result

    result = benchmark.pedantic(
        extract, rounds=rounds, iterations=1, warmup_rounds=1 if lm.device.type == "cuda" else 0
    )
    assert result.max.shape == (len(texts), lm.site.n_units)
    assert torch.isfinite(result.max).all() and torch.isfinite(result.mean).all()
    # the timed rounds (also with --benchmark-disable, where pytest-benchmark keeps no statistics)
    seconds = statistics.median(durations[-rounds:])
    benchmark.extra_info.update(
        model=label,
        device=str(lm.device),
        dtype=str(lm.dtype).replace("torch.", ""),
        threads=torch.get_num_threads(),
        sentences=len(texts),
        batches=len(batches),
        tokens=n_tokens,
        tokens_per_s=round(n_tokens / seconds, 1),
    )
    assert n_tokens / seconds > 0
    return batches, seconds


def test_extraction_throughput_toy_shape_cpu(benchmark, tokenizer, toy_model, one_thread):
    lm = _loaded(toy_model, tokenizer, "toy-shape")
    _throughput(
        benchmark, lm, _texts(96, max_sentences=3), batch_size=32, max_length=128, rounds=3,
        label="BLOOM toy shape, random weights",
    )


def test_extraction_throughput_bloom_560m_shape_cpu(benchmark, tokenizer, bloom_560m_shape, one_thread):
    # a couple of short batches: 2 × 4 sentences of at most 16 tokens
    lm = _loaded(bloom_560m_shape, tokenizer, "bloom-560m shape")
    batches, seconds = _throughput(
        benchmark, lm, _texts(8, seed=1, max_sentences=1), batch_size=4, max_length=16, rounds=2,
        label="BLOOM, bloom-560m shape (24 layers, hidden 1024, vocab 250,880), random weights",
    )

    # one plain forward of each kind over the same batches, for scale (not asserted: one round)
    @torch.inference_mode()
    def forward(module):
        start = time.perf_counter()
        for input_ids, mask in batches:
            module(input_ids=input_ids, attention_mask=mask, use_cache=False)
        return time.perf_counter() - start

    benchmark.extra_info.update(
        backbone_forward_s=round(forward(lm.module.transformer), 3),
        full_forward_s=round(forward(lm.module), 3),
        extract_s=round(seconds, 3),
    )


@CUDA
def test_extraction_throughput_toy_shape_cuda(benchmark, tokenizer, toy_model):
    lm = _loaded(toy_model, tokenizer, "toy-shape", device="cuda", dtype=torch.bfloat16)
    _throughput(benchmark, lm, _texts(512), batch_size=64, max_length=128, rounds=5, label="BLOOM toy shape, bf16")


@CUDA
def test_extraction_throughput_bloom_560m_shape_cuda(benchmark, tokenizer, bloom_560m_shape):
    lm = _loaded(bloom_560m_shape, tokenizer, "bloom-560m shape", device="cuda", dtype=torch.bfloat16)
    _throughput(
        benchmark, lm, _texts(256), batch_size=32, max_length=128, rounds=3, label="BLOOM bloom-560m shape, bf16"
    )


@CUDA
def test_extraction_overhead_cuda(benchmark, tokenizer, toy_model):
    """The same overhead ratio on the GPU (recorded; the ≤ 10 % bound is a CPU requirement)."""
    lm = _loaded(toy_model, tokenizer, "toy-shape", device="cuda", dtype=torch.bfloat16)
    texts = _texts(512)
    batches, n_tokens = _batches(lm, texts, 64, 128)

    @torch.inference_mode()
    def backbone_forward():  # with the GELU extraction runs (bit-identical to BLOOM's, faster): overhead only
        with fast_exact_gelu(lm.module):
            for input_ids, mask in batches:
                lm.module.transformer(input_ids=input_ids, attention_mask=mask, use_cache=False)
        _synchronize(lm.device)

    def extract():
        pooled_responses(lm, texts, batch_size=64, max_length=128, progress=False)
        _synchronize(lm.device)

    backbone_forward()
    extract()
    ratios = []
    for _ in range(5):
        start = time.perf_counter()
        backbone_forward()
        middle = time.perf_counter()
        extract()
        ratios.append((time.perf_counter() - middle) / (middle - start))
    benchmark.extra_info.update(
        overhead_vs_backbone_forward_pct=round(100 * (statistics.median(ratios) - 1), 2), tokens=n_tokens
    )
    benchmark.pedantic(extract, rounds=3, iterations=1)
    assert statistics.median(ratios) > 0
