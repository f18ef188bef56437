"""Lingua Franca similarity analyses (LF §3.1–3.2, Fig. 2–3): LRDS, SADS and language blocks.

Input: the mean-pooled MLP responses of the parallel similarity sample (``Measurements.
similarity_responses``), the same verses in every language, so meaning groups are exact and
never re-derived by a stride (the reference code's SADS re-ordering mixes meanings).

Point values come from :mod:`harness.metrics` (``activation_vectors``, ``similarity_matrix``,
``lrds``, ``sads``, ``language_similarity``, ``per_layer_lrds_sads``). Their uncertainty comes
from a bootstrap over *verses*: the verse is the sampled unit (LF picked 100 verses at random),
and each resample keeps a verse's translations together. Every quantity here is a ratio of
pair sums, so a resample with verse multiplicities ``w`` needs only weighted sums of the raw
per-layer Gram matrices::

    pairs(l, l')      = Σ_{m, m'} w_m w_m' a(m, l)·a(m', l')      (every pair of copies)
    same_meaning(l,l')= Σ_m w_m² a(m, l)·a(m, l')                  (copies of one verse)
    diff_meaning      = pairs − same_meaning,  counted (Σw)² − Σw² times

(copies of one verse count as "same meaning", so a duplicated verse never becomes a
different-meaning pair with itself). With ``w = 1`` this is exactly LF eq. 8–9, and the
analyses check that replicate 0 reproduces the metrics' values. The Gram matrices are computed
once per checkpoint (``[layers, L·n, L·n]``), so 1,000 resamples cost less than one forward pass,
and the same seed gives the same resamples at every checkpoint (paired comparisons over
training).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch

from harness.layer_groups import lf_quarters as layer_groups  # noqa: F401  re-export for claims/
from harness.measurement_cache import derived_result
from harness.measurement_source import MeasurementSource
from harness.metrics import (
    Decision,
    activation_vectors,
    language_similarity,
    lrds,
    per_layer_lrds_sads,
    sads,
    similarity_matrix,
    trend_test,
)

# re-export for claims/ (the decision helpers live in harness.analyses.decisions)
from .decisions import N_PERM, PERM_SEED, bootstrap_decision, permutation_decision  # noqa: F401

if TYPE_CHECKING:
    from .key_regions import KeyCounts

#: bootstrap resamples of verses (replicate 0 is the observed sample)
N_BOOT = 1000
BOOT_SEED = 0
#: languages LF names as related (LF-1c) and as unlike the others (LF-1b scripts, LF-7)
ROMANCE = ("fr", "es", "pt", "it", "ro", "ca")
DISTINCT_SCRIPT = ("zh", "ar")
#: tolerance for replicate 0 against the metrics' direct computation
_CHECK_TOL = 1e-8


# ----------------------------------------------------------------------------- layout helpers
def parallel_index(language_ids: Any, meaning_ids: Any, n_languages: int) -> np.ndarray:
    """``index[l, m]`` = row of language ``l`` (0-based code) and meaning ``m`` (codes 0..n-1).

    Raises if a language lacks a verse or holds one twice: the similarity sample must be
    parallel for meaning groups to be exact.
    """
    lang = np.asarray(language_ids, dtype=np.int64)
    mean = np.asarray(meaning_ids)
    _, mean = np.unique(mean, return_inverse=True)
    n = int(mean.max()) + 1 if mean.size else 0
    index = np.full((n_languages, n), -1, dtype=np.int64)
    for row, (code, m) in enumerate(zip(lang, mean)):
        if index[code, m] != -1:
            raise ValueError(f"language {code} holds meaning {m} twice; the similarity sample must be parallel")
        index[code, m] = row
    if (index < 0).any():
        missing = int((index < 0).sum())
        raise ValueError(f"{missing} (language, verse) cells are missing; the similarity sample must be parallel")
    return index


def bootstrap_weights(n: int, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> torch.Tensor:
    """Verse multiplicities ``[1 + n_boot, n]`` float64: row 0 all ones, then seeded resamples."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_boot, n))
    counts = np.zeros((n_boot, n), dtype=np.float64)
    np.add.at(counts, (np.repeat(np.arange(n_boot), n), draws.reshape(-1)), 1.0)
    return torch.from_numpy(np.concatenate([np.ones((1, n)), counts]))


