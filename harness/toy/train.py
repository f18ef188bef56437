"""The training run: tokenizer, data order, optimisation loop, checkpoints and the manifest.

``train_toy(recipe, out_dir, seed)`` writes the whole run into a temporary sibling of ``out_dir``
and renames it on success, so ``out_dir`` is either absent/unchanged or complete.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import math
import os
import platform
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Mapping, Sequence

import torch

from harness.cache import atomic_directory, sha256_file

from .batches import corpus_hash, draw_windows
from .layout import MANIFEST, TOKENIZER_DIR, WEIGHTS_FILE, step_dir_name
from .model import build_model, fused_gelu, parameter_groups
from .recipe import ToyRecipe, checkpoint_steps
from .tokenizer import save_tokenizer, train_tokenizer

log = logging.getLogger(__name__)


def lr_at(recipe: ToyRecipe, step: int) -> float:
    """Learning rate of update ``step`` (1-based): linear warm-up, cosine decay to the floor."""
    if recipe.warmup_steps and step <= recipe.warmup_steps:
        return recipe.lr * step / recipe.warmup_steps
    span = max(1, recipe.steps - recipe.warmup_steps)
    progress = min(1.0, (step - recipe.warmup_steps) / span)
    floor = recipe.min_lr_ratio
    return recipe.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def versions() -> dict[str, str]:
    import tokenizers
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


@contextlib.contextmanager
def torch_threads(n: int):
    """Run with ``n`` torch threads, restoring the caller's count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


# glibc's mallopt parameters, and the state its dynamic mmap threshold reaches (32 MB on 64-bit, trim at twice that)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_GLIBC_MMAP_MAX = 32 << 20


def _glibc():
    """glibc's C library (for ``mallopt``/``malloc_trim``), or None elsewhere (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return None


@contextlib.contextmanager
def steady_heap(keep_bytes: int = 256 << 20):
    """Serve the training loop's large tensors from a heap that keeps its pages (glibc only).

    Every step allocates and frees tens of MB (logits [batch × seq_len, vocab], their gradients); by
    default glibc maps large blocks afresh and hands freed heap tops back to the kernel, so each step
    re-faulted ~60 MB of zeroed pages: 15,000 page faults and ~15 % of a step's CPU time in the toy.
    Inside the block, blocks below ``keep_bytes`` come from the heap and up to twice that stays mapped.
    Where tensors live does not change any arithmetic (the weights are bit-identical). glibc cannot
    report its previous settings, so on exit they become those its own dynamic threshold reaches in a
    process that has freed a block of 32 MB or more (mmap above 32 MB, trim above 64 MB), and the
    memory kept is returned (``malloc_trim``).
    """
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(_M_MMAP_THRESHOLD, int(keep_bytes))
    libc.mallopt(_M_TRIM_THRESHOLD, 2 * int(keep_bytes))
    try:
        yield
    finally:
        libc.mallopt(_M_MMAP_THRESHOLD, _GLIBC_MMAP_MAX)
        libc.mallopt(_M_TRIM_THRESHOLD, 2 * _GLIBC_MMAP_MAX)
        libc.malloc_trim(0)


@contextlib.contextmanager
def _quiet_transformers():
    """No "Writing model shards" bar per checkpoint (it would interleave with ours)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if was_enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def train_step(model, optimizer, batch: torch.Tensor, grad_clip: float = 0.0) -> float:
    """One optimisation step on ``batch`` [batch, seq_len] (labels = inputs, shifted inside the model)."""
    x = batch.long()
    loss = model(input_ids=x, labels=x, use_cache=False).loss
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def make_optimizer(model, recipe: ToyRecipe) -> torch.optim.Optimizer:
    """AdamW (torch's fused CPU kernel where available) with the recipe's hyper-parameters."""
    kwargs = dict(lr=recipe.lr, betas=(recipe.adam_beta1, recipe.adam_beta2), eps=recipe.adam_eps)
    groups = parameter_groups(model, recipe.weight_decay)
    try:
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except (RuntimeError, TypeError):  # pragma: no cover - torch builds without the fused CPU kernel
        return torch.optim.AdamW(groups, **kwargs)


