"""Lingua Franca (Zeng et al.): how regions and alignment change with training and scale (LF-4, LF-5, LF-6, LF-8).

Training claims use the checkpoint series (``--checkpoints`` or the model's profile), refused
when two checkpoints have identical weights, and its named "early" and "late" points
(``--early``/``--late`` or the profile's; the toy's early is chosen after its collapse phase).
LF-4 and LF-5 are decided on the units that are many, the verses: late vs early, paired over the
same verses (a verse bootstrap with the same resamples at every checkpoint; one-sided percentile
interval at alpha = 0.01), every part must hold (intersection–union test). Two comparisons are
kept out of the decision and reported beside it (``controls`` and ``trends`` in the numbers,
shown in the summary): late vs the series' first checkpoint (step 0 on the toy, the untrained
model; LF never claims anything about the initialisation), and Spearman's trend over the series
(over 4 checkpoints its smallest one-sided p is 1/4! = 0.042, so it could never reach alpha).
LF-5's rise of the first-quarter share must also exceed the difference between two random
initialisations of the architecture (``init-seed0``, ``init-seed1``; the same verse resamples): a
verse bootstrap holds each checkpoint's weights fixed, so two distinct models always differ once
there are enough verses, and the known answers' flat twin (the same planted units under two random
backgrounds) passed the rise without this floor (``harness.analyses.untrained.change_beyond_init_noise``).
LF-8 still compares late with early and with the first checkpoint, paired over stories (a story
told in several languages counts once: its mean score over them).

LF-6 compares a family of models (``--models a,b,…`` smallest first, or the profile's family:
BLOOM 560m … 7b1; on the toy the toy family, ``toy-s`` and ``toy``), each at its final weights, on
the same verses and languages.

LF-8 runs on the Bible cloze shipped with the harness (``harness.data.cloze``: two held-out NT
verses in each language, then the next verse in English against a length-matched English verse
of another chapter), or on XStoryCloze, which the harness cannot ship and which takes precedence
when given: ``--data DIR`` with one file per language, ``DIR/xstory_cloze/<lang>.jsonl``, one story
per line::

    {"context": "<the four story sentences in <lang>>", "ending_1": "<English>", "ending_2": "<English>", "label": 1}

``label`` is 1 or 2 (the right ending); XStoryCloze's own field names (``input_sentence_1..4``,
``sentence_quiz1/2``, ``answer_right_ending``) are accepted too. The prompt is the story followed
by "The ending in English:", and the ending with the higher summed log-likelihood is the model's
answer (LF App. B). The record's ``data`` names the data set used (``xstory_cloze`` or
``bible_cloze``) and ``data_source`` where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from harness.analyses.experts import series_gap
from harness.analyses.key_regions import key_layer_comparison, key_region_bound, key_regions_at
from harness.analyses.similarity import (
    TrainingComparison,
    bootstrap_decision,
    region_similarity_comparisons,
    similarity_at,
)
from harness.analyses.story_cloze import XSTORY_CLOZE, StoryClozeAbsentError, cloze_data, group_scores, scores_at
from harness.analyses.untrained import change_beyond_init_noise, init_noise_revisions
from harness.claim_registry import ClaimOutcome, Figure, RecordedClaim, claim
from harness.errors import ModelNotAvailableError
from harness.layer_groups import lf_quarters
from harness.metrics import Decision, all_of, paired_permutation_test, trend_test
from harness.report import figures_lf
from harness.report.figures import rev_label
from harness.report.text import fmt, join_parts, pct, series_change, span

REGIONS_OVER_TRAINING = Figure("lf4_over_training", "key regions, LRDS and SADS over training (LF Fig. 4)",
                               figures_lf.regions_over_training)
SCALE = Figure("lf6_scale", "scores across model sizes (LF Fig. 7)", figures_lf.scores_across_model_sizes)
STORY_CLOZE = Figure("lf8_xstorycloze", "cross-lingual cloze accuracy over training (LF Fig. 4)",
                     figures_lf.story_cloze_over_training)


@dataclass(frozen=True)
class TrainingSeriesNumbers:
    series: dict[str, list]  # {"revisions", "sklr", "lrds", "sads"}: one value per revision
    early: str
    languages: list[str]
    late: str
    controls: dict[str, dict]  # reported, not decided: late vs the first checkpoint, name → Decision.to_dict()
    trends: dict[str, dict]  # recorded, not decided: Spearman over the series, name → Decision.to_dict()


@dataclass(frozen=True)
class KeyLayerNumbers:
    key_by_layer: dict[str, list[list[int]]]  # revision → [language][layer] key-neuron counts
    languages: list[str]
    layer_groups: dict[str, list[int]]  # {"first", "middle", "last"}: the layers compared
    first_quarter_share: dict[str, float]  # revision → share of the key neurons in the first quarter
    early: str
    late: str
    controls: dict[str, dict]  # reported, not decided: late vs the first checkpoint
    trends: dict[str, dict]  # recorded, not decided: Spearman over the series


@dataclass(frozen=True)
class ScaleNumbers:
    family: dict[str, list]  # {"models" (smallest first), "lrds", "sads"}: one value per model
    languages: list[str]
    trends: dict[str, Any] | None = None  # Spearman trend of LRDS and SADS over sizes (≥ 3 models): recorded only


@dataclass(frozen=True)
class StoryClozeNumbers:
    accuracy: dict[str, float]  # revision → accuracy over all stories
    accuracy_by_language: dict[str, dict[str, float]]  # revision → language → accuracy
    n_stories: dict[str, int]  # language → stories
    data: str = "xstory_cloze"  # the data set: "xstory_cloze" (--data) or "bible_cloze" (shipped)
    data_source: str = ""  # where the stories came from
    n_groups: int = 0  # stories counted once over their languages: the units of the paired test


def _series(measurements):
    """``(series, first, early, late)``, refusing duplicate weights; skip without early and late in a series."""
    plan = measurements.plan
    gap = series_gap(plan)
    if gap:
        pytest.skip(f"no checkpoint series for {measurements.config.model}: {gap}")
    series = tuple(plan.series)
    measurements.check_series(series)
    return series, series[0], plan.early, plan.late


def _compare(values, names, *, early, late, first, statistic, n, alternative):
    """Late vs early and late vs first from per-model bootstrap replicates (paired; LF-6)."""
    parts = {}
    sign = "<" if alternative == "less" else ">"
    for label, ref in (("early", early), ("first", first)):
        if label == "first" and ref == early:
            continue
        parts[f"{statistic} {late} {sign} {ref}"] = bootstrap_decision(
            values[late] - values[ref],
            statistic=f"{statistic} at {late} vs {ref}",
            n=n,
            alternative=alternative,
            value=float(values[late][0]),
            control_value=float(values[ref][0]),
        )
    return parts


def _split(comparisons: dict[str, TrainingComparison]) -> tuple[dict[str, Decision], dict[str, dict], dict[str, dict]]:
    """Decided parts, reported controls and recorded trends of ``comparisons`` (name → TrainingComparison)."""
    parts: dict[str, Decision] = {}
    controls: dict[str, dict] = {}
    trends: dict[str, dict] = {}
    sign = {"less": "<", "greater": ">"}
    for name, comp in comparisons.items():
        parts[f"{name} late {sign[comp.decided.alternative]} early"] = comp.decided
        controls.update({key: d.to_dict() for key, d in comp.controls.items()})
        if comp.trend is not None:
            trends[name] = comp.trend.to_dict()
    return parts, controls, trends


def _difference(record: dict) -> str:
    detail = record.get("detail") or {}
    return fmt(detail.get("difference", detail.get("observed")), 3)


def _controls_text(controls: dict, trends: dict, first: str | None) -> str | None:
    """The reported control (late − the first checkpoint ``first``) and the recorded trends, one clause each."""
    parts = []
    if controls:
        parts.append(f"control, not decided: late − {rev_label(first) if first else 'first checkpoint'} " + ", ".join(
            f"{name.split(':')[0].replace(' key share', '')} {_difference(record)}"
            for name, record in controls.items()))
    if trends:
        parts.append("Spearman ρ over the series " + ", ".join(
            f"{name} {fmt(record.get('value'), 2)} (p {fmt(record.get('p_value'), 2)})"
            for name, record in trends.items()))
    return "; ".join(parts) or None


def _training_series_summary(claim: RecordedClaim) -> str | None:
    series, early = claim.numbers.series or {}, claim.numbers.early
    return join_parts([series_change(series, "sklr", "SKLR", early), series_change(series, "lrds", "LRDS", early),
                       series_change(series, "sads", "SADS", early),
                       _controls_text(claim.numbers.controls or {}, claim.numbers.trends or {},
                                      (series.get("revisions") or [None])[0])])


def _key_share_text(rev: str, by_layer: list[list[Any]], recorded_groups: Any) -> str:
    """Share of the key neurons in the first and last layers, and in the first layer, at ``rev``."""
    per_layer = [sum(float(v or 0) for v in col) for col in zip(*by_layer)]
    total = sum(per_layer) or 1.0
    n = len(per_layer)
    first, _, last = figures_lf.recorded_layer_groups(n, recorded_groups)
    ends = sum(per_layer[i] for i in first + last) / total
    return (f"{rev_label(rev)}: first+last layers {pct(ends)} of key neurons "
            f"(layers {span(first)} and {span(last)} of 0–{n - 1}), first layer {pct(per_layer[0] / total)}")


def _key_layers_summary(claim: RecordedClaim) -> str | None:
    """The key-neuron shares at the first and the last checkpoint."""
    by_layer = claim.numbers.key_by_layer
    revs = claim.ordered(by_layer)
    if not revs:
        return None
    numbers = claim.numbers
    early = numbers.early if numbers.early in by_layer else revs[0]
    late = numbers.late if numbers.late in by_layer else revs[-1]
    picks = list(dict.fromkeys((early, late)))
    text = [_key_share_text(rev, by_layer[rev], numbers.layer_groups) for rev in picks]
    share = numbers.first_quarter_share or {}
    if early in share and late in share:
        text.append(f"first-quarter share {pct(share[early])} ({rev_label(early)}) → {pct(share[late])} "
                    f"({rev_label(late)})")
    return join_parts([*text, _controls_text(numbers.controls or {}, numbers.trends or {}, revs[0])])


def _scale_summary(claim: RecordedClaim) -> str | None:
    family = claim.numbers.family or {}
    models, lrds, sads = family.get("models") or [], family.get("lrds") or [], family.get("sads") or []
    if not models:
        return None
    return "; ".join(f"{m}: LRDS {fmt(a, 3)}, SADS {fmt(b, 3)}" for m, a, b in zip(models, lrds, sads))


def _story_cloze_summary(claim: RecordedClaim) -> str | None:
    accuracy = claim.numbers.accuracy or {}
    data = getattr(claim.numbers, "data", None)
    name = {"bible_cloze": "Bible cloze", "xstory_cloze": "XStoryCloze"}.get(data or "", data)
    accuracies = join_parts(f"{rev_label(r)}: {pct(accuracy[r])}" for r in claim.ordered(accuracy))
    return f"{name}: {accuracies}" if name and accuracies else accuracies


@claim("LF-4", numbers=TrainingSeriesNumbers, summary=_training_series_summary, figures=(REGIONS_OVER_TRAINING,))
def test_lf4_regions_shrink_lrds_falls_sads_rises_with_training(measurements) -> ClaimOutcome[TrainingSeriesNumbers]:
    """Over training, key regions shrink (SKLR), LRDS falls and SADS rises."""
    reason = key_region_bound(measurements.plan.languages)
    if reason:
        pytest.skip(f"SKLR is undefined: {reason}")
    series, first, early, late = _series(measurements)
    sims, counts = {}, {}
    for rev in series:
        sims[rev] = similarity_at(measurements, rev, per_layer=False)
        counts[rev] = key_regions_at(measurements, rev)[1]
    parts, controls, trends = _split(region_similarity_comparisons(sims, counts, series, early=early, late=late))
    decision = all_of(next(iter(parts.values())), parts,
                      rule="SKLR and LRDS lower and SADS higher late than early, each paired over verses (verse "
                      "bootstrap, the same resamples at both checkpoints, one-sided 98 % percentile interval); "
                      "late vs the first checkpoint and the Spearman trend over the series are reported, not decided")
    numbers = TrainingSeriesNumbers(
        series={
            "revisions": list(series),
            "sklr": [float(counts[r].sklr[0]) for r in series],
            "lrds": [float(sims[r].lrds[0]) for r in series],
            "sads": [float(sims[r].sads[0]) for r in series],
        },
        early=early,
        languages=list(measurements.plan.languages),
        late=late,
        controls=controls,
        trends=trends,
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(series))


@claim("LF-5", numbers=KeyLayerNumbers, summary=_key_layers_summary, figures=(figures_lf.KEY_NEURONS,))
def test_lf5_key_neurons_sit_in_outer_layers_and_densify_early_layers(measurements) -> ClaimOutcome[KeyLayerNumbers]:
    """Key neurons sit mostly in the first and last layers and become denser in the first layers with training."""
    reason = key_region_bound(measurements.plan.languages)
    if reason:
        pytest.skip(reason)
    series, first, early, late = _series(measurements)
    counts = {rev: key_regions_at(measurements, rev)[1] for rev in series}
    n_layers = counts[late].n_layers
    head, middle, tail = lf_quarters(n_layers)
    if not middle:
        pytest.skip(f"LF-5 needs middle layers; the model has {n_layers} layer(s)")
    comparison = key_layer_comparison(counts, series, (head, middle, tail), early=early, late=late)
    parts, controls, trends = _split({"first-quarter share": comparison.first_quarter})
    # two checkpoints always differ; the rise must exceed the difference between two initialisations
    init_a, init_b = (key_regions_at(measurements, rev)[1] for rev in init_noise_revisions())
    parts["first-quarter share rises beyond the difference of two initialisations"] = change_beyond_init_noise(
        counts[late].group_share(head), counts[early].group_share(head), init_a.group_share(head),
        init_b.group_share(head), statistic=f"first-quarter key share (layers {head})", n=counts[late].n_meanings)
    parts = {"late: outer quarters denser than middle": comparison.outer_denser, **parts}
    decision = all_of(
        parts["late: outer quarters denser than middle"],
        parts,
        rule="late: more key neurons per layer in the first and last quarter than in the middle; first-quarter share "
        "higher late than early, by more than it differs between two initialisations (init-seed0, init-seed1); each "
        "a verse bootstrap (one-sided 98 % percentile interval); late vs the first checkpoint and the Spearman trend "
        "are reported, not decided",
    )
    numbers = KeyLayerNumbers(
        key_by_layer={rev: counts[rev].by_layer[0].tolist() for rev in series},
        languages=list(measurements.plan.languages),
        layer_groups={"first": head, "middle": middle, "last": tail},
        first_quarter_share={rev: float(counts[rev].group_share(head)[0]) for rev in series},
        early=early,
        late=late,
        controls=controls,
        trends=trends,
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(series))


def _family(measurements) -> list[str]:
    """The models of the scale claim, smallest first: ``--models``, else the profile's family; skip without."""
    models = list(measurements.config.models or ())
    if not models:
        profile = measurements.plan.profile  # the toy's family: toy-s, toy (trained on first use)
        models = list(profile.family if profile else ())
    if len(models) < 2:
        pytest.skip(f"LF-6 needs a family of at least two models (--models a,b,…); have {models or 'none'}")
    return models


