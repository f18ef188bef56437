"""Lingua Franca measures (Zeng et al.): activation vectors, LRDS/SADS, key-region z-scores.

Conventions:

* Languages and meanings are given per sentence as ``language_ids`` / ``meaning_ids`` (strings
  or ints). Pairs are classified from these ids directly; sentences are never regrouped by a
  stride (the reference code's SADS re-ordering mixes meanings).
* Means over "pairs" are over ordered pairs ``(i, j)`` with ``i != j``; for a symmetric ``S``
  this equals the mean over unordered pairs.
* Per-language outputs (rows of :func:`contribution_scores`) follow ``sorted(set(language_ids))``
  unless ``languages=`` gives the order.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from harness.errors import UnknownLanguageError

from ._common import as_float64, as_tensor, check_finite, encode_labels

_ROW_CHUNK = 2048
_COL_CHUNK = 16384


# --------------------------------------------------------------------------- activation vectors
def _normalise_rows(a: torch.Tensor) -> torch.Tensor:
    norms = torch.linalg.vector_norm(a, dim=1, keepdim=True)
    if bool((norms == 0).any()):
        bad = torch.nonzero(norms[:, 0] == 0).reshape(-1)[:5].tolist()
        raise ValueError(f"cannot L2-normalise all-zero activation vectors (rows {bad})")
    return a / norms


def activation_vectors(pooled: Any) -> torch.Tensor:
    """LF eq. 6: concatenate a sentence's pooled responses over layers and L2-normalise.

    ``pooled``: ``[n_sentences, n_layers, n_units]`` or ``[n_sentences, n_features]``.
    Returns ``[n_sentences, n_layers * n_units]`` float64 with unit-norm rows (layer-major).
    """
    t = as_float64(pooled, name="pooled")
    if t.ndim not in (2, 3):
        raise ValueError(f"pooled must be 2-D or 3-D, got shape {tuple(t.shape)}")
    return _normalise_rows(t.reshape(t.shape[0], -1))


def similarity_matrix(a: Any) -> torch.Tensor:
    """LF eq. 7: cosine similarity of every pair of rows of ``a`` ``[n, F]`` -> ``[n, n]``."""
    t = as_float64(a, name="a")
    if t.ndim != 2:
        raise ValueError(f"a must be [n_sentences, n_features], got shape {tuple(t.shape)}")
    t = _normalise_rows(t)
    return t @ t.T


# --------------------------------------------------------------------------------- LRDS / SADS
def _restrict_mask(restrict_to: Any, lang_levels: list, lang_codes: torch.Tensor) -> torch.Tensor | None:
    if restrict_to is None:
        return None
    arr = None
    if isinstance(restrict_to, torch.Tensor):
        arr = restrict_to.detach().cpu().numpy()
    elif isinstance(restrict_to, np.ndarray):
        arr = restrict_to
    if arr is not None and arr.dtype == np.bool_:
        if arr.shape != tuple(lang_codes.shape):
            raise ValueError(
                f"restrict_to mask must have one entry per sentence ({lang_codes.shape[0]}), "
                f"got shape {arr.shape}"
            )
        return torch.from_numpy(arr.copy())
    if arr is not None:
        restrict_to = arr.tolist()
    wanted = [restrict_to] if isinstance(restrict_to, str) else list(restrict_to)
    missing = [w for w in wanted if w not in lang_levels]
    if missing:
        raise UnknownLanguageError(
            f"restrict_to names languages absent from language_ids: {missing} (have {lang_levels})"
        )
    wanted_codes = torch.tensor([lang_levels.index(w) for w in wanted], dtype=torch.int64)
    return torch.isin(lang_codes, wanted_codes)


def _pair_sums(
    S: torch.Tensor, language_ids: Any, meaning_ids: Any, restrict_to: Any
) -> dict[str, tuple[float, int]]:
    """Sum and count of S over ordered pairs i != j in the three classes used by LRDS and SADS."""
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be a square [n, n] matrix, got shape {tuple(S.shape)}")
    n = S.shape[0]
    lang_levels, lang = encode_labels(language_ids)
    _, mean = encode_labels(meaning_ids)
    if lang.shape[0] != n or mean.shape[0] != n:
        raise ValueError(
            f"need one language and one meaning id per sentence ({n}), got {lang.shape[0]} "
            f"and {mean.shape[0]}"
        )
    restrict = _restrict_mask(restrict_to, lang_levels, lang)
    dev = S.device
    lang, mean = lang.to(dev), mean.to(dev)
    if restrict is not None:
        restrict = restrict.to(dev)
    cols = torch.arange(n, device=dev)
    acc = {k: [0.0, 0] for k in ("same_lang_diff_meaning", "diff_lang_diff_meaning", "same_meaning_diff_lang")}
    for a in range(0, n, _ROW_CHUNK):
        b = min(n, a + _ROW_CHUNK)
        block = S[a:b]
        same_lang = lang[a:b, None] == lang[None, :]
        same_mean = mean[a:b, None] == mean[None, :]
        keep = cols[a:b, None] != cols[None, :]
        if restrict is not None:
            keep &= restrict[a:b, None] | restrict[None, :]
        classes = {
            "same_lang_diff_meaning": keep & same_lang & ~same_mean,
            "diff_lang_diff_meaning": keep & ~same_lang & ~same_mean,
            "same_meaning_diff_lang": keep & same_mean & ~same_lang,
        }
        for name, m in classes.items():
            acc[name][0] += float(block[m].sum())
            acc[name][1] += int(m.sum())
    return {k: (v[0], v[1]) for k, v in acc.items()}


def _mean(sums: dict[str, tuple[float, int]], name: str) -> float:
    total, count = sums[name]
    if count == 0:
        raise ValueError(f"no sentence pairs with {name.replace('_', ' ')}; check the ids")
    return total / count


def lrds(S: Any, language_ids: Any, meaning_ids: Any, *, restrict_to: Any = None) -> float:
    """Language-relevant distance score (LF eq. 8).

    ``mean S_ij`` over pairs with the same language and different meanings minus ``mean S_ij``
    over pairs with different languages and different meanings. ``S`` is ``[n, n]``;
    ``restrict_to`` (languages, or a bool mask over sentences) keeps only pairs where at least
    one sentence is selected.
    """
    sums = _pair_sums(as_float64(S, name="S"), language_ids, meaning_ids, restrict_to)
    return _mean(sums, "same_lang_diff_meaning") - _mean(sums, "diff_lang_diff_meaning")


def sads(S: Any, language_ids: Any, meaning_ids: Any, *, restrict_to: Any = None) -> float:
    """Semantic alignment distance score (LF eq. 9).

    ``mean S_ij`` over pairs with the same meaning in different languages minus ``mean S_ij``
    over pairs with different meanings in different languages. ``restrict_to=("zh", "ar")``
    keeps only pairs involving at least one zh or ar sentence (or pass a bool mask).
    """
    sums = _pair_sums(as_float64(S, name="S"), language_ids, meaning_ids, restrict_to)
    return _mean(sums, "same_meaning_diff_lang") - _mean(sums, "diff_lang_diff_meaning")


def per_layer_lrds_sads(
    pooled: Any, language_ids: Any, meaning_ids: Any, *, restrict_to: Any = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """LRDS and SADS of every layer separately (LF Fig. 3).

    ``pooled`` ``[n_sentences, n_layers, n_units]``; each layer's vectors are L2-normalised on
    their own before the cosine matrix. Returns ``(lrds [n_layers], sads [n_layers])`` float64.
    """
    t = as_float64(pooled, name="pooled")
    if t.ndim != 3:
        raise ValueError(f"pooled must be [n_sentences, n_layers, n_units], got {tuple(t.shape)}")
    out_l, out_s = [], []
    for layer in range(t.shape[1]):
        S = similarity_matrix(t[:, layer, :])
        sums = _pair_sums(S, language_ids, meaning_ids, restrict_to)
        base = _mean(sums, "diff_lang_diff_meaning")
        out_l.append(_mean(sums, "same_lang_diff_meaning") - base)
        out_s.append(_mean(sums, "same_meaning_diff_lang") - base)
    return torch.tensor(out_l, dtype=torch.float64), torch.tensor(out_s, dtype=torch.float64)


def language_similarity(S: Any, language_ids: Any) -> tuple[list, torch.Tensor]:
    """Mean ``S_ij`` over pairs ``i != j`` for every pair of languages: ``(levels, [L, L])``.

    Translation pairs are included (use it for "which languages are close", LF-1c).
    """
    St = as_float64(S, name="S")
    levels, codes = encode_labels(language_ids)
    n_lang = len(levels)
    if St.shape != (codes.shape[0], codes.shape[0]):
        raise ValueError("S must be [n, n] with one language id per sentence")
    onehot = torch.zeros(codes.shape[0], n_lang, dtype=torch.float64)
    onehot[torch.arange(codes.shape[0]), codes] = 1.0
    onehot = onehot.to(St.device)
    off = St - torch.diag_embed(torch.diagonal(St))
    sums = onehot.T @ off @ onehot
    counts = onehot.sum(0)
    pairs = counts[:, None] * counts[None, :] - torch.diag(counts)
    return levels, sums / pairs


# --------------------------------------------------------------------------------- key regions
def contribution_scores(
    acts: Any, language_ids: Any, *, languages: Sequence | None = None
) -> torch.Tensor:
    """Per-language contribution of every unit (LF eq. 11), as the *mean* over sentence pairs.

    ``acts`` ``[n_sentences, n_units]`` (or ``[n_sentences, n_layers, n_units]``, flattened):
    each sentence's full vector is L2-normalised first. For language ``l`` with ``m`` sentences

        S_l(k) = (1 / C(m, 2)) * sum_{i<j} a_i(k) a_j(k) = ((sum a)^2 - sum a^2) / (m (m - 1)),

    i.e. LF's closed form ``((Σa)² − Σa²)/2`` divided by the number of pairs (the reference code
    averages over pairs; the division only rescales a language's row, which matters for the
    z-scores when languages have different sentence counts). Returns ``[n_languages, n_units]``
    float64, rows in ``sorted(set(language_ids))`` order or in the order of ``languages``.
    """
    t = as_tensor(acts, name="acts").detach()
    if not torch.is_floating_point(t):
        t = t.to(torch.float64)
    if t.ndim == 3:
        t = t.reshape(t.shape[0], -1)
    if t.ndim != 2:
        raise ValueError(f"acts must be [n_sentences, n_units], got shape {tuple(t.shape)}")
    levels, codes = encode_labels(language_ids)
    if codes.shape[0] != t.shape[0]:
        raise ValueError(f"need one language id per sentence ({t.shape[0]}), got {codes.shape[0]}")
    if languages is not None:
        order = list(languages)
        missing = [x for x in order if x not in levels]
        if missing:
            raise UnknownLanguageError(f"languages not in language_ids: {missing}")
        remap = torch.tensor([order.index(lv) if lv in order else -1 for lv in levels])
        codes = remap[codes]
        keep = codes >= 0
        t, codes = t[keep], codes[keep]
        levels = order
    n_lang, n_units = len(levels), t.shape[1]
    counts = torch.bincount(codes, minlength=n_lang).to(torch.float64)
    if bool((counts < 2).any()):
        few = [levels[i] for i in torch.nonzero(counts < 2).reshape(-1).tolist()]
        raise ValueError(f"every language needs at least 2 sentences; too few for {few}")
    chunks = [(a, min(n_units, a + _COL_CHUNK)) for a in range(0, n_units, _COL_CHUNK)]
    # norm of every sentence's full vector (float64 accumulation); NaN/inf propagate into it,
    # so it doubles as the finiteness check
    if t.device.type == "cpu":  # numpy's casting reductions are much faster here than torch's
        arr = (t.to(torch.float32) if t.dtype == torch.bfloat16 else t).numpy()
        norm = torch.from_numpy(np.sqrt(np.einsum("ij,ij->i", arr, arr, dtype=np.float64)))

        def chunk_f64(a: int, b: int) -> torch.Tensor:
            return torch.from_numpy(arr[:, a:b].astype(np.float64))  # always a copy

    else:
        norm = torch.linalg.vector_norm(t, dim=1, dtype=torch.float64)

        def chunk_f64(a: int, b: int) -> torch.Tensor:
            return t[:, a:b].to(torch.float64, copy=True)

    if not bool(torch.isfinite(norm).all()):
        check_finite(t, name="acts")
    if bool((norm == 0).any()):
        raise ValueError("cannot L2-normalise all-zero activation vectors")
    # group sums as matrix products: W[l, i] = 1/|a_i| for the sentences of language l folds the
    # normalisation into the weights, so  Σ a/|a| = W @ a  and  Σ (a/|a|)² = W² @ a²
    weights = torch.zeros((n_lang, t.shape[0]), dtype=torch.float64, device=t.device)
    weights[codes.to(t.device), torch.arange(t.shape[0], device=t.device)] = 1.0 / norm
    weights_sq = weights.square()
    pairs = (counts * (counts - 1)).to(t.device)[:, None]
    out = torch.empty((n_lang, n_units), dtype=torch.float64, device=t.device)
    for a, b in chunks:
        x = chunk_f64(a, b)  # a copy: squared in place below
        s = weights @ x
        sq = weights_sq @ x.square_()
        out[:, a:b] = (s.square_() - sq).div_(pairs)
    return out


def max_attainable_z(n_languages: int) -> float:
    """Largest population z-score possible among ``n_languages`` values: ``sqrt(L - 1)``."""
    if n_languages < 1:
        raise ValueError("n_languages must be >= 1")
    return math.sqrt(n_languages - 1)


def zscores(scores: Any) -> torch.Tensor:
    """z-score of every unit's contribution across languages (LF eq. 12–13).

    ``scores`` ``[n_languages, n_units]``; mean and population std (ddof=0) over languages. A
    column whose entries are all exactly equal gets z = 0. Values are clamped to
    ``±sqrt(L - 1)``, the exact bound (rounding can otherwise overshoot it by an ulp, which would
    let "z > 2" fire with 5 languages, where it is impossible).
    """
    t = as_float64(scores, name="scores")
    if t.ndim != 2:
        raise ValueError(f"scores must be [n_languages, n_units], got shape {tuple(t.shape)}")
    mu = t.mean(dim=0, keepdim=True)
    sd = t.std(dim=0, correction=0, keepdim=True)
    constant = (t == t[:1]).all(dim=0, keepdim=True)
    z = (t - mu) / torch.where(constant, torch.ones_like(sd), sd)
    z = torch.where(constant, torch.zeros_like(z), z)
    bound = max_attainable_z(t.shape[0])
    return z.clamp(-bound, bound)


def key_regions(z: Any, threshold: float = 2.0) -> torch.Tensor:
    """Key units of every language: ``z > threshold`` (strictly), BoolTensor of z's shape."""
    return as_float64(z, name="z") > threshold


def key_counts_per_layer(mask: Any, n_layers: int) -> torch.Tensor:
    """Key units per language and layer: ``[n_languages, n_layers * n_units] -> [L, n_layers]``."""
    m = torch.as_tensor(mask)
    if m.ndim != 2 or m.shape[1] % n_layers:
        raise ValueError(
            f"mask must be [n_languages, n_layers * n_units] with n_layers={n_layers}, "
            f"got {tuple(m.shape)}"
        )
    return m.reshape(m.shape[0], n_layers, -1).to(torch.int64).sum(dim=-1)


def sklr(mask: Any) -> int:
    """Size of all key regions together, Σ_l |K_l| (LF §3.2)."""
    return int(torch.as_tensor(mask).to(torch.int64).sum())


__all__: Iterable[str] = (
    "activation_vectors",
    "similarity_matrix",
    "lrds",
    "sads",
    "per_layer_lrds_sads",
    "language_similarity",
    "contribution_scores",
    "zscores",
    "key_regions",
    "max_attainable_z",
    "key_counts_per_layer",
    "sklr",
)
