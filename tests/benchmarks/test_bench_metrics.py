"""Benchmarks of the metric kernels at bloom-560m scale (24 layers x 4096 = 98,304 MLP units).

Each test times our vectorised kernel with pytest-benchmark and, in the same run, the baseline
it replaces (a loop of sklearn calls, or the O(n^2) pair loop of the reference code) on a
subset of units, scaled linearly to all units. Ratios are asserted; times, ratios and peak
memory go into ``benchmark.extra_info`` (``--benchmark-json`` keeps them).

Select with ``-m benchmark``; skip with ``--benchmark-skip`` or ``-m "not benchmark"``.
"""

from __future__ import annotations

import ctypes
import gc
import itertools
import time
import tracemalloc
from typing import Callable

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from harness.metrics import (
    average_precision,
    contribution_scores,
    default_chunk_units,
    fisher_z_mean,
    pearson,
    pearson_matrix,
)

pytestmark = pytest.mark.benchmark

N_UNITS = 98_304  # bloom-560m: 24 layers x 4096 MLP units
MIN_AP_SPEEDUP = 20.0
# The closed form is O(n) per language against the loop's O(n^2) pairs, but the loop is already
# vectorised over units, so at 100 sentences per language the wall-time gain is modest (about
# 4x measured on 2 shared cores); the gain grows linearly with the sentences per language.
MIN_CONTRIBUTION_SPEEDUP = 2.0


# ----------------------------------------------------------------------------------- helpers
def _timed(benchmark, fn: Callable, rounds: int):
    """Run ``fn`` under pytest-benchmark; return (result, median seconds, peak RSS increase MiB).

    The peak resident memory above the level before the rounds is read from the kernel's
    high-water mark (reset first; Linux only, else None). Falls back to a wall-clock time
    when benchmarking is disabled (``--benchmark-disable`` runs the function once).
    """
    box: dict = {}

    def call() -> None:
        box["result"] = benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)

    t0 = time.perf_counter()
    rss = peak_rss_increase_mib(call)
    elapsed = time.perf_counter() - t0
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        elapsed = float(stats.stats.median)
    return box["result"], elapsed, rss


def _mib(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} MiB"


def _release_memory() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_increase_mib(fn: Callable) -> float | None:
    """Peak resident memory above the level before ``fn`` (Linux: resets VmHWM first)."""
    _release_memory()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the high-water mark to the current RSS
    except OSError:
        return None
    before = _status_kib("VmRSS")
    fn()
    peak = _status_kib("VmHWM")
    if before is None or peak is None:
        return None
    return max(0, peak - before) / 1024


