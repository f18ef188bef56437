"""A rehearsal at real shape (issue 13): every measurement stage on a BLOOM of bloom-560m's shape.

What it builds: a training run of two checkpoints, ``step0`` and ``step1000`` (different random
weights), of a BLOOM with bloom-560m's configuration (24 layers, hidden 1024, 16 heads, 98,304 MLP
units, vocabulary 250,880: the real embedding and logit cost), each saved with ``save_pretrained``
in fp32 (2.2 GB per checkpoint; 4.5 GB on disk, removed afterwards). Its tokenizer is the toy's BPE
(vocabulary 4,096, trained on the Bible corpus in a few seconds): BLOOM's own tokenizer is not
shipped and the hub is not used; the unused embedding rows cost nothing but memory, and a small
vocabulary splits text into more tokens than BLOOM's (times per text are pessimistic by that much).

The reduced budget: languages en and zh; 4 concepts of 16 verses each (8 positives, 8 negatives:
a concept pool of their 54 distinct verses per language), 16 similarity verses, 16 probe sentences
(3 position seeds), one 1,024-token perplexity window (full and with 500 units zeroed) per language,
8 log-likelihood continuations, 4 generated samples (64 tokens) unsteered and 4 steered by en
experts, per checkpoint. The derived analyses (similarity analysis with its 1,000 bootstrap replicates, key
regions, MI per concept and language pair) need more languages than two for key regions, so they
run once on random responses of the full default shape (10 languages × 100 verses × 98,304 units),
without a model.

Each stage runs in its own process (``resource.getrusage`` maxrss is the whole process's peak
RSS, torch's allocations included), one after another, against one measurement cache: later stages
read what earlier ones measured (the concept pools memory-mapped), as in a real run. The record per
stage: wall time, its work units, and peak RSS; from them an *extrapolation* of the full default
bloom-560m grid (``harness.profiles``: 6 checkpoints, 10 languages, the data's full counts) to one
GPU, with the assumed GPU/CPU throughput ratios stated in :data:`GPU_SPEEDUP` (generation: a stated step latency,
:data:`GPU_GENERATION_STEP_S`).

Measured 2026-11-29 on 2 shared cores (load average 5–6 from other jobs, ``OMP_NUM_THREADS=2``), see the
README's "On real models": peak RSS 6.4–7.0 GB in the stages that hold both fp32 checkpoints, 3.5 GB for the
full-shape analyses; extrapolated ≈ 1.2 GPU-hours for the default grid.

Run it (10–20 minutes on 2 CPU cores, ≈ 5 GB of disk under the temporary directory):
``LINGUA_REHEARSAL=1 OMP_NUM_THREADS=2 .venv/bin/pytest tests/benchmarks/test_bench_rehearsal.py
--benchmark-only -s``; the record is printed and written to ``$LINGUA_REHEARSAL_REPORT`` if set.
Without ``LINGUA_REHEARSAL=1`` it is skipped (it is not a CI job: CI skips benchmarks anyway).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
for path in (REPO, REPO / "tests" / "core"):  # the harness; tiny_models (random_bloom)
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

BLOOM_560M = dict(hidden_size=1024, n_layer=24, n_head=16, vocab_size=250_880)
if os.environ.get("LINGUA_REHEARSAL_SMALL") == "1":  # a smoke test of the machinery only: a tiny BLOOM
    BLOOM_560M = dict(hidden_size=64, n_layer=2, n_head=4, vocab_size=4096)
LANGUAGES = ("en", "zh")
REVISIONS = ("step0", "step1000")
CONCEPTS, PER_LABEL = 4, 8  # concepts kept, positives (and negatives) per concept
SIMILARITY, PROBE = 16, 16
PPL_WINDOWS = 1
LOGLIK_ITEMS = 8
GEN_SEEDS = 4
STEER_UNITS = 500  # RF's k at bloom-560m
MARK = "REHEARSAL-RECORD "

#: the full default bloom-560m grid (harness.profiles, harness.data, the claims), per stage: work units
FULL_LANGS, FULL_CKPTS = 10, 6
FULL_GRID = {
    "concept pools": FULL_CKPTS * FULL_LANGS * 1388,  # texts
    "expert scores": FULL_CKPTS * FULL_LANGS * 48,  # (checkpoint, language, concept) AP rows
    "similarity responses": FULL_CKPTS * FULL_LANGS * 100,  # texts
    "probe states": FULL_CKPTS * FULL_LANGS * 120,  # texts, 3 position seeds in one pass
    # LF-3's matrix (L² + 3L perplexities of 32 windows of 2,048 tokens) at late and at step 0
    "perplexity": 2 * (FULL_LANGS**2 + 3 * FULL_LANGS) * 32 * 2048,  # tokens
    "log-likelihoods": 3 * 2 * 157,  # LF-8: 157 cloze windows, two endings, three checkpoints
    # RF-4: 10 concepts × 100 seeds, unsteered + (steered, random units) × sources es and sw, at 3 checkpoints
    "generations": 3 * 10 * 100 * 5,  # samples of 64 tokens
    "mutual information": FULL_CKPTS * 45 * 48,  # (checkpoint, language pair, concept)
    "similarity analysis": FULL_CKPTS + 1,  # checkpoints (and the untrained model)
    "key regions": FULL_CKPTS + 1,
}
#: ASSUMED speed-up of one GPU machine (an A100/H100-class card in bf16, a host of ≥ 8 cores) over this
#: benchmark's CPU run (2 cores, fp32), per stage: 300× for batched forward passes (≈ 10⁵ tokens/s at bloom-560m's
#: 1.1 GFLOP per token and ~30 % of a card's bf16 peak, against the CPU's measured tokens/s), 100× for the
#: log-likelihoods' small batches, 30× for generation (64 sequential steps per batch: latency-bound), and 4× for
#: what runs on the CPU in either case (AP, MI, the analyses of cached responses: threads over 8 cores, not 2)
GPU_SPEEDUP = {
    "concept pools": 300, "similarity responses": 300, "probe states": 300, "perplexity": 300,
    "log-likelihoods": 100, "generations": 30,
    "expert scores": 4, "mutual information": 4, "similarity analysis": 4, "key regions": 4,
}
#: generation on a GPU is bound by the latency of its 64 sequential steps, not by the CPU's speed (which a shared
#: 2-core machine distorts most: OpenMP threads spin against other processes): ASSUMED 30 ms per step of a
#: batch of 100 seeds (24 layers, bf16, KV cache), i.e. batches × 64 × 30 ms
GPU_GENERATION_STEP_S, GPU_GENERATION_BATCH = 0.030, 100


# ------------------------------------------------------------------------------------ the data subset
class SubsetData:
    """The evaluation data cut to the rehearsal's budget (the same interface as ``EvalData``)."""

    def __init__(self, full):
        self._full = full
        self.languages = full.languages
        names = full.concept_names[:CONCEPTS]
        self._concepts = {}
        pool: list = []
        for name in names:
            concept = full.concept(name)
            pos = [k for k, y in zip(concept.keys, concept.labels) if y][:PER_LABEL]
            neg = [k for k, y in zip(concept.keys, concept.labels) if not y][:PER_LABEL]
            self._concepts[name] = type(concept)(name, pos + neg, np.array([True] * len(pos) + [False] * len(neg)),
                                                 concept.regex)
            pool += [k for k in pos + neg if k not in pool]
        rows = {k: i for i, k in enumerate(full.split_keys("concepts"))}
        self._pool_rows = [rows[k] for k in pool]
        self._pool_keys = pool
        self._counts = {"similarity": SIMILARITY, "probe": PROBE}
        self.data_hash = f"{full.data_hash}-rehearsal-{CONCEPTS}x{PER_LABEL}-{SIMILARITY}-{PROBE}"

    @property
    def concept_names(self) -> list[str]:
        return list(self._concepts)

    def split_keys(self, split: str) -> list:
        if split == "concepts":
            return list(self._pool_keys)
        return self._full.split_keys(split)[: self._counts.get(split)]

    def texts(self, split: str, lang: str) -> list[str]:
        texts = self._full.texts(split, lang)
        if split == "concepts":
            return [texts[i] for i in self._pool_rows]
        return texts[: self._counts.get(split)]

    def concept(self, name: str, min_positives: int = 1):
        return self._concepts[name]

    def concept_texts(self, name: str, lang: str, min_positives: int = 1):
        concept = self._concepts[name]
        index = {k: i for i, k in enumerate(self._pool_keys)}
        pool = self.texts("concepts", lang)
        return [pool[index[k]] for k in concept.keys], concept.labels