def layer_grams(responses: torch.Tensor, index: np.ndarray, n_layers: int, *, chunk_rows: int = 512) -> torch.Tensor:
    """Raw per-layer dot products ``[n_layers, L, n, L, n]`` float64 of the parallel sample.

    ``responses`` ``[rows, n_layers * units]`` (layer-major); rows are gathered as ``index[l, m]``.
    """
    L, n = index.shape
    rows = torch.as_tensor(index.reshape(-1))
    x = torch.as_tensor(responses)[rows]
    N = x.shape[0]
    x = x.reshape(N, n_layers, -1)
    out = torch.empty((n_layers, N, N), dtype=torch.float64)
    for layer in range(n_layers):
        xl = x[:, layer, :].to(torch.float64)
        for a in range(0, N, chunk_rows):
            out[layer, a : a + chunk_rows] = xl[a : a + chunk_rows] @ xl.T
    return out.reshape(n_layers, L, n, L, n)


def normalised_gram(raw: torch.Tensor) -> torch.Tensor:
    """Cosine Gram ``[L, n, L, n]`` from a raw Gram of the same shape (rows scaled to unit norm)."""
    L, n = raw.shape[:2]
    flat = raw.reshape(L * n, L * n)
    norms = torch.sqrt(torch.diagonal(flat)).clamp_min(1e-300)
    return (flat / norms[:, None] / norms[None, :]).reshape(L, n, L, n)


@dataclass
class PairMeans:
    """Per resample, mean cosine between language blocks ``[R, L, L]`` (replicate 0 observed).

    ``same``: pairs of one verse in two languages (diagonal unused); ``diff``: pairs of different
    verses (the diagonal is LRDS's same-language term); ``blocks``: every pair except ``i = j``
    (LF Fig. 2's block means, translations included).
    """

    same: np.ndarray
    diff: np.ndarray
    blocks: np.ndarray

    @property
    def n_languages(self) -> int:
        return self.same.shape[1]

    def _offdiag(self, select: np.ndarray | None = None) -> np.ndarray:
        L = self.n_languages
        mask = ~np.eye(L, dtype=bool)
        if select is not None:
            mask &= select
        return mask

    def lrds(self) -> np.ndarray:
        L = self.n_languages
        eye = np.eye(L, dtype=bool)
        return self.diff[:, eye].mean(axis=1) - self.diff[:, ~eye].mean(axis=1)

    def sads(self, involving: Sequence[int] | None = None) -> np.ndarray:
        """SADS, optionally over the language pairs with at least one language in ``involving``."""
        L = self.n_languages
        select = None
        if involving is not None:
            flag = np.zeros(L, dtype=bool)
            flag[list(involving)] = True
            select = flag[:, None] | flag[None, :]
        mask = self._offdiag(select)
        if not mask.any():
            raise ValueError("no language pair selected")
        return self.same[:, mask].mean(axis=1) - self.diff[:, mask].mean(axis=1)

    def group_contrast(self, group: Sequence[int]) -> np.ndarray:
        """Mean different-meaning similarity within ``group`` minus between it and the rest."""
        L = self.n_languages
        flag = np.zeros(L, dtype=bool)
        flag[list(group)] = True
        within = self._offdiag(flag[:, None] & flag[None, :])
        between = flag[:, None] ^ flag[None, :]
        if not within.any() or not between.any():
            raise ValueError("the group needs ≥ 2 languages and at least one language outside it")
        return self.diff[:, within].mean(axis=1) - self.diff[:, between].mean(axis=1)

    def contrast_with(self, group: Sequence[int], others: Sequence[int]) -> np.ndarray:
        """Mean different-meaning similarity within ``group`` minus between it and ``others`` only.

        :meth:`group_contrast` with the comparison set named, e.g. the other languages of the
        group's script (LF-1c), so that a shared script alone cannot make the contrast.
        """
        L = self.n_languages
        flag, other = np.zeros(L, dtype=bool), np.zeros(L, dtype=bool)
        flag[list(group)] = True
        other[list(others)] = True
        if (flag & other).any():
            raise ValueError("the group and the comparison languages overlap")
        within = self._offdiag(flag[:, None] & flag[None, :])
        between = (flag[:, None] & other[None, :]) | (other[:, None] & flag[None, :])
        if not within.any() or not between.any():
            raise ValueError("the group needs ≥ 2 languages and at least one comparison language")
        return self.diff[:, within].mean(axis=1) - self.diff[:, between].mean(axis=1)


