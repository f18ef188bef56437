"""The toy's cache entries: where a run lives, when it can be trusted, and training on first use.

``<root> = cache_dir("toy") / f"{recipe_id}-seed{seed}"``, where ``recipe_id`` hashes the recipe
(all but the seed) and the training text. A root is used only if its manifest reads, matches the
recipe, seed and data hash asked for, and every file it lists has its recorded sha256; otherwise it
is treated as absent and trained again (atomically, under a file lock, so concurrent callers train
once; in a child process when the cores are busy, see ``harness.toy.worker``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from harness.cache import cache_dir, sha256_file
from harness.errors import ModelNotAvailableError

from .batches import corpus_hash
from .layout import MANIFEST, TOKENIZER_DIR, step_of_dir
from .recipe import ToyRecipe, checkpoint_steps, load_recipe
from .train import train_toy
from .worker import machine_is_busy, train_in_child

log = logging.getLogger(__name__)

_LOCK = threading.RLock()
# root -> (stat signature of its files, manifest) for roots verified in this process
_VERIFIED: dict[str, tuple[tuple, dict]] = {}


def toy_root(recipe: ToyRecipe, seed: int, data_hash: str) -> Path:
    """Where the run of ``recipe`` with ``seed`` on data ``data_hash`` lives (not created here)."""
    return cache_dir("toy") / f"{recipe.identity(data_hash)}-seed{seed}"


def read_manifest(root: Path) -> dict | None:
    try:
        manifest = json.loads((Path(root) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _listed_files(manifest: dict) -> dict[str, str]:
    """relative path -> sha256 of every file the manifest vouches for."""
    files = {f"{TOKENIZER_DIR}/{name}": digest for name, digest in manifest["tokenizer"]["files"].items()}
    for entry in manifest["checkpoints"].values():
        files.update({f"{entry['dir']}/{name}": digest for name, digest in entry["files"].items()})
    return files


def _signature(root: Path, names) -> tuple:
    out = []
    for name in sorted(names):
        try:
            st = os.stat(root / name)
        except OSError:
            return ()
        out.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


def _remembered_manifest(root: Path) -> tuple[dict, tuple] | None:
    """The manifest of a root verified in this process and its signature, while none of its files changed
    (saves parsing the manifest, with its training log, on every call)."""
    with _LOCK:
        known = _VERIFIED.get(str(root))
    if known is None:
        return None
    signature, manifest = known
    return (manifest, signature) if _signature(root, [MANIFEST, *_listed_files(manifest)]) == signature else None


def check_root(root: Path, recipe: ToyRecipe, seed: int, data_hash: str) -> str | None:
    """None when ``root`` is a complete run of (recipe, seed, data); else why it is not."""
    root = Path(root)
    if not root.is_dir():
        return "absent"
    remembered = _remembered_manifest(root)
    manifest = remembered[0] if remembered else read_manifest(root)
    if manifest is None:
        return f"{MANIFEST} is missing or not JSON"
    try:
        if manifest.get("recipe") != recipe.to_dict():
            return "its recipe differs"
        if manifest.get("seed") != seed or manifest.get("data_hash") != data_hash:
            return "its seed or data hash differs"
        files = _listed_files(manifest)
        steps = sorted(int(s) for s in manifest["checkpoints"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return f"{MANIFEST} is incomplete"
    if steps != checkpoint_steps(recipe.steps):
        return "its checkpoint list is incomplete"
    if remembered:
        return None
    signature = _signature(root, [MANIFEST, *files])
    if not signature:
        return "a listed file is missing"
    for name, digest in files.items():
        if sha256_file(root / name) != digest:
            return f"{name} does not match its recorded sha256"
    with _LOCK:
        _VERIFIED[str(root)] = (signature, manifest)
    return None


# (languages, stat of the data layer's training files) -> sha256 of that text, for this process
_DATA_HASHES: dict[tuple, str] = {}


class _LazyCorpus(Mapping[str, Sequence[str]]):
    """``training_corpus(languages)``, read on first access (only training needs the verses)."""

    def __init__(self, languages: Sequence[str]) -> None:
        self._languages = tuple(languages)
        self._corpus: dict[str, list[str]] | None = None

    def _load(self) -> dict[str, list[str]]:
        if self._corpus is None:
            from harness.data import training_corpus

            self._corpus = training_corpus(self._languages)
        return self._corpus

    def __getitem__(self, lang: str) -> Sequence[str]:
        return self._load()[lang]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _data_key(languages: Sequence[str]) -> tuple:
    from harness.data.spec import train_files
    from harness.data.store import entry_dir

    entry = entry_dir()
    return (
        tuple(languages),
        str(entry),
        _signature(entry, ["manifest.json", *(train_files(lang)[0] for lang in languages)]),
    )


def _default_corpus(languages: Sequence[str]) -> tuple[Mapping[str, Sequence[str]], str]:
    """``training_corpus(languages)`` and its hash, hashed once per process while its files are unchanged.

    Once hashed, later calls return the hash and a corpus that is read only if used (verifying a cached
    run needs the hash alone; reading and hashing the verses took ~40 ms a call).
    """
    from harness.data import training_corpus

    key = _data_key(languages)
    with _LOCK:
        data_hash = _DATA_HASHES.get(key) if key[2] else None
    if data_hash is not None:
        return _LazyCorpus(languages), data_hash
    corpus = training_corpus(languages)  # builds or verifies the data entry
    key = _data_key(languages)
    data_hash = corpus_hash(corpus, languages)
    if key[2]:
        with _LOCK:
            _DATA_HASHES[key] = data_hash
    return corpus, data_hash


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftovers(root: Path) -> None:
    """Temporary folders of runs of ``root`` that were killed (a crash inside Python removes its
    own). Called with the root's lock held, so no live run owns them."""
    for pattern in (f".{root.name}.*.tmp", f".{root.name}.*.old"):
        for path in root.parent.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