# ------------------------------------------------------------------------------------ building the run
def build_run(folder: Path) -> dict:
    """``folder/step0`` and ``folder/step1000``: bloom-560m-shaped BLOOMs with different random weights."""
    from tiny_models import random_bloom
    from transformers import BloomConfig

    from harness.data import training_corpus
    from harness.toy.recipe import load_recipe
    from harness.toy.tokenizer import save_tokenizer, train_tokenizer

    recipe = load_recipe(env_override=False)
    tokenizer = train_tokenizer(training_corpus(recipe.languages), recipe)
    config = BloomConfig(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, **BLOOM_560M)
    for seed, name in enumerate(REVISIONS):
        model = random_bloom(config, seed)
        model.save_pretrained(str(folder / name))
        save_tokenizer(tokenizer, folder / name)
        del model
    return {"units": len(REVISIONS), "unit": "checkpoints",
            "bytes_on_disk": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())}


# ------------------------------------------------------------------------------------ the stages
def _measurements(run: Path, cache_root: Path):
    from harness.data import load_eval_data
    from harness.measurement_cache import MeasurementCache
    from harness.measurements import Measurements, RunConfig

    config = RunConfig(model=str(run), languages=LANGUAGES, device="cpu", dtype="float32", progress=False,
                       checkpoints=REVISIONS)
    m = Measurements(config, cache=MeasurementCache(cache_root))
    m.__dict__["data"] = SubsetData(load_eval_data())
    return m