def _save_checkpoint(model, tokenizer_dir: Path, out: Path) -> dict:
    with _quiet_transformers():
        model.save_pretrained(str(out))
    for item in tokenizer_dir.iterdir():
        shutil.copy2(item, out / item.name)
    files = {p.name: sha256_file(p) for p in sorted(out.iterdir()) if p.is_file()}
    if WEIGHTS_FILE not in files:  # pragma: no cover - save_pretrained always writes safetensors
        raise RuntimeError(f"save_pretrained wrote no {WEIGHTS_FILE} into {out}")
    return {"dir": out.name, "weights_sha256": files[WEIGHTS_FILE], "files": files}


def train_toy(
    recipe: ToyRecipe,
    out_dir: Path | str,
    seed: int | None = None,
    progress: bool = True,
    *,
    corpus: Mapping[str, Sequence[str]] | None = None,
) -> dict:
    """Train the toy into ``out_dir`` (atomically) and return its manifest.

    ``corpus`` defaults to ``harness.data.training_corpus(recipe.languages)``; ``seed`` to
    ``recipe.seed``.
    """
    seed = recipe.seed if seed is None else int(seed)
    with atomic_directory(Path(out_dir)) as tmp:
        manifest = _train_into(tmp, recipe, seed, progress, corpus)
    return manifest


def warn_if_busy(threads: int) -> None:
    """Warn when other processes already occupy the cores.

    Waiting OpenMP threads spin by default; on oversubscribed cores each op's barrier then waits
    for a descheduled thread, and two threads trained 5x slower than one here (260 against 1,450
    tokens/s with two other busy processes on 2 cores). ``OMP_WAIT_POLICY=PASSIVE``, set before
    Python starts, avoids it and gives bit-identical weights (``ensure_toy`` trains in such a child
    process when the machine is busy, see ``harness.toy.worker``).
    """
    try:
        load = os.getloadavg()[0]
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    except OSError:  # pragma: no cover - no load average on this platform
        return
    if threads > 1 and load > cores:
        log.warning(
            "training the toy with %d threads on %d cores while the load average is %.1f: expect it to "
            "take several times longer than on an idle machine%s", threads, cores, load,
            "" if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
            else " (start Python with OMP_WAIT_POLICY=PASSIVE to make busy cores cost less)",
        )


# The tokenizer and data order of the last run in this process, by what they depend on: a run that differs
# only in the model (the family's other size, e.g. toy-s after toy) reuses them instead of training the
# same tokenizer and tokenizing the same windows again (~6 s on 2 idle cores). Neither is modified by a run.
_PREPARED: dict[tuple, tuple] = {}
_PREPARED_LOCK = threading.Lock()


def _data_fields(recipe: ToyRecipe, data_hash: str, seed: int) -> tuple:
    """Everything the tokenizer (``train_tokenizer``) and the windows (``draw_windows``) are computed from."""
    return (
        data_hash, recipe.languages, recipe.language_weights, recipe.vocab_size, recipe.tokenizer_fraction,
        recipe.steps, recipe.batch_size, recipe.seq_len, seed,
    )


