"""The docstring examples of ``harness.metrics`` run as tests: a broken example fails here."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import harness.metrics

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# every module of the package (found, not listed, so that a new module cannot be forgotten);
# importlib, because ``harness.metrics.average_precision`` the attribute is the function
MODULES = ["harness.metrics"] + sorted(
    f"harness.metrics.{info.name}" for info in pkgutil.iter_modules(harness.metrics.__path__)
)


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name):
    result = doctest.testmod(_module(name), optionflags=OPTIONFLAGS, report=True, verbose=False)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (see stdout)"


# the public functions and classes (constants such as ALPHA have no docstring of their own)
DOCUMENTED = sorted(
    name
    for name in harness.metrics.__all__
    if inspect.isfunction(getattr(harness.metrics, name)) or inspect.isclass(getattr(harness.metrics, name))
)


@pytest.mark.parametrize("public", DOCUMENTED)
def test_every_public_function_and_class_has_an_example(public):
    obj = getattr(harness.metrics, public)
    assert ">>>" in (obj.__doc__ or ""), f"harness.metrics.{public} has no runnable example"


def test_a_broken_example_is_reported():
    # the check above is only useful if doctest really runs and counts failures
    mod = ModuleType("broken_example")
    mod.__doc__ = ">>> 1 + 1\n3\n"
    result = doctest.testmod(mod, optionflags=OPTIONFLAGS, report=False)
    assert (result.attempted, result.failed) == (1, 1)
