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
from typing import Any, Callable, Sequence

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

    >>> activation_vectors([[[3.0, 0.0], [0.0, 4.0]]]).tolist()  # (3, 0, 0, 4) / 5
    [[0.6, 0.0, 0.0, 0.8]]
    """
    t = as_float64(pooled, name="pooled")
    if t.ndim not in (2, 3):
        raise ValueError(f"pooled must be 2-D or 3-D, got shape {tuple(t.shape)}")
    return _normalise_rows(t.reshape(t.shape[0], -1))


def similarity_matrix(a: Any) -> torch.Tensor:
    """LF eq. 7: cosine similarity of every pair of rows of ``a`` ``[n, F]`` -> ``[n, n]``.

    >>> similarity_matrix([[3.0, 4.0], [4.0, 3.0], [0.0, 1.0]]).round(decimals=12).tolist()
    [[1.0, 0.96, 0.8], [0.96, 1.0, 0.6], [0.8, 0.6, 1.0]]
    """
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
    names = ("same_lang_diff_meaning", "diff_lang_diff_meaning", "same_meaning_diff_lang")
    totals = dict.fromkeys(names, 0.0)
    counts = dict.fromkeys(names, 0)
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
            totals[name] += float(block[m].sum())
            counts[name] += int(m.sum())
    return {k: (totals[k], counts[k]) for k in names}


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

    Examples
    --------
    Sentences en-1, en-2, fr-1, fr-2 (language, meaning). Same language, different meaning:
    S(en1, en2) = 0.8 and S(fr1, fr2) = 0.6, mean 0.7; different language and meaning:
    S(en1, fr2) = 0.2 and S(en2, fr1) = 0.4, mean 0.3; so LRDS = 0.7 - 0.3 = 0.4.

    >>> S = [[1.0, 0.8, 0.9, 0.2],
    ...      [0.8, 1.0, 0.4, 0.7],
    ...      [0.9, 0.4, 1.0, 0.6],
    ...      [0.2, 0.7, 0.6, 1.0]]
    >>> round(lrds(S, ["en", "en", "fr", "fr"], [1, 2, 1, 2]), 12)
    0.4
    """
    sums = _pair_sums(as_float64(S, name="S"), language_ids, meaning_ids, restrict_to)
    return _mean(sums, "same_lang_diff_meaning") - _mean(sums, "diff_lang_diff_meaning")


def sads(S: Any, language_ids: Any, meaning_ids: Any, *, restrict_to: Any = None) -> float:
    """Semantic alignment distance score (LF eq. 9).

    ``mean S_ij`` over pairs with the same meaning in different languages minus ``mean S_ij``
    over pairs with different meanings in different languages. ``restrict_to=("zh", "ar")``
    keeps only pairs involving at least one zh or ar sentence (or pass a bool mask).

    Examples
    --------
    The sentences of :func:`lrds`: translations S(en1, fr1) = 0.9 and S(en2, fr2) = 0.7, mean
    0.8, against 0.3 for different languages and meanings, so SADS = 0.8 - 0.3 = 0.5.

    >>> S = [[1.0, 0.8, 0.9, 0.2],
    ...      [0.8, 1.0, 0.4, 0.7],
    ...      [0.9, 0.4, 1.0, 0.6],
    ...      [0.2, 0.7, 0.6, 1.0]]
    >>> round(sads(S, ["en", "en", "fr", "fr"], [1, 2, 1, 2]), 12)
    0.5
    """
    sums = _pair_sums(as_float64(S, name="S"), language_ids, meaning_ids, restrict_to)
    return _mean(sums, "same_meaning_diff_lang") - _mean(sums, "diff_lang_diff_meaning")


