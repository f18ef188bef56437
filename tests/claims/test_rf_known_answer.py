"""Known answer for the RF expert analyses: planted cross-lingual concept experts are found.

A small random BLOOM gets ``N_PLANTED`` layer-0 units that fire on the tokens of the concept
"water" in every language (see ``rf_planted``). The same analyses the RF claims use must then put
those units into the top-k experts of "water" in every language and report an overlap of at least
``N_PLANTED / k`` between every language pair, far above the mismatched-concept control and chance
k/N; on the same model without the planting they must not.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from harness.analyses import experts  # noqa: E402
from harness.measurement_cache import MeasurementCache  # noqa: E402
from harness.measurements import Measurements, RunConfig  # noqa: E402
from harness.metrics import overlap_fraction  # noqa: E402

CONCEPT = "water"
LANGUAGES = ("en", "es", "zh", "ru")
N_PLANTED = 4
PLANTED_UNITS = (17, 101, 150, 222)  # layer-0 units (flat index = unit)


@pytest.fixture(scope="module")
def data():
    from harness.data import load_eval_data

    return load_eval_data()


@pytest.fixture(scope="module")
def models(tmp_path_factory, data):
    """Folders of the base model and of the planted copy (same seed, same tokenizer)."""
    import rf_planted

    root = tmp_path_factory.mktemp("rf-known-answer")
    texts = [t for lang in LANGUAGES for t in data.texts("concepts", lang)]
    tokenizer = rf_planted.build_tokenizer(texts, root / "tokenizer")
    tokens = rf_planted.concept_token_ids(tokenizer, data, CONCEPT, LANGUAGES)
    assert all(tokens[lang] for lang in LANGUAGES), f"no marker tokens for {CONCEPT}: {tokens}"
    base = rf_planted.save(rf_planted.build_bloom(tokenizer, seed=0), tokenizer, root / "base")
    planted_model = rf_planted.build_bloom(tokenizer, seed=0)
    rf_planted.plant(planted_model, sorted({t for ids in tokens.values() for t in ids}), PLANTED_UNITS)
    planted = rf_planted.save(planted_model, tokenizer, root / "planted")
    return {"base": base, "planted": planted, "tokens": tokens}


def _measurements(path, tmp_path_factory) -> Measurements:
    config = RunConfig(
        model=str(path), languages=LANGUAGES, device="cpu", dtype="float32", progress=False, use_cache=False
    )
    return Measurements(config, cache=MeasurementCache(root=tmp_path_factory.mktemp("mcache"), enabled=False))


@pytest.fixture(scope="module")
def single_thread():
    """One torch thread: tiny matrices gain nothing from two, and lose badly on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def analysed(models, tmp_path_factory, single_thread):
    out = {}
    for name in ("planted", "base"):
        measurements = _measurements(models[name], tmp_path_factory)
        scores = experts.expert_scores(measurements, None)
        k = measurements.top_k()
        out[name] = {
            "k": k,
            "scores": scores,
            "top": experts.top_experts(scores, k),
            "overlap": experts.overlap(scores, k),
            "alignment": experts.alignment(scores),
            "layers": experts.layer_distribution(scores, k),
        }
    return out


def _concept(scores) -> int:
    return scores.concepts.index(CONCEPT)


def test_top_k_fraction_gives_room_for_the_planted_units(analysed):
    k, n_units = analysed["planted"]["k"], analysed["planted"]["scores"].n_units
    assert n_units == rf_planted_units()
    assert k >= N_PLANTED, f"k = {k} of {n_units} units cannot hold {N_PLANTED} planted experts"


def rf_planted_units() -> int:
    import rf_planted

    return rf_planted.N_LAYER * 4 * rf_planted.HIDDEN


def test_planted_experts_are_in_every_languages_top_k(analysed, record_property):
    result = analysed["planted"]
    c = _concept(result["scores"])
    found = {lang: sorted(set(result["top"][i, c].tolist()) & set(PLANTED_UNITS)) for i, lang in enumerate(LANGUAGES)}
    record_property("planted_found", found)
    for lang, units in found.items():
        assert units == sorted(PLANTED_UNITS), (
            f"{lang}: top-{result['k']} of {CONCEPT} holds {units} of the planted {PLANTED_UNITS}"
        )
    ap = result["scores"].ap[:, c, list(PLANTED_UNITS)]
    assert float(ap.min()) > 0.8, f"planted units' AP {ap.tolist()}"


