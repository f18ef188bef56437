"""Known answers for the Lingua Franca analyses, on a small BLOOM with planted units (lf_planted).

* The key regions found (LF eq. 11–14, z > 2 across 6 languages) are exactly the planted
  language-specific units: not the units shared by two scripts (z = √2), not the dead ones.
* Zeroing a key region raises that language's perplexity and leaves every other language's
  unchanged; random controls of the same size and of 10 % stay far below; LF-3a/3b hold.
* With 5 languages no neuron can be key (z ≤ √4 = 2): the analysis refuses with the bound, and
  the key-region claims are skipped with that reason in claims.json (end to end through pytest).
* The verse-bootstrap replicates reproduce the metrics exactly for the observed sample and a
  brute-force resample.
* XStoryCloze loading (both field layouts, bad lines) and scoring (continuation log-likelihood
  against a direct computation; the planted model prefers script-consistent endings).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lf_planted as P  # noqa: E402

from harness.analyses.key_regions import (  # noqa: E402
    KeyRegionsUndefined,
    count_key_regions,
    deactivation_matrix,
    find_key_regions,
    key_region_bound,
    own_region_decision,
    random_control_decision,
)
from harness.analyses.similarity import (  # noqa: E402
    analyse_similarity,
    bootstrap_weights,
    lrds_permutation_null,
    permutation_decision,
    sads_permutation_null,
)
from harness.analyses.story_cloze import (  # noqa: E402
    StoryClozeFormatError,
    absent_reason,
    load_story_cloze,
    prompt_pairs,
    read_stories,
    score,
)
from harness.metrics import activation_vectors, contribution_scores, lrds, sads, similarity_matrix, zscores  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def planted_dir(tmp_path_factory):
    return P.save_planted(tmp_path_factory.mktemp("lf-planted") / "model")


@pytest.fixture(scope="module")
def lm(planted_dir):
    from harness.loading import load_model

    return load_model(str(planted_dir), device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def sample(lm):
    """Mean-pooled responses of the parallel sample: (responses, language codes, meaning ids)."""
    from harness.extract import pooled_responses

    texts = P.parallel_sample()
    rows, lang, meaning = [], [], []
    for code, name in enumerate(P.LANGUAGES):
        rows += texts[name]
        lang += [code] * len(texts[name])
        meaning += list(range(len(texts[name])))
    pooled = pooled_responses(lm, rows, poolings=("mean",), progress=False).mean
    return pooled, np.array(lang), np.array(meaning)


@pytest.fixture(scope="module")
def regions(sample):
    pooled, lang, meaning = sample
    return count_key_regions(pooled, lang, meaning, P.LANGUAGES, P.N_LAYERS, n_boot=200)


def test_key_regions_are_exactly_the_planted_units(regions):
    found, counts = regions
    planted = P.planted_units()
    assert {lang: found.units(lang).tolist() for lang in P.LANGUAGES} == planted
    pair_units = set(P.pair_units().values())
    assert not pair_units & set(torch.nonzero(found.mask.any(dim=0)).reshape(-1).tolist())
    assert found.sklr == 2 * len(P.LANGUAGES)
    assert found.by_layer().tolist() == [[1, 1]] * len(P.LANGUAGES)
    # every resample of verses finds the same regions; replicate 0 agrees with the metrics
    assert counts.check["max_abs_count_difference_replicate0"] == 0
    assert (counts.sizes == 2).all()


def test_pair_units_score_sqrt2_and_planted_units_the_bound(sample):
    pooled, lang, _ = sample
    z = zscores(contribution_scores(pooled, lang, languages=list(range(len(P.LANGUAGES)))))
    for name, units in P.planted_units().items():
        code = P.LANGUAGES.index(name)
        assert torch.allclose(z[code, units], torch.full((2,), 5**0.5, dtype=torch.float64), atol=1e-6)
    for (a, b), unit in P.pair_units().items():
        # two equal values among six give z = √2 for both; the scripts' norms differ slightly
        assert z[P.LANGUAGES.index(a), unit] == pytest.approx(2**0.5, abs=0.02)
        assert z[P.LANGUAGES.index(b), unit] == pytest.approx(2**0.5, abs=0.02)


def _perplexity_fn(lm):
    from harness.hooks import Intervention
    from harness.perplexity import perplexity

    held = P.heldout_text()

    def ppl(lang, units):
        intervention = None if units is None or len(units) == 0 else Intervention(units, scale=0.0)
        return perplexity(lm, held[lang], window=32, interventions=intervention).perplexity

    return ppl


def test_zeroing_a_planted_region_raises_only_its_language(lm, regions):
    found, _ = regions
    d = deactivation_matrix(_perplexity_fn(lm), found)
    own = np.diag(d.increase)
    off = d.increase[~np.eye(len(P.LANGUAGES), dtype=bool)]
    assert (own > 2.0).all(), own  # perplexity at least triples
    assert np.abs(off).max() < 1e-6, d.increase
    assert (np.abs(d.random_same_size) < 0.05).all() and (np.abs(d.random_10pct) < 0.1).all()
    assert d.wins().all()
    lf3a, lf3b = own_region_decision(d), random_control_decision(d)
    assert lf3a.supported and lf3a.detail["k"] == len(P.LANGUAGES)
    assert lf3a.p_value == pytest.approx((1 / 6) ** 6)
    assert lf3b.supported
    report = d.report_data()
    assert report["key_sizes"] == [2] * 6 and len(report["ppl_increase"]) == 6


def test_five_languages_cannot_have_key_neurons(sample):
    pooled, lang, _ = sample
    keep = lang < 5
    five = P.LANGUAGES[:5]
    with pytest.raises(KeyRegionsUndefined, match=r"√\(L−1\) = 2\.000 ≤ 2") as info:
        find_key_regions(pooled[keep], lang[keep], five, P.N_LAYERS)
    assert "need at least 6 languages" in str(info.value) and ", ".join(five) in str(info.value)
    # the bound is real: the planted units now reach exactly z = 2, which is not > 2
    z = zscores(contribution_scores(pooled[keep], lang[keep], languages=list(range(5))))
    assert float(z.max()) == pytest.approx(2.0) and not bool((z > 2).any())
    assert key_region_bound(P.LANGUAGES) is None


def test_key_region_claims_report_the_bound_end_to_end(planted_dir, tmp_path):
    """Through pytest and the plugin: the claims are skipped and claims.json carries the bound."""
    report = tmp_path / "report"
    cmd = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "claims/test_lf_key_regions.py", "claims/test_lf_training_scale.py", "-k", "lf3a or lf7 or lf4 or lf5",
        "--model", str(planted_dir), "--languages", "en,es,fr,zh,ar", "--report-dir", str(report),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    claims = {c["id"]: c for c in json.loads((report / "claims.json").read_text())["claims"]}
    for cid in ("LF-3a", "LF-4", "LF-5", "LF-7"):
        assert claims[cid]["verdict"] == "skipped", claims[cid]
        assert "√(L−1) = 2.000" in claims[cid]["reason"] and "en, es, fr, zh, ar" in claims[cid]["reason"], claims[cid]


def test_bootstrap_replicates_match_the_metrics(sample):
    pooled, lang, meaning = sample
    sim = analyse_similarity(pooled, lang, meaning, P.LANGUAGES, P.N_LAYERS, n_boot=50)
    assert sim.metrics_check["max_abs_difference"] < 1e-10
    # replicate 3 equals the metrics on the resampled rows (copies of a verse share its meaning)
    W = bootstrap_weights(sim.n_meanings, 50, 0)
    n = sim.n_meanings
    rows = [lang * n + m for lang in range(len(P.LANGUAGES)) for m in range(n) for _ in range(int(W[3, m]))]
    S = similarity_matrix(activation_vectors(pooled[rows]))
    assert sim.lrds[3] == pytest.approx(lrds(S, lang[rows], meaning[rows]), abs=1e-9)
    assert sim.sads[3] == pytest.approx(sads(S, lang[rows], meaning[rows]), abs=1e-9)
    assert sim.full.sads([0, 1])[3] == pytest.approx(sads(S, lang[rows], meaning[rows], restrict_to=[0, 1]), abs=1e-9)


def test_permutation_tests_observe_the_metrics_and_null_is_centred(sample):
    pooled, lang, meaning = sample
    sim = analyse_similarity(pooled, lang, meaning, P.LANGUAGES, P.N_LAYERS, per_layer=False, n_boot=10)
    S = similarity_matrix(activation_vectors(pooled))
    observed, null = lrds_permutation_null(sim.gram, n_perm=50)
    assert observed == pytest.approx(lrds(S, lang, meaning), abs=1e-10)
    assert abs(null.mean()) < 0.2 * observed  # the planted units make LRDS large; shuffled labels do not
    L = len(P.LANGUAGES)
    select = np.zeros((L, L), dtype=bool)
    select[0, :] = select[:, 0] = True
    observed, null = sads_permutation_null(sim.gram, select, n_perm=50)
    assert observed == pytest.approx(sads(S, lang, meaning, restrict_to=[0]), abs=1e-10)
    d = permutation_decision(observed, null, statistic="SADS", n=sim.n_meanings, null_description="re-paired")
    assert d.p_value == pytest.approx((1 + np.count_nonzero(null >= observed - 1e-12)) / 51)


# ------------------------------------------------------------------------------ story cloze
def _write(path: Path, lines: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((json.dumps(x, ensure_ascii=False) if not isinstance(x, str) else x) + "\n" for x in lines)
    path.write_text(text, encoding="utf-8")
    return path


def test_story_cloze_loader_formats_and_errors(tmp_path):
    _write(tmp_path / "xstory_cloze" / "es.jsonl", [
        {"context": "Uno. Dos. Tres. Cuatro.", "ending_1": "Good end.", "ending_2": "Bad end.", "label": 1},
        "",
        {"input_sentence_1": "A.", "input_sentence_2": "B.", "input_sentence_3": "C.", "input_sentence_4": "D.",
         "sentence_quiz1": "X.", "sentence_quiz2": "Y.", "answer_right_ending": 2, "story_id": "s2"},
    ])
    stories = load_story_cloze(tmp_path, ["es", "zh"])
    assert list(stories) == ["es"]
    first, second = stories["es"]
    assert first.label == 0 and first.endings == ("Good end.", "Bad end.")
    assert second.context == "A. B. C. D." and second.label == 1
    contexts, continuations = prompt_pairs(stories["es"])
    assert contexts[0] == "Uno. Dos. Tres. Cuatro. The ending in English:"
    assert continuations[:2] == [" Good end.", " Bad end."]
    assert absent_reason(None, ["es"]).startswith("LF-8 needs XStoryCloze-style data")
    assert "none for this run's languages" in absent_reason(tmp_path, ["fr"])
    assert absent_reason(tmp_path, ["es"]) is None
    assert "no story files" in absent_reason(tmp_path / "nothing", ["es"])
    for bad, message in (
        ({"context": "c", "ending_1": "a", "ending_2": "b", "label": 0}, "label must be 1 or 2"),
        ({"context": "c", "ending_1": "a", "label": 1}, "both endings"),
        ({"story": "c"}, "needs 'context'"),
        ("{not json", "not valid JSON"),
    ):
        with pytest.raises(StoryClozeFormatError, match=message):
            read_stories(_write(tmp_path / "bad.jsonl", [bad]))


def test_continuation_loglikelihood_matches_a_direct_computation(lm):
    from harness.loglikelihood import continuation_loglikelihoods

    contexts = [P.texts("latin", [[1, 2, 3]])[0], P.texts("greek", [[4, 5, 6, 7, 8, 9]])[0], ""]
    continuations = [
        " " + P.word("latin", 5), " " + " ".join(P.word("cyrillic", j) for j in (1, 2)), " " + P.word("hebrew", 3)
    ]
    got = continuation_loglikelihoods(lm, contexts, continuations, batch_size=2)
    for i, (c, k) in enumerate(zip(contexts, continuations)):
        ctx = lm.tokenizer(c, add_special_tokens=False)["input_ids"] or [lm.prompt_token_id()]
        cont = lm.tokenizer(k, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([ctx + cont])
        with torch.no_grad():
            logp = torch.log_softmax(lm.module(input_ids=ids).logits[0].double(), dim=-1)
        want = sum(float(logp[len(ctx) - 1 + t, tok]) for t, tok in enumerate(cont))
        assert float(got[i]) == pytest.approx(want, abs=1e-4)


def test_story_scores_follow_the_planted_preference(lm, tmp_path):
    """The planted model predicts the script of the previous word: consistent endings win."""
    from harness.loglikelihood import continuation_loglikelihoods

    consistent = " ".join(P.word("latin", j) for j in (1, 2, 3, 4))
    mixed = " ".join(P.word(lang, j) for lang, j in (("latin", 1), ("cyrillic", 2), ("latin", 3), ("greek", 4)))
    story = P.texts("latin", [[7, 8, 9, 10, 11]])[0]
    _write(tmp_path / "xstory_cloze" / "latin.jsonl", [
        {"context": story, "ending_1": consistent, "ending_2": mixed, "label": 1},
        {"context": story, "ending_1": mixed, "ending_2": consistent, "label": 2},
        {"context": story, "ending_1": mixed, "ending_2": consistent, "label": 1},
        {"context": story, "ending_1": consistent, "ending_2": consistent, "label": 2},
    ])
    stories = load_story_cloze(tmp_path)["latin"]
    scores = score(lambda c, k: continuation_loglikelihoods(lm, c, k), stories)
    assert scores.tolist() == [1.0, 1.0, 0.0, 0.5]
