"""Batched extraction of pooled neuron responses and hidden states.

Sentences are tokenized once, sorted by length and batched so that padding is minimal; results
are written back in the caller's order, so they do not depend on the batch size. Pooling runs
inside the hooks (``harness.hooks.record_pooled``), so memory is O(sentences × neurons).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from harness.errors import NonFiniteActivationError
from harness.generation import small_model_threads
from harness.hooks import Intervention, intervene, record_pooled
from harness.loading import LoadedModel


@dataclass
class PooledResponses:
    """Pooled MLP responses, one row per sentence in input order.

    ``max`` and ``mean``: [n_sentences, n_units] float32 (flat neuron index, see NeuronSite);
    ``n_tokens``: [n_sentences] real tokens per sentence after truncation.
    """

    max: torch.Tensor | None
    mean: torch.Tensor | None
    n_tokens: torch.Tensor

    def layer_view(self, pooling: str, n_layers: int) -> torch.Tensor:
        """[n_sentences, n_layers, units_per_layer] view of one pooling."""
        data = getattr(self, pooling)
        return data.view(data.shape[0], n_layers, -1)


def tokenize(lm: LoadedModel, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text without special tokens; texts longer than ``max_length`` are truncated with a warning."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    ids = lm.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    empty = [i for i, seq in enumerate(ids) if not seq]
    if empty:
        raise ValueError(f"{len(empty)} text(s) have no tokens (first at index {empty[0]}): nothing to pool")
    long = sum(len(seq) > max_length for seq in ids)
    if long:
        warnings.warn(f"{long} of {len(ids)} texts longer than {max_length} tokens were truncated", stacklevel=2)
    return [seq[:max_length] for seq in ids]


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length (longest first, stable on ties)."""
    if batch_size < 1:
        raise ValueError("batch_size must be ≥ 1")
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _pad(ids: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(seq) for seq in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.bool)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = True
    return input_ids.to(device), mask.to(device)


