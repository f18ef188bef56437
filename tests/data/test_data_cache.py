"""Building, caching and errors: reproducible builds, corrupt entries rebuilt, no half-written output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import harness.data.build as build
from harness.data import LANGUAGES, load_eval_data, store, training_corpus
from harness.data.spec import MANIFEST_FIXTURE, all_files
from harness.errors import ConceptError, HarnessError, UnknownLanguageError

REPO = Path(__file__).resolve().parents[2]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rebuild_into_two_fresh_directories_is_byte_identical(entry, tmp_path):
    # Two more builds (cleaned verses reused within the process) equal the session's fresh build;
    # test_build_matches_committed_manifest compares with a build made by another process.
    first = build.build_into(tmp_path / "one")
    second = build.build_into(tmp_path / "two")
    assert first["data_hash"] == second["data_hash"]
    ours, one, two = _files(entry), _files(tmp_path / "one"), _files(tmp_path / "two")
    assert sorted(ours) == sorted(one) == sorted(two) == sorted(all_files() + ["manifest.json"])
    assert [n for n in ours if not ours[n] == one[n] == two[n]] == []


def test_cli_build_runs_as_module(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "harness.data.build", "--help"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0 and "--force" in proc.stdout and "--out" in proc.stdout
    assert "RuntimeWarning" not in proc.stderr


def test_build_matches_committed_manifest(entry):
    expected = json.loads(MANIFEST_FIXTURE.read_text(encoding="utf-8"))
    manifest = json.loads((entry / "manifest.json").read_text(encoding="utf-8"))
    if expected["package"] != manifest["package"]:
        pytest.skip(f"built from {manifest['package']}, the manifest is for {expected['package']}")
    differing = sorted(n for n in manifest["files"] if manifest["files"][n] != expected["files"].get(n))
    assert not differing, f"rebuild differs from {MANIFEST_FIXTURE.name}; regenerate with --write-manifest if intended"
    assert manifest["data_hash"] == expected["data_hash"]


def test_second_load_is_fast_and_cached(data):
    import time

    start = time.perf_counter()
    again = load_eval_data()
    assert time.perf_counter() - start < 0.5
    assert again.data_hash == data.data_hash


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("eval.json", "truncate"),
        ("manifest.json", "truncate"),
        ("concepts.json", "delete"),
        ("eval.json", "edit"),  # still valid JSON: only the hash tells
    ],
)
def test_corrupt_entry_is_rebuilt_not_used(data, fresh_copy, name, damage):
    original = load_eval_data()  # the copy is valid and gets memoised
    assert original.data_hash == data.data_hash
    path = fresh_copy / name
    if damage == "truncate":
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "delete":
        path.unlink()
    else:
        raw = path.read_text(encoding="utf-8")
        first = data.texts("probe", "en")[0]
        path.write_text(raw.replace(json.dumps(first, ensure_ascii=False), json.dumps("CORRUPTED")), encoding="utf-8")
    reloaded = load_eval_data()
    assert reloaded.data_hash == data.data_hash
    assert reloaded.texts("probe", "en") == data.texts("probe", "en")
    assert "CORRUPTED" not in reloaded.texts("probe", "en")
    assert store.entry_is_valid(fresh_copy)


def test_corrupt_training_file_is_rebuilt_not_used(data, fresh_copy):
    expected = training_corpus("en")["en"]
    path = fresh_copy / "train" / "en.txt"
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[0] = "CORRUPTED"
    path.write_text("\n".join(lines), encoding="utf-8")
    got = training_corpus("en")["en"]
    assert got == expected and "CORRUPTED" not in got
    assert store.entry_is_valid(fresh_copy)


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("where", ["train_files", "write_manifest"])
def test_failed_build_leaves_nothing_behind(data, tmp_path, monkeypatch, where):
    root = tmp_path / "cache"
    monkeypatch.setenv("LINGUA_CLAIMS_CACHE", str(root))
    calls = []

    def fail(*args, **kwargs):
        calls.append(args)
        if where == "write_manifest" or len(calls) > 3:  # after some training files were written
            raise Boom("disk full")
        return original(*args, **kwargs)

    original = getattr(build, where)
    monkeypatch.setattr(build, where, fail)
    with pytest.raises(Boom):
        load_eval_data()
    assert calls
    assert list((root / "data").iterdir()) == []


def test_failed_build_into_out_dir_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "write_manifest", lambda out: (_ for _ in ()).throw(Boom("x")))
    with pytest.raises(Boom):
        build.build_into(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_to_replace_a_foreign_directory(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    assert build.main(["--out", str(tmp_path)]) == 2
    assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "call",
    [
        lambda d: d.texts("probe", "xx"),
        lambda d: d.concept_texts(d.concept_names[0], "english"),
        lambda d: training_corpus(["en", "klingon"]),
        lambda d: training_corpus("EN"),
    ],
)
def test_unknown_language_error(data, call):
    with pytest.raises(UnknownLanguageError) as info:
        call(data)
    message = str(info.value)
    assert "\n" not in message
    assert all(code in message for code in LANGUAGES)
    assert isinstance(info.value, HarnessError)


def test_concept_errors(data, entry):
    rejected = json.loads((entry / "concepts.json").read_text(encoding="utf-8"))["rejected"]
    assert rejected, "the fixture lists concepts with too few positives (e.g. boat); expected some rejected"
    for name, count in rejected.items():
        assert count < 50
        assert name not in data.concept_names
        with pytest.raises(ConceptError, match="positive") as info:
            data.concept(name)
        assert "\n" not in str(info.value)
        with pytest.raises(ConceptError):
            data.concept_texts(name, "en")
    with pytest.raises(ConceptError, match="unknown concept"):
        data.concept("unicorn")
    name = data.concept_names[0]
    with pytest.raises(ConceptError):
        data.concept(name, min_positives=61)  # above the cap of 60
    assert data.concept(name, min_positives=50).n_positives >= 50


def test_unknown_split(data):
    with pytest.raises(KeyError):
        data.split_keys("train")


def test_concept_fixture_is_valid():
    doc = build.load_concept_fixture()
    assert doc["min_positives"] == 50 and doc["max_positives"] == 60
    assert len(doc["concepts"]) >= 40


def test_bad_concept_fixture_is_a_one_line_error(tmp_path):
    bad = tmp_path / "concepts.json"
    bad.write_text('{"concepts": [{"name": "x", "regex": "("}]}')
    with pytest.raises(HarnessError) as info:
        build.load_concept_fixture(bad)
    assert "\n" not in str(info.value)
