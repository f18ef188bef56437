"""Properties shared by the metrics, tested once over one table (as ``sklearn/metrics/tests/test_common.py``).

``METRICS`` maps a name to a :class:`Metric`: an adapter that calls the public function on a drawn
problem (a dict of keyword arguments), the hypothesis strategy of problems, and a reference
implementation written independently (sklearn, scipy, numpy brute force) or None. The property
sets below list which metric has which property; every general test is parametrised over one
set. Tests of one metric's own behaviour (hand-computed answers, edge cases, error messages) stay
in ``test_metrics_<module>.py``.

Each check is a plain function, and ``test_checks_catch_broken_metrics`` runs each on a
deliberately broken metric, so that no check passes vacuously.
"""

from __future__ import annotations

import copy
import itertools
import math
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from metric_strategies import ap_problems, corpora, corpus_ids, grid, mi_problems, nonzero_rows
from scipy import stats as sps
from sklearn.feature_selection import mutual_info_regression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import harness.metrics as M
from harness.errors import NonFiniteActivationError

Problem = dict[str, Any]


@dataclass(frozen=True)
class Metric:
    """One public metric as the general tests see it.

    ``fn(**problem)`` returns the result as a float64 numpy array. ``sample_axes`` names the
    inputs indexed by sample and the axes along which (permuted together by the order check);
    ``float_inputs`` the inputs that are rescaled by the scale checks and poisoned with NaN/inf
    by the non-finite check (the first of them). ``bounds(problem)`` gives ``(lo, hi)``.
    """

    fn: Callable[..., np.ndarray]
    problems: st.SearchStrategy[Problem]
    reference: Callable[..., np.ndarray] | None = None
    atol: float = 1e-12  # agreement with the reference
    sample_axes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    order_atol: float = 0.0  # 0: a permutation of the samples changes no bit
    float_inputs: tuple[str, ...] = ()
    bounds: Callable[[Problem], tuple[float, float]] | None = None


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _quiet(fn: Callable[..., Any]) -> Callable[..., np.ndarray]:
    """``fn`` as a reference: its warnings (scipy's on constant input) silenced, result as numpy."""

    def ref(**kw: Any) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _np(fn(**kw))

    return ref


def _p_value(fn: Callable[..., M.Decision], **fixed: Any) -> Callable[..., np.ndarray]:
    return lambda **kw: np.array([fn(**kw, **fixed).p_value], dtype=np.float64)


def _const(lo: float, hi: float) -> Callable[[Problem], tuple[float, float]]:
    return lambda problem: (lo, hi)


# ------------------------------------------------------------------------------ problems
@st.composite
def pairs_of_vectors(draw, names=("x", "y"), max_rows: int = 3, min_n: int = 3, max_n: int = 30):
    """Equally shaped ``[m, n]`` float64 arrays on a grid (exactly constant or well spread rows)."""
    m, n = draw(st.integers(1, max_rows)), draw(st.integers(min_n, max_n))
    return {name: draw(arrays(np.float64, (m, n), elements=grid())) for name in names}


@st.composite
def correlations(draw):
    r = draw(st.lists(st.one_of(grid(-16, 16, 16.0), st.just(math.nan)), min_size=1, max_size=30))
    return {"r": np.array(r)}


@st.composite
def mi_batches(draw):
    rows = [draw(mi_problems()) for _ in range(draw(st.integers(1, 3)))]
    n = min(len(r["x"]) for r in rows)
    X = np.stack([r["x"][:n].astype(np.float64) for r in rows])
    Y = np.stack([r["y"][:n].astype(np.float64) for r in rows])
    return {"X": X, "Y": Y, "n_neighbors": min(3, n - 1), "random_state": draw(st.integers(0, 1000))}


@st.composite
def unit_scores(draw):
    values = draw(st.lists(st.one_of(st.integers(-3, 3).map(float), st.floats(-1e3, 1e3)), min_size=1, max_size=60))
    return {"scores": np.array(values), "k": draw(st.integers(1, len(values)))}


@st.composite
def index_pairs(draw):
    n_units = draw(st.integers(1, 40))
    k = draw(st.integers(1, n_units))
    a = draw(st.permutations(range(n_units)))[:k]
    b = draw(st.permutations(range(n_units)))[:k]
    return {"a_idx": np.array(a), "b_idx": np.array(b), "k": k}


@st.composite
def hypergeometric_cases(draw):
    n_units = draw(st.integers(1, 60))
    k = draw(st.integers(1, n_units))
    return {"n_shared": draw(st.integers(0, k)), "k": k, "n_units": n_units}


