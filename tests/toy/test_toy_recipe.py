"""The committed recipe, its identity, the steps override, the checkpoint schedule, the LR schedule."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness.data import SCRIPTS
from harness.errors import HarnessError, UnknownLanguageError
from harness.toy import STEPS_ENV, ToyRecipe, checkpoint_steps, load_recipe
from harness.toy.recipe import RECIPE_FIXTURE
from harness.toy.train import lr_at


def test_committed_recipe_is_the_default():
    doc = json.loads(RECIPE_FIXTURE.read_text(encoding="utf-8"))
    assert ToyRecipe.from_dict(doc) == ToyRecipe()
    assert load_recipe() == ToyRecipe()


def test_recipe_covers_the_required_scripts_and_weights_english_three_times():
    recipe = load_recipe()
    assert len(recipe.languages) >= 8
    assert {"Latin", "Cyrillic", "Han", "Arabic", "Devanagari"} <= {SCRIPTS[lang] for lang in recipe.languages}
    probs = recipe.sampling_probabilities()
    others = [p for lang, p in probs.items() if lang != "en"]
    assert all(probs["en"] == pytest.approx(3 * p) for p in others)
    assert recipe.hidden_size * 4 >= 512 and recipe.n_layer == 6


def test_steps_override(monkeypatch):
    base = load_recipe()
    monkeypatch.setenv(STEPS_ENV, "40")
    short = load_recipe()
    assert short.steps == 40 and short.warmup_steps == 4
    assert dataclasses.replace(short, steps=base.steps, warmup_steps=base.warmup_steps) == base
    assert short.identity("d") != base.identity("d")
    monkeypatch.setenv(STEPS_ENV, "many")
    with pytest.raises(HarnessError, match=STEPS_ENV):
        load_recipe()


def test_identity_ignores_the_seed_but_not_the_data():
    recipe = ToyRecipe()
    assert recipe.identity("a") == dataclasses.replace(recipe, seed=5).identity("a")
    assert recipe.identity("a") != recipe.identity("b")
    assert recipe.identity("a") != dataclasses.replace(recipe, lr=1e-3).identity("a")


def test_bad_recipes_are_refused_in_one_line():
    with pytest.raises(UnknownLanguageError, match="xx"):
        ToyRecipe(languages=("en", "xx"), language_weights=(3.0, 1.0))
    with pytest.raises(HarnessError, match="divisible"):
        ToyRecipe(hidden_size=130)
    with pytest.raises(HarnessError, match="weight"):
        ToyRecipe(languages=("en", "es"), language_weights=(1.0,))
    with pytest.raises(HarnessError, match="unknown field"):
        ToyRecipe.from_dict({"hidden": 3})


@pytest.mark.parametrize(
    ("steps", "expected"),
    [(1, [0, 1]), (8, [0, 1, 2, 4, 8]), (10, [0, 1, 2, 4, 8, 10]), (2048, [0] + [2**i for i in range(12)])],
)
def test_checkpoint_steps(steps, expected):
    assert checkpoint_steps(steps) == expected


def test_learning_rate_schedule():
    recipe = ToyRecipe()
    assert lr_at(recipe, 1) == pytest.approx(recipe.lr / recipe.warmup_steps)
    assert lr_at(recipe, recipe.warmup_steps) == pytest.approx(recipe.lr)
    assert lr_at(recipe, recipe.steps) == pytest.approx(recipe.lr * recipe.min_lr_ratio)
    values = [lr_at(recipe, s) for s in range(recipe.warmup_steps, recipe.steps + 1)]
    assert all(a >= b for a, b in zip(values, values[1:]))
