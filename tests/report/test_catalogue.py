"""The claim catalogue: every claim of CLAIMS.md, with the paper's statement and numbers."""

from __future__ import annotations

import pytest

from harness.report.catalogue import CATALOGUE, LF_TABLE1, PAPERS, short_title

CLAIM_IDS = (
    "RF-1a RF-1b RF-1c RF-2a RF-2b RF-2c RF-2d RF-3a RF-3b RF-4a RF-4b RF-4c RF-4d "
    "LF-1a LF-1b LF-1c LF-2 LF-3a LF-3b LF-4 LF-5 LF-6 LF-7 LF-8"
).split()


def test_every_claim_of_the_catalogue_has_an_entry():
    assert len(CLAIM_IDS) == 24
    assert set(CATALOGUE) == set(CLAIM_IDS)
    assert list(CATALOGUE) == CLAIM_IDS  # the report lists claims in the catalogue's order


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_entry_is_complete(claim_id):
    entry = CATALOGUE[claim_id]
    assert entry.id == claim_id
    assert entry.paper == claim_id.split("-")[0] and entry.paper in PAPERS
    for text in (
        entry.short_title, entry.statement, entry.test, entry.reference, entry.paper_figure, entry.reference_model
    ):
        assert text.strip()
    assert len(entry.short_title) <= 40  # fits the terminal summary's column
    assert short_title(claim_id) == entry.short_title


def test_approximate_numbers_are_marked_where_the_catalogue_says_so():
    assert {cid for cid, e in CATALOGUE.items() if e.approx} == {"RF-1a", "RF-4a", "RF-4b"}


def test_lf_table1_transcription():
    langs = LF_TABLE1["languages"]
    assert langs == ("en", "zh", "fr", "es", "pt", "ar", "vi", "hi", "id")
    diagonal = {lang: LF_TABLE1["increase"][lang][lang] for lang in langs}
    assert diagonal == {"en": 22, "zh": 47, "fr": 20, "es": 17, "pt": 27, "ar": 309, "vi": 83, "hi": 220, "id": 1498}
    assert LF_TABLE1["increase"]["hi"]["ar"] == 109  # row: evaluated language, column: zeroed key region
    assert LF_TABLE1["full_ppl"]["zh"] == 24.01 and LF_TABLE1["random_10pct"]["id"] == 13
    assert LF_TABLE1["key_neurons"]["ar"] == 46313 and LF_TABLE1["random_10pct_neurons"] == 49152
    assert all(set(row) == set(langs) for row in LF_TABLE1["increase"].values())


def test_every_claim_has_a_title_of_its_own():
    titles = [entry.title for entry in CATALOGUE.values()]
    assert all(titles) and len(set(titles)) == len(titles)
    assert CATALOGUE["RF-2c"].title == "Top-k expert overlap between languages rises and becomes substantial"