def pair_means(gram: torch.Tensor, weights: torch.Tensor) -> PairMeans:
    """Weighted block means from a cosine Gram ``[L, n, L, n]`` and weights ``[R, n]``."""
    L, n = gram.shape[:2]
    W = weights.to(torch.float64)
    # pairs[r, l, k] = w_r^T G[l, :, k, :] w_r
    half = torch.einsum("rm,lmkp->rlkp", W, gram)
    pairs = torch.einsum("rlkp,rp->rlk", half, W)
    same_gram = torch.einsum("lmkm->mlk", gram)  # a(m,l)·a(m,k)
    same = (W * W) @ same_gram.reshape(n, L * L)
    same = same.reshape(-1, L, L)
    sw = W.sum(dim=1)
    sw2 = (W * W).sum(dim=1)
    n_diff = (sw * sw - sw2)[:, None, None]
    diff = (pairs - same) / n_diff
    same_mean = same / sw2[:, None, None]
    blocks = pairs / (sw * sw)[:, None, None]
    eye = torch.eye(L, dtype=torch.bool)
    blocks[:, eye] = diff[:, eye]
    return PairMeans(same_mean.numpy(), diff.numpy(), blocks.numpy())


# ------------------------------------------------------------------------------- the analysis
@dataclass
class SimilarityAnalysis:
    """LRDS/SADS of one checkpoint with verse-bootstrap replicates (index 0 = observed)."""

    languages: tuple[str, ...]
    n_meanings: int
    n_layers: int
    full: PairMeans
    layers: list[PairMeans] | None
    n_boot: int
    seed: int
    gram: torch.Tensor | None = None  # cosine Gram [L, n, L, n] of the LF activation vectors
    metrics_check: dict = field(default_factory=dict)

    def lang_index(self, langs: Sequence[str]) -> list[int]:
        return [self.languages.index(x) for x in langs if x in self.languages]

    @property
    def lrds(self) -> np.ndarray:
        return self.full.lrds()

    @property
    def sads(self) -> np.ndarray:
        return self.full.sads()

    def per_layer(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lrds [R, n_layers], sads [R, n_layers])``."""
        if self.layers is None:
            raise ValueError("per-layer replicates were not computed")
        return (np.stack([p.lrds() for p in self.layers], axis=1), np.stack([p.sads() for p in self.layers], axis=1))

    def report_data(self) -> dict:
        """The contract's LF-1 keys: block similarity matrix, languages, LRDS, SADS."""
        return {
            "language_similarity": self.full.blocks[0].tolist(),
            "language_similarity_diff_meaning": self.full.diff[0].tolist(),
            "languages": list(self.languages),
            "lrds": float(self.lrds[0]),
            "sads": float(self.sads[0]),
            "n_verses": self.n_meanings,
            "bootstrap": {"unit": "verse", "n_resamples": self.n_boot, "seed": self.seed},
        }


def analyse_similarity(
    responses: torch.Tensor,
    language_ids: Any,
    meaning_ids: Any,
    languages: Sequence[str],
    n_layers: int,
    *,
    per_layer: bool = True,
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
    check_metrics: bool = True,
) -> SimilarityAnalysis:
    """LRDS, SADS and block similarities, overall and per layer, with verse-bootstrap replicates.

    ``language_ids`` are codes into ``languages``; ``responses`` ``[rows, n_layers * units]``.
    With ``check_metrics`` replicate 0 is compared with ``harness.metrics`` (it must agree).
    """
    languages = tuple(languages)
    index = parallel_index(language_ids, meaning_ids, len(languages))
    L, n = index.shape
    raw = layer_grams(responses, index, n_layers)
    weights = bootstrap_weights(n, n_boot, seed)
    gram = normalised_gram(raw.sum(dim=0))
    full = pair_means(gram, weights)
    layers = [pair_means(normalised_gram(raw[layer]), weights) for layer in range(n_layers)] if per_layer else None
    result = SimilarityAnalysis(languages, n, n_layers, full, layers, n_boot, seed, gram)
    if check_metrics:
        result.metrics_check = _check_against_metrics(result, responses, index, n_layers)
    return result


