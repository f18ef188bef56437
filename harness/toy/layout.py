"""Names in a toy run's folder.

::

    <root>/manifest.json        recipe, data hash, seed, versions, training log, file hashes
    <root>/tokenizer/           the tokenizer (AutoTokenizer.from_pretrained)
    <root>/step<N>/             one checkpoint per saved step (save_pretrained, safetensors), with a
                                copy of the tokenizer files, so each loads standalone

``step<N>`` is one of the folder names ``harness.loading`` accepts, next to ``global_step<N>``.
"""

from __future__ import annotations

import re

MANIFEST = "manifest.json"
TOKENIZER_DIR = "tokenizer"
WEIGHTS_FILE = "model.safetensors"
_STEP_DIR = re.compile(r"^step(\d+)$")


def step_dir_name(step: int) -> str:
    return f"step{step}"


def step_of_dir(name: str) -> int | None:
    match = _STEP_DIR.match(name)
    return int(match.group(1)) if match else None