@st.composite
def layer_indices(draw):
    n_layers, per_layer = draw(st.integers(1, 6)), draw(st.integers(1, 10))
    idx = draw(st.lists(st.integers(0, n_layers * per_layer - 1), min_size=1, max_size=30))
    return {"idx": np.array(idx), "units_per_layer": per_layer, "n_layers": n_layers}


@st.composite
def pooled_responses(draw):
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(st.integers(1, 4)))
    return {"pooled": nonzero_rows(draw(arrays(np.float64, shape, elements=grid())))}


@st.composite
def feature_rows(draw):
    shape = (draw(st.integers(1, 7)), draw(st.integers(1, 5)))
    return {"a": nonzero_rows(draw(arrays(np.float64, shape, elements=grid())))}


@st.composite
def layered_corpora(draw):
    langs, means = draw(corpus_ids(max_lang=3, max_meaning=3))
    shape = (len(langs), draw(st.integers(1, 3)), draw(st.integers(2, 4)))
    pooled = draw(arrays(np.float64, shape, elements=st.floats(0.05, 2)))
    return {"pooled": pooled, "language_ids": langs, "meaning_ids": means}


@st.composite
def language_activations(draw):
    drawn = draw(st.lists(st.sampled_from(["en", "fr", "zh"]), max_size=6))
    langs = 2 * drawn + ["en", "en", "fr", "fr"]  # every language at least twice
    langs = draw(st.permutations(langs))
    acts = draw(arrays(np.float64, (len(langs), draw(st.integers(1, 6))), elements=grid()))
    return {"acts": nonzero_rows(acts), "language_ids": langs}


@st.composite
def language_scores(draw):
    shape = (draw(st.integers(1, 7)), draw(st.integers(1, 8)))
    return {"scores": draw(arrays(np.float64, shape, elements=grid(-8, 8, 4.0)))}


@st.composite
def key_masks(draw):
    n_layers, per_layer = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    mask = draw(arrays(np.bool_, (draw(st.integers(1, 4)), n_layers * per_layer)))
    return {"mask": mask, "n_layers": n_layers}


@st.composite
def probe_problems(draw):
    """Two layers of 24 sentences in 3 languages: layer 0 separates them, layer 1 is noise."""
    rng = np.random.default_rng(draw(st.integers(0, 3)))
    langs = np.repeat(["en", "fr", "zh"], 8)
    codes = np.repeat(np.arange(3), 8)
    informative = 4 * rng.standard_normal((3, 3))[codes] + rng.standard_normal((24, 3))
    return {"features": np.stack([informative, rng.standard_normal((24, 3))]), "labels": list(langs)}


@st.composite
def paired_samples(draw, min_n: int = 2, max_n: int = 9):
    n = draw(st.integers(min_n, max_n))
    x = draw(arrays(np.float64, n, elements=grid(-5, 5, 1.0)))
    return {"x": x, "y": draw(arrays(np.float64, n, elements=grid(-5, 5, 1.0)))}


@st.composite
def one_samples(draw):
    return {
        "values": draw(arrays(np.float64, draw(st.integers(2, 12)), elements=grid(-8, 8, 4.0))),
        "null": draw(grid(-4, 4, 4.0)),
    }


@st.composite
def series(draw):
    n = draw(st.integers(3, 5))
    steps = np.array([1000.0 * (i + 1) for i in range(n)])
    return {"steps": steps, "values": draw(arrays(np.float64, n, elements=grid(0, 4, 1.0)))}


@st.composite
def binomial_cases(draw):
    n = draw(st.integers(1, 30))
    return {"k": draw(st.integers(0, n)), "n": n, "p0": draw(st.integers(1, 9)) / 10}


@st.composite
def proportion_cases(draw):
    n1, n2 = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    return {"k1": draw(st.integers(0, n1)), "n1": n1, "k2": draw(st.integers(0, n2)), "n2": n2}


@st.composite
def bootstrap_samples(draw):
    return {"values": draw(arrays(np.float64, draw(st.integers(1, 20)), elements=grid(-8, 8, 4.0)))}


# ---------------------------------------------------------------------------- references
def ref_average_precision(scores, labels):
    return np.array([average_precision_score(labels, scores[:, j]) for j in range(scores.shape[1])])


