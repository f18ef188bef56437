"""Sampling from the prompt token under an intervention, batched across seeds, reproducible per seed.

RF App. E: prompt = the BOS token only (``</s>`` for BLOOM), nucleus sampling top_p 0.9,
temperature 0.8, at most 64 new tokens, one generation per seed. Each row of a batch draws from
its own ``torch.Generator`` seeded with that row's seed, so a seed's text does not depend on
which other seeds share its batch (ml-selfcond's script forgot to apply its seeds at all).
"""

from __future__ import annotations

import contextlib
import inspect
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

import torch

from harness.hooks import Intervention, intervene

if TYPE_CHECKING:  # the report imports the claims, and must not need the model-loading stack
    from harness.loading import LoadedModel


@dataclass(frozen=True)
class GenerationConfig:
    top_p: float = 0.9
    temperature: float = 0.8
    max_new_tokens: int = 64

    def __post_init__(self):
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must lie in (0, 1]")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be ≥ 1")


#: the first number of candidates :func:`nucleus_probabilities` sorts; ×4 while a row's nucleus needs more
NUCLEUS_FIRST_K = 64


def nucleus_probabilities(logits: torch.Tensor, top_p: float, temperature: float) -> torch.Tensor:
    """[batch, vocab] logits → probabilities restricted to the smallest set with mass ≥ top_p.

    Only the most probable candidates are sorted (``topk``): first :data:`NUCLEUS_FIRST_K`, four times
    as many while some row's candidates hold less than ``top_p``, and the whole vocabulary once a
    sixteenth of it would be needed (a larger ``topk`` costs as much as the sort). The kept set and
    its probabilities are those of a full sort (the cumulative mass of the sorted prefix is the same
    sum; bit for bit on the CPU, tested against :func:`sorted_nucleus_probabilities`), so a seed draws
    the same tokens. Which of several tokens of exactly equal probability at the edge of the nucleus
    is kept is arbitrary, as it is with a full sort.
    """
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, order, mass = _nucleus_candidates(probs, top_p)
    sorted_probs = sorted_probs.masked_fill(mass - sorted_probs >= top_p, 0.0)
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return kept / kept.sum(dim=-1, keepdim=True)