def ensure_toy(
    seed: int | None = None,
    recipe: ToyRecipe | None = None,
    progress: bool = True,
    *,
    corpus: Mapping[str, Sequence[str]] | None = None,
    force: bool = False,
) -> Path:
    """The root of a verified toy run, trained first if absent, incomplete or corrupt.

    ``recipe`` defaults to :func:`load_recipe` (the committed recipe, ``$LINGUA_CLAIMS_TOY_STEPS``
    applied), ``seed`` to the recipe's seed (0), ``corpus`` to ``harness.data.training_corpus``.
    ``force`` retrains even a valid run.
    """
    recipe = load_recipe() if recipe is None else recipe
    seed = recipe.seed if seed is None else int(seed)
    own_corpus = corpus is None
    if own_corpus:
        corpus, data_hash = _default_corpus(recipe.languages)
    else:
        data_hash = corpus_hash(corpus, recipe.languages)
    root = toy_root(recipe, seed, data_hash)
    with _file_lock(root.parent / f".{root.name}.lock"):
        problem = "retraining was forced" if force else check_root(root, recipe, seed, data_hash)
        if problem is None:
            return root
        if root.exists():
            log.warning("toy run %s is not usable (%s): training it again", root, problem)
        _remove_leftovers(root)
        with _LOCK:
            _VERIFIED.pop(str(root), None)
        if own_corpus and machine_is_busy(recipe.threads):
            log.warning("the machine is busy: training the toy in a child process with OMP_WAIT_POLICY=PASSIVE")
            train_in_child(recipe, root, seed, progress)
        else:
            train_toy(recipe, root, seed, progress, corpus=dict(corpus))  # read now if not yet read
        problem = check_root(root, recipe, seed, data_hash)
        if problem is not None:  # pragma: no cover - a run that does not verify right after training
            raise ModelNotAvailableError(f"toy run {root} did not verify after training: {problem}")
    return root


def toy_checkpoint_steps(root: Path | str) -> list[int]:
    """The saved steps of a toy run, ascending (from its manifest, else from its folders)."""
    root = Path(root)
    manifest = read_manifest(root)
    if manifest is not None and isinstance(manifest.get("checkpoints"), dict):
        try:
            return sorted(int(step) for step in manifest["checkpoints"])
        except (TypeError, ValueError):
            pass
    if not root.is_dir():
        raise ModelNotAvailableError(f"{root} is not a toy run folder (call ensure_toy() first)")
    return sorted(
        step for child in root.iterdir()
        if (step := step_of_dir(child.name)) is not None and (child / "config.json").exists()
    )
