"""The toy family: the toy BLOOM in more than one size, for the scale claim (LF-6).

Every size is trained on the same data with the same tokenizer and recipe; only the model's size
differs (``hidden_size``, ``n_layer``, ``n_head``). Each size has its own committed recipe file
and hence its own recipe id and cache entry, trained on first use like the toy itself:

============  ==================================  ============================================
name          recipe                              model
============  ==================================  ============================================
``toy-s``     ``fixtures/toy-s-recipe.json``      hidden 64, 3 layers, 4 heads (0.41 M parameters)
``toy``       ``fixtures/toy-recipe.json``        hidden 128, 6 layers, 4 heads (1.71 M parameters)
============  ==================================  ============================================

A name of :data:`TOY_FAMILY` is a model name everywhere a model is named (``--model``,
``--models toy-s,toy``); ``$LINGUA_CLAIMS_TOY_STEPS`` applies to every size.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.errors import ModelNotAvailableError

from .recipe import RECIPE_FIXTURE, ToyRecipe, load_recipe

#: The fields in which the sizes of the family differ; every other field is the toy's.
SIZE_FIELDS: tuple[str, ...] = ("hidden_size", "n_layer", "n_head")
#: The smaller toy's size, also used when the fixtures folder is not installed.
SMALL_SIZE: dict[str, int] = {"hidden_size": 64, "n_layer": 3, "n_head": 4}
SMALL_RECIPE_FIXTURE = RECIPE_FIXTURE.with_name("toy-s-recipe.json")

#: name -> committed recipe file, smallest first
TOY_RECIPES: dict[str, Path] = {"toy-s": SMALL_RECIPE_FIXTURE, "toy": RECIPE_FIXTURE}
#: The toy family, smallest first: the default family of LF-6 on the toy.
TOY_FAMILY: tuple[str, ...] = tuple(TOY_RECIPES)


def is_toy(name: str | None) -> bool:
    """True for the name of a size of the toy family (``toy``, ``toy-s``)."""
    return name in TOY_RECIPES


def toy_recipe(name: str = "toy", *, env_override: bool = True) -> ToyRecipe:
    """The committed recipe of the toy size ``name`` (``$LINGUA_CLAIMS_TOY_STEPS`` applied)."""
    if not is_toy(name):
        raise ModelNotAvailableError(f"{name!r} is not a toy size; the toy family: {', '.join(TOY_FAMILY)}")
    path = TOY_RECIPES[name]
    if path == SMALL_RECIPE_FIXTURE and not path.exists():
        # installed without the fixtures folder: the small size of the default recipe is the same recipe
        base = load_recipe(env_override=env_override)
        return dataclasses.replace(base, **SMALL_SIZE)
    return load_recipe(path, env_override=env_override)


def ensure_toy_size(name: str = "toy", seed: int | None = None, progress: bool = True) -> Path:
    """The root of a verified run of the toy size ``name`` (trained first on first use)."""
    from .store import ensure_toy

    return ensure_toy(seed=seed, recipe=toy_recipe(name), progress=progress)
