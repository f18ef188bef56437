"""Honest dependencies (issue 13): the lower bounds in pyproject.toml are the versions the code needs,
``tox -e lowest`` tests exactly those bounds, and the installed versions satisfy them."""

from __future__ import annotations

import configparser
import importlib.metadata as md
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

#: what the code needs, and why (pyproject.toml says the same beside its dependencies)
NEEDED = {
    "torch": ("2.6", "transformers refuses to torch.load .bin checkpoints (BLOOM's intermediate ones) below 2.6"),
    "transformers": ("4.56", "from_pretrained(dtype=...) appeared in 4.56"),
    "huggingface-hub": ("0.34", "try_to_load_from_cache, scan_cache_dir and the `hf download` command"),
    "tokenizers": ("0.22", "the oldest that transformers 4.56 accepts"),
    "accelerate": ("1.1", "measure's PartialState/gather_object; transformers 5 refuses device_map below 1.1"),
}


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(line).name.lower(): Requirement(line) for line in project["dependencies"]}


def _lower_bound(requirement: Requirement) -> Version | None:
    bounds = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==", "~=")]
    return min(bounds) if bounds else None


@pytest.mark.parametrize("name", sorted(NEEDED))
def test_the_lower_bound_is_what_the_code_needs(name):
    requirement = _requirements()[name]
    needed, why = NEEDED[name]
    assert _lower_bound(requirement) == Version(needed), f"{name}: the code needs >= {needed} ({why})"


def test_tox_lowest_pins_the_lower_bounds():
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    pins = {Requirement(line).name.lower(): Requirement(line)
            for line in tox["testenv:lowest"]["deps"].split("\n") if line.strip()}
    assert set(pins) == set(NEEDED)
    for name, pin in pins.items():
        (spec,) = pin.specifier
        assert spec.operator == "==" and Version(spec.version) == _lower_bound(_requirements()[name]), name


@pytest.mark.parametrize("name", sorted(_requirements()))
def test_the_installed_versions_satisfy_the_bounds(name):
    requirement = _requirements()[name]
    installed = md.version(name)
    assert requirement.specifier.contains(installed, prereleases=True), f"{name} {installed} vs {requirement}"