def per_layer_lrds_sads(
    pooled: Any, language_ids: Any, meaning_ids: Any, *, restrict_to: Any = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """LRDS and SADS of every layer separately (LF Fig. 3).

    ``pooled`` ``[n_sentences, n_layers, n_units]``; each layer's vectors are L2-normalised on
    their own before the cosine matrix. Returns ``(lrds [n_layers], sads [n_layers])`` float64.

    Examples
    --------
    Layer 0 separates the languages (en along unit 0, fr along unit 1): same-language pairs
    have cosine 1, cross-language pairs 0, so LRDS = 1 and SADS = 0 - 0 = 0. Layer 1 separates
    the meanings instead: LRDS = 0 - 0 = 0 and SADS = 1 - 0 = 1.

    >>> pooled = [[[1.0, 0.0], [1.0, 0.0]],  # en-1: layer 0, layer 1
    ...           [[1.0, 0.0], [0.0, 1.0]],  # en-2
    ...           [[0.0, 1.0], [1.0, 0.0]],  # fr-1
    ...           [[0.0, 1.0], [0.0, 1.0]]]  # fr-2
    >>> lr, sa = per_layer_lrds_sads(pooled, ["en", "en", "fr", "fr"], [1, 2, 1, 2])
    >>> lr.tolist(), sa.tolist()
    ([1.0, 0.0], [0.0, 1.0])
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

    Examples
    --------
    en-en: S(0, 1) = 0.5; en-fr: S(0, 2) = 0.1 and S(1, 2) = 0.3, mean 0.2; fr-fr has no pair
    of distinct sentences (NaN):

    >>> S = [[1.0, 0.5, 0.1], [0.5, 1.0, 0.3], [0.1, 0.3, 1.0]]
    >>> levels, m = language_similarity(S, ["en", "en", "fr"])
    >>> levels, m.round(decimals=12).tolist()
    (['en', 'fr'], [[0.5, 0.2], [0.2, nan]])
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
def _acts_matrix(acts: Any) -> torch.Tensor:
    """``acts`` as a detached ``[n_sentences, n_units]`` tensor of a float dtype (no float64
    copy yet; a ``[n_sentences, n_layers, n_units]`` input is flattened layer-major)."""
    t = as_tensor(acts, name="acts").detach()
    if not torch.is_floating_point(t):
        t = t.to(torch.float64)
    if t.ndim == 3:
        t = t.reshape(t.shape[0], -1)
    if t.ndim != 2:
        raise ValueError(f"acts must be [n_sentences, n_units], got shape {tuple(t.shape)}")
    return t


def _language_rows(
    language_ids: Any, n_sentences: int, languages: Sequence | None
) -> tuple[list, torch.Tensor, torch.Tensor | None]:
    """``(levels, codes, keep)``: the output row order, every kept sentence's row, and the mask
    of sentences kept (None: all), for ``languages`` given or not."""
    levels, codes = encode_labels(language_ids)
    if codes.shape[0] != n_sentences:
        raise ValueError(f"need one language id per sentence ({n_sentences}), got {codes.shape[0]}")
    if languages is None:
        return levels, codes, None
    order = list(languages)
    missing = [x for x in order if x not in levels]
    if missing:
        raise UnknownLanguageError(f"languages not in language_ids: {missing}")
    remap = torch.tensor([order.index(lv) if lv in order else -1 for lv in levels])
    codes = remap[codes]
    keep = codes >= 0
    return order, codes[keep], keep


def _norms_and_reader(t: torch.Tensor) -> tuple[torch.Tensor, Callable[[int, int], torch.Tensor]]:
    """Norm of every sentence's full vector (float64 accumulation; NaN/inf propagate into it)
    and a function giving a float64 *copy* of the columns ``a:b``."""
    if t.device.type == "cpu":  # numpy's casting reductions are much faster here than torch's
        arr = (t.to(torch.float32) if t.dtype == torch.bfloat16 else t).numpy()
        norm = torch.from_numpy(np.sqrt(np.einsum("ij,ij->i", arr, arr, dtype=np.float64)))

        def chunk_numpy(a: int, b: int) -> torch.Tensor:
            return torch.from_numpy(arr[:, a:b].astype(np.float64))  # always a copy

        return norm, chunk_numpy

    def chunk_torch(a: int, b: int) -> torch.Tensor:
        return t[:, a:b].to(torch.float64, copy=True)

    return torch.linalg.vector_norm(t, dim=1, dtype=torch.float64), chunk_torch


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

    Examples
    --------
    Language A has the unit vectors (0.6, 0.8) and (1, 0): one pair, product (0.6, 0). B has three
    sentences along unit 1: three pairs, each (0, 1).

    >>> acts = [[3.0, 4.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0], [0.0, 3.0]]
    >>> contribution_scores(acts, ["A", "B", "A", "B", "B"]).round(decimals=12).tolist()
    [[0.6, 0.0], [0.0, 1.0]]
    >>> contribution_scores(acts, ["A", "B", "A", "B", "B"], languages=["B", "A"]).round(decimals=12).tolist()
    [[0.0, 1.0], [0.6, 0.0]]
    """
    t = _acts_matrix(acts)
    levels, codes, keep = _language_rows(language_ids, t.shape[0], languages)
    if keep is not None:
        t = t[keep]
    n_lang, n_units = len(levels), t.shape[1]
    counts = torch.bincount(codes, minlength=n_lang).to(torch.float64)
    if bool((counts < 2).any()):
        few = [levels[i] for i in torch.nonzero(counts < 2).reshape(-1).tolist()]
        raise ValueError(f"every language needs at least 2 sentences; too few for {few}")
    chunks = [(a, min(n_units, a + _COL_CHUNK)) for a in range(0, n_units, _COL_CHUNK)]
    norm, chunk_f64 = _norms_and_reader(t)  # the norm doubles as the finiteness check
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
    """Largest population z-score possible among ``n_languages`` values: ``sqrt(L - 1)``.

    With 5 languages no unit can pass LF's ``z > 2``:

    >>> max_attainable_z(5)
    2.0
    """
    if n_languages < 1:
        raise ValueError("n_languages must be >= 1")
    return math.sqrt(n_languages - 1)


def zscores(scores: Any) -> torch.Tensor:
    """z-score of every unit's contribution across languages (LF eq. 12–13).

    ``scores`` ``[n_languages, n_units]``; mean and population std (ddof=0) over languages. A
    column whose entries are all exactly equal gets z = 0. Values are clamped to
    ``±sqrt(L - 1)``, the exact bound (rounding can otherwise overshoot it by an ulp, which would
    let "z > 2" fire with 5 languages, where it is impossible).

    Examples
    --------
    Unit 0 is active for the first of 5 languages only: mean 0.2, population sd 0.4, so
    z = (1 - 0.2) / 0.4 = 2 for it and (0 - 0.2) / 0.4 = -0.5 for the others. Unit 1 is
    constant: z = 0.

    >>> zscores([[1.0, 3.0], [0.0, 3.0], [0.0, 3.0], [0.0, 3.0], [0.0, 3.0]]).T.tolist()
    [[2.0, -0.5, -0.5, -0.5, -0.5], [0.0, 0.0, 0.0, 0.0, 0.0]]
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
    """Key units of every language: ``z > threshold`` (strictly), BoolTensor of z's shape.

    >>> key_regions([[2.0, 2.5], [-0.5, 0.0]]).tolist()
    [[False, True], [False, False]]
    """
    return as_float64(z, name="z") > threshold


def key_counts_per_layer(mask: Any, n_layers: int) -> torch.Tensor:
    """Key units per language and layer: ``[n_languages, n_layers * n_units] -> [L, n_layers]``.

    Two languages, 3 layers of 2 units:

    >>> key_counts_per_layer([[True, True, False, False, False, True],
    ...                       [False, False, True, False, False, False]], n_layers=3).tolist()
    [[2, 0, 1], [0, 1, 0]]
    """
    m = torch.as_tensor(mask)
    if m.ndim != 2 or m.shape[1] % n_layers:
        raise ValueError(
            f"mask must be [n_languages, n_layers * n_units] with n_layers={n_layers}, "
            f"got {tuple(m.shape)}"
        )
    return m.reshape(m.shape[0], n_layers, -1).to(torch.int64).sum(dim=-1)


def sklr(mask: Any) -> int:
    """Size of all key regions together, Σ_l |K_l| (LF §3.2).

    >>> sklr([[True, True, False], [False, True, False]])
    3
    """
    return int(torch.as_tensor(mask).to(torch.int64).sum())


__all__ = [
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
]
