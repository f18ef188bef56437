"""Multiple-choice scoring: the log-likelihood of a continuation after its context (LF App. B)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from harness.errors import NonFiniteActivationError
from harness.loading import LoadedModel


@torch.inference_mode()
def continuation_loglikelihoods(
    lm: LoadedModel,
    contexts: Sequence[str],
    continuations: Sequence[str],
    *,
    batch_size: int = 8,
    max_tokens: int = 2048,
) -> torch.Tensor:
    """``log p(continuation | context)`` summed over the continuation's tokens, per pair ``[n]``.

    Contexts follow the tokenizer's BOS where it has one (``LoadedModel.special_prefix``); without
    one, an empty context is replaced by the prompt token. Contexts are cut from the left to fit
    ``max_tokens`` together with the continuation.
    """
    tok = lm.tokenizer
    ctx = tok(list(contexts), add_special_tokens=False)["input_ids"] if contexts else []
    cont = tok(list(continuations), add_special_tokens=False)["input_ids"] if continuations else []
    prefix = list(lm.special_prefix)  # a LLaMA-type tokenizer's BOS opens every context
    seqs, starts = [], []
    for i, (c, k) in enumerate(zip(ctx, cont)):
        if not k:
            raise ValueError(f"continuation {i} has no tokens")
        if len(k) >= max_tokens:
            raise ValueError(f"continuation {i} has {len(k)} tokens, more than the window of {max_tokens}")
        head = prefix + c if prefix else (c or [lm.prompt_token_id()])
        ids = (head + k)[-max_tokens:]
        seqs.append(ids)
        starts.append(len(ids) - len(k))
    out = torch.empty(len(seqs), dtype=torch.float64)
    order = np.argsort([-len(s) for s in seqs], kind="stable")
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    for a in range(0, len(order), batch_size):
        rows = order[a : a + batch_size]
        width = max(len(seqs[i]) for i in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            input_ids[r, : len(seqs[i])] = torch.tensor(seqs[i])
            mask[r, : len(seqs[i])] = 1
        logits = lm.module(input_ids=input_ids.to(lm.device), attention_mask=mask.to(lm.device), use_cache=False).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        token_lp = logp.gather(-1, input_ids[:, 1:].to(lm.device).unsqueeze(-1)).squeeze(-1).double().cpu()
        for r, i in enumerate(rows):
            out[i] = token_lp[r, starts[i] - 1 : len(seqs[i]) - 1].sum()
    if not torch.isfinite(out).all():
        raise NonFiniteActivationError(f"{lm.label}: continuation log-likelihoods are not finite")
    return out
