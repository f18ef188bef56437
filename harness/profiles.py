"""What the harness knows about named models: sources, checkpoint series, known-bad revisions.

A profile names a model's default checkpoint series and its "early", "mid" and "late" points, used
by every trend claim (``harness.run_plan`` turns them and the command line into a run's plan: a
profile's point counts only when it is in the run's series); the
toy's profile is read from its saved checkpoints (:func:`toy_profile`). The facts about bad BLOOM
checkpoints come from CLAIMS.md ("Models and checkpoints"): a trend claim must refuse them and say why.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from harness.errors import RevisionNameError
from harness.revisions import short_step, step_of


@dataclass(frozen=True)
class RevisionScheme:
    """How a checkpoint suite names its revisions, so that ``--checkpoints`` takes short forms.

    ``template`` has ``{step}`` and, for suites that name the tokens seen, ``{tokens}``: billions
    of tokens, ``step × tokens_per_step / 10⁹`` rounded as the suite rounds (``round`` or
    ``ceil``; checked in the tests against names the suites publish). ``steps``: the published
    steps where they are known (Pythia), else None (not checked here: the hub refuses a name it
    does not have).
    """

    template: str
    tokens_per_step: int = 0
    rounding: Literal["round", "ceil"] = "round"
    steps: tuple[int, ...] | None = None

    def name(self, step: int) -> str:
        """The suite's own name of ``step``."""
        billions = step * self.tokens_per_step / 1e9
        tokens = math.ceil(billions) if self.rounding == "ceil" else int(math.floor(billions + 0.5))
        return self.template.format(step=step, tokens=tokens)

    def native(self, revision: str, model: str) -> str:
        """``revision`` in the suite's naming: a short form (``step1000``, ``1000``) is mapped to it;
        any other name (the suite's own, ``main``) is kept. An unpublished step raises
        :class:`~harness.errors.RevisionNameError`."""
        step = short_step(revision)
        if step is None:
            step = step_of(revision)
            if step is not None and self.steps is not None and step not in self.steps:
                raise RevisionNameError(self._unpublished(revision, step, model))
            return revision
        if self.steps is not None and step not in self.steps:
            raise RevisionNameError(self._unpublished(revision, step, model))
        return self.name(step)

    def _unpublished(self, revision: str, step: int, model: str) -> str:
        steps = self.steps or ()
        below, above = [s for s in steps if s < step][-1:], [s for s in steps if s > step][:1]
        return (f"{model} has no checkpoint {revision!r} (step {step}); nearest: "
                f"{', '.join(self.name(s) for s in below + above)}")


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
    revisions: RevisionScheme | None = None  # the suite's revision naming (short forms of --checkpoints)
    training_languages: tuple[str, ...] | None = None  # languages of the training data, where it is one or few
    note: str = ""  # what the report states about the model's claims (e.g. English-only training data)
    local_run: bool = False  # a training-run folder: its series is its checkpoint folders

    def native_revision(self, revision: str | None) -> str | None:
        """``revision`` in the suite's own naming (see :class:`RevisionScheme`); unchanged without a scheme."""
        if revision is None or self.revisions is None:
            return revision
        return self.revisions.native(revision, self.name)


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


# ------------------------------------------------------------------------------- Pythia (GPT-NeoX)
#: Pythia's published checkpoints: step 0, log-spaced steps 1 … 512, then every 1000 steps to 143000
PYTHIA_STEPS = (0, *(2 ** i for i in range(10)), *range(1000, 143001, 1000))
PYTHIA_SIZES = ("70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b")
PYTHIA_NOTE = (
    "trained on the Pile, English-only data: the cross-lingual claims measure what an English-only model "
    "shows (a control for the papers' multilingual models), not a replication; LF-8 and steering into "
    "another language are not meaningful"
)


