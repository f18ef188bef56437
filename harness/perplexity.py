"""Per-language perplexity over held-out text, with or without an intervention.

LF §4.3 as the reference code does it: the texts are joined with blank lines, tokenized once and
cut into non-overlapping windows of ``window`` tokens; the remainder is dropped (kept only when
it is the sole window). Perplexity is exp of the token-weighted mean NLL of every predicted token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from harness.errors import NonFiniteActivationError
from harness.extract import progress_bar
from harness.generation import small_model_threads
from harness.hooks import Intervention, intervene
from harness.loading import LoadedModel
from harness.profiles import config_window


@dataclass(frozen=True)
class Perplexity:
    perplexity: float
    nll_sum: float
    n_predicted: int
    n_windows: int

    @property
    def mean_nll(self) -> float:
        return self.nll_sum / self.n_predicted


def windows(token_ids: Sequence[int], window: int) -> torch.Tensor:
    """Non-overlapping windows [n_windows, window]; a lone shorter text becomes one window."""
    if window < 2:
        raise ValueError("window must be ≥ 2 tokens")
    ids = torch.as_tensor(list(token_ids), dtype=torch.long)
    if ids.numel() < 2:
        raise ValueError("need at least 2 tokens to measure perplexity")
    n_full = ids.numel() // window
    if n_full == 0:
        return ids.unsqueeze(0)
    return ids[: n_full * window].view(n_full, window)


def _default_window(config, cap: int = 1024) -> int:
    """1024 tokens, or fewer where the model has fewer positions (GPT-2 ``n_positions``, OPT/LLaMA
    ``max_position_embeddings``); longer windows would index past learned position embeddings
    (:func:`harness.profiles.config_window`)."""
    return config_window(config, cap)


#: fp32 log-probabilities are computed for at most this many vocabulary entries at once (64 Mi floats,
#: 256 MiB): with BLOOM's 250,880-token vocabulary, 267 positions per step
LOG_SOFTMAX_ELEMENTS = 1 << 26


def nll_sum(logits: torch.Tensor, targets: torch.Tensor, *, max_elements: int | None = None) -> float:
    """Summed negative log-likelihood of ``targets`` [n] under ``logits`` [n, vocab] (any dtype).

    The log-softmax runs in float32 over chunks of positions, so at most ``max_elements`` fp32 values
    exist at once (default :data:`LOG_SOFTMAX_ELEMENTS`; the logits of a batch stay in the model's
    dtype); the chunks' sums are added in float64.
    """
    step = max(1, (max_elements or LOG_SOFTMAX_ELEMENTS) // max(1, logits.shape[-1]))
    total = 0.0
    for start in range(0, logits.shape[0], step):
        chunk = logits[start : start + step].float()
        total += float(F.cross_entropy(chunk, targets[start : start + step], reduction="sum").double())
    return total


@torch.inference_mode()
def perplexity(
    lm: LoadedModel,
    texts: Sequence[str],
    *,
    window: int | None = None,
    batch_size: int = 8,
    interventions: Intervention | Sequence[Intervention] | None = None,
    progress: bool = False,
    desc: str = "perplexity",
) -> Perplexity:
    """Perplexity of ``lm`` on ``texts`` joined with blank lines, optionally under interventions.

    ``batch_size`` windows run per forward pass; the NLL of their predicted tokens is summed
    chunk by chunk (:func:`nll_sum`), so the full-vocabulary fp32 logits of a whole batch never exist.
    """
    if not texts:
        raise ValueError("no text to measure perplexity on")
    if batch_size < 1:
        raise ValueError("batch_size must be ≥ 1")
    if window is None:
        window = lm.profile.perplexity_window if lm.profile else _default_window(lm.module.config)
    ids = lm.tokenizer("\n\n".join(texts), add_special_tokens=False)["input_ids"]
    chunks = windows(ids, window)
    total, n_predicted = 0.0, 0
    with small_model_threads(lm.module), intervene(lm.site, interventions), \
            progress_bar(chunks.shape[0], desc, "window", progress) as bar:
        for start in range(0, chunks.shape[0], batch_size):
            batch = chunks[start : start + batch_size].to(lm.device)
            logits = lm.module(input_ids=batch, use_cache=False).logits[:, :-1]
            targets = batch[:, 1:]
            total += nll_sum(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            n_predicted += targets.numel()
            del logits
            bar.update(batch.shape[0])
    if not math.isfinite(total):
        raise NonFiniteActivationError(f"{lm.label}: perplexity is not finite")
    return Perplexity(math.exp(total / n_predicted), total, n_predicted, int(chunks.shape[0]))
