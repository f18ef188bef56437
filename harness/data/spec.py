"""Names shared by the builder and the loader: languages, splits, file layout, build identity."""

from __future__ import annotations

import json
from pathlib import Path

from ..cache import sha256_bytes, sha256_file

# Bump when the layout or meaning of the built files changes.
FORMAT_VERSION = 1

LANGUAGES: tuple[str, ...] = ("en", "es", "fr", "pt", "de", "ru", "zh", "ar", "hi", "vi", "id", "sw")
SCRIPTS: dict[str, str] = {
    "en": "Latin", "es": "Latin", "fr": "Latin", "pt": "Latin", "de": "Latin", "ru": "Cyrillic",
    "zh": "Han", "ar": "Arabic", "hi": "Devanagari", "vi": "Latin", "id": "Latin", "sw": "Latin",
}
SPLITS: tuple[str, ...] = ("probe", "similarity", "perplexity", "concepts")

REPO_ROOT = Path(__file__).resolve().parents[2]
CONCEPTS_FIXTURE = REPO_ROOT / "fixtures" / "concepts.json"
MANIFEST_FIXTURE = REPO_ROOT / "fixtures" / "data-manifest.json"

EVAL_FILES: tuple[str, ...] = ("eval.json", "concepts.json", "meta.json")


def train_files(lang: str) -> tuple[str, str]:
    return (f"train/{lang}.txt", f"train/{lang}.keys")


def all_files() -> list[str]:
    return list(EVAL_FILES) + [f for lang in LANGUAGES for f in train_files(lang)]


def data_hash_of(files: dict[str, str]) -> str:
    """sha256 over the (name, sha256) list of the built files: changes iff a file's content does."""
    return sha256_bytes("".join(f"{name}\t{files[name]}\n" for name in sorted(files)).encode())


def build_id() -> str:
    """Identifies the inputs of a build: package version, database size, code and concept list."""
    from ..errors import HarnessError
    from . import source

    digest = [f"format={FORMAT_VERSION}", f"{source.PACKAGE}={source.installed_version()}"]
    try:
        digest.append(f"db_size={source.database_path().stat().st_size}")
    except HarnessError:
        digest.append("db=missing")
    here = Path(__file__).resolve().parent
    for name in ("build.py", "clean.py", "source.py", "spec.py"):
        digest.append(sha256_file(here / name))
    digest.append(sha256_file(CONCEPTS_FIXTURE) if CONCEPTS_FIXTURE.exists() else "no-concepts")
    return sha256_bytes("\n".join(digest).encode())[:16]


def expected_manifest() -> dict | None:
    """The committed ``fixtures/data-manifest.json``, if any."""
    try:
        return json.loads(MANIFEST_FIXTURE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