def test_planted_overlap_is_reported_and_exceeds_controls(analysed, record_property):
    result = analysed["planted"]
    ov, c = result["overlap"], _concept(result["scores"])
    k = result["k"]
    per_pair = ov.matched[c]
    pairs = [f"{LANGUAGES[i]}-{LANGUAGES[j]}" for i, j in ov.pairs]
    record_property("planted_overlap", {"pairs": pairs, "overlap": per_pair.tolist(),
                                        "mismatched": ov.mismatched[c].tolist(), "chance": ov.chance, "k": k})
    print(f"\nplanted overlap of {CONCEPT!r} (k={k}): "
          + ", ".join(f"{pair} {v:.2f}" for pair, v in zip(pairs, per_pair)) + f"; chance {ov.chance:.4f}")
    assert np.all(per_pair >= N_PLANTED / k - 1e-12), f"overlap per pair {per_pair} < planted {N_PLANTED}/{k}"
    assert np.all(per_pair > ov.mismatched[c]), "planted overlap must exceed the mismatched-concept control"
    assert np.all(per_pair > 10 * ov.chance)
    # layer distribution: the planted units sit in layer 0
    share0 = result["layers"][:, c, 0]
    assert np.all(share0 >= N_PLANTED / k - 1e-12), f"layer-0 share of {CONCEPT}'s experts {share0}"


def test_without_planting_the_units_are_not_experts(analysed):
    base = analysed["base"]
    c = _concept(base["scores"])
    for i, lang in enumerate(LANGUAGES):
        hit = set(base["top"][i, c].tolist()) & set(PLANTED_UNITS)
        assert len(hit) <= 1, (
            f"{lang}: unplanted model has {sorted(hit)} of the planted units among {CONCEPT}'s top-{base['k']}"
        )
    planted_overlap = analysed["planted"]["overlap"].matched[_concept(analysed["planted"]["scores"])].mean()
    base_overlap = base["overlap"].matched[c].mean()
    assert base_overlap < N_PLANTED / base["k"] - 1e-9 < planted_overlap, (base_overlap, planted_overlap)


def test_alignment_gain_is_specific_to_the_planted_concept(analysed):
    """Planting lifts the planted concept's cross-lingual alignment more than any other concept's."""
    planted, base = analysed["planted"]["alignment"], analysed["base"]["alignment"]
    c = _concept(analysed["planted"]["scores"])
    gain = planted.per_concept - base.per_concept
    top = int(np.argmax(gain))
    assert top == c, f"largest alignment gain for {analysed['planted']['scores'].concepts[top]}"
    assert planted.per_concept[c] > planted.per_concept_mismatched[c]


def test_overlap_helper_matches_the_metric():
    rng = np.random.default_rng(0)
    sets = [[frozenset(rng.choice(50, 5, replace=False).tolist()) for _ in range(4)] for _ in range(3)]
    matched, mismatched = experts._pairwise_overlap(sets, [(0, 1), (0, 2), (1, 2)], 5)
    assert matched[2, 1] == overlap_fraction(sets[0][2], sets[2][2], 5)
    expected = np.mean([overlap_fraction(sets[1][0], sets[2][b], 5) for b in (1, 2, 3)] +
                       [overlap_fraction(sets[1][b], sets[2][0], 5) for b in (1, 2, 3)])
    assert mismatched[0, 2] == pytest.approx(expected)


def test_probe_states_for_several_seeds_are_cached_per_seed(models, tmp_path, single_thread):
    """One pass for three seeds gives each seed's states, stored so that one seed alone is a hit."""
    config = RunConfig(model=str(models["base"]), languages=("en", "zh"), device="cpu", dtype="float32", progress=False)
    many, labels = Measurements(config, cache=MeasurementCache(root=tmp_path)).probe_states_for(None, [0, 2])
    assert many.shape[0] == 2 and many.shape[2] == labels.shape[0]
    fresh = MeasurementCache(root=tmp_path)
    one, one_labels = Measurements(config, cache=fresh).probe_states(None, seed=2)
    assert fresh.misses == 0 and fresh.hits == 2  # one entry per language, none recomputed
    assert torch.equal(one, many[1]) and np.array_equal(one_labels, labels)
    assert not torch.equal(many[0], many[1])  # different positions