def _texts_tokens(m, split: str) -> int:
    tok = m.loaded_model(REVISIONS[0]).tokenizer
    return sum(len(tok(t, truncation=True, max_length=m.config.max_length)["input_ids"])
               for lang in LANGUAGES for t in m.data.texts(split, lang))


def stage_concept_pools(m) -> dict:
    for rev in REVISIONS:
        for lang in LANGUAGES:
            m.concept_pool_responses(rev, lang)
    n = len(m.data.texts("concepts", "en"))
    return {"units": n * len(LANGUAGES) * len(REVISIONS), "unit": "texts",
            "tokens": _texts_tokens(m, "concepts") * len(REVISIONS)}


def stage_expert_scores(m) -> dict:
    for rev in REVISIONS:
        for lang in LANGUAGES:
            m.expert_scores(rev, lang)
    return {"units": CONCEPTS * len(LANGUAGES) * len(REVISIONS), "unit": "AP rows"}


def stage_similarity_responses(m) -> dict:
    for rev in REVISIONS:
        m.similarity_responses(rev)
    return {"units": SIMILARITY * len(LANGUAGES) * len(REVISIONS), "unit": "texts",
            "tokens": _texts_tokens(m, "similarity") * len(REVISIONS)}


def stage_probe_states(m) -> dict:
    for rev in REVISIONS:
        m.probe_states_for(rev, [0, 1, 2])
    return {"units": PROBE * len(LANGUAGES) * len(REVISIONS), "unit": "texts"}