def _train_into(root: Path, recipe: ToyRecipe, seed: int, progress: bool, corpus) -> dict:
    from tqdm.auto import tqdm

    warn_if_busy(recipe.threads)
    started = time.perf_counter()
    cpu_started = time.process_time()
    if corpus is None:
        from harness.data import training_corpus

        corpus = training_corpus(recipe.languages)
    data_hash = corpus_hash(corpus, recipe.languages)
    data_ready = time.perf_counter()

    key = _data_fields(recipe, data_hash, seed)
    with _PREPARED_LOCK:
        remembered = _PREPARED.get(key)
    tokenizer = remembered[0] if remembered else train_tokenizer(corpus, recipe)
    tokenizer_dir = root / TOKENIZER_DIR
    save_tokenizer(tokenizer, tokenizer_dir)
    tokenizer_files = {p.name: sha256_file(p) for p in sorted(tokenizer_dir.iterdir())}
    tokenizer_ready = time.perf_counter()
    windows = remembered[1] if remembered else draw_windows(corpus, recipe, tokenizer, seed)
    with _PREPARED_LOCK:
        _PREPARED.clear()  # the last run's only: ~10 MB
        _PREPARED[key] = (tokenizer, windows)
    tokens = windows.tokens
    prepared = time.perf_counter()

    saves = set(checkpoint_steps(recipe.steps))
    checkpoints: dict[str, dict] = {}
    log: list[dict] = []
    batch, tokens_per_step = recipe.batch_size, recipe.batch_size * recipe.seq_len
    save_seconds = 0.0
    with torch_threads(recipe.threads), steady_heap():
        model = build_model(recipe, seed, vocab_size=len(tokenizer))
        n_params = sum(p.numel() for p in model.parameters())
        optimizer = make_optimizer(model, recipe)

        def save(step: int) -> None:
            nonlocal save_seconds
            t = time.perf_counter()
            model.eval()
            checkpoints[str(step)] = _save_checkpoint(model, tokenizer_dir, root / step_dir_name(step))
            model.train()
            save_seconds += time.perf_counter() - t

        save(0)
        model.train()
        bar = tqdm(
            total=recipe.steps, desc=f"training toy model (seed {seed})", unit="step",
            file=sys.stderr, disable=not progress, dynamic_ncols=True,
        )
        train_started, saved_before = time.perf_counter(), save_seconds
        with bar, fused_gelu(model, recipe.fused_gelu):
            for step in range(1, recipe.steps + 1):
                t = time.perf_counter()
                lr = lr_at(recipe, step)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                value = train_step(model, optimizer, tokens[(step - 1) * batch : step * batch], recipe.grad_clip)
                if not math.isfinite(value):
                    raise FloatingPointError(f"toy training diverged: loss {value} at step {step}")
                dt = time.perf_counter() - t
                log.append(
                    {"step": step, "loss": round(value, 5), "lr": lr, "tokens_per_s": round(tokens_per_step / dt, 1)}
                )
                bar.update(1)
                if step % 16 == 0 or step == recipe.steps:
                    bar.set_postfix(loss=f"{value:.3f}", refresh=False)
                if step in saves:
                    save(step)
        train_seconds = time.perf_counter() - train_started - (save_seconds - saved_before)

    wall = time.perf_counter() - started
    manifest = {
        "format": recipe.format,
        "recipe_id": recipe.identity(data_hash),
        "seed": seed,
        "recipe": recipe.to_dict(),
        "data_hash": data_hash,
        "corpus": {
            "verses": {lang: len(corpus[lang]) for lang in recipe.languages},
            "verses_tokenized": windows.verses_tokenized,
            "tokens_per_language": windows.tokens_per_language,
        },
        "tokenizer": {"dir": TOKENIZER_DIR, "vocab_size": len(tokenizer), "files": tokenizer_files},
        "model": {
            "class": type(model).__name__,
            "parameters": n_params,
            "mlp_units_per_layer": 4 * recipe.hidden_size,
            "mlp_units": 4 * recipe.hidden_size * recipe.n_layer,
        },
        "versions": versions(),
        "threads": recipe.threads,
        "checkpoints": checkpoints,
        "tokens_per_step": tokens_per_step,
        "tokens_seen": tokens_per_step * recipe.steps,
        "final_loss": log[-1]["loss"] if log else None,
        "timing": {
            "wall_s": round(wall, 2),
            "prepare_s": round(prepared - started, 2),
            "data_s": round(data_ready - started, 2),
            "tokenizer_s": round(tokenizer_ready - data_ready, 2),
            "windows_s": round(prepared - tokenizer_ready, 2),
            "train_s": round(train_seconds, 2),
            "checkpoint_s": round(save_seconds, 2),
            "cpu_s": round(time.process_time() - cpu_started, 2),
            "tokens_per_s": round(tokens_per_step * recipe.steps / max(train_seconds, 1e-9), 1),
        },
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "log": log,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest
