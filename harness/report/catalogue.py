"""The claim catalogue as data: what each paper says, and the numbers it reports.

Transcribed from the project's claim catalogue (``../shared/CLAIMS.md``) so that the report needs
nothing outside the package at run time. ``statement`` is the paper's claim, ``test`` how the
harness tests it, ``reference`` the paper's own numbers (or, where the paper gives only a figure,
what the figure shows), ``approx`` marks numbers that come from the text, the authors' blog or
third-party notes rather than a table, and ``paper_figure`` names where in the paper they are.

``LF_TABLE1`` is LF's Table 1 (BLOOM-7b1): the percent perplexity increase of each evaluated
language after zeroing the key region of another language, with the random-neuron control.
"""

from __future__ import annotations

from dataclasses import dataclass

PAPERS = {
    "RF": (
        "Riemenschneider & Frank, “Cross-Lingual Generalization and Compression: "
        "From Language-Specific to Shared Neurons” (ACL 2025)"
    ),
    "LF": (
        "Zeng et al., “Converging to a Lingua Franca: "
        "Evolution of Linguistic Regions and Semantics Alignment in Multilingual Large Language Models”"
    ),
}


@dataclass(frozen=True)
class CatalogueEntry:
    id: str
    paper: str  # "RF" or "LF"
    short_title: str  # a few words, for tables and the terminal summary
    statement: str  # the paper's claim
    test: str  # how the harness tests it
    reference: str  # the paper's numbers, or what its figure shows
    paper_figure: str  # where the paper shows it
    reference_model: str  # the model the paper's numbers are for
    approx: bool = False  # reference numbers from text, blog or notes, not a table
    title: str = ""  # the claim's one-line title in claims.json, claims.md and the terminal

    @property
    def paper_name(self) -> str:
        return PAPERS[self.paper]


_RF560 = "bloom-560m"
_LF7B = "bloom-7b1"

