"""Lingua Franca key linguistic regions (LF §3.3, §4.3–4.5): find them, count them, zero them.

A neuron ``k`` is in language ``l``'s key region when the z-score of its contribution
``S_l(k)`` (mean over sentence pairs of ``a_i(k)·a_j(k)``, rows L2-normalised over all layers,
closed form ``((Σa)² − Σa²) / (n(n−1))``) across the chosen languages, with the population std,
is strictly greater than 2 (``harness.metrics.contribution_scores / zscores / key_regions``).

The language set is part of the method. With ``L`` languages no z-score can exceed
``√(L−1)``, so with 5 or fewer languages no neuron can be key at all: asking for key regions
then raises :class:`KeyRegionsUndefined`, whose message says so (a claim turns it into a skip).

Uncertainty: the verses are the sampled unit, so counts (region sizes, SKLR, per-layer counts)
are bootstrapped over verses with the same resamples as the similarity analyses
(``similarity.bootstrap_weights``); replicate 0 is the observed sample, computed by the metrics.

Deactivation (LF Table 1): every key region is zeroed in turn and the perplexity of every
language is measured on held-out text (``Measurements.perplexity``), next to two seeded controls
per language: a random set of the same size, and one random 10 % of all units (LF's control).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch

from harness.errors import HarnessError
from harness.measurement_cache import derived_result
from harness.measurement_source import MeasurementSource
from harness.metrics import (
    ALPHA,
    Decision,
    binomial_greater,
    contribution_scores,
    key_counts_per_layer,
    key_regions,
    max_attainable_z,
    one_sample_greater,
    zscores,
)

from .decisions import bootstrap_decision
from .similarity import BOOT_SEED, N_BOOT, TrainingComparison, bootstrap_weights, parallel_index, training_comparison

THRESHOLD = 2.0
RANDOM_FRACTION = 0.10
#: LF-3's matrix takes L² + 3L perplexity runs (180 with 12 languages): each uses the first
#: PPL_WINDOWS windows of the language's held-out verses (2,048 tokens on the toy; all of the
#: text for models with long windows)
PPL_WINDOWS = 32
#: a model without a profile (a saved folder, a hub id): the first PPL_TOKENS_UNPROFILED tokens instead,
#: in windows of its config's length (``harness.profiles.config_window``, at most 1024): the toy's budget.
#: 32 windows of 1024 tokens made LF-3 on a 2-layer, hidden-32 BLOOM take 800 CPU-seconds of a run's 5 minutes
PPL_TOKENS_UNPROFILED = 2048
CONTROL_SEED = 0
#: elements per chunk of the bootstrap (bounds memory on large models). A resample's key test
#: ``z > t`` is computed as ``d > 0 and d² > t²·var`` (``d`` = contribution − mean over
#: languages, ``var`` = population variance): no division, and a constant column (all ``d``
#: equal, ``d² = var``) never passes, as in ``metrics.zscores``; its clamp to ``√(L−1)`` cannot
#: change the outcome once ``√(L−1) > t``, which is checked first.
_CHUNK_ELEMENTS = 8_000_000


class KeyRegionsUndefined(HarnessError):
    """Key regions cannot exist for this language set (too few languages for z > threshold)."""


def key_region_bound(languages: Sequence[str], threshold: float = THRESHOLD) -> str | None:
    """Why no neuron can be key with these languages, or None when key neurons are possible."""
    L = len(languages)
    bound = max_attainable_z(L) if L >= 1 else 0.0
    if bound > threshold:
        return None
    need = math.floor(threshold**2) + 2  # smallest L with sqrt(L-1) > threshold
    return (
        f"key regions (z > {threshold:g} across languages, LF eq. 12–14) need at least {need} languages: "
        f"with the {L} language(s) {', '.join(languages) or '(none)'} the largest attainable z-score is "
        f"√(L−1) = {bound:.3f} ≤ {threshold:g}, so no neuron can be key"
    )


def require_key_region_languages(languages: Sequence[str], threshold: float = THRESHOLD) -> None:
    reason = key_region_bound(languages, threshold)
    if reason:
        raise KeyRegionsUndefined(reason)


# ----------------------------------------------------------------------------- key regions
@dataclass
class KeyRegions:
    """Key neurons of every language: ``mask [L, n_units]`` (flat, layer-major neuron index)."""

    languages: tuple[str, ...]
    mask: torch.Tensor
    n_layers: int
    threshold: float = THRESHOLD

    @property
    def n_units(self) -> int:
        return int(self.mask.shape[1])

    def units(self, lang: str) -> torch.Tensor:
        return torch.nonzero(self.mask[self.languages.index(lang)]).reshape(-1)

    @property
    def sizes(self) -> dict[str, int]:
        counts = self.mask.sum(dim=1).tolist()
        return {lang: int(c) for lang, c in zip(self.languages, counts)}

    @property
    def sklr(self) -> int:
        return int(self.mask.sum())

    def by_layer(self) -> np.ndarray:
        """Key neurons per language and layer ``[L, n_layers]``."""
        return key_counts_per_layer(self.mask, self.n_layers).numpy()


def find_key_regions(
    responses: Any, language_ids: Any, languages: Sequence[str], n_layers: int, *, threshold: float = THRESHOLD
) -> KeyRegions:
    """LF's key regions from mean-pooled responses ``[rows, n_units]`` (language_ids: codes)."""
    languages = tuple(languages)
    require_key_region_languages(languages, threshold)
    codes = list(range(len(languages)))
    scores = contribution_scores(responses, np.asarray(language_ids), languages=codes)
    mask = key_regions(zscores(scores), threshold)
    return KeyRegions(languages, mask, n_layers, threshold)