def stage_perplexity(m) -> dict:
    n_units = m.loaded_model(REVISIONS[0]).site.n_units
    zeroed = torch.randperm(n_units, generator=torch.Generator().manual_seed(0))[: min(STEER_UNITS, n_units // 10)]
    tokens = 0
    for rev in REVISIONS:
        for lang in LANGUAGES:
            for units in (None, zeroed):
                tokens += m.perplexity(rev, lang, zeroed=units, max_windows=PPL_WINDOWS).n_predicted
    return {"units": tokens, "unit": "tokens"}


def stage_loglikelihoods(m) -> dict:
    texts = m.data.texts("perplexity", "en")
    contexts, continuations = texts[:LOGLIK_ITEMS], [" " + t for t in texts[LOGLIK_ITEMS: 2 * LOGLIK_ITEMS]]
    for rev in REVISIONS:
        m.loglikelihoods(rev, contexts, continuations)
    return {"units": LOGLIK_ITEMS * len(REVISIONS), "unit": "continuations"}


def stage_generations(m) -> dict:
    from harness.metrics import topk_units

    for rev in REVISIONS:
        m.generations(rev, range(GEN_SEEDS))
        concept = m.data.concept_names[0]
        units = topk_units(m.expert_scores(rev, "en")[0], STEER_UNITS)
        m.generations(rev, range(GEN_SEEDS), units=units, values=m.positive_medians(rev, "en", concept)[units])
    return {"units": 2 * GEN_SEEDS * len(REVISIONS), "unit": "samples of 64 tokens"}


def stage_mutual_information(m) -> dict:
    from harness.analyses import experts

    first = time.perf_counter()
    for rev in REVISIONS:
        experts.mutual_information(experts.expert_scores(m, rev, LANGUAGES))
    cold = time.perf_counter() - first
    warm_run = _measurements(Path(m.config.model), m.cache.root)  # a warm rerun: nothing recomputed
    start = time.perf_counter()
    for rev in REVISIONS:
        experts.mutual_information(experts.expert_scores(warm_run, rev, LANGUAGES))
    return {"units": CONCEPTS * len(REVISIONS), "unit": "(pair, concept)", "cold_s": cold,
            "warm_s": time.perf_counter() - start, "warm_hits": warm_run.cache.hits,
            "warm_misses": warm_run.cache.misses}


def stage_full_shape_analyses(m) -> dict:
    """The derived analyses on random responses of the full default shape (no model)."""
    from harness.analyses.key_regions import count_key_regions
    from harness.analyses.similarity import analyse_similarity
    from harness.metrics import mutual_info_knn_batch

    gen = torch.Generator().manual_seed(0)
    n_units = 24 * 4096
    responses = torch.rand(FULL_LANGS * 100, n_units, generator=gen)
    language_ids = np.repeat(np.arange(FULL_LANGS), 100)
    meaning_ids = np.tile(np.arange(100), FULL_LANGS)
    languages = ("en", "es", "fr", "pt", "zh", "ar", "hi", "vi", "id", "sw")
    times = {}
    start = time.perf_counter()
    analyse_similarity(responses, language_ids, meaning_ids, languages, 24)
    times["similarity analysis"] = time.perf_counter() - start
    start = time.perf_counter()
    count_key_regions(responses, language_ids, meaning_ids, languages, 24)
    times["key regions"] = time.perf_counter() - start
    del responses
    ap = torch.rand(2, 48, n_units, generator=gen, dtype=torch.float64)
    start = time.perf_counter()
    mutual_info_knn_batch(ap[0, :4], ap[1, :4])
    times["mutual information, per (pair, concept)"] = (time.perf_counter() - start) / 4
    return {"units": 1, "unit": "checkpoint at full shape", "times": times}


STAGES = {
    "concept pools": stage_concept_pools,
    "expert scores": stage_expert_scores,
    "similarity responses": stage_similarity_responses,
    "probe states": stage_probe_states,
    "perplexity": stage_perplexity,
    "log-likelihoods": stage_loglikelihoods,
    "generations": stage_generations,
    "mutual information": stage_mutual_information,
    "full-shape analyses": stage_full_shape_analyses,
}
#: stages that load the checkpoints (loaded before the stage's clock starts; their load is reported)
LOADING = {"concept pools", "similarity responses", "probe states", "perplexity", "log-likelihoods", "generations"}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(stage: str, run: Path, cache_root: Path) -> dict:
    """Run one stage in this process and return its record."""
    start = time.perf_counter()
    if stage == "build":
        record = build_run(run)
        return {"stage": stage, "wall_s": time.perf_counter() - start, "peak_rss_mb": _peak_rss_mb(), **record}
    m = _measurements(run, cache_root)
    if stage != "full-shape analyses":  # the plan, the data and each checkpoint's skeleton (or weights) first
        for rev in m.plan.series:
            known = m.loaded_model(rev)
            if stage in LOADING:
                m.weights_of(known)
    load_s = time.perf_counter() - start
    rss_loaded = _peak_rss_mb()
    start = time.perf_counter()
    record = STAGES[stage](m)
    return {"stage": stage, "wall_s": time.perf_counter() - start, "load_s": load_s, "peak_rss_mb": _peak_rss_mb(),
            "peak_rss_after_load_mb": rss_loaded, "loads": len(m.loads), "hits": m.cache.hits,
            "misses": m.cache.misses, **record}


def run_stage(stage: str, run: Path, cache_root: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, stage, str(run), str(cache_root)], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise AssertionError(f"stage {stage!r} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len(MARK):])


# ------------------------------------------------------------------------------------ extrapolation
def extrapolate(records: dict[str, dict]) -> dict:
    """CPU seconds per work unit × the full grid's units, and ÷ the assumed GPU speed-up (labelled)."""
    per_unit = {name: r["wall_s"] / r["units"] for name, r in records.items() if name in FULL_GRID}
    full = records["full-shape analyses"]["times"]
    per_unit["similarity analysis"] = full["similarity analysis"]
    per_unit["key regions"] = full["key regions"]
    per_unit["mutual information"] = full["mutual information, per (pair, concept)"]
    cpu = {name: per_unit[name] * FULL_GRID[name] for name in FULL_GRID if name in per_unit}
    gpu = {name: seconds / GPU_SPEEDUP[name] for name, seconds in cpu.items()}
    gpu["generations"] = -(-FULL_GRID["generations"] // GPU_GENERATION_BATCH) * 64 * GPU_GENERATION_STEP_S
    return {"label": "EXTRAPOLATION from a 2-core CPU rehearsal, not a GPU measurement",
            "full_grid_units": FULL_GRID, "assumed_gpu_speedup": GPU_SPEEDUP,
            "assumed_gpu_generation_step_s": GPU_GENERATION_STEP_S,
            "cpu_seconds": cpu, "gpu_seconds": gpu, "gpu_hours_total": sum(gpu.values()) / 3600,
            "cpu_hours_total": sum(cpu.values()) / 3600}


def _table(records: dict[str, dict], extra: dict) -> str:
    lines = [f"{'stage':24} {'wall s':>8} {'units':>8} {'unit':22} {'peak RSS MB':>12} {'GPU s (extrap.)':>16}"]
    for name, r in records.items():
        gpu = extra["gpu_seconds"].get(name)
        lines.append(f"{name:24} {r['wall_s']:8.1f} {r['units']:8} {r['unit'][:22]:22} {r['peak_rss_mb']:12.0f} "
                     + (f"{gpu:16.0f}" if gpu is not None else ""))
    for name in ("mutual information", "similarity analysis", "key regions"):
        lines.append(f"{'  full grid: ' + name:38} CPU {extra['cpu_seconds'][name]:8.0f} s")
    lines.append(f"full default grid on one GPU: {extra['gpu_hours_total']:.2f} h ({extra['label']})")
    return "\n".join(lines)


if __name__ == "__main__":
    record = child(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
    print(MARK + json.dumps(record), flush=True)
else:
    import pytest

    pytest.importorskip("pytest_benchmark")

    @pytest.mark.skipif(os.environ.get("LINGUA_REHEARSAL") != "1",
                        reason="the rehearsal at bloom-560m's shape takes 10–20 min and 5 GB: set LINGUA_REHEARSAL=1")
    def test_rehearsal_at_bloom_560m_shape(benchmark, tmp_path):
        run, cache_root = tmp_path / "run", tmp_path / "measurements"
        records: dict[str, dict] = {}

        def rehearse():
            for stage in ("build", *STAGES):
                records[stage] = run_stage(stage, run, cache_root)
                print(f"rehearsal: {stage}: {records[stage]['wall_s']:.1f} s, "
                      f"peak RSS {records[stage]['peak_rss_mb']:.0f} MB", flush=True)

        benchmark.pedantic(rehearse, rounds=1, iterations=1)
        extra = extrapolate({k: v for k, v in records.items() if k != "build"})
        report = {"records": records, "extrapolation": extra}
        benchmark.extra_info.update(report)
        print(_table({k: v for k, v in records.items()}, extra))
        if os.environ.get("LINGUA_REHEARSAL_REPORT"):
            Path(os.environ["LINGUA_REHEARSAL_REPORT"]).write_text(json.dumps(report, indent=1))
        # each checkpoint loaded once per stage that measures it; nothing measured twice
        assert all(records[s]["loads"] == len(REVISIONS) for s in LOADING)
        assert records["expert scores"]["loads"] == 0 and records["mutual information"]["loads"] == 0
        mi = records["mutual information"]
        assert mi["warm_misses"] == 0 and mi["warm_hits"] > 0  # a warm rerun recomputes no MI
        # bounded memory: a measurement stage holds both fp32 checkpoints (4.5 GB) and at most 3 GB besides
        weights_mb = records["build"]["bytes_on_disk"] / 2**20
        assert max(records[s]["peak_rss_mb"] for s in STAGES if s != "full-shape analyses") < weights_mb + 3 * 1024