_ENTRIES = (
    CatalogueEntry(
        "RF-1a", "RF", "LID uniform across layers early",
        "At an early checkpoint, language identity is decodable uniformly well in every layer.",
        "LID accuracy per layer: mean high, std across layers low.",
        "step 1k: layer 1 ≈ 92 %, mean ≈ 94 %", "Fig. 1", _RF560, approx=True,
        title="Early in training, language identity is decodable uniformly well in every layer",
    ),
    CatalogueEntry(
        "RF-1b", "RF", "LID dips in lower/middle layers late",
        "Later, first-layer LID accuracy drops, middle layers dip, final layers recover.",
        "Late vs early: first-layer accuracy lower; minimum over middle layers < final layers.",
        "step 400k: layer 1 ≈ 57 %, rises to layer 5, falls to layer 14, recovers from layer 15", "Fig. 1", _RF560,
        title="Later, first-layer LID accuracy drops, middle layers dip, final layers recover",
    ),
    CatalogueEntry(
        "RF-1c", "RF", "LID mean falls, spread rises",
        "Over training the layer-mean LID accuracy falls and the std between layers rises.",
        "Trend over the checkpoint series.",
        "figure only: after the early steps mean accuracy falls (first layer most) and the std between layers rises",
        "Fig. 2", _RF560,
        title="Over training the layer-mean LID accuracy falls and the std between layers rises",
    ),
    CatalogueEntry(
        "RF-2a", "RF", "Neuron alignment rises",
        "Cross-lingual neuron alignment (Fisher-z averaged Pearson of AP vectors) rises during pre-training.",
        "Late > early, paired over concepts and language pairs.",
        "figure only: alignment rises over training, later checkpoints almost indistinguishable", "Fig. 3–4", _RF560,
        title="Cross-lingual neuron alignment rises during pre-training",
    ),
    CatalogueEntry(
        "RF-2b", "RF", "Mutual information rises",
        "MI between AP vectors rises with the same trend as the correlation.",
        "MI late > early; MI and alignment trajectories rank-correlate.",
        "figure only: MI closely mirrors the correlation-derived alignment", "Fig. 4", _RF560,
        title="MI between AP vectors rises with the same trend as the correlation",
    ),
    CatalogueEntry(
        "RF-2c", "RF", "Expert overlap rises above chance",
        "Top-k expert overlap between languages rises and becomes substantial.",
        "Late > early; late overlap ≫ chance k/N.",
        "≈ 1/6 of the top 500 shared between a language pair at late steps", "Fig. 4", _RF560,
        title="Top-k expert overlap between languages rises and becomes substantial",
    ),
    CatalogueEntry(
        "RF-2d", "RF", "Alignment follows script and family",
        "Alignment is structured by script and family.",
        "Same-script pairs more aligned than cross-script pairs.",
        "Latin vs non-Latin split; hi–mr, as–bn and Dravidian clusters", "Fig. 3, 13", _RF560,
        title="Alignment is structured by script: same-script pairs are more aligned",
    ),
    CatalogueEntry(
        "RF-3a", "RF", "Experts leave the first layer",
        "Expert neurons first concentrate in the first layer, then redistribute.",
        "Share of top-k in layer 0 falls from early to late; the late distribution has its minimum in the "
        "lower-middle layers and peaks in the middle.",
        "dip at layer 10 of 24, final layer low", "Fig. 5", _RF560,
        title="Expert neurons first concentrate in the first layer, then redistribute",
    ),
    CatalogueEntry(
        "RF-3b", "RF", "Overlap grows in middle layers",
        "Cross-lingual overlap concentrates in the middle layers and grows there.",
        "Global top-k restricted to each layer: overlap in RF's middle layers (10–17 of 24, scaled to the depth) > "
        "first and last layers at late steps; middle rises from early to late.",
        "layers 10–17 of 24", "Fig. 6", _RF560,
        title="Cross-lingual overlap concentrates in the middle layers and grows there",
    ),
    CatalogueEntry(
        "RF-4a", "RF", "es neurons steer to Spanish mid-training",
        "Mid-training, Spanish-derived concept neurons steer generation into Spanish.",
        "langdetect share of `es` is the largest or near-largest.",
        "step 10k: es ≈ 45 %, en ≈ 25 %, pt ≈ 10 %, zh ≈ 8 %", "Fig. 7, 18", _RF560, approx=True,
        title="Mid-training, Spanish-derived concept neurons steer generation into Spanish",
    ),
    CatalogueEntry(
        "RF-4b", "RF", "es neurons steer to English late",
        "Late in training, the same neurons steer generation into English.",
        "Share of `en` late > early and is the largest late.",
        "step 400k: en ≈ 60 %, zh ≈ 15 %, es ≈ 5 %", "Fig. 7, 18", _RF560, approx=True,
        title="Late in training, the same neurons steer generation into English",
    ),
    CatalogueEntry(
        "RF-4c", "RF", "sw neurons never yield Swahili",
        "Swahili-derived neurons never yield notable Swahili.",
        "Share of `sw` small at every checkpoint.",
        "figure only: no checkpoint generates a notable amount of Swahili", "Fig. 20", _RF560,
        title="Swahili-derived neurons never yield notable Swahili",
    ),
    CatalogueEntry(
        "RF-4d", "RF", "Steered text is about the concept",
        "Steered generations are about the concept.",
        "Concept rate in steered vs unsteered generations (concept word or its translations present, or the "
        "concept's experts' mean response on the generated text).",
        "examples only (earthquake, joy)", "Table 1", _RF560,
        title="Steered generations are about the concept",
    ),
    CatalogueEntry(
        "LF-1a", "LF", "Same language is more similar",
        "Same-language sentences have more similar activation than cross-language ones.",
        "LRDS > 0.",
        "figure only: same-language blocks are distinct light blocks in the similarity map", "Fig. 2", _LF7B,
        title="Same-language sentences have more similar activation than cross-language ones",
    ),
    CatalogueEntry(
        "LF-1b", "LF", "Same meaning is more similar",
        "Same-meaning sentences in different languages have more similar activation than different-meaning "
        "ones, even across scripts (zh, ar).",
        "SADS > 0, also restricted to pairs involving zh or ar.",
        "figure only: same-meaning pairs form light bands along the block diagonals", "Fig. 2", _LF7B,
        title="Same-meaning sentences align across languages, even across scripts",
    ),
    CatalogueEntry(
        "LF-1c", "LF", "Romance languages cluster",
        "Related languages (fr, es, pt) are more similar to each other than to others.",
        "Mean cross-language similarity within the Romance group > to the other languages of the same (Latin) "
        "script, and more so than at initialisation.",
        "figure only: fr, es, pt form a lighter block", "Fig. 2", _LF7B,
        title="Related languages are more similar to each other than to others",
    ),
    CatalogueEntry(
        "LF-2", "LF", "Ends language-specific, middle semantic",
        "First and last layers are more language-specific and less semantic than middle layers.",
        "Per-layer LRDS higher, SADS lower at the ends than in the middle.",
        "figure only: LRDS high and SADS low in the first and last layers", "Fig. 3", _LF7B,
        title="First and last layers are more language-specific and less semantic than middle layers",
    ),
    CatalogueEntry(
        "LF-3a", "LF", "Key region ablation hits its language",
        "Zeroing a language's key region raises that language's perplexity far more than other languages'.",
        "PPL-increase matrix: diagonal > every off-diagonal entry of its row, for most languages.",
        "own-language increase en 22 %, zh 47 %, fr 20 %, es 17 %, pt 27 %, ar 309 %, vi 83 %, hi 220 %, "
        "id 1498 %; zeroing ar raises every language by 47–109 %",
        "Table 1", _LF7B,
        title="Zeroing a language's key region raises its own perplexity most",
    ),
    CatalogueEntry(
        "LF-3b", "LF", "Random ablation hurts less",
        "Zeroing as many random neurons raises perplexity far less.",
        "Diagonal increase > increase from a random set of the same size (and of 10 %).",
        "random 10 %: +10–13 %", "Table 1", _LF7B,
        title="Zeroing random neurons raises perplexity far less than zeroing the key region",
    ),
    CatalogueEntry(
        "LF-4", "LF", "Key regions shrink, alignment grows",
        "Over training, key regions shrink, LRDS falls and SADS rises.",
        "SKLR and LRDS late < early; SADS late > early (paired over verses; the trend over the series and the "
        "comparison with step 0 reported).",
        "figure only: key regions shrink, LRDS falls and SADS rises with training steps", "Fig. 4", _LF7B,
        title="Over training, key regions shrink, LRDS falls and SADS rises",
    ),
    CatalogueEntry(
        "LF-5", "LF", "Key neurons at the ends",
        "Key neurons sit mostly in the first and last layers, denser in the first layers with training.",
        "Share in the first and last quarter of layers > middle; first-layer share rises.",
        "figure only: key neurons concentrate in the first and last layers, the first layers denser with training",
        "Fig. 5", _LF7B,
        title="Key neurons sit in the first and last layers, denser in the first layers with training",
    ),
    CatalogueEntry(
        "LF-6", "LF", "Larger models more aligned",
        "Larger models are more language-agnostic and more semantically aligned.",
        "Across model sizes: LRDS falls, SADS rises.",
        "figure only: LRDS falls and SADS rises from bloom-560m to bloom-7b1", "Fig. 7", "BLOOM 560m → 7b1",
        title="Larger models are more language-agnostic and more semantically aligned",
    ),
    CatalogueEntry(
        "LF-7", "LF", "Unusual languages have larger regions",
        "Languages unlike the others (vi, ar, zh) have larger key regions than fr, es, pt.",
        "|K_l| ordering.",
        "key neurons ar 46,313, vi 45,758, zh 31,185 vs fr 14,040, pt 8,865, es 7,182", "Fig. 6, Table 1", _LF7B,
        title="Languages unlike the others have larger key regions than fr, es, pt",
    ),
    CatalogueEntry(
        "LF-8", "LF", "Cross-lingual understanding improves",
        "Cross-lingual understanding improves with training and scale.",
        "XStoryCloze with English endings: accuracy late > early (skipped with a reason when the data is absent).",
        "figure only: XStoryCloze accuracy rises with training steps", "Fig. 4 (right)", _LF7B,
        title="Cross-lingual understanding improves with training",
    ),
)

