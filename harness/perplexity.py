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
from harness.hooks import Intervention, intervene
from harness.loading import LoadedModel


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
    ``max_position_embeddings``); longer windows would index past learned position embeddings."""
    limit = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    return min(int(limit), cap) if limit else cap


@torch.inference_mode()
def perplexity(
    lm: LoadedModel,
    texts: Sequence[str],
    *,
    window: int | None = None,
    batch_size: int = 8,
    interventions: Intervention | Sequence[Intervention] | None = None,
) -> Perplexity:
    """Perplexity of ``lm`` on ``texts`` joined with blank lines, optionally under interventions."""
    if not texts:
        raise ValueError("no text to measure perplexity on")
    if window is None:
        window = lm.profile.perplexity_window if lm.profile else _default_window(lm.module.config)
    ids = lm.tokenizer("\n\n".join(texts), add_special_tokens=False)["input_ids"]
    chunks = windows(ids, window)
    nll_sum, n_predicted = 0.0, 0
    with intervene(lm.site, interventions):
        for start in range(0, chunks.shape[0], batch_size):
            batch = chunks[start : start + batch_size].to(lm.device)
            logits = lm.module(input_ids=batch, use_cache=False).logits[:, :-1].float()
            targets = batch[:, 1:]
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum")
            nll_sum += float(nll)
            n_predicted += targets.numel()
    if not math.isfinite(nll_sum):
        raise NonFiniteActivationError(f"{lm.label}: perplexity is not finite")
    return Perplexity(math.exp(nll_sum / n_predicted), nll_sum, n_predicted, int(chunks.shape[0]))
