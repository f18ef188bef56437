"""Where the harness keeps derived data, and how it writes files without leaving halves behind.

Everything derived (fixtures built from the Bible package, the toy model's checkpoints, cached
measurements) lives under one root: ``$LINGUA_CLAIMS_CACHE`` if set, else
``$XDG_CACHE_HOME/lingua-claims``, else ``~/.cache/lingua-claims``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

CACHE_ENV = "LINGUA_CLAIMS_CACHE"


def cache_root() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "lingua-claims"


def cache_dir(*parts: str) -> Path:
    """A subdirectory of the cache root, created on demand."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The file gets the permissions a plain ``open(path, "w")`` would (mkstemp's are 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it is renamed to ``final``.

    On any exception the temporary directory is removed, so ``final`` either does not exist or
    is complete. An existing ``final`` is replaced only after the new one is fully written.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        yield tmp
        if final.exists():
            trash = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".old"))
            os.replace(final, trash / final.name)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


_HEX64 = frozenset("0123456789abcdef")


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, streamed, and remembered by its path, size, mtime and inode.

    A file of the Hugging Face hub cache (``…/blobs/<sha256>``, what a snapshot's links point to) is
    named by that hash already: it is not read. Other files are hashed once; the digest is kept
    under the cache root (``file-digests/``) and reused while the file's ``stat`` is unchanged, so
    a run over a checkpoint series it has seen reads no weights to know their identity.
    """
    real = Path(path).resolve()
    if real.parent.name == "blobs" and len(real.name) == 64 and set(real.name) <= _HEX64:
        return real.name
    stat = real.stat()
    identity = {"path": str(real), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}
    memo = cache_root() / "file-digests" / f"{sha256_bytes(str(real).encode())}.json"
    try:
        known = json.loads(memo.read_text())
        if known.get("identity") == identity and len(known.get("sha256", "")) == 64:
            return str(known["sha256"])
    except (OSError, ValueError):
        pass
    digest = sha256_file(real)
    try:
        atomic_write_text(memo, json.dumps({"identity": identity, "sha256": digest}))
    except OSError:  # a read-only cache costs a re-read next time, nothing else
        pass
    return digest