CATALOGUE: dict[str, CatalogueEntry] = {entry.id: entry for entry in _ENTRIES}


def short_title(claim_id: str, fallback: str = "") -> str:
    entry = CATALOGUE.get(claim_id)
    return entry.short_title if entry else fallback


# Display names of the evaluation languages (ISO 639-1 codes as used throughout the harness).
LANGUAGE_NAMES = {
    "ar": "Arabic", "as": "Assamese", "bn": "Bengali", "de": "German", "en": "English", "es": "Spanish",
    "eu": "Basque", "fr": "French", "hi": "Hindi", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "ko": "Korean", "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian", "sw": "Swahili",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tr": "Turkish", "ur": "Urdu", "vi": "Vietnamese",
    "yo": "Yoruba", "zh": "Chinese", "zh-cn": "Chinese (simpl.)", "zh-tw": "Chinese (trad.)",
    "af": "Afrikaans", "ca": "Catalan", "cy": "Welsh", "da": "Danish", "et": "Estonian", "fi": "Finnish",
    "hr": "Croatian", "hu": "Hungarian", "lt": "Lithuanian", "lv": "Latvian", "no": "Norwegian", "pl": "Polish",
    "ro": "Romanian", "sk": "Slovak", "sl": "Slovenian", "so": "Somali", "sq": "Albanian", "sv": "Swedish",
    "tl": "Tagalog", "uk": "Ukrainian", "fa": "Persian", "he": "Hebrew", "el": "Greek", "cs": "Czech",
    "unknown": "not classified",
}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