@claim("LF-6", numbers=ScaleNumbers, summary=_scale_summary, figures=(SCALE,))
def test_lf6_larger_models_are_more_language_agnostic_and_aligned(measurements) -> ClaimOutcome[ScaleNumbers]:
    """Larger models are more language-agnostic (LRDS falls) and more semantically aligned (SADS rises)."""
    models = _family(measurements)
    languages = measurements.plan.languages
    lrds, sads, n = {}, {}, None
    for name in models:
        other = measurements.with_model(name, languages=languages)
        try:
            sim = similarity_at(other, other.plan.revision, per_layer=False)
        except ModelNotAvailableError as error:
            pytest.skip(f"model {name} of the family is not available: {error}")
        lrds[name], sads[name], n = sim.lrds, sim.sads, sim.n_meanings
        del other
    smallest, largest = models[0], models[-1]
    parts = {}
    parts.update(_compare(lrds, models, early=smallest, late=largest, first=smallest, statistic="LRDS", n=n,
                          alternative="less"))
    parts.update(_compare(sads, models, early=smallest, late=largest, first=smallest, statistic="SADS", n=n,
                          alternative="greater"))
    # A Spearman trend over a family cannot reach α = 0.01 with fewer than 5 sizes (exact one-sided
    # p ≥ 1/24 for 4): it is recorded, and the decision rests on the verses (largest vs smallest).
    trends = {
        name: trend_test(list(range(len(models))), [float(values[m][0]) for m in models], alternative=alternative,
                         statistic=f"Spearman rho of {name} over model size").to_dict()
        for name, values, alternative in (("LRDS", lrds, "decreasing"), ("SADS", sads, "increasing"))
    } if len(models) >= 3 else None
    decision = all_of(next(iter(parts.values())), parts, rule="LRDS lower and SADS higher in the largest model than in "
                      "the smallest, paired over the same verses; the trend over sizes is recorded, not decided")
    numbers = ScaleNumbers(
        family={"models": models, "lrds": [float(lrds[m][0]) for m in models],
                "sads": [float(sads[m][0]) for m in models]},
        languages=list(languages),
        trends=trends,
    )
    return ClaimOutcome(decision, numbers, checkpoints=())