def peak_traced_mib(fn: Callable) -> float:
    """Peak memory allocated by Python and numpy during ``fn`` (tracemalloc)."""
    _release_memory()
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------------------------------ AP
def test_bench_average_precision_vs_sklearn_loop(benchmark):
    n_samples, n_sample_units = 300, 200
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(n_samples, N_UNITS, generator=gen)  # float32 like recorded responses
    labels = torch.zeros(n_samples, dtype=torch.bool)
    labels[torch.randperm(n_samples, generator=gen)[:100]] = True

    # baseline: sklearn, one call per unit, on evenly spaced units; scaled to all units
    cols = np.linspace(0, N_UNITS - 1, n_sample_units).astype(int)
    s_np, y_np = scores.numpy(), labels.numpy()
    t0 = time.perf_counter()
    ref = np.array([average_precision_score(y_np, s_np[:, j]) for j in cols])
    sklearn_s = (time.perf_counter() - t0) * N_UNITS / n_sample_units

    ap, ours_s, rss = _timed(benchmark, lambda: average_precision(scores, labels), rounds=3)
    assert ap.shape == (N_UNITS,)
    np.testing.assert_allclose(ap.numpy()[cols], ref, rtol=0, atol=1e-12)

    traced = peak_traced_mib(lambda: average_precision(scores, labels))
    speedup = sklearn_s / ours_s
    benchmark.extra_info.update(
        shape=[n_samples, N_UNITS],
        ours_median_s=round(ours_s, 3),
        sklearn_loop_s_scaled=round(sklearn_s, 2),
        sklearn_units_timed=n_sample_units,
        speedup=round(speedup, 1),
        peak_numpy_mib=round(traced, 1),
        peak_rss_increase_mib=None if rss is None else round(rss, 1),
        input_mib=round(scores.numel() * 4 / 2**20, 1),
        chunk_units=default_chunk_units(n_samples, 256 * 2**20 // max(1, torch.get_num_threads())),
        threads=torch.get_num_threads(),
    )
    print(f"\nAP {n_samples}x{N_UNITS}: ours {ours_s:.2f} s, sklearn loop {sklearn_s:.1f} s "
          f"(scaled from {n_sample_units} units), {speedup:.0f}x; peak numpy {traced:.0f} MiB, "
          f"peak RSS +{_mib(rss)}")
    assert speedup >= MIN_AP_SPEEDUP, f"AP only {speedup:.1f}x faster than the sklearn loop"


# ---------------------------------------------------------------------- contribution scores
def _pair_loop(acts: np.ndarray, rows: np.ndarray, max_pairs: int | None = None) -> tuple[np.ndarray, int]:
    """The reference code's loop: mean over sentence pairs i < j of a_i * a_j (rows normalised)."""
    total = np.zeros(acts.shape[1])
    n_pairs = 0
    for i, j in itertools.combinations(rows, 2):
        total += acts[i] * acts[j]
        n_pairs += 1
        if max_pairs is not None and n_pairs == max_pairs:
            break
    return total / n_pairs, n_pairs


def test_bench_contribution_scores_closed_form_vs_pair_loop(benchmark):
    n_per_lang, n_lang, timed_pairs, check_units = 100, 10, 2000, 512
    levels = [f"l{i}" for i in range(n_lang)]
    langs = np.repeat(levels, n_per_lang)
    gen = torch.Generator().manual_seed(1)
    acts = torch.rand(n_per_lang * n_lang, N_UNITS, generator=gen)  # mean-pooled GELU-like >= 0

    scores, ours_s, rss = _timed(benchmark, lambda: contribution_scores(acts, list(langs)), rounds=3)
    assert scores.shape == (n_lang, N_UNITS)

    a64 = acts.to(torch.float64)
    unit = (a64 / torch.linalg.vector_norm(a64, dim=1, keepdim=True)).numpy()
    del a64
    # correctness: the full pair loop on a few units agrees with the closed form
    for li, lang in enumerate(levels):
        ref, _ = _pair_loop(unit[:, :check_units], np.flatnonzero(langs == lang))
        np.testing.assert_allclose(scores[li, :check_units].numpy(), ref, rtol=1e-10, atol=1e-18)
    # baseline time: the loop over full-length vectors (as the reference runs it) for the first
    # pairs of one language, scaled to all C(100, 2) pairs of all languages
    t0 = time.perf_counter()
    _, done = _pair_loop(unit, np.flatnonzero(langs == levels[0]), max_pairs=timed_pairs)
    all_pairs = n_lang * n_per_lang * (n_per_lang - 1) // 2
    loop_s = (time.perf_counter() - t0) * all_pairs / done
    del unit

    speedup = loop_s / ours_s
    benchmark.extra_info.update(
        shape=[n_per_lang * n_lang, N_UNITS],
        languages=n_lang,
        ours_median_s=round(ours_s, 3),
        pair_loop_s_scaled=round(loop_s, 2),
        pair_loop_pairs_timed=done,
        pair_loop_pairs_total=all_pairs,
        speedup=round(speedup, 1),
        peak_rss_increase_mib=None if rss is None else round(rss, 1),
        input_mib=round(acts.numel() * 4 / 2**20, 1),
    )
    print(f"\ncontribution {n_per_lang * n_lang}x{N_UNITS}: closed form {ours_s:.2f} s, pair loop "
          f"{loop_s:.1f} s (scaled from {done} of {all_pairs} pairs), {speedup:.0f}x; "
          f"peak RSS +{_mib(rss)}")
    assert speedup >= MIN_CONTRIBUTION_SPEEDUP


# ------------------------------------------------------------------------- Pearson / Fisher z
def test_bench_alignment_pearson_fisher_z(benchmark):
    n_concepts, n_lang, chunk = 200, 12, 20
    pairs = torch.tensor(list(itertools.combinations(range(n_lang), 2)))  # 66 pairs
    gen = torch.Generator().manual_seed(2)
    # AP vectors stored as float32 (0.9 GiB); each concept's languages share a component
    base = torch.rand(n_concepts, 1, N_UNITS, generator=gen)
    ap = (0.5 * base + 0.5 * torch.rand(n_concepts, n_lang, N_UNITS, generator=gen)).to(torch.float32)
    del base
    iu = torch.triu_indices(n_lang, n_lang, offset=1)

    def all_concepts_gram() -> torch.Tensor:
        out = torch.empty(n_concepts, pairs.shape[0], dtype=torch.float64)
        for a in range(0, n_concepts, chunk):
            r = pearson_matrix(ap[a : a + chunk])  # [chunk, 12, 12]
            out[a : a + chunk] = r[:, iu[0], iu[1]]
        return fisher_z_mean(out, dim=0)  # alignment per language pair, [66]

    alignment, gram_s, rss = _timed(benchmark, all_concepts_gram, rounds=2)
    assert alignment.shape == (pairs.shape[0],)

    # the direct broadcast form, pearson(x, y) on gathered pairs, on a few concepts, scaled
    few = 4
    t0 = time.perf_counter()
    r_direct = pearson(ap[:few, pairs[:, 0]], ap[:few, pairs[:, 1]])  # [few, 66]
    direct_s = (time.perf_counter() - t0) * n_concepts / few
    r_gram = pearson_matrix(ap[:few])[:, iu[0], iu[1]]
    torch.testing.assert_close(r_direct, r_gram, rtol=0, atol=1e-12)

    benchmark.extra_info.update(
        concepts=n_concepts,
        language_pairs=int(pairs.shape[0]),
        units=N_UNITS,
        gram_all_concepts_median_s=round(gram_s, 3),
        direct_pairwise_s_scaled=round(direct_s, 2),
        direct_concepts_timed=few,
        speedup_gram_vs_direct=round(direct_s / gram_s, 1),
        peak_rss_increase_mib=None if rss is None else round(rss, 1),
        input_mib=round(ap.numel() * 4 / 2**20, 1),
    )
    print(f"\nalignment {n_concepts}x{pairs.shape[0]}x{N_UNITS}: pearson_matrix + Fisher z "
          f"{gram_s:.2f} s; broadcast pearson {direct_s:.1f} s (scaled from {few} concepts); "
          f"peak RSS +{_mib(rss)}")
    assert direct_s > gram_s