def ap_bounds(problem):
    """The j-th best positive has at least j positives and at most all n - P negatives at or
    above it, so its precision is >= j / (j + n - P); AP is the mean over the positives."""
    labels = problem["labels"]
    n, n_pos = len(labels), int(labels.sum())
    j = np.arange(1, n_pos + 1)
    return float(np.mean(j / (j + n - n_pos))), 1.0


def ref_pearson(x, y):
    return np.array([sps.pearsonr(a, b).statistic for a, b in zip(x, y)])


def ref_pearson_matrix(a):
    return np.array(
        [
            [1.0 if i == j and np.ptp(a[i]) else sps.pearsonr(a[i], a[j]).statistic for j in range(len(a))]
            for i in range(len(a))
        ]
    )


def ref_fisher_z_mean(r):
    z = [0.5 * math.log((1 + c) / (1 - c)) for c in np.clip(r[~np.isnan(r)], -1 + 1e-7, 1 - 1e-7)]
    return math.tanh(sum(z) / len(z)) if z else math.nan


def ref_mutual_info(x, y, n_neighbors, random_state):
    return mutual_info_regression(x.reshape(-1, 1), y, n_neighbors=n_neighbors, random_state=random_state)[0]


def ref_mutual_info_batch(X, Y, n_neighbors, random_state):
    return np.array([ref_mutual_info(a, b, n_neighbors, random_state) for a, b in zip(X, Y)])


def ref_topk(scores, k):
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]


def ref_overlap_pvalue(n_shared, k, n_units):
    # fix A; B uniform among the C(n, k) subsets: P(|A ∩ B| = x) = C(k, x) C(n - k, k - x) / C(n, k)
    return sum(math.comb(k, x) * math.comb(n_units - k, k - x) for x in range(n_shared, k + 1)) / math.comb(n_units, k)


