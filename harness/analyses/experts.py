"""Concept expert neurons across languages (RF §6–7): alignment, MI, top-k overlap, layer profiles.

Everything starts from the expert scores AP(c, l) of ``Measurements.expert_scores`` (one row per
concept, one column per MLP unit; the concept datasets are verse-aligned, so concept ``c`` has the
same positive verses in every language). The functions here only combine those scores with the
metrics of ``harness.metrics``; they return per-concept numbers, because the concept is the unit
the claims test over (language pairs share languages, so they are not independent).

Controls computed next to every cross-lingual statistic:

* **mismatched concepts** – the same statistic between concept ``c`` in language ``l`` and a
  different concept ``c' ≠ c`` in ``l'`` (averaged over all ``c'`` and both directions). Units that
  rank high for every concept (length or frequency detectors) inflate the matched statistic and the
  mismatched one alike; only the excess is about the concept.
* **chance** – for overlaps, ``k / N``: the expected overlap of two random k-subsets of N units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Callable, Sequence

import numpy as np
import torch

from harness.layer_groups import rf_layer_regions as layer_regions  # noqa: F401  re-export for claims/
from harness.measurement_source import MeasurementSource
from harness.metrics import (
    chance_overlap,
    fisher_z_mean,
    mutual_info_knn_batch,
    overlap_fraction,
    pearson_matrix,
    topk_units,
    units_per_layer,
)
from harness.run_plan import missing_role

MI_NEIGHBOURS = 3
MI_RANDOM_STATE = 0
#: bump when the MI computation changes: cached MI values (see ``Measurements.derived``) are then recomputed
MI_VERSION = 1
#: mismatched partners per concept for the per-layer overlap control (global overlap uses all)
LAYER_PARTNERS = 8


def fisher_mean(values, axis=None) -> np.ndarray:
    """Fisher-z average of correlations along ``axis`` (numpy in, numpy out)."""
    return fisher_z_mean(torch.as_tensor(np.asarray(values, dtype=np.float64)), dim=axis).numpy()


# ------------------------------------------------------------------------------ expert scores
@dataclass(frozen=True)
class ExpertScores:
    """AP of every unit for every concept and language at one revision."""

    revision: str | None
    languages: tuple[str, ...]
    concepts: tuple[str, ...]
    ap: torch.Tensor  # [n_languages, n_concepts, n_units] float64
    n_layers: int
    units_per_layer: int
    #: the measurement cache keys of each language's AP (``Measurements.expert_scores_key``) and the
    #: run's ``Measurements.derived``, with which expensive results (MI) are cached; None: not cached
    input_keys: tuple[dict, ...] | None = field(default=None, compare=False, repr=False)
    derived: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    @property
    def n_units(self) -> int:
        return int(self.ap.shape[-1])

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """Language pairs ``(i, j)``, ``i < j``, as indices into ``languages``."""
        return list(combinations(range(len(self.languages)), 2))

    def pair_names(self) -> list[str]:
        return [f"{self.languages[i]}-{self.languages[j]}" for i, j in self.pairs]

    def subset(self, languages: Sequence[str]) -> "ExpertScores":
        index = [self.languages.index(lang) for lang in languages]
        keys = None if self.input_keys is None else tuple(self.input_keys[i] for i in index)
        return ExpertScores(
            self.revision, tuple(languages), self.concepts, self.ap[index], self.n_layers, self.units_per_layer,
            keys, self.derived,
        )


def expert_scores(
    measurements: MeasurementSource, revision: str | None, languages: Sequence[str] | None = None
) -> ExpertScores:
    """Stack ``measurements.expert_scores(revision, l)`` over languages (all concepts of the data)."""
    languages = tuple(languages or measurements.plan.languages)
    if len(languages) < 2:
        raise ValueError("cross-lingual expert statistics need at least two languages")
    ap = torch.stack([measurements.expert_scores(revision, lang).to(torch.float64) for lang in languages])
    site = measurements.loaded_model(revision).site
    concepts = tuple(measurements.data.concept_names)
    key_of = getattr(measurements, "expert_scores_key", None)
    derived = getattr(measurements, "derived", None)
    keys = tuple(key_of(revision, lang) for lang in languages) if key_of and derived else None
    return ExpertScores(revision, languages, concepts, ap, site.n_layers, site.units_per_layer, keys, derived)


# ---------------------------------------------------------------------------------- alignment
@dataclass(frozen=True)
class Alignment:
    """Pearson r between AP vectors, per concept and language pair, and its mismatched control."""

    languages: tuple[str, ...]
    pairs: list[tuple[int, int]]
    matched: np.ndarray  # [n_concepts, n_pairs]: r(AP(c,l), AP(c,l'))
    mismatched: np.ndarray  # [n_concepts, n_pairs]: Fisher-z mean over c' != c, both directions

    @property
    def per_concept(self) -> np.ndarray:
        """Fisher-z mean over language pairs, per concept: ``[n_concepts]``."""
        return fisher_mean(self.matched, axis=1)

    @property
    def per_concept_mismatched(self) -> np.ndarray:
        return fisher_mean(self.mismatched, axis=1)

    @property
    def overall(self) -> float:
        """Fisher-z mean over concepts and language pairs (the paper's Figure 4 value)."""
        return float(fisher_mean(self.matched))

    @property
    def overall_mismatched(self) -> float:
        return float(fisher_mean(self.mismatched))

    def matrix(self) -> np.ndarray:
        """[L, L] Fisher-z mean over concepts (the paper's Figure 3), diagonal 1."""
        n = len(self.languages)
        out = np.eye(n)
        per_pair = fisher_mean(self.matched, axis=0)
        for p, (i, j) in enumerate(self.pairs):
            out[i, j] = out[j, i] = per_pair[p]
        return out


def alignment(scores: ExpertScores) -> Alignment:
    """Cross-lingual alignment of expert scores (RF §6) with the mismatched-concept control."""
    n_lang, n_con, n_units = scores.ap.shape
    r = pearson_matrix(scores.ap.reshape(n_lang * n_con, n_units)).reshape(n_lang, n_con, n_lang, n_con).numpy()
    pairs = scores.pairs
    matched = np.empty((n_con, len(pairs)))
    mismatched = np.empty((n_con, len(pairs)))
    off = ~np.eye(n_con, dtype=bool)
    for p, (i, j) in enumerate(pairs):
        block = r[i, :, j, :]  # [c in l_i, c' in l_j]
        matched[:, p] = np.diag(block)
        both = np.concatenate([np.where(off, block, np.nan), np.where(off, block.T, np.nan)], axis=1)
        mismatched[:, p] = fisher_mean(both, axis=1)
    return Alignment(scores.languages, pairs, matched, mismatched)


# ------------------------------------------------------------------------- mutual information
def mutual_information(
    scores: ExpertScores, *, pairs: Sequence[tuple[int, int]] | None = None, progress: bool = False
) -> np.ndarray:
    """k-NN MI (nats) between AP(c, l) and AP(c, l'): ``[n_concepts, n_pairs]`` (RF §6).

    The KSG estimator costs ≈ 0.3 s per concept and language pair at BLOOM-560m's 98,304 units on
    one CPU thread (≈ 10 CPU-minutes per checkpoint for 10 languages), hence the progress bar.
    Every row gets its own ``RandomState(MI_RANDOM_STATE)``, so the split into pairs does not
    change the values. Scores from a run (:func:`expert_scores` on ``Measurements``) cache each
    pair's MI on disk, keyed by the two languages' AP cache keys: a warm rerun computes none.
    """
    from tqdm.auto import tqdm

    pairs = list(pairs) if pairs is not None else scores.pairs
    out = np.empty((scores.ap.shape[1], len(pairs)))
    for p, (i, j) in enumerate(tqdm(pairs, desc=f"MI {scores.revision or 'final'}", disable=not progress, leave=False)):
        if scores.input_keys is None or scores.derived is None:
            out[:, p] = _pair_mi(scores, i, j).numpy()
            continue
        out[:, p] = scores.derived(
            "mutual_information", [scores.input_keys[i], scores.input_keys[j]], lambda i=i, j=j: _pair_mi(scores, i, j),
            neighbours=MI_NEIGHBOURS, random_state=MI_RANDOM_STATE, version=MI_VERSION,
        ).numpy()
    return out


def _pair_mi(scores: ExpertScores, i: int, j: int) -> torch.Tensor:
    """k-NN MI between languages ``i`` and ``j``'s AP, per concept: ``[n_concepts]`` float64."""
    mi = mutual_info_knn_batch(scores.ap[i], scores.ap[j], n_neighbors=MI_NEIGHBOURS, random_state=MI_RANDOM_STATE)
    if not np.all(np.isfinite(mi.numpy())):
        names = scores.languages
        raise ValueError(f"MI between {names[i]} and {names[j]} expert scores is not finite")
    return torch.as_tensor(mi.numpy(), dtype=torch.float64)


# ----------------------------------------------------------------------------------- overlap
def top_experts(scores: ExpertScores, k: int) -> np.ndarray:
    """Global top-k units per language and concept: ``[n_languages, n_concepts, k]``."""
    n_lang, n_con = scores.ap.shape[:2]
    return np.stack(
        [np.stack([topk_units(scores.ap[lang, c], k).numpy() for c in range(n_con)]) for lang in range(n_lang)]
    )


def _pairwise_overlap(
    sets: list[list[frozenset]], pairs, k: int, partners: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Matched and mismatched overlap fractions for index sets ``sets[l][c]``.

    The mismatched control of concept ``a`` and pair ``(i, j)`` averages ``|E(a,i) ∩ E(b,j)|/k`` and
    ``|E(b,i) ∩ E(a,j)|/k`` over the partners ``b = a+1 … a+partners`` (cyclically; all other
    concepts when ``partners`` is None).
    """
    n_con = len(sets[0])
    shifts = range(1, n_con if partners is None else min(n_con - 1, partners) + 1)
    matched = np.empty((n_con, len(pairs)))
    mismatched = np.empty((n_con, len(pairs)))
    for p, (i, j) in enumerate(pairs):
        for a in range(n_con):
            matched[a, p] = overlap_fraction(sets[i][a], sets[j][a], k)
            other = [(a + s) % n_con for s in shifts]
            values = [overlap_fraction(sets[i][a], sets[j][b], k) for b in other]
            values += [overlap_fraction(sets[i][b], sets[j][a], k) for b in other]
            mismatched[a, p] = float(np.mean(values))
    return matched, mismatched


@dataclass(frozen=True)
class Overlap:
    """|E(c,l) ∩ E(c,l')| / k per concept and pair, its mismatched control, and chance k/N."""

    languages: tuple[str, ...]
    pairs: list[tuple[int, int]]
    k: int
    n_units: int
    matched: np.ndarray  # [n_concepts, n_pairs]
    mismatched: np.ndarray  # [n_concepts, n_pairs]

    @property
    def chance(self) -> float:
        return chance_overlap(self.k, self.n_units)

    @property
    def per_concept(self) -> np.ndarray:
        return self.matched.mean(axis=1)

    @property
    def per_concept_mismatched(self) -> np.ndarray:
        return self.mismatched.mean(axis=1)

    @property
    def mean(self) -> float:
        return float(self.matched.mean())

    @property
    def mean_mismatched(self) -> float:
        return float(self.mismatched.mean())


def overlap(scores: ExpertScores, k: int) -> Overlap:
    """Top-k expert overlap between languages (RF §6) with mismatched and chance controls."""
    top = top_experts(scores, k)
    sets = [[frozenset(top[lang, c].tolist()) for c in range(top.shape[1])] for lang in range(top.shape[0])]
    matched, mismatched = _pairwise_overlap(sets, scores.pairs, k)
    return Overlap(scores.languages, scores.pairs, k, scores.n_units, matched, mismatched)


# ---------------------------------------------------------------------------- layer profiles
def layer_distribution(scores: ExpertScores, k: int) -> np.ndarray:
    """Share of the global top-k experts in each layer, per language and concept.

    Returns ``[n_languages, n_concepts, n_layers]``; every row sums to 1 (RF §7, Figure 5).
    """
    top = top_experts(scores, k)
    def layer_counts(units) -> np.ndarray:
        return units_per_layer(units, scores.units_per_layer, scores.n_layers).numpy()

    counts = np.stack(
        [np.stack([layer_counts(top[lang, c]) for c in range(top.shape[1])]) for lang in range(top.shape[0])]
    )
    return counts / k


@dataclass(frozen=True)
class LayerOverlap:
    """Per-layer overlap of the *global* top-k experts restricted to each layer, and its controls.

    ``matched[c, p, ℓ] = |E_ℓ(c, l) ∩ E_ℓ(c, l')| / k`` where ``E_ℓ`` is the global top-k set (ranked
    over all layers together, RF §7) restricted to layer ``ℓ``: the share of the top-k that the two
    languages share *in that layer*; summed over layers it is the global overlap (:func:`overlap`).
    """

    languages: tuple[str, ...]
    pairs: list[tuple[int, int]]
    k: int
    units_per_layer: int
    matched: np.ndarray  # [n_concepts, n_pairs, n_layers]
    mismatched: np.ndarray  # [n_concepts, n_pairs, n_layers]
    #: [n_layers]: mean over concepts and pairs of |E_ℓ(c,l)|·|E_ℓ(c,l')| / (units per layer · k), the
    #: overlap of independent random sets with the observed per-layer sizes
    chance_profile: np.ndarray

    @property
    def chance(self) -> float:
        """Expected overlap of the whole top-k (all layers) for two random k-subsets: ``k / N``."""
        return chance_overlap(self.k, self.units_per_layer * self.matched.shape[2])

    def per_concept(self, layers: Sequence[int], *, mismatched: bool = False) -> np.ndarray:
        """Mean over pairs and the given layers, per concept: ``[n_concepts]``."""
        data = self.mismatched if mismatched else self.matched
        return data[:, :, list(layers)].mean(axis=(1, 2))

    @property
    def profile(self) -> np.ndarray:
        """Mean over concepts and pairs, per layer."""
        return self.matched.mean(axis=(0, 1))

    @property
    def profile_mismatched(self) -> np.ndarray:
        return self.mismatched.mean(axis=(0, 1))


def _sets_in_layer(top: np.ndarray, layer_of: np.ndarray, layer: int) -> list[list[frozenset]]:
    """``sets[l][c]``: the units of the top-k sets ``top [L, C, k]`` that sit in ``layer``."""
    return [[frozenset(top[lang, c][layer_of[lang, c] == layer].tolist()) for c in range(top.shape[1])]
            for lang in range(top.shape[0])]


def layer_overlap(scores: ExpertScores, k: int, *, partners: int | None = LAYER_PARTNERS) -> LayerOverlap:
    """Cross-lingual overlap per layer (RF §7, Figure 6): the global top-k restricted to each layer.

    The top-k is ranked over all layers together (as RF and ml-selfcond rank it), then each
    language's set is cut into its layers; the overlap of layer ``ℓ`` is ``|E_ℓ(c,l) ∩ E_ℓ(c,l')| / k``.
    A layer that holds no experts has overlap 0. ``chance_profile`` is the overlap two independent
    random sets of the same per-layer sizes would have; the mismatched control uses ``partners``
    other concepts per concept (both directions) to bound the cost at BLOOM's k = 500 and 24 layers.
    """
    top = top_experts(scores, k)
    layer_of = top // scores.units_per_layer
    n_con = top.shape[1]
    matched = np.empty((n_con, len(scores.pairs), scores.n_layers))
    mismatched = np.empty_like(matched)
    chance = np.empty(scores.n_layers)
    for layer in range(scores.n_layers):
        sets = _sets_in_layer(top, layer_of, layer)
        matched[:, :, layer], mismatched[:, :, layer] = _pairwise_overlap(sets, scores.pairs, k, partners)
        sizes = (layer_of == layer).sum(axis=2)  # [L, C]
        chance[layer] = np.mean([sizes[i] * sizes[j] for i, j in scores.pairs]) / (scores.units_per_layer * k)
    return LayerOverlap(scores.languages, scores.pairs, k, scores.units_per_layer, matched, mismatched, chance)


# --------------------------------------------------------------------------------- scripts
def script_pairs(languages: Sequence[str], scripts: dict[str, str]) -> tuple[list[int], list[int]]:
    """Indices (into ``combinations(languages, 2)``) of same-script and of cross-script pairs."""
    same: list[int] = []
    cross: list[int] = []
    for p, (i, j) in enumerate(combinations(range(len(languages)), 2)):
        (same if scripts[languages[i]] == scripts[languages[j]] else cross).append(p)
    return same, cross


def finite(values) -> bool:
    return all(math.isfinite(float(v)) for v in np.asarray(values).reshape(-1))


# ------------------------------------------------------------------------ checkpoints, languages
@dataclass(frozen=True)
class SeriesPoints:
    """The checkpoints of a trend claim: the whole series, its first point, "early" and "late"."""

    revisions: tuple[str, ...]
    first: str
    early: str
    late: str

    @property
    def references(self) -> dict[str, str]:
        """The points "late" is compared with: ``{"early": rev, "first": rev}`` (distinct ones)."""
        out = {"early": self.early}
        if self.first not in (self.early, self.late):
            out["first"] = self.first
        return out


def series_gap(plan: Any) -> str | None:
    """Why ``plan`` has no distinct early and late checkpoints in its series (a skip reason naming
    the option to pass), or None when it has them."""
    revisions = tuple(plan.series)
    if len(revisions) < 2:
        return "needs a checkpoint series of at least two checkpoints: pass --checkpoints a,b,… (earliest first)"
    if plan.early is None:
        return missing_role("early", revisions)
    if plan.late is None:
        return missing_role("late", revisions)
    if plan.early == plan.late:
        return f"'early' and 'late' are the same checkpoint ({plan.late}): pass --early or --late"
    return None


def series_points(measurements: MeasurementSource) -> SeriesPoints | None:
    """The run's checkpoint series after refusing duplicate weights, or None when it has no
    distinct early and late point in the series (the caller skips; :func:`series_gap` says why)."""
    plan = measurements.plan
    if series_gap(plan) is not None or plan.early not in plan.series or plan.late not in plan.series:
        return None
    revisions = tuple(plan.series)
    measurements.check_series(revisions)
    return SeriesPoints(revisions, revisions[0], plan.early, plan.late)


def claim_languages(measurements: MeasurementSource) -> tuple[str, ...]:
    """Languages of the expert claims (RF-2, RF-3): ``--languages``, else the profile's
    ``expert_languages`` present in the data, else every evaluation language."""
    plan = measurements.plan
    profile = plan.profile
    if measurements.config.languages or profile is None or not profile.expert_languages:
        return tuple(plan.languages)
    chosen = tuple(lang for lang in profile.expert_languages if lang in plan.languages)
    return chosen if len(chosen) >= 2 else tuple(plan.languages)
