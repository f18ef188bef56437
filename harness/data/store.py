"""The cache entry of the built data: where it lives, how it is checked, and the loaded objects."""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cache import cache_dir, sha256_file
from ..errors import ConceptError, UnknownLanguageError
from . import spec as _spec
from .clean import VerseKey
from .spec import LANGUAGES, SPLITS

log = logging.getLogger(__name__)

MIN_POSITIVES = 50  # default minimum number of positives for data.concept()

_LOCK = threading.RLock()


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise UnknownLanguageError(f"unknown language code {lang!r}; known codes: {', '.join(LANGUAGES)}")
    return lang


def check_languages(languages) -> tuple[str, ...]:
    if isinstance(languages, str):
        languages = (languages,)
    return tuple(check_language(lang) for lang in languages)


def entry_dir() -> Path:
    return cache_dir("data") / _spec.build_id()


def _read_manifest(entry: Path) -> dict | None:
    try:
        manifest = json.loads((entry / "manifest.json").read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("format") != _spec.FORMAT_VERSION or set(files) != set(_spec.all_files()):
            return None
        if manifest.get("data_hash") != _spec.data_hash_of(files):
            return None
        return manifest
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _files_ok(entry: Path, manifest: dict, names) -> bool:
    for name in names:
        try:
            if sha256_file(entry / name) != manifest["files"][name]:
                return False
        except OSError:
            return False
    return True


def entry_is_valid(entry: Path, names=None) -> bool:
    """True when ``entry`` has a manifest and the listed files (default: all) match its hashes."""
    manifest = _read_manifest(entry)
    if manifest is None:
        return False
    return _files_ok(entry, manifest, _spec.all_files() if names is None else names)


def _signature(entry: Path, names) -> tuple:
    out = []
    for name in ("manifest.json", *names):
        try:
            st = os.stat(entry / name)
        except OSError:
            return ()
        out.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


# (entry, names) -> (signature, value): what was read and verified, while the files are unchanged.
_MEMO: dict[tuple[str, tuple[str, ...]], tuple[tuple, object]] = {}


def ensure_entry(names, *, rebuild: bool = False) -> tuple[Path, dict]:
    """The cache entry, with ``names`` verified against its manifest; (re)built when needed."""
    entry = entry_dir()
    manifest = None if rebuild else _read_manifest(entry)
    if manifest is not None and not _files_ok(entry, manifest, names):
        manifest = None
    if manifest is None:
        if entry.exists() and not rebuild:
            log.warning("data cache entry %s is incomplete or corrupt; rebuilding it", entry)
        from .build import build_into  # not at import time: `python -m harness.data.build`

        build_into(entry)
        manifest = _read_manifest(entry)
        if manifest is None or not _files_ok(entry, manifest, names):  # pragma: no cover
            raise RuntimeError(f"data build in {entry} did not verify")
        expected = _spec.expected_manifest()
        if (
            expected
            and expected.get("package") == manifest["package"]
            and expected.get("data_hash") != manifest["data_hash"]
        ):
            log.warning(
                "built data differ from %s (data_hash %s, expected %s)",
                _spec.MANIFEST_FIXTURE, manifest["data_hash"], expected.get("data_hash"),
            )
    return entry, manifest


def _memoised(names: tuple[str, ...], loader, rebuild: bool):
    with _LOCK:
        entry = entry_dir()
        key = (str(entry), names)
        if not rebuild and key in _MEMO:
            signature, value = _MEMO[key]
            if signature and signature == _signature(entry, names):
                return value
        entry, manifest = ensure_entry(names, rebuild=rebuild)
        value = loader(entry, manifest)
        _MEMO[key] = (_signature(entry, names), value)
        return value


def clear_memo() -> None:
    with _LOCK:
        _MEMO.clear()


# ------------------------------------------------------------------------------------ eval data


@dataclass(frozen=True, eq=False)
class Concept:
    """One concept dataset: verse keys with labels (positives first), the same in every language."""

    name: str
    keys: list[VerseKey]
    labels: np.ndarray  # bool, True = the English verse matches the concept's regex
    regex: str = ""

    @property
    def n_positives(self) -> int:
        return int(self.labels.sum())


@dataclass(frozen=True, eq=False)
class EvalData:
    """The verse-aligned evaluation data; see ``harness.data`` for the contract."""

    data_hash: str
    languages: tuple[str, ...]
    path: Path
    _keys: dict[str, list[VerseKey]] = field(repr=False)
    _texts: dict[str, dict[str, list[str]]] = field(repr=False)
    _concepts: dict[str, dict] = field(repr=False)
    _rejected: dict[str, int] = field(repr=False)
    _skipped: dict[str, int] = field(repr=False)
    _index: dict[VerseKey, int] = field(repr=False)

    @property
    def concept_names(self) -> list[str]:
        return list(self._concepts)

    def _split(self, split: str) -> str:
        if split not in self._keys:
            raise KeyError(f"unknown split {split!r}; known splits: {', '.join(SPLITS)}")
        return split

    def split_keys(self, split: str) -> list[VerseKey]:
        return list(self._keys[self._split(split)])

    def texts(self, split: str, lang: str) -> list[str]:
        return list(self._texts[self._split(split)][check_language(lang)])

    def concept(self, name: str, min_positives: int = MIN_POSITIVES) -> Concept:
        doc = self._concepts.get(name)
        if doc is None:
            if name in self._rejected:
                raise ConceptError(
                    f"concept {name!r} has only {self._rejected[name]} positive verses in the concept pool "
                    f"(minimum {MIN_POSITIVES}); it is not in data.concept_names"
                )
            if name in self._skipped:
                raise ConceptError(
                    f"concept {name!r} was not built: only the first {len(self._concepts)} qualifying "
                    f"concepts of fixtures/concepts.json are (see data.concept_names)"
                )
            raise ConceptError(
                f"unknown concept {name!r}; {len(self._concepts)} concepts are known "
                f"(data.concept_names), e.g. {', '.join(list(self._concepts)[:5])}"
            )
        labels = np.asarray(doc["labels"], dtype=bool)
        if labels.sum() < min_positives:
            raise ConceptError(
                f"concept {name!r} has only {int(labels.sum())} positive verses (minimum {min_positives})"
            )
        labels.setflags(write=False)
        return Concept(name=name, keys=[tuple(k) for k in doc["keys"]], labels=labels, regex=doc["regex"])

    def concept_texts(self, name: str, lang: str, min_positives: int = MIN_POSITIVES) -> tuple[list[str], np.ndarray]:
        concept = self.concept(name, min_positives)
        pool = self._texts["concepts"][check_language(lang)]
        return [pool[self._index[k]] for k in concept.keys], concept.labels


def _load_eval(entry: Path, manifest: dict) -> EvalData:
    doc = json.loads((entry / "eval.json").read_text(encoding="utf-8"))
    concepts = json.loads((entry / "concepts.json").read_text(encoding="utf-8"))
    keys = {name: [tuple(k) for k in doc["splits"][name]["keys"]] for name in SPLITS}
    texts = {name: doc["splits"][name]["texts"] for name in SPLITS}
    return EvalData(
        data_hash=manifest["data_hash"],
        languages=tuple(doc["languages"]),
        path=entry,
        _keys=keys,
        _texts=texts,
        _concepts={c["name"]: c for c in concepts["concepts"]},
        _rejected=dict(concepts["rejected"]),
        _skipped=dict(concepts["skipped"]),
        _index={k: i for i, k in enumerate(keys["concepts"])},
    )


def load_eval_data(*, rebuild: bool = False) -> EvalData:
    """The evaluation data, built on first use into the cache and verified on every load."""
    return _memoised(tuple(_spec.EVAL_FILES), _load_eval, rebuild)


# ------------------------------------------------------------------------------- training corpus


def _read_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return text.split("\n")[:-1] if text else []


def _load_training(lang: str):
    def loader(entry: Path, manifest: dict):
        txt, keys = _spec.train_files(lang)
        lines = _read_lines(entry / txt)
        key_list = [tuple(int(x) for x in line.split()) for line in _read_lines(entry / keys)]
        if len(lines) != len(key_list):  # pragma: no cover - the hashes already matched
            raise RuntimeError(f"{entry / txt} and its keys differ in length")
        return lines, key_list

    return loader


def training_corpus(languages=LANGUAGES) -> dict[str, list[str]]:
    """Cleaned verses of the rest of the Bible per language: no evaluation verse of any split."""
    langs = check_languages(languages)
    return {lang: list(_memoised(_spec.train_files(lang), _load_training(lang), False)[0]) for lang in langs}


def training_keys(languages=LANGUAGES) -> dict[str, list[VerseKey]]:
    """The verse keys of ``training_corpus()``, aligned with its lists."""
    langs = check_languages(languages)
    return {lang: list(_memoised(_spec.train_files(lang), _load_training(lang), False)[1]) for lang in langs}