def ref_units_per_layer(idx, units_per_layer, n_layers):
    counts = Counter(int(i) // units_per_layer for i in idx)
    return [counts.get(layer, 0) for layer in range(n_layers)]


def _unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def ref_similarity_matrix(a):
    u = _unit_rows(a)
    return np.array([[float(np.dot(u[i], u[j])) for j in range(len(a))] for i in range(len(a))])


def _pair_means(S, langs, means):
    """(mean same language/different meaning, mean different/different, mean same meaning/
    different language) over ordered pairs i != j, by an explicit double loop."""
    classes: dict[str, list[float]] = {"sl_dm": [], "dl_dm": [], "sm_dl": []}
    for i, j in itertools.permutations(range(len(langs)), 2):
        same_lang, same_mean = langs[i] == langs[j], means[i] == means[j]
        key = "sl_dm" if same_lang and not same_mean else "dl_dm" if not (same_lang or same_mean) else None
        key = "sm_dl" if same_mean and not same_lang else key
        if key:
            classes[key].append(S[i, j])
    return float(np.mean(classes["sl_dm"])), float(np.mean(classes["dl_dm"])), float(np.mean(classes["sm_dl"]))


def ref_lrds(S, language_ids, meaning_ids):
    same, base, _ = _pair_means(S, language_ids, meaning_ids)
    return same - base


def ref_sads(S, language_ids, meaning_ids):
    _, base, translations = _pair_means(S, language_ids, meaning_ids)
    return translations - base


def ref_per_layer(pooled, language_ids, meaning_ids):
    out_l, out_s = [], []
    for layer in range(pooled.shape[1]):
        S = ref_similarity_matrix(pooled[:, layer])
        out_l.append(ref_lrds(S, language_ids, meaning_ids))
        out_s.append(ref_sads(S, language_ids, meaning_ids))
    return np.array(out_l + out_s)


def ref_language_similarity(S, language_ids):
    levels = sorted(set(language_ids))
    out = np.full((len(levels), len(levels)), np.nan)
    for (ia, a), (ib, b) in itertools.product(enumerate(levels), repeat=2):
        vals = [
            S[i, j]
            for i, j in itertools.permutations(range(len(language_ids)), 2)
            if language_ids[i] == a and language_ids[j] == b
        ]
        if vals:
            out[ia, ib] = np.mean(vals)
    return out


def ref_contribution_scores(acts, language_ids):
    u = _unit_rows(acts)
    out = []
    for lang in sorted(set(language_ids)):
        rows = [i for i, x in enumerate(language_ids) if x == lang]
        pairs = list(itertools.combinations(rows, 2))
        out.append(sum(u[i] * u[j] for i, j in pairs) / len(pairs))
    return np.array(out)


def ref_zscores(scores):
    constant = np.all(scores == scores[:1], axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")  # scipy's warning on the constant columns, set to 0 here
        return np.where(constant, 0.0, sps.zscore(scores, axis=0, ddof=0))


def ref_key_counts(mask, n_layers):
    per_layer = mask.shape[1] // n_layers
    return [
        [sum(bool(row[layer * per_layer + u]) for u in range(per_layer)) for layer in range(n_layers)] for row in mask
    ]


def ref_lid_probe(features, labels, seeds=(0, 1)):
    y = np.asarray(labels)
    out = []
    for seed in seeds:
        train, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
        row = []
        for x in features:
            scaler = StandardScaler().fit(x[train])
            clf = LogisticRegression(max_iter=1000).fit(scaler.transform(x[train]), y[train])
            row.append(np.mean(clf.predict(scaler.transform(x[test])) == y[test]))
        out.append(row)
    return np.array(out)


def ref_signflip(x, y, alternative="greater"):
    return sps.permutation_test(
        (x, y),
        lambda a, b, axis: np.mean(a - b, axis=axis),
        permutation_type="samples",
        alternative=alternative,
        n_resamples=np.inf,
    ).pvalue


def ref_t_test(values, null):
    sd = float(np.std(values, ddof=1))
    if sd == 0:  # the documented degenerate case
        return 0.0 if values.mean() > null else 1.0
    t = (values.mean() - null) / (sd / math.sqrt(values.size))
    return sps.t.sf(t, values.size - 1)


def ref_trend(steps, values):
    if np.all(values == values[0]):
        return 1.0
    rho = sps.spearmanr(steps, values).statistic
    null = [sps.spearmanr(steps, p).statistic for p in itertools.permutations(values)]
    return float(np.mean([r >= rho - 1e-9 for r in null]))


def ref_binomial(k, n, p0):
    return sum(math.comb(n, i) * p0**i * (1 - p0) ** (n - i) for i in range(k, n + 1))


def ref_two_proportion(k1, n1, k2, n2):
    pooled = (k1 + k2) / (n1 + n2)
    if min(n1, n2) * min(pooled, 1 - pooled) >= 5:
        z = (k1 / n1 - k2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        return 0.5 * math.erfc(z / math.sqrt(2))
    return sps.hypergeom.sf(k1 - 1, n1 + n2, k1 + k2, n1)  # Fisher: P(X >= k1), margins fixed


# ---------------------------------------------------------------------------------- table
SAMPLES_1D = {"x": (0,), "y": (0,)}
ROWS = {"x": (1,), "y": (1,)}
SENTENCES = {"S": (0, 1), "language_ids": (0,), "meaning_ids": (0,)}
P_BOUNDS = _const(0.0, 1.0)

METRICS: dict[str, Metric] = {
    "average_precision": Metric(
        lambda scores, labels: _np(M.average_precision(scores, labels)),
        ap_problems(),
        ref_average_precision,
        sample_axes={"scores": (0,), "labels": (0,)},
        order_atol=1e-12,
        float_inputs=("scores",),
        bounds=ap_bounds,
    ),
    "pearson": Metric(
        lambda x, y: _np(M.pearson(x, y)),
        pairs_of_vectors(),
        _quiet(ref_pearson),
        atol=1e-10,
        sample_axes=ROWS,
        order_atol=1e-12,
        float_inputs=("x", "y"),
        bounds=_const(-1, 1),
    ),
    "pearson_matrix": Metric(
        lambda a: _np(M.pearson_matrix(a)),
        pairs_of_vectors(names=("a",)),
        _quiet(ref_pearson_matrix),
        atol=1e-10,
        sample_axes={"a": (1,)},
        order_atol=1e-12,
        float_inputs=("a",),
        bounds=_const(-1, 1),
    ),
    "fisher_z_mean": Metric(
        lambda r: _np(M.fisher_z_mean(r)),
        correlations(),
        ref_fisher_z_mean,
        sample_axes={"r": (0,)},
        order_atol=1e-12,
        bounds=_const(-1, 1),
    ),
    "mutual_info_knn": Metric(
        lambda **kw: _np(M.mutual_info_knn(**kw)),
        mi_problems(),
        ref_mutual_info,
        atol=0.0,
        float_inputs=("x", "y"),
        bounds=_const(0, math.inf),
    ),
    "mutual_info_knn_batch": Metric(
        lambda **kw: _np(M.mutual_info_knn_batch(**kw)),
        mi_batches(),
        ref_mutual_info_batch,
        atol=0.0,
        float_inputs=("X", "Y"),
        bounds=_const(0, math.inf),
    ),
    "topk_units": Metric(
        lambda scores, k: _np(M.topk_units(scores, k)), unit_scores(), ref_topk, atol=0.0, float_inputs=("scores",)
    ),
    "overlap_fraction": Metric(
        lambda a_idx, b_idx, k: _np(M.overlap_fraction(a_idx, b_idx, k)),
        index_pairs(),
        lambda a_idx, b_idx, k: len(set(a_idx.tolist()) & set(b_idx.tolist())) / k,
        atol=0.0,
        sample_axes={"a_idx": (0,), "b_idx": (0,)},
        bounds=P_BOUNDS,
    ),
    "overlap_pvalue": Metric(
        lambda **kw: _np(M.overlap_pvalue(**kw)),
        hypergeometric_cases(),
        ref_overlap_pvalue,
        atol=1e-12,
        bounds=P_BOUNDS,
    ),
    "chance_overlap": Metric(
        lambda k, n_units, n_shared: _np(M.chance_overlap(k, n_units)),
        hypergeometric_cases(),
        _quiet(lambda k, n_units, n_shared: sps.hypergeom.mean(n_units, k, k) / k),
        bounds=P_BOUNDS,
    ),
    "units_per_layer": Metric(
        lambda **kw: _np(M.units_per_layer(**kw)),
        layer_indices(),
        ref_units_per_layer,
        atol=0.0,
        sample_axes={"idx": (0,)},
    ),
    "activation_vectors": Metric(
        lambda pooled: _np(M.activation_vectors(pooled)),
        pooled_responses(),
        lambda pooled: _unit_rows(pooled.reshape(len(pooled), -1)),
        float_inputs=("pooled",),
        bounds=_const(-1, 1),
    ),
    "similarity_matrix": Metric(
        lambda a: _np(M.similarity_matrix(a)),
        feature_rows(),
        ref_similarity_matrix,
        float_inputs=("a",),
        bounds=_const(-1, 1),
    ),
    "lrds": Metric(
        lambda **kw: _np(M.lrds(**kw)),
        corpora(),
        ref_lrds,
        sample_axes=SENTENCES,
        order_atol=1e-12,
        float_inputs=("S",),
        bounds=_const(-2, 2),
    ),
    "sads": Metric(
        lambda **kw: _np(M.sads(**kw)),
        corpora(),
        ref_sads,
        sample_axes=SENTENCES,
        order_atol=1e-12,
        float_inputs=("S",),
        bounds=_const(-2, 2),
    ),
    "per_layer_lrds_sads": Metric(
        lambda **kw: np.concatenate([_np(v) for v in M.per_layer_lrds_sads(**kw)]),
        layered_corpora(),
        ref_per_layer,
        sample_axes={"pooled": (0,), "language_ids": (0,), "meaning_ids": (0,)},
        order_atol=1e-12,
        float_inputs=("pooled",),
        bounds=_const(-2, 2),
    ),
    "language_similarity": Metric(
        lambda S, language_ids: _np(M.language_similarity(S, language_ids)[1]),
        corpora().map(lambda c: {"S": c["S"], "language_ids": c["language_ids"]}),
        ref_language_similarity,
        sample_axes={"S": (0, 1), "language_ids": (0,)},
        order_atol=1e-12,
        float_inputs=("S",),
        bounds=_const(-1, 1),
    ),
    "contribution_scores": Metric(
        lambda acts, language_ids: _np(M.contribution_scores(acts, language_ids)),
        language_activations(),
        ref_contribution_scores,
        sample_axes={"acts": (0,), "language_ids": (0,)},
        order_atol=1e-12,
        float_inputs=("acts",),
        bounds=_const(-1, 1),
    ),
    "zscores": Metric(
        lambda scores: _np(M.zscores(scores)),
        language_scores(),
        ref_zscores,
        float_inputs=("scores",),
        bounds=lambda problem: (-math.sqrt(len(problem["scores"]) - 1), math.sqrt(len(problem["scores"]) - 1)),
    ),
    "key_regions": Metric(  # no reference: ``z > threshold`` is the definition itself
        lambda z: _np(M.key_regions(z)),
        language_scores().map(lambda p: {"z": p["scores"]}),
        float_inputs=("z",),
        bounds=P_BOUNDS,
    ),
    "key_counts_per_layer": Metric(
        lambda **kw: _np(M.key_counts_per_layer(**kw)), key_masks(), ref_key_counts, atol=0.0
    ),
    "sklr": Metric(
        lambda mask, n_layers: _np(M.sklr(mask)), key_masks(), lambda mask, n_layers: int(mask.sum()), atol=0.0
    ),
    "lid_probe": Metric(
        lambda features, labels: _np(M.lid_probe(features, labels, seeds=(0, 1))),
        probe_problems(),
        ref_lid_probe,
        float_inputs=("features",),
        bounds=P_BOUNDS,
    ),
    "majority_rate": Metric(
        lambda labels: _np(M.majority_rate(labels)),
        probe_problems().map(lambda p: {"labels": p["labels"][3:]}),
        lambda labels: max(Counter(labels).values()) / len(labels),
        atol=0.0,
        sample_axes={"labels": (0,)},
        bounds=P_BOUNDS,
    ),
    # decision rules: the p-value (or interval) as the result
    "paired_permutation_test": Metric(
        _p_value(M.paired_permutation_test),
        paired_samples(),
        ref_signflip,
        sample_axes=SAMPLES_1D,
        order_atol=1e-12,
        float_inputs=("x", "y"),
        bounds=P_BOUNDS,
    ),
    "wilcoxon_greater": Metric(  # no reference beyond scipy.stats.wilcoxon, which it calls
        _p_value(M.wilcoxon_greater),
        paired_samples(min_n=1, max_n=7),  # scipy permutes tied n <= 13
        sample_axes=SAMPLES_1D,
        order_atol=1e-12,
        float_inputs=("x", "y"),
        bounds=P_BOUNDS,
    ),
    "one_sample_greater": Metric(
        _p_value(M.one_sample_greater),
        one_samples(),
        ref_t_test,
        atol=1e-12,
        sample_axes={"values": (0,)},
        order_atol=1e-12,
        float_inputs=("values", "null"),
        bounds=P_BOUNDS,
    ),
    "trend_test": Metric(
        _p_value(M.trend_test),
        series(),
        ref_trend,
        sample_axes={"steps": (0,), "values": (0,)},
        order_atol=1e-12,
        float_inputs=("values", "steps"),
        bounds=P_BOUNDS,
    ),
    "binomial_greater": Metric(
        _p_value(M.binomial_greater), binomial_cases(), ref_binomial, atol=1e-12, bounds=P_BOUNDS
    ),
    "two_proportion_test": Metric(
        _p_value(M.two_proportion_test), proportion_cases(), ref_two_proportion, atol=1e-12, bounds=P_BOUNDS
    ),
    "bootstrap_ci": Metric(
        lambda values: _np(M.bootstrap_ci(values, n_resamples=300)),
        bootstrap_samples(),
        float_inputs=("values",),
        bounds=lambda problem: (float(problem["values"].min()), float(problem["values"].max())),
    ),
    "bootstrap_greater": Metric(
        lambda x, y: _np(M.bootstrap_greater(x, y, n_resamples=300).ci),
        paired_samples(max_n=15),
        float_inputs=("x", "y"),
    ),
}
# the AP backends and the chunked, threaded path are separate metrics to every check
METRICS["average_precision[torch]"] = replace(
    METRICS["average_precision"], fn=lambda scores, labels: _np(M.average_precision(scores, labels, backend="torch"))
)
for _alternative in ("less", "two-sided"):  # the same enumeration counts the other tails
    METRICS[f"paired_permutation_test[{_alternative}]"] = replace(
        METRICS["paired_permutation_test"],
        fn=_p_value(M.paired_permutation_test, alternative=_alternative),
        reference=lambda x, y, _alternative=_alternative: ref_signflip(x, y, _alternative),
    )
METRICS["average_precision[chunks of 2]"] = replace(
    METRICS["average_precision"], fn=lambda scores, labels: _np(M.average_precision(scores, labels, chunk_units=2))
)

#: public names that are not metrics of the table, and why
NOT_METRICS = {
    "ALPHA": "a constant",
    "Decision": "the result type of the decision rules",
    "all_of": "combines Decisions; tested in test_metrics_stats.py",
    "describe": "formats a Decision",
    "detectable_effect": "a closed form, hand-checked in test_metrics_stats.py",
    "fmt_number": "formats a number",
    "default_chunk_units": "a memory heuristic of average_precision",
    "max_attainable_z": "a closed form, checked against zscores in test_metrics_lingua_franca.py",
    "probe_splits": "the splits of lid_probe, compared with sklearn in test_metrics_probe.py",
    "effective_test_size": "a closed form, hand-checked in test_metrics_probe.py",
}

# sample order (the inputs of ``sample_axes`` permuted together) leaves the result unchanged
ORDER_INVARIANT = {name for name, m in METRICS.items() if m.sample_axes}
# multiplying every float input by 2**k changes no bit of the result
SCALE_INVARIANT = {
    "average_precision",
    "average_precision[torch]",
    "average_precision[chunks of 2]",
    "pearson",
    "pearson_matrix",
    "mutual_info_knn",
    "mutual_info_knn_batch",
    "topk_units",
    "activation_vectors",
    "similarity_matrix",
    "per_layer_lrds_sads",
    "contribution_scores",
    "zscores",
    "paired_permutation_test",
    "wilcoxon_greater",
    "one_sample_greater",
    "trend_test",
}
# multiplying every float input by 2**k multiplies the result by exactly 2**k
HOMOGENEOUS = {"lrds", "sads", "language_similarity", "bootstrap_ci", "bootstrap_greater"}
# NaN or infinity in a float input raises NonFiniteActivationError
RAISES_ON_NON_FINITE = {name for name, m in METRICS.items() if m.float_inputs}
# inputs are not modified, and a second call gives the same bits
PURE = set(METRICS)
# every finite result lies in ``bounds(problem)``
BOUNDED = {name for name, m in METRICS.items() if m.bounds is not None}
WITH_REFERENCE = {name for name, m in METRICS.items() if m.reference is not None}


# ----------------------------------------------------------------------------------- checks
def _permute(problem: Problem, sample_axes: dict[str, tuple[int, ...]], perm: np.ndarray) -> Problem:
    out = dict(problem)
    for key, axes in sample_axes.items():
        value = problem[key]
        if isinstance(value, list):
            out[key] = [value[i] for i in perm]
            continue
        for axis in axes:
            value = np.take(value, perm, axis=axis)
        out[key] = value
    return out


def _scaled(problem: Problem, keys: tuple[str, ...], factor: float) -> Problem:
    return {key: value * factor if key in keys else value for key, value in problem.items()}


def _n_samples(metric: Metric, problem: Problem) -> int:
    key, axes = next(iter(metric.sample_axes.items()))
    value = problem[key]
    return len(value) if isinstance(value, list) else value.shape[axes[0]]


def check_reference(metric: Metric, problem: Problem) -> None:
    assert metric.reference is not None
    got, expected = metric.fn(**problem), _np(metric.reference(**problem))
    np.testing.assert_allclose(got, expected, rtol=0, atol=metric.atol)


def check_order_invariant(metric: Metric, problem: Problem, perm: np.ndarray) -> None:
    got = metric.fn(**_permute(problem, metric.sample_axes, perm))
    np.testing.assert_allclose(got, metric.fn(**problem), rtol=0, atol=metric.order_atol)


def check_scale_invariant(metric: Metric, problem: Problem, k: int) -> None:
    np.testing.assert_array_equal(metric.fn(**_scaled(problem, metric.float_inputs, 2.0**k)), metric.fn(**problem))


def check_homogeneous(metric: Metric, problem: Problem, k: int) -> None:
    scaled = metric.fn(**_scaled(problem, metric.float_inputs, 2.0**k))
    np.testing.assert_array_equal(scaled, metric.fn(**problem) * 2.0**k)


def check_raises_on_non_finite(metric: Metric, problem: Problem, position: int, bad: float) -> None:
    key = metric.float_inputs[0]
    poisoned = np.array(problem[key], dtype=np.float64)
    poisoned.reshape(-1)[position % poisoned.size] = bad
    with pytest.raises(NonFiniteActivationError):
        metric.fn(**{**problem, key: poisoned})


def check_pure(metric: Metric, problem: Problem) -> None:
    before = copy.deepcopy(problem)
    first, second = metric.fn(**problem), metric.fn(**problem)
    np.testing.assert_array_equal(first, second)
    for key, value in before.items():
        np.testing.assert_array_equal(problem[key], value, err_msg=f"input {key!r} was modified")


def check_bounded(metric: Metric, problem: Problem) -> None:
    assert metric.bounds is not None
    lo, hi = metric.bounds(problem)
    result = metric.fn(**problem)
    finite = result[~np.isnan(result)]
    assert np.all(finite >= lo - 1e-12) and np.all(finite <= hi + 1e-12), (result, (lo, hi))


# ------------------------------------------------------------------------------------ tests
def test_every_public_name_is_in_the_table_or_excused():
    public = set(M.__all__)
    assert public - set(NOT_METRICS) - {name.split("[")[0] for name in METRICS} == set()
    assert set(NOT_METRICS) <= public and {name.split("[")[0] for name in METRICS} <= public
    for prop in (ORDER_INVARIANT, SCALE_INVARIANT, HOMOGENEOUS, RAISES_ON_NON_FINITE, BOUNDED, WITH_REFERENCE):
        assert prop and prop <= set(METRICS)
    assert not SCALE_INVARIANT & HOMOGENEOUS


@pytest.mark.parametrize("name", sorted(WITH_REFERENCE))
@given(data=st.data())
def test_matches_reference(name, data):
    metric = METRICS[name]
    check_reference(metric, data.draw(metric.problems, label="problem"))


@pytest.mark.parametrize("name", sorted(ORDER_INVARIANT))
@given(data=st.data())
def test_sample_order_invariance(name, data):
    metric = METRICS[name]
    problem = data.draw(metric.problems, label="problem")
    perm = np.array(data.draw(st.permutations(range(_n_samples(metric, problem))), label="perm"), dtype=np.int64)
    check_order_invariant(metric, problem, perm)


@pytest.mark.parametrize("name", sorted(SCALE_INVARIANT))
@given(data=st.data(), k=st.integers(-20, 20))
def test_exact_power_of_two_scale_invariance(name, data, k):
    metric = METRICS[name]
    check_scale_invariant(metric, data.draw(metric.problems, label="problem"), k)


@pytest.mark.parametrize("name", sorted(HOMOGENEOUS))
@given(data=st.data(), k=st.integers(-20, 20))
def test_exact_power_of_two_homogeneity(name, data, k):
    metric = METRICS[name]
    check_homogeneous(metric, data.draw(metric.problems, label="problem"), k)


@pytest.mark.parametrize("name", sorted(RAISES_ON_NON_FINITE))
@given(data=st.data(), position=st.integers(0, 10_000), bad=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_raises_on_non_finite(name, data, position, bad):
    metric = METRICS[name]
    check_raises_on_non_finite(metric, data.draw(metric.problems, label="problem"), position, bad)


@pytest.mark.parametrize("name", sorted(PURE))
@given(data=st.data())
def test_pure(name, data):
    metric = METRICS[name]
    check_pure(metric, data.draw(metric.problems, label="problem"))


@pytest.mark.parametrize("name", sorted(BOUNDED))
@given(data=st.data())
def test_bounded(name, data):
    metric = METRICS[name]
    check_bounded(metric, data.draw(metric.problems, label="problem"))


# --------------------------------------------------------------- the checks can fail at all
def _mutating_ap(scores, labels):
    scores[0] += 1.0
    return _np(M.average_precision(scores, labels))


_AP_PROBLEM = {"scores": np.array([[0.9], [0.1], [0.4], [0.5]]), "labels": np.array([True, False, True, False])}
_AP = METRICS["average_precision"]
BROKEN: dict[str, tuple[Callable[..., None], Metric, tuple]] = {
    "reference": (check_reference, replace(_AP, fn=lambda scores, labels: _AP.fn(scores, labels) + 1e-9), ()),
    "order": (
        check_order_invariant,
        replace(_AP, fn=lambda scores, labels: _AP.fn(scores[:2], labels[:2])),
        (np.array([2, 3, 0, 1]),),
    ),
    "scale": (
        check_scale_invariant,
        replace(_AP, fn=lambda scores, labels: _AP.fn(scores, labels) * scores.max()),
        (1,),
    ),
    "homogeneous": (check_homogeneous, _AP, (1,)),
    "non-finite": (
        check_raises_on_non_finite,
        replace(_AP, fn=lambda scores, labels: _AP.fn(np.nan_to_num(scores), labels)),
        (0, math.nan),
    ),
    "pure: mutation": (check_pure, replace(_AP, fn=_mutating_ap), ()),
    "pure: randomness": (check_pure, replace(_AP, fn=lambda scores, labels: np.random.default_rng().random(1)), ()),
    "bounds": (check_bounded, replace(_AP, bounds=_const(0.0, 0.5)), ()),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_checks_catch_broken_metrics(case):
    check, metric, args = BROKEN[case]
    problem = copy.deepcopy(_AP_PROBLEM)
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        check(metric, problem, *args)
