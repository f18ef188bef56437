"""Shared fixtures of the known-answer tests: the data, and one scripted world (tokenizer and token statistics)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import scripted_world  # noqa: E402


@pytest.fixture(scope="session")
def eval_data():
    from harness.data import load_eval_data

    return load_eval_data()


@pytest.fixture(scope="session")
def world(eval_data, tmp_path_factory) -> scripted_world.World:
    """The tokenizer (BPE on the data) and token statistics every scripted model of the session shares."""
    return scripted_world.World.from_data(eval_data, tmp_path_factory.mktemp("scripted-tokenizer"))
