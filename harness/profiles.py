"""What the harness knows about named models: sources, checkpoint series, known-bad revisions.

A profile names a model's default checkpoint series and its "early", "mid" and "late" points, used
by every trend claim (``harness.run_plan`` turns them and the command line into a run's plan: a
profile's point counts only when it is in the run's series); the
toy's profile is read from its saved checkpoints (:func:`toy_profile`). The facts about bad BLOOM
checkpoints come from CLAIMS.md ("Models and checkpoints"): a trend claim must refuse them and say why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence


@dataclass(frozen=True)
class ModelProfile:
    name: str
    repo: str | None  # final weights and tokenizer on the hub; None for the project's own toy
    intermediate_repo: str | None = None  # where revisions ``global_step<N>`` live
    series: tuple[str, ...] = ()  # default checkpoint series, earliest first
    early: str | None = None  # after any collapse phase: the "early" of every trend claim and of RF-1a
    late: str | None = None
    mid: str | None = None  # RF-4a's "mid-training" checkpoint (steering into the source language); None: none
    known_bad: dict[str, str] = field(default_factory=dict)  # revision -> reason
    perplexity_window: int = 2048
    family: tuple[str, ...] = ()  # models of increasing size for the scale claims
    languages: tuple[str, ...] | None = None  # evaluation languages the model was trained on
    # Budget of the expensive RF claims, for models where the paper's settings do not fit or do
    # not work (the toy); a real model keeps the defaults, i.e. the paper's settings.
    expert_languages: tuple[str, ...] | None = None  # languages of the expert claims (RF-2, RF-3); None: all
    steering_fraction: float | None = None  # share of units clamped in steering; None: the top-k fraction
    generation_seeds: int = 100  # samples per concept and steering condition (RF App. E: 100)


def _gs(*steps: int) -> tuple[str, ...]:
    return tuple(f"global_step{s}" for s in steps)


BLOOM_FAMILY = ("bloom-560m", "bloom-1b1", "bloom-1b7", "bloom-3b", "bloom-7b1")
# Of the harness's 12 evaluation languages, BLOOM's ROOTS corpus holds these (not de, not ru).
BLOOM_LANGUAGES = ("en", "es", "fr", "pt", "zh", "ar", "hi", "vi", "id", "sw")

PROFILES: dict[str, ModelProfile] = {
    "bloom-560m": ModelProfile(
        "bloom-560m",
        "bigscience/bloom-560m",
        "bigscience/bloom-560m-intermediate",
        series=_gs(1000, 10000, 100000, 200000, 300000, 400000),
        # RF: language identity at step 1k (Fig. 2) and trends from there; steering into Spanish at
        # step 10k (Fig. 7)
        early="global_step1000",
        mid="global_step10000",
        late="global_step400000",
        known_bad={
            "global_step500000": "identical to global_step10000 (BLOOM release error)",
            "global_step600000": "broken weights (perplexity ≈ 3·10⁵)",
        },
        family=BLOOM_FAMILY, languages=BLOOM_LANGUAGES,
    ),
    "bloom-1b1": ModelProfile(
        "bloom-1b1", "bigscience/bloom-1b1", "bigscience/bloom-1b1-intermediate", family=BLOOM_FAMILY,
        languages=BLOOM_LANGUAGES,
    ),
    "bloom-1b7": ModelProfile(
        "bloom-1b7",
        "bigscience/bloom-1b7",
        "bigscience/bloom-1b7-intermediate",
        known_bad={
            "global_step1000": "identical to global_step10000 (BLOOM release error)",
            "global_step250000": "identical to global_step300000 (BLOOM release error)",
        },
        family=BLOOM_FAMILY, languages=BLOOM_LANGUAGES,
    ),
    "bloom-3b": ModelProfile(
        "bloom-3b", "bigscience/bloom-3b", "bigscience/bloom-3b-intermediate", family=BLOOM_FAMILY,
        languages=BLOOM_LANGUAGES,
    ),
    "bloom-7b1": ModelProfile(
        "bloom-7b1",
        "bigscience/bloom-7b1",
        "bigscience/bloom-7b1-intermediate",
        known_bad={"global_step100000": "identical to global_step200000 (BLOOM release error)"},
        family=BLOOM_FAMILY, languages=BLOOM_LANGUAGES,
    ),
}


def profile_for(name: str) -> ModelProfile | None:
    return PROFILES.get(name)


def toy_profile(toy_seed: int = 0) -> ModelProfile:
    """The toy's profile from its saved checkpoints (trains the toy first when it is absent)."""
    from harness.toy import ensure_toy, load_recipe, toy_checkpoint_steps

    root = Path(ensure_toy(seed=toy_seed))
    steps = toy_checkpoint_steps(root)
    return toy_profile_for_steps(steps, load_recipe())


def toy_profile_for_steps(steps: Sequence[int], recipe: Any) -> ModelProfile:
    """The toy's checkpoint series: step 0, a few steps after the collapse phase, the last step.

    ``steps`` are the saved steps of a toy run (step 0 among them), ``recipe`` its
    ``harness.toy.ToyRecipe`` (``seq_len`` and ``languages`` are read). With the committed recipe
    (step 0 and every power of two up to 2048): series step0, step128, step512, step2048; early and mid
    step128; late step2048.

    TOY-NOTES: steps 32–64 are a collapse phase in which every measurement sits at chance, so
    "early" is the first saved step ≥ 128, never a step inside the collapse.
    """
    last = max(steps)
    # one point per ×4 of training after the collapse: every checkpoint of the series costs the
    # expert and probe claims ~25 s on 2 cores, and a trend over ≤ 6 points is recorded, not tested
    middle = [s for s in (128, 512) if s in steps and s < last]
    series = tuple(f"step{s}" for s in [0, *middle, last])
    early = f"step{middle[0]}" if middle else f"step{last}"
    return ModelProfile(
        "toy",
        None,
        series=series,
        early=early,
        mid=early,  # the toy has no separate mid-training point: steering's "mid" is its early checkpoint
        late=f"step{last}",
        perplexity_window=int(getattr(recipe, "seq_len", 128)),
        languages=tuple(getattr(recipe, "languages", ())) or None,
        # Concept pools cost ≈ 3 s per language and checkpoint on 2 CPU cores, so the expert claims
        # use 6 of the 12 languages: three scripts share none, Latin has three members.
        expert_languages=("en", "es", "de", "ru", "zh", "ar"),
        # TOY-NOTES: the paper's 0.5 % (16 of 3,072 units) barely moves the toy's generations, 5 %
        # shifts their language, 10 % breaks generation into repeated words.
        steering_fraction=0.05,
        # 10 samples × 10 concepts per condition fit CI's budget (the paper: 100 per concept)
        generation_seeds=10,
    )


def run_profile(model: str, toy_seed: int = 0) -> ModelProfile | None:
    """The profile of a run's ``--model``: the toy's (seeded run) for ``toy``, else :func:`profile_for`."""
    if model == "toy":
        return toy_profile(toy_seed)
    return profile_for(model)