def _check_against_metrics(result: SimilarityAnalysis, responses, index: np.ndarray, n_layers: int) -> dict:
    """Replicate 0 must equal the metrics' direct computation on the similarity matrix."""
    L, n = index.shape
    rows = torch.as_tensor(index.reshape(-1))
    x = torch.as_tensor(responses)[rows]
    lang = np.repeat(np.arange(L), n)
    mean = np.tile(np.arange(n), L)
    S = similarity_matrix(activation_vectors(x))
    direct = {"lrds": lrds(S, lang, mean), "sads": sads(S, lang, mean)}
    _, blocks = language_similarity(S, lang)
    mine = {"lrds": float(result.lrds[0]), "sads": float(result.sads[0])}
    errors = {k: abs(direct[k] - mine[k]) for k in direct}
    errors["language_similarity"] = float(np.abs(blocks.numpy() - result.full.blocks[0]).max())
    if result.layers is not None:
        pl_lrds, pl_sads = per_layer_lrds_sads(x.reshape(x.shape[0], n_layers, -1), lang, mean)
        mine_l, mine_s = result.per_layer()
        errors["per_layer"] = float(
            max(np.abs(pl_lrds.numpy() - mine_l[0]).max(), np.abs(pl_sads.numpy() - mine_s[0]).max())
        )
    bad = {k: v for k, v in errors.items() if not v <= _CHECK_TOL}
    if bad:
        raise AssertionError(f"bootstrap replicate 0 disagrees with harness.metrics: {bad}")
    return {"max_abs_difference": max(errors.values()), **direct}


# ------------------------------------------------------------------------- permutation tests
def sads_permutation_null(
    gram: torch.Tensor, pairs: np.ndarray, *, n_perm: int = N_PERM, seed: int = PERM_SEED
) -> tuple[float, np.ndarray]:
    """SADS over the selected language pairs, and its null with verses re-paired at random.

    ``pairs [L, L]`` bool selects ordered language pairs (diagonal ignored). Under the null that
    meaning does not matter, the verse order of each language can be shuffled independently:
    the "same-meaning" pairs become random pairs of different verses while every other pair
    stays in the sample (a Mantel-type test of the similarity map). Block sums do not change, so
    each permutation only re-reads ``n`` entries per language pair.
    """
    G = gram.numpy() if isinstance(gram, torch.Tensor) else np.asarray(gram)
    L, n = G.shape[:2]
    mask = np.asarray(pairs, dtype=bool) & ~np.eye(L, dtype=bool)
    first, second = np.nonzero(mask)  # the two languages of each selected pair
    block = G.sum(axis=(1, 3))[first, second]  # [P] all-pairs sums per selected language pair

    def stat(perm: np.ndarray) -> float:  # perm [L, n]
        same = G[first[:, None], perm[first], second[:, None], perm[second]].mean(axis=1)  # [P]
        diff = (block - n * same) / (n * (n - 1))
        return float((same - diff).mean())

    rng = np.random.default_rng(seed)
    identity = np.tile(np.arange(n), (L, 1))
    observed = stat(identity)
    null = np.array([stat(np.argsort(rng.random((L, n)), axis=1)) for _ in range(n_perm)])
    return observed, null


def lrds_permutation_null(
    gram: torch.Tensor, *, n_perm: int = N_PERM, seed: int = PERM_SEED
) -> tuple[float, np.ndarray]:
    """LRDS and its null with the language labels shuffled within every verse.

    Under the null that language does not matter, the ``L`` translations of a verse are
    exchangeable, so each verse's language labels can be permuted on their own. The sum over all
    different-meaning pairs does not change; only the same-label part is re-read.
    """
    G = gram.numpy() if isinstance(gram, torch.Tensor) else np.asarray(gram)
    L, n = G.shape[:2]
    m = np.arange(n)
    total = G.sum() - np.einsum("lmkm->", G)  # every pair of different verses, all language pairs
    n_same = L * n * (n - 1)
    n_cross = L * (L - 1) * n * (n - 1)

    def stat(labels: np.ndarray) -> float:  # labels [L, n]: block l holds verse m of language labels[l, m]
        same = G[labels[:, :, None], m[None, :, None], labels[:, None, :], m[None, None, :]].sum()
        same -= G[labels, m[None, :], labels, m[None, :]].sum()  # a verse with itself (m = m')
        return same / n_same - (total - same) / n_cross

    rng = np.random.default_rng(seed)
    identity = np.tile(np.arange(L)[:, None], (1, n))
    observed = stat(identity)
    null = np.array([stat(np.argsort(rng.random((L, n)), axis=0)) for _ in range(n_perm)])
    return observed, null