@claim("LF-8", numbers=StoryClozeNumbers, summary=_story_cloze_summary, figures=(STORY_CLOZE,))
def test_lf8_cross_lingual_story_understanding_improves_with_training(measurements) -> ClaimOutcome[StoryClozeNumbers]:
    """Cross-lingual understanding (a cloze with English endings: XStoryCloze or the Bible's) improves with training."""
    data_dir, languages = measurements.config.data_dir, measurements.plan.languages
    try:
        cloze = cloze_data(data_dir, languages)
    except StoryClozeAbsentError as error:
        pytest.skip(str(error))
    series, first, early, late = _series(measurements)
    stories = cloze.stories
    label = "XStoryCloze" if cloze.name == XSTORY_CLOZE else "Bible cloze"
    revs = list(dict.fromkeys((first, early, late)))
    scores = {rev: scores_at(measurements, rev, stories) for rev in revs}
    flat = {rev: np.concatenate([scores[rev][lang] for lang in stories]) for rev in revs}
    grouped = {rev: group_scores(scores[rev], stories) for rev in revs}
    parts = {}
    for ref in dict.fromkeys((early, first)):
        parts[f"accuracy {late} > {ref}"] = paired_permutation_test(
            grouped[late], grouped[ref],
            statistic=f"{label} accuracy {late} vs {ref} (paired over stories)",
        )
    decision = all_of(parts[f"accuracy {late} > {early}"], parts, rule="accuracy higher late than early and than the "
                      "first checkpoint, paired over stories (sign-flip test; a story told in several languages is "
                      "one unit, its mean score)")
    numbers = StoryClozeNumbers(
        accuracy={rev: float(flat[rev].mean()) for rev in revs},
        accuracy_by_language={rev: {lang: float(v.mean()) for lang, v in scores[rev].items()} for rev in revs},
        n_stories={lang: len(items) for lang, items in stories.items()},
        data=cloze.name,
        data_source=cloze.source,
        n_groups=int(len(grouped[late])),
    )
    return ClaimOutcome(decision, numbers, checkpoints=tuple(revs))