def key_count_replicates(
    responses: Any,
    index: np.ndarray,
    n_layers: int,
    weights: torch.Tensor,
    *,
    threshold: float = THRESHOLD,
) -> np.ndarray:
    """Key neurons per resample, language and layer ``[R, L, n_layers]`` (int64).

    ``index[l, m]`` is the row of verse ``m`` in language ``l``; ``weights [R, n]`` are verse
    multiplicities. A resample's contribution is the mean over pairs of distinct copies,
    ``((Σ w a)² − Σ w² a²) / ((Σw)² − Σw²)``, which with ``w = 1`` is LF eq. 11 (per pair); the
    common factor does not change z. Resamples are computed in float32 (they only feed a
    confidence interval; the observed regions come from the metrics in float64).
    """
    L, n = index.shape
    x = torch.as_tensor(responses)[torch.as_tensor(index.reshape(-1))]
    norms = torch.linalg.vector_norm(x.to(torch.float64), dim=1)
    if bool((norms == 0).any()):
        raise ValueError("cannot L2-normalise all-zero activation vectors")
    W = weights.to(torch.float32)
    W2 = W * W
    R = W.shape[0]
    units_per_layer = x.shape[1] // n_layers
    step = max(1, min(units_per_layer, _CHUNK_ELEMENTS // max(1, R * L)))
    t2 = threshold * threshold
    inv = (1.0 / norms).to(torch.float32)[:, None]
    out = torch.zeros((R, L, n_layers), dtype=torch.int64)
    for layer in range(n_layers):
        for a in range(layer * units_per_layer, (layer + 1) * units_per_layer, step):
            b = min((layer + 1) * units_per_layer, a + step)
            xc = (x[:, a:b].to(torch.float32) * inv).reshape(L, n, b - a).permute(1, 0, 2).reshape(n, -1)
            c = (W @ xc).view(R, L, b - a)
            c = c.mul_(c).sub_((W2 @ (xc * xc)).view(R, L, b - a))
            d = c.sub_(c.mean(dim=1, keepdim=True))
            d2 = d * d
            var = d2.mean(dim=1, keepdim=True).mul_(t2)
            out[:, :, layer] += ((d > 0) & (d2 > var)).sum(dim=2)
    return out.numpy()


@dataclass
class KeyCounts:
    """Key-neuron counts with verse-bootstrap replicates; index 0 = observed (from the metrics)."""

    languages: tuple[str, ...]
    by_layer: np.ndarray  # [R, L, n_layers]
    n_meanings: int
    n_boot: int
    seed: int
    check: dict = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return self.by_layer.shape[2]

    @property
    def sizes(self) -> np.ndarray:
        """``[R, L]`` key-region size per language."""
        return self.by_layer.sum(axis=2)

    @property
    def sklr(self) -> np.ndarray:
        """``[R]`` Σ_l |K_l|."""
        return self.by_layer.sum(axis=(1, 2))

    def layer_totals(self) -> np.ndarray:
        """``[R, n_layers]`` key neurons of all languages per layer."""
        return self.by_layer.sum(axis=1)

    def group_share(self, layers: Sequence[int]) -> np.ndarray:
        """``[R]`` share of all key neurons that sit in ``layers`` (NaN without key neurons)."""
        totals = self.layer_totals()
        whole = totals.sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(whole > 0, totals[:, list(layers)].sum(axis=1) / whole, np.nan)

    def density_contrast(self, ends: Sequence[int], middle: Sequence[int]) -> np.ndarray:
        """``[R]`` mean share per end layer minus mean share per middle layer."""
        return self.group_share(ends) / len(ends) - self.group_share(middle) / len(middle)


def size_gaps(counts: KeyCounts, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """``[R, P]`` key-region size of ``a`` minus that of ``b`` per replicate and pair ``(a, b)`` (LF-7)."""
    sizes = counts.sizes
    idx = {lang: i for i, lang in enumerate(counts.languages)}
    return np.stack([sizes[:, idx[a]] - sizes[:, idx[b]] for a, b in pairs], axis=1)


def count_key_regions(
    responses: Any,
    language_ids: Any,
    meaning_ids: Any,
    languages: Sequence[str],
    n_layers: int,
    *,
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
    threshold: float = THRESHOLD,
) -> tuple[KeyRegions, KeyCounts]:
    """Key regions (metrics) and their counts with verse-bootstrap replicates."""
    regions = find_key_regions(responses, language_ids, languages, n_layers, threshold=threshold)
    index = parallel_index(language_ids, meaning_ids, len(regions.languages))
    weights = bootstrap_weights(index.shape[1], n_boot, seed)
    reps = key_count_replicates(responses, index, n_layers, weights, threshold=threshold)
    observed = regions.by_layer()
    # Replicate 0 (all weights 1) recomputes the observed counts by another summation order;
    # report how far it is from the metrics (units exactly at the threshold may flip).
    check = {"max_abs_count_difference_replicate0": int(np.abs(reps[0] - observed).max())}
    reps[0] = observed
    return regions, KeyCounts(regions.languages, reps, index.shape[1], n_boot, seed, check)


# ------------------------------------------------------------------------- from Measurements
def key_regions_at(measurements: MeasurementSource, revision: str | None) -> tuple[KeyRegions, KeyCounts]:
    """:func:`count_key_regions` on the similarity sample at ``revision`` (memoised per run)."""
    languages = measurements.plan.languages
    require_key_region_languages(languages)

    def compute() -> tuple[KeyRegions, KeyCounts]:
        responses, language_ids, meaning_ids = measurements.similarity_responses(revision)
        n_layers = measurements.loaded_model(revision).site.n_layers
        return count_key_regions(responses, language_ids, meaning_ids, languages, n_layers)

    def cached() -> tuple[KeyRegions, KeyCounts]:  # on disk, keyed by the responses' cache keys
        return derived_result(measurements, "key_regions", lambda: measurements.similarity_keys(revision), compute,
                              n_boot=N_BOOT, seed=BOOT_SEED, threshold=THRESHOLD, version=1)

    return measurements.memo(("key_regions", revision), cached)


# ------------------------------------------------------------------------- layers over training
@dataclass(frozen=True)
class KeyLayerComparison:
    """LF-5 over a series: the late outer-vs-middle density (decided) and the first-quarter share over training."""

    groups: tuple[list[int], list[int], list[int]]  # (first, middle, last) quarters of the layers
    outer_denser: Decision  # late: share per layer in the first and last quarter − middle, verse bootstrap
    first_quarter: TrainingComparison  # first-quarter share late vs early (decided), vs first, trend


def key_layer_comparison(
    counts: dict[str, KeyCounts], series: Sequence[str], groups: tuple[list[int], list[int], list[int]], *,
    early: str, late: str
) -> KeyLayerComparison:
    """LF-5's tests from verse-bootstrap key counts per revision (the same resamples at every revision).

    ``groups`` are LF's ``(first, middle, last)`` quarters (``harness.layer_groups.lf_quarters``).
    """
    head, middle, tail = groups
    outer = bootstrap_decision(
        counts[late].density_contrast(head + tail, middle),
        statistic=f"key share per layer, layers {head + tail} − middle {middle} at {late}",
        n=counts[late].n_meanings,
    )
    share = {rev: counts[rev].group_share(head) for rev in series}
    first_quarter = training_comparison(share, series, early=early, late=late,
                                        statistic=f"first-quarter key share (layers {head})",
                                        n=counts[late].n_meanings, alternative="greater")
    return KeyLayerComparison((head, middle, tail), outer, first_quarter)


# ----------------------------------------------------------------------------- deactivation
@dataclass
class Deactivation:
    """Perplexity after zeroing key regions (rows: zeroed language, columns: evaluated language).

    ``increase[i, j] = PPL_j(K_i zeroed) / PPL_j − 1``; the controls are own-language increases.
    """

    languages: tuple[str, ...]
    full_ppl: np.ndarray  # [L]
    increase: np.ndarray  # [L, L]
    random_same_size: np.ndarray  # [L]
    random_10pct: np.ndarray  # [L]
    key_sizes: np.ndarray  # [L]
    random_fraction: float
    n_random_10pct: int
    seed: int
    text: dict = field(default_factory=dict)  # which held-out text the perplexities used

    @property
    def own(self) -> np.ndarray:
        return np.diag(self.increase).copy()

    def max_other(self) -> np.ndarray:
        """Largest increase of another language when a language's own region is zeroed."""
        off = self.increase.copy()
        np.fill_diagonal(off, -np.inf)
        return off.max(axis=1)

    def wins(self) -> np.ndarray:
        """Per language: own increase above every other entry of its row and above both controls."""
        own = self.own
        return (own > self.max_other()) & (own > self.random_same_size) & (own > self.random_10pct)

    def report_data(self) -> dict:
        return {
            "ppl_increase": self.increase.tolist(),
            "languages": list(self.languages),
            "random_same_size": self.random_same_size.tolist(),
            "random_10pct": self.random_10pct.tolist(),
            "full_ppl": self.full_ppl.tolist(),
            "key_sizes": [int(s) for s in self.key_sizes],
            "orientation": "rows: language whose key region is zeroed; columns: evaluated language",
            "controls": {
                "random_same_size": (
                    "per language, |K_l| units drawn uniformly from all units (seeded), own-language increase"
                ),
                "random_10pct": (
                    f"one set of {self.n_random_10pct} units ({self.random_fraction:.0%}, seeded), "
                    "increase per language"
                ),
                "seed": self.seed,
            },
            "perplexity_text": self.text,
        }


def random_units(n_units: int, size: int, seed: Sequence[int]) -> torch.Tensor:
    """``size`` distinct units drawn uniformly (sorted), reproducible from ``seed``."""
    rng = np.random.default_rng(list(seed))
    return torch.as_tensor(np.sort(rng.choice(n_units, size=size, replace=False)), dtype=torch.long)


def deactivation_matrix(
    perplexity: Callable[[str, torch.Tensor | None], float],
    regions: KeyRegions,
    *,
    seed: int = CONTROL_SEED,
    fraction: float = RANDOM_FRACTION,
) -> Deactivation:
    """Zero each language's key region and measure every language's perplexity, plus controls.

    ``perplexity(lang, zeroed_units_or_None)`` returns the perplexity on ``lang``'s held-out text.
    Cost: L full + L² zeroed + 2L control evaluations.
    """
    langs = regions.languages
    L, K = len(langs), regions.n_units
    full = np.array([float(perplexity(lang, None)) for lang in langs])
    inc = np.zeros((L, L))
    sizes = np.zeros(L, dtype=np.int64)
    same = np.zeros(L)
    for i, zeroed_lang in enumerate(langs):
        units = regions.units(zeroed_lang)
        sizes[i] = units.numel()
        for j, lang in enumerate(langs):
            inc[i, j] = float(perplexity(lang, units)) / full[j] - 1.0 if units.numel() else 0.0
        if units.numel():
            control = random_units(K, units.numel(), (seed, i))
            same[i] = float(perplexity(zeroed_lang, control)) / full[i] - 1.0
    n10 = max(1, round(fraction * K))
    ten = random_units(K, n10, (seed, 10_000))
    rand10 = np.array([float(perplexity(lang, ten)) / full[j] - 1.0 for j, lang in enumerate(langs)])
    return Deactivation(tuple(langs), full, inc, same, rand10, sizes, fraction, n10, seed)


def perplexity_windows(measurements: MeasurementSource, revision: str | None) -> tuple[int, str]:
    """The windows of held-out text per language of LF-3's matrix, and the rule that chose them:
    :data:`PPL_WINDOWS` with a profile, else as many as hold :data:`PPL_TOKENS_UNPROFILED` tokens in the
    config's window."""
    profile = measurements.plan.profile
    if profile is not None:
        return PPL_WINDOWS, f"the first {PPL_WINDOWS} windows of {profile.perplexity_window} tokens (the profile's)"
    from harness.profiles import config_window

    window = config_window(measurements.loaded_model(revision).module.config)
    n = max(1, -(-PPL_TOKENS_UNPROFILED // window))
    return n, (f"a model without a profile: the first {PPL_TOKENS_UNPROFILED} tokens, {n} window(s) of {window} "
               f"(its config's window, at most 1024), not {PPL_WINDOWS} windows (the L² + 3L runs' cost)")


def deactivation_at(
    measurements: MeasurementSource, revision: str | None, *, max_windows: int | None | Literal["default"] = "default"
) -> Deactivation:
    """:func:`deactivation_matrix` with ``Measurements.perplexity`` (cached per unit set).

    Every perplexity of the matrix is measured on the same text per language: the first
    ``max_windows`` windows of its held-out verses (default: :func:`perplexity_windows`; None: all).
    """
    budget = "the first max_windows windows" if max_windows is not None else "all of the held-out text"
    if max_windows == "default":
        max_windows, budget = perplexity_windows(measurements, revision)
    regions, _ = key_regions_at(measurements, revision)

    def ppl(lang: str, units: torch.Tensor | None) -> float:
        return measurements.perplexity(revision, lang, zeroed=units, max_windows=max_windows).perplexity

    def compute() -> Deactivation:
        result = deactivation_matrix(ppl, regions)
        full = [measurements.perplexity(revision, lang, max_windows=max_windows) for lang in regions.languages]
        result.text = {
            "max_windows": max_windows,
            "budget": budget,
            "windows": [p.n_windows for p in full],
            "predicted_tokens": [p.n_predicted for p in full],
        }
        return result

    return measurements.memo(("deactivation", revision, max_windows), compute)


def own_region_margin(d: Deactivation) -> np.ndarray:
    """Per language, ``log(1 + own) − log(1 + max(other languages, random same size, random 10 %))``:
    how far its own increase tops its row and both controls (> 0 exactly for LF-3a's wins)."""
    rival = np.maximum(d.max_other(), np.maximum(d.random_same_size, d.random_10pct))
    return np.log1p(d.own) - np.log1p(rival)


def random_control_gap(d: Deactivation) -> np.ndarray:
    """Per language, LF-3b's ``log(1 + own) − log(1 + max(random same size, random 10 %))``."""
    return np.log1p(d.own) - np.log1p(np.maximum(d.random_same_size, d.random_10pct))


def own_region_decision(d: Deactivation, *, alpha: float = ALPHA) -> Decision:
    """LF-3a: how many languages' own increase tops their row and both controls, vs chance 1/L.

    Under the null that zeroing a key region is no more specific to its language than to any
    other, the own language is the row maximum with probability 1/L (it must also beat both
    random controls, which only makes a success rarer). One-sided exact binomial test, and
    "most languages" (more than half) must succeed.
    """
    L = len(d.languages)
    wins = d.wins()
    k = int(wins.sum())
    statistic = "languages whose own PPL increase tops its row and both controls (share)"
    test = binomial_greater(k, L, 1.0 / L, alpha=alpha, statistic=statistic)
    majority = k > L / 2
    failed = [lang for lang, w in zip(d.languages, wins) if not w]
    reason = (
        f"{k}/{L} languages ({', '.join(x for x, w in zip(d.languages, wins) if w) or 'none'}) have their own "
        f"increase above every other language and both controls; binomial p = {test.p_value:.3g} vs chance 1/{L}"
        + ("" if majority else "; not a majority")
        + (f"; failing: {', '.join(failed)}" if failed else "")
    )
    return replace(
        test,
        n=L,
        supported=bool(test.supported and majority),
        detail={
            **test.detail,
            "rule": "binomial p <= alpha against 1/L and more than half of the languages succeed",
            "wins": {lang: bool(w) for lang, w in zip(d.languages, wins)},
            "own_increase": dict(zip(d.languages, d.own.tolist())),
            "max_other_increase": dict(zip(d.languages, d.max_other().tolist())),
            "reason": reason,
        },
    )


def random_control_decision(d: Deactivation, *, alpha: float = ALPHA) -> Decision:
    """LF-3b: own-language Δlog PPL minus the larger of the two random controls, across languages.

    Statistic per language: ``log(1 + own) − log(1 + max(random same size, random 10 %))``, the
    log-ratio of perplexities (a unit-free "how many times more"). One-sided one-sample t test
    over languages (the languages are the units; a sign test could not reach alpha = 0.01 with
    fewer than 7 languages), and more than half of the languages must exceed both controls.
    """
    L = len(d.languages)
    own = np.log1p(d.own)
    control = np.log1p(np.maximum(d.random_same_size, d.random_10pct))
    diff = own - control
    test = one_sample_greater(
        diff, 0.0, alpha=alpha, method="t", statistic="mean Δlog PPL own region − max random control"
    )
    beats = (d.own > d.random_same_size) & (d.own > d.random_10pct)
    k = int(beats.sum())
    majority = k > L / 2
    reason = (
        f"own Δlog PPL {own.mean():.4g} vs random same-size {np.log1p(d.random_same_size).mean():.4g} and random 10 % "
        f"{np.log1p(d.random_10pct).mean():.4g} (means over {L} languages); t-test p = {test.p_value:.3g}; "
        f"{k}/{L} languages above both controls"
    )
    return replace(
        test,
        n=L,
        supported=bool(test.supported and majority),
        detail={
            **test.detail,
            "rule": "one-sided t test over languages p <= alpha and more than half beat both controls",
            "beats_both_controls": {lang: bool(b) for lang, b in zip(d.languages, beats)},
            "log_ratio": dict(zip(d.languages, diff.tolist())),
            "reason": reason,
        },
    )