def _pythia(size: str, deduped: bool = False) -> ModelProfile:
    """Pythia ``size``: series step0 (the untrained point), 1k, 10k, 36k, 72k, 107k, 143k.

    early 1k and mid 10k as BLOOM's (RF: the first checkpoints after the start of training, and
    RF's mid-training point), late the final step 143k; the series adds a quarter, half and three
    quarters of training.
    """
    suffix = "-deduped" if deduped else ""
    family = tuple(f"pythia-{s}{suffix}" for s in PYTHIA_SIZES)
    return ModelProfile(
        f"pythia-{size}{suffix}", f"EleutherAI/pythia-{size}{suffix}",
        series=tuple(f"step{s}" for s in (0, 1000, 10000, 36000, 72000, 107000, 143000)),
        early="step1000", mid="step10000", late="step143000",
        family=family, revisions=RevisionScheme("step{step}", steps=PYTHIA_STEPS),
        training_languages=("en",), note=PYTHIA_NOTE,
    )


# ------------------------------------------------------------------------------- OLMo and OLMo-2
OLMO_NOTE = (
    "trained on Dolma (OLMo) / OLMo-mix (OLMo-2), English-only data: the cross-lingual claims measure what an "
    "English-only model shows, not a replication"
)
#: OLMo-1B: 2048 sequences × 2048 tokens per step, tokens rounded to the nearest billion
#: (step20000-tokens84B, step100000-tokens419B, step700000-tokens2936B)
OLMO_1B_SCHEME = RevisionScheme("step{step}-tokens{tokens}B", tokens_per_step=2048 * 2048)
#: OLMo-2 1B, stage 1: 2 097 152 tokens per step, rounded up (stage1-step10000-tokens21B,
#: stage1-step1907359-tokens4001B)
OLMO2_1B_SCHEME = RevisionScheme("stage1-step{step}-tokens{tokens}B", tokens_per_step=1024 * 2048, rounding="ceil")


def _olmo_profiles() -> dict[str, ModelProfile]:
    """OLMo-1B (``allenai/OLMo-1B-hf``) and OLMo-2 1B (``allenai/OLMo-2-0425-1B``, stage 1).

    OLMo-1B publishes no step 0 (its untrained control is the config at initialisation); early is
    its first published checkpoint (step 20k), mid step 100k, late step 700k. OLMo-2 1B publishes
    stage1-step0 (the untrained point); early 10k, mid 40k, late the end of stage 1 (1,907,359).
    """
    olmo = ModelProfile(
        "olmo-1b", "allenai/OLMo-1B-hf",
        series=tuple(OLMO_1B_SCHEME.name(s) for s in (20000, 50000, 100000, 330000, 500000, 700000)),
        early=OLMO_1B_SCHEME.name(20000), mid=OLMO_1B_SCHEME.name(100000), late=OLMO_1B_SCHEME.name(700000),
        revisions=OLMO_1B_SCHEME, training_languages=("en",), note=OLMO_NOTE,
    )
    olmo2 = ModelProfile(
        "olmo-2-1b", "allenai/OLMo-2-0425-1B",
        series=tuple(OLMO2_1B_SCHEME.name(s) for s in (0, 10000, 40000, 140000, 1907359)),
        early=OLMO2_1B_SCHEME.name(10000), mid=OLMO2_1B_SCHEME.name(40000), late=OLMO2_1B_SCHEME.name(1907359),
        revisions=OLMO2_1B_SCHEME, training_languages=("en",), note=OLMO_NOTE,
    )
    return {p.name: p for p in (olmo, olmo2)}


PROFILES.update({p.name: p for p in (_pythia(size, deduped) for size in PYTHIA_SIZES for deduped in (False, True))})
PROFILES.update(_olmo_profiles())


def profile_for(name: str) -> ModelProfile | None:
    return PROFILES.get(name)


def toy_profile(toy_seed: int = 0, name: str = "toy") -> ModelProfile:
    """The profile of the toy size ``name`` (``toy``, ``toy-s``) from its saved checkpoints (trained if absent)."""
    from harness.toy import ensure_toy_size, toy_checkpoint_steps, toy_recipe

    root = Path(ensure_toy_size(name, seed=toy_seed))
    steps = toy_checkpoint_steps(root)
    return toy_profile_for_steps(steps, toy_recipe(name), name=name)


