"""Sampling from the prompt token under an intervention, batched across seeds, reproducible per seed.

RF App. E: prompt = the BOS token only (``</s>`` for BLOOM), nucleus sampling top_p 0.9,
temperature 0.8, at most 64 new tokens, one generation per seed. Each row of a batch draws from
its own ``torch.Generator`` seeded with that row's seed, so a seed's text does not depend on
which other seeds share its batch (ml-selfcond's script forgot to apply its seeds at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch
from tqdm.auto import tqdm

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


def nucleus_probabilities(logits: torch.Tensor, top_p: float, temperature: float) -> torch.Tensor:
    """[batch, vocab] logits → probabilities restricted to the smallest set with mass ≥ top_p."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return kept / kept.sum(dim=-1, keepdim=True)


@torch.inference_mode()
def generate(
    lm: LoadedModel,
    seeds: Sequence[int],
    *,
    config: GenerationConfig = GenerationConfig(),
    interventions: Intervention | Sequence[Intervention] | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> list[str]:
    """One text per seed, generated from the prompt token alone; the prompt is not included."""
    seeds = [int(s) for s in seeds]
    prompt = lm.prompt_token_id()
    eos = lm.tokenizer.eos_token_id
    texts: list[str] = []
    with intervene(lm.site, interventions), tqdm(
        total=len(seeds), desc="generate", unit="sample", disable=None if progress else True, leave=False
    ) as bar:
        for start in range(0, len(seeds), batch_size):
            chunk = seeds[start : start + batch_size]
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
                output = lm.module(input_ids=step, past_key_values=output.past_key_values, use_cache=True)
            sampled = torch.cat(new, dim=1).cpu().tolist()
            for row in sampled:
                if eos is not None and eos in row:
                    row = row[: row.index(eos)]
                texts.append(lm.tokenizer.decode(row, skip_special_tokens=True))
            bar.update(len(chunk))
    return texts