def _pad_after_prefix(
    ids: list[list[int]], prefix: list[int], pad_id: int, device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``_pad`` of ``prefix + seq``: (input_ids, attention mask, mask of the text's own tokens)."""
    input_ids, attention = _pad([prefix + seq for seq in ids], pad_id, device)
    own = attention.clone()
    own[:, : len(prefix)] = False
    return input_ids, attention, own


def _backbone(lm: LoadedModel) -> torch.nn.Module:
    """The transformer without its LM head: every neuron site and hidden state lies inside it, and
    skipping the [tokens × vocabulary] projection saves much of a forward pass (BLOOM: 250,880 rows)."""
    base = getattr(lm.module, "base_model", None)
    return base if isinstance(base, torch.nn.Module) else lm.module


def bloom_gelu_inplace(x: torch.Tensor) -> torch.Tensor:
    """BLOOM's inference GELU, ``x * 0.5 * (1.0 + tanh(0.79788456 * x * (1 + 0.044715 * x * x)))``, bit for bit.

    The same element-wise operations on the same operands as ``transformers``' ``bloom_gelu_forward``
    (only the order of commutative products' operands differs, which IEEE rounding does not see), run in
    place on two temporaries instead of allocating one per operation (seven): on CPU 1.15x faster where
    freed memory is reused, 2.5x where each temporary's pages are mapped afresh (glibc returns large freed
    blocks to the kernel); the GELU took a fifth of the toy's forward passes in a cold claims run (py-spy).
    ``x`` is left untouched; no autograd (in-place ops).
    """
    inner = x * 0.044715
    inner.mul_(x).add_(1)  # 1 + 0.044715 * x * x
    out = x * 0.79788456
    out.mul_(inner).tanh_().add_(1.0)  # 1.0 + tanh(0.79788456 * x * inner)
    return out.mul_(torch.mul(x, 0.5, out=inner))  # x * 0.5, in the first temporary


@contextlib.contextmanager
def fast_exact_gelu(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Run every ``BloomGelu`` of ``model`` with :func:`bloom_gelu_inplace` inside the block (no other model is
    touched). The modules stay in place, so hooks on them (neuron sites) see the same tensors; where a gradient
    is needed the module's own forward runs. The instance attributes set here are removed on exit."""
    patched = []

    def exact(module: torch.nn.Module):
        original = type(module).forward

        def forward(x: torch.Tensor) -> torch.Tensor:
            if torch.is_grad_enabled() and x.requires_grad:
                return original(module, x)
            return bloom_gelu_inplace(x)

        return forward

    try:
        for module in model.modules():
            if type(module).__name__ == "BloomGelu" and "forward" not in vars(module):
                module.forward = exact(module)
                patched.append(module)
        yield model
    finally:
        for module in patched:
            vars(module).pop("forward", None)


#: where progress bars go while set (:func:`progress_to`); None: tqdm's default (stderr, bars only on a terminal)
_PROGRESS_STREAM: Any = None


@contextlib.contextmanager
def progress_to(stream: Any) -> Iterator[None]:
    """Send every progress bar started inside the block to ``stream`` (a file-like object), shown even
    when it is not a terminal: the pytest plugin passes stderr past pytest's output capture, so
    that each measurement stage shows its count and ETA in ``pytest claims/ -q`` runs."""
    global _PROGRESS_STREAM
    previous, _PROGRESS_STREAM = _PROGRESS_STREAM, stream
    try:
        yield
    finally:
        _PROGRESS_STREAM = previous


def progress_bar(total: int, desc: str, unit: str, progress: bool = True) -> tqdm:
    """A tqdm bar of one measurement stage (``progress=False``: none): counts, rate and ETA, on stderr
    or the stream of :func:`progress_to`; where that stream is not a terminal (a CI log), refreshed every
    10 s and its last state kept, so that the log shows what each stage counted and how long it took."""
    stream = _PROGRESS_STREAM
    if stream is None or not progress:
        return tqdm(total=total, desc=desc, unit=unit, disable=None if progress else True, leave=False)
    terminal = bool(getattr(stream, "isatty", lambda: False)())
    return tqdm(total=total, desc=desc, unit=unit, leave=not terminal, file=stream,
                mininterval=0.2 if terminal else 10.0, ascii=not terminal)


def _progress(total: int, desc: str, progress: bool):
    return progress_bar(total, desc, "sent", progress)


@torch.inference_mode()
def pooled_responses(
    lm: LoadedModel,
    texts: Sequence[str],
    *,
    poolings: Sequence[str] = ("max", "mean"),
    batch_size: int = 32,
    max_length: int = 128,
    interventions: Intervention | Sequence[Intervention] | None = None,
    progress: bool = True,
    desc: str = "pooled responses",
) -> PooledResponses:
    """Max- and/or mean-pooled responses of every MLP neuron over each text's real tokens."""
    unknown = set(poolings) - {"max", "mean"}
    if unknown or not poolings:
        raise ValueError(f"poolings must be a non-empty subset of ('max', 'mean'), got {tuple(poolings)}")
    ids = tokenize(lm, texts, max_length)
    n, site = len(ids), lm.site
    out = {p: torch.empty((n, site.n_units), dtype=torch.float32) for p in poolings}
    pad_id = lm.tokenizer.pad_token_id
    prefix = list(lm.special_prefix)
    backbone = _backbone(lm)
    with record_pooled(site, want_max="max" in poolings, want_mean="mean" in poolings) as batch, intervene(
        site, interventions
    ), fast_exact_gelu(backbone), small_model_threads(backbone), _progress(n, desc, progress) as bar:
        for rows in length_sorted_batches([len(s) for s in ids], batch_size):
            input_ids, attention, own = _pad_after_prefix([ids[i] for i in rows], prefix, pad_id, lm.device)
            batch.mask = own  # pool over the text's tokens only, never over a BOS prefix
            backbone(input_ids=input_ids, attention_mask=attention.long(), use_cache=False)
            index = torch.as_tensor(rows)
            for pooling in poolings:
                per_layer = getattr(batch, pooling)
                out[pooling][index] = torch.cat(
                    [per_layer[layer].float().cpu() for layer in range(site.n_layers)], dim=1
                )
            bar.update(len(rows))
    for pooling, values in out.items():
        if not torch.isfinite(values).all():
            bad = int((~torch.isfinite(values)).any(dim=1).sum())
            raise NonFiniteActivationError(
                f"{lm.label}: {pooling}-pooled responses of {bad} sentence(s) are NaN or infinite"
            )
    return PooledResponses(out.get("max"), out.get("mean"), torch.tensor([len(s) for s in ids]))


def random_positions(lengths: Sequence[int], seed: int) -> np.ndarray:
    """One token position per text, uniform over its real tokens, drawn from ``seed`` (RF §5)."""
    lengths = np.asarray(lengths)
    rng = np.random.default_rng(seed)
    return np.floor(rng.random(len(lengths)) * lengths).astype(int)


@torch.inference_mode()
def hidden_states_at(
    lm: LoadedModel,
    texts: Sequence[str],
    *,
    seed: int = 0,
    positions: Sequence[int] | None = None,
    batch_size: int = 32,
    max_length: int = 128,
    progress: bool = True,
) -> tuple[torch.Tensor, np.ndarray]:
    """Every layer's hidden state at one token position per text.

    Returns ``(states [n_layers + 1, n_texts, hidden], positions [n_texts])``; index 0 is the
    embedding output. Positions are drawn uniformly over each text's real tokens from ``seed``
    unless given (RF §5: one random position per sentence).
    """
    ids = tokenize(lm, texts, max_length)
    if positions is None:
        positions = random_positions([len(s) for s in ids], seed)
    states, picked = _states_at(lm, ids, [positions], batch_size=batch_size, progress=progress)
    return states[0], picked[0]


def hidden_states_at_seeds(
    lm: LoadedModel,
    texts: Sequence[str],
    seeds: Sequence[int],
    *,
    batch_size: int = 32,
    max_length: int = 128,
    progress: bool = True,
    desc: str = "hidden states",
) -> tuple[torch.Tensor, np.ndarray]:
    """``hidden_states_at`` for several position seeds from one forward pass per batch.

    Returns ``(states [n_seeds, n_layers + 1, n_texts, hidden], positions [n_seeds, n_texts])``;
    ``states[i]`` equals ``hidden_states_at(lm, texts, seed=seeds[i])[0]`` (the probe repeats
    RF's three random positions per sentence without three forward passes).
    """
    ids = tokenize(lm, texts, max_length)
    positions = [random_positions([len(s) for s in ids], int(seed)) for seed in seeds]
    return _states_at(lm, ids, positions, batch_size=batch_size, progress=progress, desc=desc)


@torch.inference_mode()
def _states_at(lm, ids, positions, *, batch_size, progress, desc="hidden states") -> tuple[torch.Tensor, np.ndarray]:
    """States ``[n_sets, n_layers + 1, n_texts, d]`` at each set of positions ``[n_sets, n_texts]``."""
    lengths = np.array([len(s) for s in ids])
    positions = np.stack([np.asarray(p, dtype=int) for p in positions])  # [n_sets, n_texts]
    if positions.shape[1:] != lengths.shape or (positions < 0).any() or (positions >= lengths).any():
        raise ValueError("positions must give one index within each text's tokens")
    states = None
    prefix = list(lm.special_prefix)
    with fast_exact_gelu(_backbone(lm)), small_model_threads(lm.module), _progress(len(ids), desc, progress) as bar:
        for rows in length_sorted_batches(lengths, batch_size):
            input_ids, attention, _ = _pad_after_prefix(
                [ids[i] for i in rows], prefix, lm.tokenizer.pad_token_id, lm.device
            )
            output = _backbone(lm)(
                input_ids=input_ids, attention_mask=attention.long(), output_hidden_states=True, use_cache=False
            )
            # [n_layers + 1, batch, seq, d]; a model spread over devices (--device-map) leaves each layer's on its own
            hidden = torch.stack([h.to(input_ids.device) for h in output.hidden_states])
            batch_index = torch.arange(len(rows), device=hidden.device)
            picked = torch.stack(
                [
                    hidden[:, batch_index, torch.as_tensor(p[rows] + len(prefix), device=hidden.device)]
                    for p in positions
                ]
            ).float().cpu()  # [n_sets, n_layers + 1, batch, d]
            if states is None:
                states = torch.empty((len(positions), picked.shape[1], len(ids), picked.shape[-1]), dtype=torch.float32)
            states[:, :, torch.as_tensor(rows)] = picked
            bar.update(len(rows))
    if not torch.isfinite(states).all():
        raise NonFiniteActivationError(f"{lm.label}: hidden states contain NaN or infinity")
    return states, positions