def toy_profile_for_steps(steps: Sequence[int], recipe: Any, *, name: str = "toy") -> ModelProfile:
    """The toy's checkpoint series: step 0, a few steps after the collapse phase, the last step.

    ``steps`` are the saved steps of a toy run (step 0 among them), ``recipe`` its
    ``harness.toy.ToyRecipe`` (``seq_len`` and ``languages`` are read). With the committed recipe
    (step 0 and every power of two up to 2048): series step0, step128, step512, step2048; early and mid
    step128; late step2048. The family of the scale claim (LF-6) is the toy family, smallest first
    (``toy-s``, ``toy``: ``harness.toy.TOY_FAMILY``), whichever size ``name`` is.

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
        name,
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
        family=_toy_family(),
    )


def _toy_family() -> tuple[str, ...]:
    from harness.toy import TOY_FAMILY

    return TOY_FAMILY


def run_profile(model: str, toy_seed: int = 0) -> ModelProfile | None:
    """The profile of a run's ``--model``: the toy's (seeded run) for ``toy``, else :func:`profile_for`."""
    if model in ("toy", "toy-s"):  # the toy family (harness.toy.TOY_FAMILY)
        return toy_profile(toy_seed, model)
    return profile_for(model) or run_folder_profile(model)


def run_folder_profile(model: str) -> ModelProfile | None:
    """The profile of a training-run folder (``checkpoint-<N>/`` or ``step<N>/`` subfolders), else None.

    The rule: the series is every checkpoint folder, ordered by N; step 0, if present, is the
    untrained point (first in the series, never early); **early** is the first checkpoint after
    step 0, **late** the last, **mid** the middle one of the trained checkpoints (the lower middle
    for an even count: of step0, 100, 200, 300, early 100, mid 200, late 300; of 100, 200, early
    and mid 100, late 200). Single-checkpoint claims use late (``harness.run_plan``).
    """
    path = Path(model).expanduser()
    if not path.is_dir():
        return None
    from harness.loading import checkpoint_dirs

    checkpoints = checkpoint_dirs(path)
    if not checkpoints:
        return None
    series = tuple(folder.name for folder in checkpoints.values())
    trained = [folder.name for step, folder in checkpoints.items() if step != 0] or list(series)
    prefixes = {folder.name.removesuffix(str(step)) for step, folder in checkpoints.items()}
    prefix = prefixes.pop() if len(prefixes) == 1 else None
    # one naming (checkpoint-<N> or step<N>): --checkpoints 100 or step100 name checkpoint-100
    scheme = None
    if prefix is not None and all(folder.name == f"{prefix}{step}" for step, folder in checkpoints.items()):
        scheme = RevisionScheme(prefix + "{step}", steps=tuple(checkpoints))
    return ModelProfile(
        path.name, None, series=series, early=trained[0], mid=trained[(len(trained) - 1) // 2], late=trained[-1],
        local_run=True, revisions=scheme, perplexity_window=_saved_window(checkpoints[max(checkpoints)]),
    )


def _saved_window(folder: Path, cap: int = 1024) -> int:
    """The perplexity window of a saved model: ``cap`` tokens, or fewer where its config declares fewer
    positions (``n_positions``, ``max_position_embeddings``), as for any model without a profile."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return cap
    return config_window(config, cap)


def config_window(config: Any, cap: int = 1024) -> int:
    """The perplexity window of a model without a profile, from its config (an object or a ``config.json``
    dict): ``cap`` tokens (LF's 1024), or fewer where the model has fewer positions (GPT-2 ``n_positions``,
    OPT/LLaMA ``max_position_embeddings``); longer windows would index past learned position embeddings.
    BLOOM (ALiBi) declares none: 1024."""
    get = config.get if isinstance(config, dict) else lambda name: getattr(config, name, None)
    limit = get("n_positions") or get("max_position_embeddings")
    return min(int(limit), cap) if limit else cap