# ------------------------------------------------------------------------- from Measurements
def similarity_at(
    measurements: MeasurementSource, revision: str | None, *, per_layer: bool = True
) -> SimilarityAnalysis:
    """:func:`analyse_similarity` on ``measurements.similarity_responses(revision)``, memoised per run.

    Without ``per_layer``, an analysis with per-layer replicates already in the memo is returned
    (its overall values are the same).
    """
    if not per_layer and measurements.memoised(("similarity", revision, True)):
        per_layer = True

    def compute() -> SimilarityAnalysis:
        responses, language_ids, meaning_ids = measurements.similarity_responses(revision)
        n_layers = measurements.loaded_model(revision).site.n_layers
        languages = measurements.plan.languages
        return analyse_similarity(responses, language_ids, meaning_ids, languages, n_layers, per_layer=per_layer)

    def cached() -> SimilarityAnalysis:  # on disk, keyed by the responses' cache keys (a warm rerun computes none)
        return derived_result(measurements, "similarity", lambda: measurements.similarity_keys(revision), compute,
                              per_layer=per_layer, n_boot=N_BOOT, seed=BOOT_SEED, version=1)

    return measurements.memo(("similarity", revision, per_layer), cached)


# ------------------------------------------------------------------------------ checkpoints
def checkpoint_steps(revisions: Sequence[str | None]) -> list[float]:
    """Training steps parsed from revision names (``step256``, ``global_step10000``), else positions."""
    steps = []
    for pos, rev in enumerate(revisions):
        match = re.search(r"(\d+)$", str(rev or ""))
        steps.append(float(match.group(1)) if match else float("nan"))
    if any(math.isnan(s) for s in steps) or len(set(steps)) != len(steps):
        return [float(i) for i in range(len(revisions))]
    return steps


# ------------------------------------------------------------------------- training series
@dataclass(frozen=True)
class TrainingComparison:
    """One statistic over a checkpoint series: the decided late-vs-early test and what is only reported.

    ``decided``: late vs early, paired over verses (the same bootstrap resamples of verses at every
    checkpoint, so each replicate's difference is a paired one); a percentile interval at level
    alpha decides it. ``controls``: late vs the series' first checkpoint (the untrained model on the
    toy), the same test, reported and never decided (LF claims nothing about the initialisation).
    ``trend``: Spearman's rho over the series, recorded, never decided: over 4 checkpoints its
    smallest one-sided p is 1/4! = 0.042, so it could never reach alpha = 0.01.
    """

    decided: Decision
    controls: dict[str, Decision]
    trend: Decision | None


def _late_vs(replicates: Mapping[str, np.ndarray], ref: str, late: str, *, statistic: str, n: int,
             alternative: str) -> Decision:
    return bootstrap_decision(
        np.asarray(replicates[late], dtype=np.float64) - np.asarray(replicates[ref], dtype=np.float64),
        statistic=f"{statistic} at {late} vs {ref}",
        n=n,
        alternative=alternative,
        value=float(replicates[late][0]),
        control_value=float(replicates[ref][0]),
    )


def training_comparison(
    replicates: Mapping[str, np.ndarray],
    series: Sequence[str],
    *,
    early: str,
    late: str,
    statistic: str,
    n: int,
    alternative: str,
) -> TrainingComparison:
    """Late vs early (decided), late vs the first checkpoint (reported) and the trend (recorded).

    ``replicates[rev]`` are verse-bootstrap replicates of ``statistic`` at ``rev`` (index 0 observed,
    the same resamples at every revision); ``alternative`` is "less" (the statistic falls with
    training) or "greater"; ``n`` the number of verses.
    """
    decided = _late_vs(replicates, early, late, statistic=statistic, n=n, alternative=alternative)
    first = series[0]
    controls = {}
    if first not in (early, late):
        controls[f"{statistic}: late vs first ({first})"] = _late_vs(
            replicates, first, late, statistic=statistic, n=n, alternative=alternative)
    trend = None
    if len(series) >= 3:
        trend = trend_test(checkpoint_steps(series), [float(replicates[rev][0]) for rev in series],
                           alternative="decreasing" if alternative == "less" else "increasing",
                           statistic=f"Spearman rho of {statistic} over the series")
    return TrainingComparison(decided, controls, trend)


def region_similarity_comparisons(
    sims: Mapping[str, SimilarityAnalysis],
    counts: Mapping[str, "KeyCounts"],
    series: Sequence[str],
    *,
    early: str,
    late: str,
) -> dict[str, TrainingComparison]:
    """LF-4's three statistics over a series: SKLR and LRDS fall, SADS rises (see :func:`training_comparison`)."""
    n = sims[late].n_meanings
    values = {
        "SKLR": ({rev: counts[rev].sklr.astype(float) for rev in series}, "less"),
        "LRDS": ({rev: sims[rev].lrds for rev in series}, "less"),
        "SADS": ({rev: sims[rev].sads for rev in series}, "greater"),
    }
    return {name: training_comparison(reps, series, early=early, late=late, statistic=name, n=n,
                                      alternative=alternative)
            for name, (reps, alternative) in values.items()}