# LF Table 1 (BLOOM-7b1). ``increase[evaluated][zeroed]`` is the percent perplexity increase of the
# evaluated language after zeroing the key region of the zeroed language; ``random_10pct`` zeroes a
# random 10 % of the neurons (49,152 of them); ``key_neurons`` is |K_l|.
LF_TABLE1_LANGUAGES = ("en", "zh", "fr", "es", "pt", "ar", "vi", "hi", "id")
_LF_ROWS = {
    #      full PPL, random 10 %, ×en ×zh ×fr ×es ×pt ×ar ×vi ×hi ×id
    "en": (13.94, 12, (22, 6, 2, 2, 1, 55, 18, 7, 5)),
    "zh": (24.01, 11, (3, 47, 2, 1, 1, 47, 16, 8, 4)),
    "fr": (9.62, 10, (5, 5, 20, 4, 2, 49, 14, 8, 5)),
    "es": (10.84, 10, (5, 5, 2, 17, 3, 48, 14, 8, 5)),
    "pt": (11.17, 11, (5, 5, 2, 6, 27, 50, 15, 8, 6)),
    "ar": (14.45, 12, (4, 5, 2, 2, 1, 309, 16, 6, 4)),
    "vi": (10.11, 12, (4, 7, 2, 2, 1, 64, 83, 7, 6)),
    "hi": (11.14, 10, (3, 4, 1, 1, 1, 109, 15, 220, 3)),
    "id": (20.55, 13, (5, 7, 2, 2, 1, 80, 18, 12, 1498)),
}
LF_TABLE1 = {
    "model": "bloom-7b1",
    "languages": LF_TABLE1_LANGUAGES,
    "full_ppl": {lang: row[0] for lang, row in _LF_ROWS.items()},
    "random_10pct": {lang: row[1] for lang, row in _LF_ROWS.items()},
    "increase": {lang: dict(zip(LF_TABLE1_LANGUAGES, row[2])) for lang, row in _LF_ROWS.items()},
    "random_10pct_neurons": 49152,
    "key_neurons": dict(zip(LF_TABLE1_LANGUAGES, (15935, 31185, 14040, 7182, 8865, 46313, 45758, 22285, 15201))),
}
