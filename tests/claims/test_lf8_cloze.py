"""LF-8's data: the shipped Bible cloze by default, XStoryCloze from --data when given (it takes
precedence), the data set named in the record, and stories paired over their languages."""

from __future__ import annotations

import doctest
import json
import sys

import numpy as np
import pytest

import harness.analyses.story_cloze as story_cloze
from harness.analyses.story_cloze import (
    BIBLE_CLOZE,
    XSTORY_CLOZE,
    Story,
    StoryClozeAbsentError,
    StoryClozeFormatError,
    bible_stories,
    cloze_data,
    group_scores,
    read_stories,
)
from harness.claim_registry import RecordedClaim, load_claims, numbers_from_data
from harness.data.cloze import ClozeItem


class _FakeCloze:
    """Two windows, the context naming its language, as ``harness.data.BibleCloze`` gives them."""

    windows = ("w1", "w2")
    context_verses = 2
    data_hash = "0123456789abcdef"

    def items(self, lang):
        return [ClozeItem("40:1:3", f"{lang} a b", ("right", "wrong"), 0),
                ClozeItem("40:1:6", f"{lang} c d", ("x", "y"), 1)]


@pytest.fixture
def fake_bible(monkeypatch):
    import harness.data

    monkeypatch.setattr(harness.data, "bible_cloze", lambda: _FakeCloze())


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


STORY = {"context": "Uno. Dos.", "ending_1": "Right.", "ending_2": "Wrong.", "label": 1}


def test_doctests():
    assert doctest.testmod(story_cloze).failed == 0


def test_bible_cloze_is_the_default_and_names_itself(fake_bible, tmp_path):
    for data_dir in (None, tmp_path):  # no --data, and --data without xstory_cloze/
        chosen = cloze_data(data_dir, ["es", "zh"])
        assert chosen.name == BIBLE_CLOZE and "Bible cloze: 2 windows" in chosen.source
        assert list(chosen.stories) == ["es", "zh"]
        es = chosen.stories["es"]
        assert es[0] == Story("es a b", ("right", "wrong"), 0, "40:1:3") and es[1].label == 1
        assert [s.group for s in chosen.stories["zh"]] == [s.group for s in es]  # a window is one group


def test_xstory_cloze_from_data_takes_precedence(fake_bible, tmp_path):
    _write(tmp_path / "xstory_cloze" / "es.jsonl", [STORY, {**STORY, "label": 2}])
    chosen = cloze_data(tmp_path, ["es", "zh"])
    assert chosen.name == XSTORY_CLOZE and chosen.source == str(tmp_path / "xstory_cloze")
    assert list(chosen.stories) == ["es"] and [s.label for s in chosen.stories["es"]] == [0, 1]
    # a story folder without a file for the run's languages: the run meant XStoryCloze, no fallback
    with pytest.raises(StoryClozeAbsentError, match="none for this run's languages"):
        cloze_data(tmp_path, ["fr"])
    (tmp_path / "xstory_cloze" / "es.jsonl").write_text('{"context": "x"}\n', encoding="utf-8")
    with pytest.raises(StoryClozeFormatError):  # a malformed file is an error, not a skip
        cloze_data(tmp_path, ["es"])


def test_story_id_groups_translations(tmp_path):
    path = tmp_path / "es.jsonl"
    _write(path, [{**STORY, "story_id": 17}, STORY])
    assert [s.group for s in read_stories(path)] == ["17", None]


def test_group_scores_average_a_story_over_its_languages():
    ends = ("a", "b")
    stories = {
        "es": [Story("1", ends, 0, "w1"), Story("2", ends, 0, "w2"), Story("3", ends, 0)],
        "zh": [Story("1", ends, 0, "w1"), Story("2", ends, 0, "w2")],
    }
    scores = {"es": np.array([1.0, 0.0, 1.0]), "zh": np.array([0.0, 0.0])}
    assert group_scores(scores, stories).tolist() == [0.5, 0.0, 1.0]
    # no groups: every story is its own unit, as the flat scores
    flat = {"es": [Story("1", ends, 0), Story("2", ends, 0)], "zh": [Story("1", ends, 0)]}
    assert group_scores({"es": np.array([1.0, 0.0]), "zh": np.array([1.0])}, flat).tolist() == [1.0, 0.0, 1.0]


def test_bible_stories_take_the_context_of_each_language():
    class Two:
        def items(self, lang):
            return _FakeCloze().items(lang)

    stories = bible_stories(["en", "ar"], Two())
    assert [s.context for s in stories["ar"]] == ["ar a b", "ar c d"]


@pytest.fixture(scope="module")
def lf8():
    load_claims()
    return sys.modules["test_lf_training_scale"], load_claims()["LF-8"]


class _Context:
    model = "toy"

    @staticmethod
    def order(revisions):
        return sorted(revisions, key=lambda r: int(r.removeprefix("step")))


def test_the_record_names_the_data_set_and_old_records_still_load(lf8):
    module, spec = lf8
    assert module.StoryClozeNumbers is spec.numbers
    base = {"accuracy": {"step2048": 0.6, "step0": 0.5}, "accuracy_by_language": {}, "n_stories": {"es": 10}}
    old = numbers_from_data(spec.numbers, base)  # a record written before the data set was recorded
    assert old.data == XSTORY_CLOZE and old.n_groups == 0
    new = numbers_from_data(spec.numbers, {**base, "data": BIBLE_CLOZE, "data_source": "Bible cloze: 157 windows",
                                           "n_groups": 157})
    assert new.data == BIBLE_CLOZE and new.n_groups == 157
    summary = spec.summary(RecordedClaim("LF-8", new, ("step0", "step2048"), {}, _Context()))
    assert summary.startswith("Bible cloze: ") and summary.index("step 0") < summary.index("step 2048")
    assert spec.summary(RecordedClaim("LF-8", old, (), {}, _Context())).startswith("XStoryCloze: ")
