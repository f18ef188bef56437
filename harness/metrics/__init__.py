"""Metrics and statistics: plain, vectorised functions on tensors (numpy arrays accepted).

Every measure of ``shared/CLAIMS.md`` ("Measurements") that is computed from recorded
activations lives here, one module per job:

* :mod:`.average_precision` — expert score AP per unit (equals sklearn, ties included)
* :mod:`.correlation` — Pearson of many vector pairs, Fisher-z averaging
* :mod:`.mutual_information` — Kraskov k-NN MI (equals sklearn's ``mutual_info_regression``)
* :mod:`.topk` — top-k experts, overlap, hypergeometric chance level, per-layer counts
* :mod:`.lingua_franca` — LF activation vectors, LRDS/SADS, contribution scores, key regions
* :mod:`.probe` — per-layer language-ID probe
* :mod:`.stats` — tests that turn measurements into a :class:`Decision`, at level :data:`ALPHA`

Results are float64; inputs with NaN/inf raise ``NonFiniteActivationError``; a concept without
positives or negatives raises ``ConceptError``. Every public function has a runnable example in
its docstring (``tests/metrics/test_doctests.py`` runs them); ``tests/metrics/test_common.py``
checks the shared properties (reference implementation, order and scale invariance, bounds,
purity, non-finite input) over one table of the metrics.

>>> from harness.metrics import ALPHA
>>> ALPHA
0.01
"""

from .average_precision import average_precision, default_chunk_units
from .correlation import fisher_z_mean, pearson, pearson_matrix
from .lingua_franca import (
    activation_vectors,
    contribution_scores,
    key_counts_per_layer,
    key_regions,
    language_similarity,
    lrds,
    max_attainable_z,
    per_layer_lrds_sads,
    sads,
    similarity_matrix,
    sklr,
    zscores,
)
from .mutual_information import mutual_info_knn, mutual_info_knn_batch
from .probe import effective_test_size, lid_probe, majority_rate, probe_splits
from .stats import (
    ALPHA,
    Decision,
    all_of,
    binomial_greater,
    bootstrap_ci,
    bootstrap_greater,
    describe,
    detectable_effect,
    fmt_number,
    one_sample_greater,
    paired_permutation_test,
    trend_test,
    two_proportion_test,
    wilcoxon_greater,
)
from .topk import chance_overlap, overlap_fraction, overlap_pvalue, topk_units, units_per_layer

__all__ = [
    "average_precision",
    "default_chunk_units",
    "pearson",
    "pearson_matrix",
    "fisher_z_mean",
    "mutual_info_knn",
    "mutual_info_knn_batch",
    "topk_units",
    "overlap_fraction",
    "overlap_pvalue",
    "chance_overlap",
    "units_per_layer",
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
    "lid_probe",
    "effective_test_size",
    "probe_splits",
    "majority_rate",
    "ALPHA",
    "Decision",
    "all_of",
    "describe",
    "detectable_effect",
    "fmt_number",
    "paired_permutation_test",
    "wilcoxon_greater",
    "bootstrap_ci",
    "bootstrap_greater",
    "two_proportion_test",
    "binomial_greater",
    "trend_test",
    "one_sample_greater",
]
