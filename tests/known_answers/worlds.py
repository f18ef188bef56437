"""The planted checkpoint series of the known-answer tests, and their twins without the effects.

Each group of claims has its own planted series (``GROUPS``: its ``plant_*`` modules and the claims
they carry), saved as a run folder and decided by one ``pytest claims/`` run. One series carrying
every group's effects at once is the aim (one run for all claims), but composed, the groups
interfere (RF's early experts compete with LF's meaning units; LF's context term drives RF's
generations into loops), so each group keeps its own series until that is solved. Two twins per group:

* **featureless**: no feature in the embeddings and nothing planted, only the random background
  (a model that knows nothing; close to the untrained one) — no claim may be supported on it;
* **flat**: the early checkpoint's features and units at every checkpoint (only the random
  background differs, so the checkpoints are distinct models) — a claim about what changes over
  training must not be supported on it.

Checkpoints are ``step1`` (early), ``step2`` (RF's "mid-training" point) and ``step4`` (late, the
revision of single-checkpoint claims); the runs use the 8 languages of ``LANGUAGES``. There is no
``step0``: each claim's untrained control is the architecture at initialisation (``init``), which
the planted effects must beat.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from scripted_world import Embedding, Unembedding, UnitGroup, World, WorldSpec

#: the plants describe checkpoints 1 … 4; the series saves 1 (early), 2 (mid) and 4 (late): every
#: trend claim compares late with early, and RF-4 needs the mid point
CHECKPOINTS = (1, 2, 4)
EARLY, MID, LATE = 1, 2, 4
#: the run's languages: every language a claim names (LF-1b's zh/ar, LF-1c's Romance group and
#: another Latin-script language, LF-7's vi/ar/zh vs fr/es/pt, RF-4's es/zh/sw sources and English),
#: 8 of the 12, which keeps LF-3's L² + 3L perplexity runs and the similarity maps affordable in CI;
#: with 8 languages a unit specific to one has z = √7 ≈ 2.6 > 2 (LF's key-neuron threshold)
LANGUAGES = ("en", "es", "fr", "pt", "vi", "ar", "zh", "sw")
#: group → (its plant modules, the claims its series plants)
GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "lf": (("plant_lf",), ("LF-1a", "LF-1b", "LF-1c", "LF-2", "LF-3a", "LF-3b", "LF-4", "LF-5", "LF-6", "LF-7",
                           "LF-8")),
    "rf_lid": (("plant_rf_lid",), ("RF-1a", "RF-1b", "RF-1c")),
    "rf_experts": (("plant_rf_experts",), ("RF-2a", "RF-2b", "RF-2c", "RF-2d", "RF-3a", "RF-3b")),
    "rf_steering": (("plant_rf_steering",), ("RF-4a", "RF-4b", "RF-4c", "RF-4d")),
}
RUN_OPTIONS = (
    "--checkpoints", ",".join(f"step{c}" for c in CHECKPOINTS),
    "--early", f"step{EARLY}", "--mid", f"step{MID}", "--late", f"step{LATE}", "--revision", f"step{LATE}",
    "--languages", ",".join(LANGUAGES),
)


def plants(group: str) -> list[ModuleType]:
    return [importlib.import_module(name) for name in GROUPS[group][0]]


def _knob(modules: list[ModuleType], name: str, default: float) -> float:
    """A setting of the unembedding, from the first of ``modules`` that sets it."""
    for module in modules:
        if hasattr(module, name):
            return float(getattr(module, name))
    return default


def _embedding(checkpoint: int) -> Embedding:
    import plant_lf

    return Embedding(lang=plant_lf.LANG_SCALE[checkpoint])


def _unembedding(modules: list[ModuleType]) -> Unembedding:
    return Unembedding(stay=_knob(modules, "UNEMBEDDING_STAY", Unembedding.stay),
                       concept=_knob(modules, "UNEMBEDDING_CONCEPT", Unembedding.concept),
                       context=_knob(modules, "UNEMBEDDING_CONTEXT", Unembedding.context))


def _context(checkpoint: int) -> float:
    import plant_lf

    return plant_lf.CONTEXT_GAIN[checkpoint]


def _spec(modules, groups: list[UnitGroup], checkpoint: int, embedding: Embedding, context: float) -> WorldSpec:
    return WorldSpec(embedding=embedding, unembedding=_unembedding(modules), groups=tuple(groups), context=context,
                     seed=checkpoint)


def _uses_lf(modules: list[ModuleType]) -> bool:
    return any(m.__name__ == "plant_lf" for m in modules)


def positive_series(world: World, group: str) -> dict[int, WorldSpec]:
    ms = plants(group)
    lf = _uses_lf(ms)
    return {
        c: _spec(ms, [g for m in ms for g in m.unit_groups(world, c)], c, _embedding(c) if lf else Embedding(),
                 _context(c) if lf else 0.0)
        for c in CHECKPOINTS
    }


def flat_series(world: World, group: str) -> dict[int, WorldSpec]:
    ms = plants(group)
    lf = _uses_lf(ms)
    return {
        c: _spec(ms, [g for m in ms for g in m.flat_unit_groups(world, c)], c,
                 _embedding(EARLY) if lf else Embedding(), _context(EARLY) if lf else 0.0)
        for c in CHECKPOINTS
    }


def featureless_series(world: World, group: str) -> dict[int, WorldSpec]:
    nothing = Embedding(lang=0.0, meaning=0.0, concept=0.0, topic=0.0)
    return {c: WorldSpec(embedding=nothing, unembedding=_unembedding(plants(group)), seed=c) for c in CHECKPOINTS}


SERIES = {"positive": positive_series, "flat": flat_series, "featureless": featureless_series}


def smaller_model(world: World, kind: str) -> WorldSpec:
    """LF-6's smaller model of the ``kind`` family (its larger model is the series' late checkpoint)."""
    import plant_lf

    unembedding = _unembedding(plants("lf"))
    if kind == "featureless":
        return WorldSpec(n_layer=plant_lf.SMALL_LAYERS,
                         embedding=Embedding(lang=0.0, meaning=0.0, concept=0.0, topic=0.0),
                         unembedding=unembedding, seed=99)
    return WorldSpec(n_layer=plant_lf.SMALL_LAYERS, embedding=_embedding(EARLY), unembedding=unembedding,
                     groups=tuple(plant_lf.smaller_model_groups(world)), seed=99)


def save(world: World, group: str, kind: str, root: Path) -> tuple[Path, tuple[str, ...]]:
    """The ``kind`` series of ``group`` as ``root/run/step<N>/`` (and for LF, LF-6's smaller model as
    ``root/smaller/`` and LF-8's translation cloze under ``root/data/``). Returns the run folder and the
    ``pytest claims/`` options naming its roles (and family, and data).
    """
    specs = SERIES[kind](world, group)
    run = world.save_series({c: specs[c] for c in CHECKPOINTS}, root / "run")
    if "LF-6" not in GROUPS[group][1]:
        return run, RUN_OPTIONS
    import plant_lf

    from harness.data import load_eval_data

    smaller = world.save(smaller_model(world, kind), root / "smaller")
    data = plant_lf.write_translation_cloze(load_eval_data(), LANGUAGES, world.tokenizer, root / "data")
    return run, (*RUN_OPTIONS, "--models", f"{smaller},{run / f'step{LATE}'}", "--data", str(data))
