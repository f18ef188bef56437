"""Shared fixtures for the data tests: one build per session, in a temporary cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.data import load_eval_data, store


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """The cache root of this test session (never the user's cache)."""
    return tmp_path_factory.mktemp("lingua-cache")


@pytest.fixture(scope="session")
def session_build(session_cache) -> Path:
    """One fresh build in the session cache, shared by the tests that read built data."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LINGUA_CLAIMS_CACHE", str(session_cache))
        store.clear_memo()
        load_eval_data()
        return store.entry_dir()


@pytest.fixture(autouse=True)
def _isolated_cache(session_cache, monkeypatch):
    monkeypatch.setenv("LINGUA_CLAIMS_CACHE", str(session_cache))


@pytest.fixture
def data(session_build):
    return load_eval_data()


@pytest.fixture
def entry(session_build, session_cache) -> Path:
    path = store.entry_dir()
    assert path.parent.parent == session_cache
    return path


@pytest.fixture
def fresh_copy(entry, tmp_path, monkeypatch) -> Path:
    """A private cache root with a copy of the session build; returns the copied entry."""
    root = tmp_path / "cache"
    target = root / "data" / entry.name
    shutil.copytree(entry, target)
    monkeypatch.setenv("LINGUA_CLAIMS_CACHE", str(root))
    assert store.entry_dir() == target
    return target
