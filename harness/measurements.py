"""The measurements that claims share, computed once per run and cached across runs.

Claims never extract anything themselves: they ask a :class:`Measurements` for pooled responses,
expert scores, hidden states, perplexities or generations at a revision, and apply the metrics in
``harness.metrics``. Every result is keyed in the :class:`MeasurementCache` by model, revision,
weights identity (the SHA-256 of its weight files), data hash, neuron site and parameters
(:meth:`Measurements.cache_key`), all known without loading the weights: a revision is loaded only
when a measurement of it has to be computed, once per run while the loaded models fit in memory
(:meth:`Measurements.weights_of_revision`). What the run measures (checkpoints, languages, profile) is its
:class:`~harness.run_plan.RunPlan` (``Measurements.plan``); results derived from measurements are
shared between claims through the per-run :meth:`Measurements.memo`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
import torch

from harness.extract import hidden_states_at_seeds, pooled_responses
from harness.generation import GenerationConfig, generate
from harness.hooks import Intervention
from harness.loading import (
    LoadedModel,
    Source,
    _auto_device,
    _auto_dtype,
    check_distinct,
    load_model,
    resolve_source,
    weights_digest,
)
from harness.loglikelihood import continuation_loglikelihoods
from harness.measurement_cache import ByteBudgetMemo, MeasurementCache, key_digest, memo_budget
from harness.perplexity import Perplexity, _default_window, perplexity
from harness.profiles import profile_for, run_profile
from harness.run_plan import RunConfig, RunPlan
from harness.sites import neuron_site

__all__ = ["TOP_K_FRACTION", "Measurements", "RunConfig", "RunPlan", "default_top_k", "units_digest"]

T = TypeVar("T")

# RF uses the top 500 of bloom-560m's 98,304 MLP units; smaller models keep the same fraction.
TOP_K_FRACTION = 500 / 98_304


def default_top_k(n_units: int) -> int:
    """RF's k for a model of ``n_units`` MLP units: the same fraction as 500 of bloom-560m's 98,304, at least 1."""
    return max(1, round(TOP_K_FRACTION * n_units))


def units_digest(units: torch.Tensor | None) -> str:
    if units is None:
        return "none"
    return hashlib.sha256(torch.as_tensor(units, dtype=torch.long).numpy().tobytes()).hexdigest()[:16]


@dataclass
class ModelSkeleton(LoadedModel):
    """A revision without its weights: the architecture on the ``meta`` device, with the real tokenizer,
    neuron-site layout, weights identity, device and dtype (see :meth:`Measurements.loaded_model`).

    Nothing can be computed with it (a forward pass on ``meta`` fails loudly);
    :meth:`Measurements.weights_of` gives the loaded model.
    """


#: texts per forward pass on the CPU when --batch-size is not given
CPU_BATCH_SIZE = 32
#: the largest automatic batch on a GPU
MAX_AUTO_BATCH = 512


def bytes_per_text(lm: LoadedModel, tokens: int, *, logits: bool = False) -> int:
    """A generous estimate of the memory one text of ``tokens`` tokens takes in a forward pass: one
    layer's MLP and attention activations, every layer's hidden state (probes), the pooled responses
    kept (max and mean, fp32) and, with ``logits``, the full-vocabulary logits in the model's dtype."""
    config = lm.module.config
    hidden = int(getattr(config, "hidden_size", None) or getattr(config, "n_embd", None) or 0)
    heads = int(getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None) or 1)
    element = torch.finfo(lm.dtype).bits // 8
    per_token = (3 * lm.site.units_per_layer + 8 * hidden + 2 * heads * tokens) * element
    per_token += (lm.site.n_layers + 1) * hidden * 4
    if logits:
        per_token += int(getattr(config, "vocab_size", 0) or 0) * element
    return max(1, tokens * per_token + 2 * lm.site.n_units * 4)


def _module_bytes(module: torch.nn.Module) -> int:
    """Bytes of the module's weights, a storage shared by tied weights (embedding and LM head) counted once."""
    storages = {(t.untyped_storage().data_ptr(), t.device): t.untyped_storage().nbytes()
                for t in module.state_dict().values()}
    return sum(storages.values())