def _nucleus_candidates(probs: torch.Tensor, top_p: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(values, indices, cumulative mass) of the fewest most probable entries per row, in descending order,
    after which every row's mass has reached ``top_p`` (nothing further is kept); the whole sorted
    vocabulary when that would take a sixteenth of it."""
    vocab = probs.shape[-1]
    k = NUCLEUS_FIRST_K
    while 16 * k < vocab:
        top, order = probs.topk(k, dim=-1)
        mass = top.cumsum(dim=-1)
        if bool((mass[..., -1] >= top_p).all()):
            return top, order, mass
        k *= 4
    top, order = probs.sort(dim=-1, descending=True)
    return top, order, top.cumsum(dim=-1)


def sorted_nucleus_probabilities(logits: torch.Tensor, top_p: float, temperature: float) -> torch.Tensor:
    """:func:`nucleus_probabilities` by its definition, sorting the whole vocabulary (the reference that
    the tests and the sampler's benchmark compare with)."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return kept / kept.sum(dim=-1, keepdim=True)


#: models with fewer parameters run on one intra-op thread while the machine is busy (:func:`small_model_threads`)
SMALL_MODEL_PARAMETERS = 20_000_000
#: the machine counts as busy when its 1-minute load average exceeds this many times its cores
BUSY_LOAD_PER_CORE = 1.5


def machine_is_busy() -> bool:
    """Whether other processes compete for the cores: 1-minute load average > ``BUSY_LOAD_PER_CORE`` × cores
    (False where the system gives no load average)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return False
    return load > BUSY_LOAD_PER_CORE * (os.cpu_count() or 1)


@contextlib.contextmanager
def small_model_threads(module: torch.nn.Module) -> Iterator[None]:
    """One intra-op thread while a small model (< :data:`SMALL_MODEL_PARAMETERS`) runs on the CPU of a busy
    machine (:func:`machine_is_busy`); the previous count after.

    A small model's operations (a hidden size of 32 to 128) gain little from a second thread and lose a
    lot when the threads wait for each other: on a 2-core machine at a load average of 6, two OpenMP
    threads made a tiny BLOOM's generation 16× slower in wall time (50 s against 3.1 s for 100 seeds). On
    an idle machine two threads are faster (the toy, 2026-11-29, load 0.03: 700 concept verses pooled in
    0.85–0.92 s against 1.55–1.62 s, 40 generations in 1.32 s against 1.64 s), so the thread count
    follows the load. The results do not depend on it (the toy's texts and perplexities are bit-identical
    at 1 and 2 threads).
    """
    params = list(module.parameters())
    small = bool(params) and params[0].device.type == "cpu" and sum(p.numel() for p in params) < SMALL_MODEL_PARAMETERS
    before = torch.get_num_threads()
    if not small or before == 1 or not machine_is_busy():
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def even_batches(n: int, batch_size: int) -> list[range]:
    """``range(n)`` cut into the fewest batches of at most ``batch_size``, as equal as can be
    (100 seeds at 32: four batches of 25, not 32, 32, 32 and 4).

    >>> [len(b) for b in even_batches(100, 32)], [len(b) for b in even_batches(5, 8)]
    ([25, 25, 25, 25], [5])
    """
    if batch_size < 1:
        raise ValueError("batch_size must be ≥ 1")
    n_batches = -(-n // batch_size)
    bounds = [round(i * n / n_batches) for i in range(n_batches + 1)] if n else [0]
    return [range(a, b) for a, b in zip(bounds, bounds[1:])]


def _cache_argument(module: torch.nn.Module) -> str:
    """The name under which ``module.forward`` takes the key/value cache: ``cache`` in transformers
    releases that deprecate ``past_key_values`` (5.x), ``past_key_values`` before."""
    return "cache" if "cache" in inspect.signature(module.forward).parameters else "past_key_values"


def _returned_cache(output):
    cache = output.get("cache", None)
    return cache if cache is not None else output.get("past_key_values", None)


@torch.inference_mode()
def generate(
    lm: LoadedModel,
    seeds: Sequence[int],
    *,
    config: GenerationConfig = GenerationConfig(),
    interventions: Intervention | Sequence[Intervention] | None = None,
    batch_size: int = 32,
    progress: bool = True,
    desc: str = "generate",
) -> list[str]:
    """One text per seed, generated from the prompt token alone; the prompt is not included.

    Seeds run in the fewest batches of at most ``batch_size`` rows, of equal size (:func:`even_batches`).
    """
    from harness.extract import progress_bar

    seeds = [int(s) for s in seeds]
    prompt = lm.prompt_token_id()
    texts: list[str] = []
    with small_model_threads(lm.module), intervene(lm.site, interventions), \
            progress_bar(len(seeds), desc, "sample", progress) as bar:
        for rows in even_batches(len(seeds), batch_size):
            chunk = [seeds[i] for i in rows]
            texts.extend(_sample_batch(lm, chunk, prompt, config))
            bar.update(len(chunk))
    return texts


def _sample_batch(lm: LoadedModel, chunk: list[int], prompt: int, config: GenerationConfig) -> list[str]:
    """The texts of one batch of seeds, each row drawing from its own generator."""
    eos = lm.tokenizer.eos_token_id
    cache_name = _cache_argument(lm.module)
    generators = [torch.Generator(device=lm.device).manual_seed(s) for s in chunk]
    tokens = torch.full((len(chunk), 1), prompt, dtype=torch.long, device=lm.device)
    output = lm.module(input_ids=tokens, use_cache=True)
    new: list[torch.Tensor] = []
    finished = torch.zeros(len(chunk), dtype=torch.bool, device=lm.device)
    for _ in range(config.max_new_tokens):
        probs = nucleus_probabilities(output.logits[:, -1], config.top_p, config.temperature)
        step = torch.stack([torch.multinomial(p, 1, generator=g) for p, g in zip(probs, generators)])
        new.append(step)
        if eos is not None:
            finished |= step.squeeze(1) == eos
            if bool(finished.all()):
                break
        output = lm.module(input_ids=step, use_cache=True, **{cache_name: _returned_cache(output)})
    texts = []
    for row in torch.cat(new, dim=1).cpu().tolist():
        if eos is not None and eos in row:
            row = row[: row.index(eos)]
        texts.append(lm.tokenizer.decode(row, skip_special_tokens=True))
    return texts