@dataclass
class Measurements:
    """One run's measurements: the plan, the model lifecycle, cached measurements and a memo.

    Implements :class:`harness.measurement_source.MeasurementSource`, what the analyses use.
    """

    config: RunConfig = field(default_factory=RunConfig)
    cache: MeasurementCache | None = None

    def __post_init__(self):
        if self.cache is None:
            self.cache = MeasurementCache(enabled=self.config.use_cache)
        self._models: dict[tuple[str, str | None], LoadedModel] = {}  # (name, revision) → skeleton or loaded
        self._weights: dict[Source, LoadedModel] = {}  # the loaded models kept, least recently used first
        self._tokenizers: dict[tuple[str, str | None], Any] = {}
        self._loaded: LoadedModel | None = None
        # derived results shared by claims, up to a byte budget (every one without the disk cache)
        self._memo = ByteBudgetMemo(memo_budget() if self.cache.enabled else None)
        self.weights_hashes: dict[str, str] = {}
        self.loads: list[str] = []  # the label of every model loaded with its weights, in order

    # ------------------------------------------------------------------ what is measured
    @cached_property
    def data(self):
        """The evaluation data (``harness.data.EvalData``), loaded on first use."""
        from harness.data import load_eval_data

        return load_eval_data()

    @cached_property
    def plan(self) -> RunPlan:
        """The run's checkpoints and languages (built once; raises ``UnknownLanguageError``)."""
        profile = run_profile(self.config.model, self.config.toy_seed)
        return RunPlan.build(self.config, profile, self.data.languages)

    # ------------------------------------------------------------------ derived results, per run
    def memo(self, key: tuple, compute: Callable[[], T]) -> T:
        """``compute()`` once per ``key`` in this run; later calls with ``key`` return the same object.

        For results derived from measurements that several claims share (a similarity analysis, key
        regions): held in memory only, never shared between two Measurements. The memo keeps at most
        a byte budget of values (``$LINGUA_CLAIMS_MEMO_BYTES``, see :mod:`harness.measurement_cache`;
        no limit with ``--no-measurement-cache``), least recently used dropped first: a dropped
        value is computed again when asked for (expensive ones are on disk, see :meth:`derived`).
        """
        found, value = self._memo.get(key)
        if not found:
            value = compute()
            self._memo.put(key, value)
        return value

    def memoised(self, key: tuple) -> bool:
        """Whether :meth:`memo` already holds a value for ``key`` (computes nothing)."""
        return key in self._memo

    def derived(self, name: str, inputs: Sequence[dict], compute: Callable[[], T], **params) -> T:
        """An expensive result derived from cached measurements, cached on disk like them: keyed by
        ``name``, the digests of its ``inputs`` (the measurements' cache keys, :meth:`cache_key`) and
        ``params`` (bump a ``version`` param when the computation changes), so a warm rerun
        recomputes nothing; memoised in memory within the measurement cache's byte budget."""
        key = {"kind": f"derived:{name}", "inputs": [key_digest(k) for k in inputs], **params}
        return self.cache.get_or_compute(key, compute)

    # ------------------------------------------------------------------ models
    def loaded_model(self, revision: str | None = None, *, name: str | None = None) -> LoadedModel:
        """The model ``name`` (default: the run's) at ``revision``, its weights loaded only if they were before.

        Loads nothing where the revision's identity is known from its files (:func:`weights_digest`):
        the result is then a :class:`ModelSkeleton`, the architecture on the ``meta`` device with the
        real tokenizer, site layout, weights identity, device and dtype (all that cache keys, ``top_k``
        and the analyses read); a measurement that has to be computed loads the weights
        (:meth:`weights_of`). A hub revision not yet on this machine is loaded at once.
        """
        name = name or self.config.model
        known = self._models.get((name, revision))
        if known is None:
            known = self._skeleton(name, revision)
            if known is None:  # the files are not here yet (a hub revision): loading downloads them
                loaded = self.weights_of_revision(name, revision)
                known = self._skeleton(name, revision) or loaded  # loaded: weights under other file names
            self._models[(name, revision)] = known
        self.weights_hashes[known.label] = known.weights_hash
        self._loaded = known
        return known

    def _skeleton(self, name: str, revision: str | None) -> "ModelSkeleton | None":
        """The revision without its weights, or None when its files are not here (see ``loaded_model``)."""
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        source = resolve_source(name, revision, toy_seed=self.config.toy_seed)
        digest = weights_digest(source)
        tokenizer = self._tokenizers.get((source.tokenizer, source.tokenizer_revision))
        try:
            if digest is None:
                return None
            config = AutoConfig.from_pretrained(source.weights, revision=source.revision)
            if tokenizer is None:
                tokenizer = AutoTokenizer.from_pretrained(source.tokenizer, revision=source.tokenizer_revision)
        except (OSError, ValueError):  # loading the model says what is missing, and why
            return None
        with torch.device("meta"):
            module = AutoModelForCausalLM.from_config(config)
        if (source.tokenizer, source.tokenizer_revision) not in self._tokenizers:
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            tokenizer.padding_side = "right"
            self._tokenizers[(source.tokenizer, source.tokenizer_revision)] = tokenizer
        device = _auto_device(self.config.device)
        return ModelSkeleton(name, revision, source, module.eval(), tokenizer, neuron_site(module), digest, device,
                             _auto_dtype(self.config.dtype, device), profile_for(name))

    def weights_of(self, model: LoadedModel) -> LoadedModel:
        """``model`` with its weights: loaded now if it is a skeleton (at most once per run while
        memory allows, see :meth:`weights_of_revision`)."""
        if not isinstance(model, ModelSkeleton):
            return model
        loaded = self.weights_of_revision(model.name, model.revision)
        if loaded.weights_hash != model.weights_hash:
            from harness.errors import HarnessError

            raise HarnessError(
                f"{model.label}: the weights changed during the run (identity {model.weights_hash[:12]} when the "
                f"run began, {loaded.weights_hash[:12]} now); nothing was measured on them: run again"
            )
        return loaded

    def weights_of_revision(self, name: str, revision: str | None) -> LoadedModel:
        """The loaded model ``name`` at ``revision``. Each checkpoint (each resolved source: the final
        model and its last checkpoint are one) is loaded once and kept while the models kept fit in
        :attr:`model_memory_budget` bytes; the least recently used ones are released first."""
        key = resolve_source(name, revision, toy_seed=self.config.toy_seed)
        loaded = self._weights.pop(key, None)
        if loaded is None:
            loaded = load_model(
                name, revision, device=self.config.device, dtype=self.config.dtype, toy_seed=self.config.toy_seed,
                device_map=self.config.device_map, max_memory=self.config.max_memory,
            )
            self.loads.append(loaded.label)
            self._release_for(_module_bytes(loaded.module))
        self._weights[key] = loaded  # most recently used last
        self.weights_hashes[loaded.label] = loaded.weights_hash
        self._loaded = loaded
        return loaded

    def _release_for(self, needed: int) -> None:
        """Release the least recently used loaded models until ``needed`` more bytes fit in the budget."""
        budget = self.model_memory_budget
        while self._weights and sum(_module_bytes(m.module) for m in self._weights.values()) + needed > budget:
            self._weights.pop(next(iter(self._weights)))
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @cached_property
    def model_memory_budget(self) -> int:
        """Bytes of weights the run keeps loaded at once: a quarter of the machine's memory on the CPU,
        half of the free memory of the GPU when the run uses CUDA (at least one model is always kept)."""
        device = _auto_device(self.config.device)
        if device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(device)
            return int(free // 2)
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4)

    @property
    def held_model(self) -> LoadedModel | None:
        """The model used last, if any (loads nothing; a :class:`ModelSkeleton` when its weights were not needed)."""
        return self._loaded

    def check_series(self, revisions: Sequence[str]) -> None:
        """Refuse a series with duplicate weights (from the weight files' identities: nothing is loaded)."""
        hashes = {rev: self.loaded_model(rev).weights_hash for rev in revisions}
        check_distinct(hashes)

    def cache_key(self, loaded: LoadedModel, kind: str, **params) -> dict:
        """The measurement cache's key of a ``kind`` of measurement on ``loaded`` with ``params``.

        Changing what this returns for an existing measurement invalidates every cached entry.
        """
        return {
            "kind": kind,
            "model": loaded.name,
            "source": loaded.source.weights,
            "revision": loaded.revision,
            "weights": loaded.weights_hash,
            "data": self.data.data_hash,
            "site": loaded.site.key(),
            "dtype": str(loaded.dtype),
            # texts run after the tokenizer's BOS where it has one (not BLOOM: its keys stay as they were)
            **({"special_prefix": list(loaded.special_prefix)} if loaded.special_prefix else {}),
            **params,
        }

    def batch_size(self, lm: LoadedModel) -> int:
        """Texts of up to ``max_length`` tokens per forward pass: ``--batch-size``, else
        :data:`CPU_BATCH_SIZE` on the CPU, else on CUDA as many as a quarter of the GPU's free memory
        holds by :func:`bytes_per_text` (at most :data:`MAX_AUTO_BATCH`)."""
        if self.config.batch_size:
            return int(self.config.batch_size)
        if lm.device.type != "cuda":
            return CPU_BATCH_SIZE
        free, _total = torch.cuda.mem_get_info(lm.device)
        return int(max(1, min(MAX_AUTO_BATCH, free // 4 // bytes_per_text(lm, self.config.max_length))))

    def perplexity_batch(self, lm: LoadedModel, window: int) -> int:
        """Perplexity windows per forward pass: as many tokens as a batch of texts (at least one window);
        automatic on CUDA: as many windows, logits included, as a quarter of the free memory holds."""
        if self.config.batch_size or lm.device.type != "cuda":
            return max(1, self.batch_size(lm) * self.config.max_length // window)
        free, _total = torch.cuda.mem_get_info(lm.device)
        return int(max(1, min(MAX_AUTO_BATCH, free // 4 // bytes_per_text(lm, window, logits=True))))

    def _extract_kwargs(self, lm: LoadedModel, desc: str) -> dict:
        config = self.config
        return dict(batch_size=self.batch_size(lm), max_length=config.max_length, progress=config.progress, desc=desc)

    # ------------------------------------------------------------------ shared measurements
    def concept_pool_responses(self, revision: str | None, lang: str) -> torch.Tensor:
        """Max-pooled responses [n_pool_verses, n_units] on the concept pool in ``lang``."""
        loaded = self.loaded_model(revision)
        texts = self.data.texts("concepts", lang)
        key = self.cache_key(loaded, "concept_pool_max", lang=lang, max_length=self.config.max_length)

        def compute() -> torch.Tensor:
            lm = self.weights_of(loaded)
            kwargs = self._extract_kwargs(lm, f"concepts {lang} {loaded.label}")
            return pooled_responses(lm, texts, poolings=("max",), **kwargs).max

        return self.cache.get_or_compute(key, compute)

    def concept_rows(self, concept: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the concept pool that form ``concept``'s dataset, and their labels."""
        index = {key: row for row, key in enumerate(self.data.split_keys("concepts"))}
        dataset = self.data.concept(concept)
        return np.array([index[tuple(k)] for k in dataset.keys]), np.asarray(dataset.labels, dtype=bool)

    def expert_scores(self, revision: str | None, lang: str, concepts: Sequence[str] | None = None) -> torch.Tensor:
        """AP(c, l) of every neuron: [n_concepts, n_units] float64, concepts in ``data.concept_names`` order."""
        from harness.metrics import average_precision

        concepts = list(concepts or self.data.concept_names)
        key = self.expert_scores_key(revision, lang, concepts)

        def compute():
            responses = self.concept_pool_responses(revision, lang)
            rows = []
            for concept in concepts:
                index, labels = self.concept_rows(concept)
                rows.append(average_precision(responses[index], torch.tensor(labels)))  # a copy: the data is read-only
            return torch.stack(rows)

        return self.cache.get_or_compute(key, compute)

    def expert_scores_key(self, revision: str | None, lang: str, concepts: Sequence[str] | None = None) -> dict:
        """The cache key of :meth:`expert_scores` (computes nothing; what derived results cite)."""
        concepts = list(concepts or self.data.concept_names)
        return self.cache_key(self.loaded_model(revision), "expert_ap", lang=lang, concepts=concepts,
                              max_length=self.config.max_length)

    def similarity_keys(self, revision: str | None) -> list[dict]:
        """The cache keys of :meth:`similarity_responses`' blocks, one per language (computes nothing)."""
        loaded = self.loaded_model(revision)
        return [self.cache_key(loaded, "similarity_mean", lang=lang, max_length=self.config.max_length)
                for lang in self.plan.languages]

    def positive_medians(self, revision: str | None, lang: str, concept: str) -> torch.Tensor:
        """Median max-pooled response of every neuron over the concept's positives [n_units] (RF §8).

        The median of ml-selfcond's forcing value ``on_p50`` (``np.percentile(q=50)``): for an even
        number of positives the midpoint of the two middle values (``torch.median`` would take the
        lower one), computed in float64 and returned in the responses' dtype.
        """
        responses = self.concept_pool_responses(revision, lang)
        index, labels = self.concept_rows(concept)
        positives = responses[index[labels]]
        n = positives.shape[0]
        if n == 0:
            from harness.errors import ConceptError

            raise ConceptError(f"concept {concept!r} has no positives in {lang}: no median response to steer with")
        ordered = positives.to(torch.float64).sort(dim=0).values
        return ((ordered[(n - 1) // 2] + ordered[n // 2]) / 2).to(positives.dtype)

    def similarity_responses(self, revision: str | None) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """Mean-pooled responses on the parallel similarity sample, all languages stacked.

        Returns ``(responses [n_languages * n_verses, n_units], language_ids, meaning_ids)``:
        row ``i`` is verse ``meaning_ids[i]`` in language ``languages[language_ids[i]]``.
        """
        loaded = self.loaded_model(revision)
        languages = self.plan.languages

        def mean_pooled(lang: str) -> torch.Tensor:
            texts = self.data.texts("similarity", lang)
            lm = self.weights_of(loaded)
            kwargs = self._extract_kwargs(lm, f"similarity {lang} {loaded.label}")
            return pooled_responses(lm, texts, poolings=("mean",), **kwargs).mean

        blocks = []
        for lang, key in zip(languages, self.similarity_keys(revision)):
            blocks.append(self.cache.get_or_compute(key, lambda lang=lang: mean_pooled(lang)))
        n = blocks[0].shape[0]
        language_ids = np.repeat(np.arange(len(languages)), n)
        meaning_ids = np.tile(np.arange(n), len(languages))
        return torch.cat(blocks), language_ids, meaning_ids

    def probe_states(self, revision: str | None, *, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """Hidden states at one random position per probe sentence: ([n_layers + 1, n, d], labels [n])."""
        states, labels = self.probe_states_for(revision, [seed])
        return states[0], labels

    def probe_states_for(self, revision: str | None, seeds: Sequence[int]) -> tuple[torch.Tensor, np.ndarray]:
        """``probe_states`` for several position seeds: ([n_seeds, n_layers + 1, n, d], labels [n]).

        Seeds missing from the cache are extracted together, one forward pass per batch.
        """
        loaded = self.loaded_model(revision)
        seeds = [int(s) for s in seeds]
        blocks, labels = [], []
        for code, lang in enumerate(self.plan.languages):
            found = self._probe_states_of_language(loaded, lang, seeds)
            blocks.append(torch.stack([found[s] for s in seeds]))
            labels.append(np.full(blocks[-1].shape[2], code))
        return torch.cat(blocks, dim=2), np.concatenate(labels)

    def _probe_states_of_language(self, loaded: LoadedModel, lang: str, seeds: list[int]) -> dict[int, torch.Tensor]:
        """``{seed: states [n_layers + 1, n, d]}`` of ``lang``'s probe sentences, cached per seed."""
        config = self.config
        keys = {
            s: self.cache_key(loaded, "probe_states", lang=lang, seed=s, max_length=config.max_length) for s in seeds
        }
        found = {s: self.cache.load(k) for s, k in keys.items()}
        missing = [s for s, v in found.items() if v is None]
        if missing:
            lm = self.weights_of(loaded)
            fresh, _ = hidden_states_at_seeds(
                lm, self.data.texts("probe", lang), missing, batch_size=self.batch_size(lm),
                max_length=config.max_length, progress=config.progress, desc=f"probe {lang} {loaded.label}",
            )
            for s, states in zip(missing, fresh):
                states = states.clone()  # its own storage: a saved view would carry every seed
                self.cache.store(keys[s], states)
                found[s] = states
        return found

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
        windows (the profile's window, else the config's: ``harness.perplexity._default_window``), for
        measurements repeated many times (LF-3's matrix has L² + 3L of them).
        """
        loaded = self.loaded_model(revision)
        profile = self.plan.profile
        window = profile.perplexity_window if profile else _default_window(getattr(loaded.module, "config", None))
        texts = self.data.texts("perplexity", lang)
        if max_windows is not None and window is not None:
            texts = _prefix_with_tokens(loaded.tokenizer, texts, max_windows * window)
        params = {} if max_windows is None or window is None else {"max_windows": max_windows}
        key = self.cache_key(loaded, "perplexity", lang=lang, zeroed=units_digest(zeroed), window=window, **params)
        intervention = None if zeroed is None or len(zeroed) == 0 else Intervention(zeroed, scale=0.0)
        desc = f"perplexity {lang} {loaded.label}" + ("" if intervention is None else f" ({len(zeroed)} zeroed)")

        def compute() -> Perplexity:
            lm = self.weights_of(loaded)
            batch = self.perplexity_batch(lm, window or _default_window(lm.module.config))
            return perplexity(lm, texts, window=window, interventions=intervention, batch_size=batch,
                              progress=self.config.progress, desc=desc)

        return self.cache.get_or_compute(key, compute)

    def loglikelihoods(
        self, revision: str | None, contexts: Sequence[str], continuations: Sequence[str]
    ) -> torch.Tensor:
        """Summed log-probability of each continuation after its context: ``[n]`` float64 (cached).

        Multiple-choice scoring as lm-evaluation-harness does it (LF App. B, XStoryCloze):
        context and continuation are tokenized separately and concatenated, and only the
        continuation's tokens are scored. Put any separating space at the continuation's start.
        """
        loaded = self.loaded_model(revision)
        if len(contexts) != len(continuations):
            raise ValueError(f"{len(contexts)} contexts but {len(continuations)} continuations")
        pairs = json.dumps([list(contexts), list(continuations)], ensure_ascii=False)
        digest = hashlib.sha256(pairs.encode()).hexdigest()
        profile = self.plan.profile
        window = profile.perplexity_window if profile else 2048
        key = self.cache_key(loaded, "loglikelihood", pairs=digest[:32], n=len(contexts), window=window)
        return self.cache.get_or_compute(
            key,
            lambda: continuation_loglikelihoods(self.weights_of(loaded), contexts, continuations, max_tokens=window),
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
        loaded = self.loaded_model(revision)
        value_digest = "none" if values is None else hashlib.sha256(
            torch.as_tensor(values, dtype=torch.float32).numpy().tobytes()
        ).hexdigest()[:16]
        key = self.cache_key(
            loaded, "generations", units=units_digest(units), values=value_digest, seeds=list(seeds), config=str(config)
        )
        intervention = None if units is None else Intervention(units, values=values)
        desc = f"generate {loaded.label}" + ("" if units is None else f" ({len(units)} units steered)")

        def compute() -> list[str]:
            lm = self.weights_of(loaded)
            return generate(lm, seeds, config=config, interventions=intervention, batch_size=self.batch_size(lm),
                            progress=self.config.progress, desc=desc)

        return self.cache.get_or_compute(key, compute)

    # ------------------------------------------------------------------ bookkeeping
    def top_k(self) -> int:
        """k of the top-k experts: ``--top-k``, else RF's fraction (500 of 98,304) of the model's units."""
        if self.config.k:
            return self.config.k
        return default_top_k(self.loaded_model(self.plan.revision).site.n_units)

    def provenance(self) -> dict:
        """See :func:`harness.provenance.run_provenance`."""
        from harness.provenance import run_provenance

        return run_provenance(self)

    def with_model(self, model: str, *, languages: Sequence[str] | None = None) -> "Measurements":
        """A Measurements for another model of a family (scale claims), sharing the cache.

        ``languages`` fixes the evaluation languages (e.g. this run's), so that every model of a
        family is measured on the same language set.
        """
        langs = tuple(languages) if languages else self.config.languages
        config = replace(self.config, model=model, revision=None, checkpoints=None, early=None, mid=None, late=None,
                         languages=langs)
        other = Measurements(config, cache=self.cache)
        other.loads = self.loads  # one count of the run's model loads, the family's included
        return other


def _prefix_with_tokens(tokenizer, texts: Sequence[str], n_tokens: int) -> list[str]:
    """The shortest prefix of ``texts`` whose blank-line-joined tokens number at least ``n_tokens``."""
    total = 0
    for i, text in enumerate(texts):
        total += len(tokenizer("\n\n" + text if i else text, add_special_tokens=False)["input_ids"])
        if total >= n_tokens:
            return list(texts[: i + 1])
    return list(texts)
