"""The toy model's recipe: every number that decides what gets trained, and its identity.

The committed recipe is ``fixtures/toy-recipe.json``; :class:`ToyRecipe`'s defaults equal it (a
test checks). ``LINGUA_CLAIMS_TOY_STEPS`` overrides the number of steps of the committed recipe,
e.g. for quick runs; the result is a different recipe with its own id and cache entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.data import LANGUAGES
from harness.errors import HarnessError, UnknownLanguageError

RECIPE_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "toy-recipe.json"
STEPS_ENV = "LINGUA_CLAIMS_TOY_STEPS"

#: Bump when the training loop, the data layout or the checkpoint layout changes meaning: it is part
#: of every recipe id, so old cache entries are not reused.
FORMAT_VERSION = 1

# Token ids as in BLOOM's tokenizer; ``</s>`` doubles as BOS (generation is prompted with it).
SPECIAL_TOKENS: tuple[str, ...] = ("<unk>", "<s>", "</s>", "<pad>")
UNK_ID, RESERVED_S_ID, EOS_ID, PAD_ID = 0, 1, 2, 3


def _default_weights() -> tuple[float, ...]:
    # English ≈ 3× each other language, as in BLOOM's data.
    return tuple(3.0 if lang == "en" else 1.0 for lang in LANGUAGES)


@dataclass(frozen=True)
class ToyRecipe:
    """What the toy is trained on and how. ``seed`` is only the default training seed."""

    languages: tuple[str, ...] = LANGUAGES
    language_weights: tuple[float, ...] = field(default_factory=_default_weights)
    # tokenizer: byte-level BPE trained on a weighted sample of the training verses
    vocab_size: int = 4096
    tokenizer_fraction: float = 0.1
    # model: BloomForCausalLM, MLP width 4 * hidden_size per layer
    hidden_size: int = 128
    n_layer: int = 6
    n_head: int = 4
    # data: each sequence is </s> + (seq_len - 1) tokens of one language, starting at a verse
    seq_len: int = 64
    batch_size: int = 16
    # optimisation: AdamW, linear warm-up, cosine decay to min_lr_ratio * lr
    steps: int = 2048
    lr: float = 2e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    adam_eps: float = 1e-8
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    # execution: torch threads while training; train with torch's fused tanh-GELU kernel, which
    # computes BLOOM's GELU (same formula) in one pass instead of BloomGelu's five
    threads: int = 2
    fused_gelu: bool = True
    seed: int = 0
    format: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        unknown = [lang for lang in self.languages if lang not in LANGUAGES]
        if unknown:
            raise UnknownLanguageError(
                f"toy recipe: unknown language code(s) {', '.join(map(repr, unknown))}; known: {', '.join(LANGUAGES)}"
            )
        problems = []
        if not self.languages or len(set(self.languages)) != len(self.languages):
            problems.append("languages must be non-empty and distinct")
        if len(self.language_weights) != len(self.languages) or any(w <= 0 for w in self.language_weights):
            problems.append("language_weights needs one positive weight per language")
        if self.hidden_size % self.n_head:
            problems.append(f"hidden_size {self.hidden_size} is not divisible by n_head {self.n_head}")
        if self.vocab_size < 256 + len(SPECIAL_TOKENS) + 1:
            problems.append("vocab_size must exceed the 256 byte tokens and the specials")
        if self.seq_len < 2 or self.batch_size < 1 or self.steps < 1 or self.n_layer < 1:
            problems.append("seq_len >= 2, batch_size >= 1, steps >= 1 and n_layer >= 1 are required")
        if not 0 < self.tokenizer_fraction <= 1:
            problems.append("tokenizer_fraction must be in (0, 1]")
        if not 0 <= self.warmup_steps <= self.steps or not 0 <= self.min_lr_ratio <= 1:
            problems.append("warmup_steps must be in [0, steps] and min_lr_ratio in [0, 1]")
        if self.format != FORMAT_VERSION:
            problems.append(f"format {self.format} is not this code's format {FORMAT_VERSION}")
        if problems:
            raise HarnessError("toy recipe: " + "; ".join(problems))

    # ------------------------------------------------------------------ serialisation and identity

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["languages"] = list(self.languages)
        out["language_weights"] = list(self.language_weights)
        return out

    @classmethod
    def from_dict(cls, doc: dict) -> "ToyRecipe":
        known = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(doc) - known)
        if extra:
            raise HarnessError(f"toy recipe: unknown field(s) {', '.join(extra)}")
        doc = dict(doc)
        for name in ("languages", "language_weights"):
            if name in doc:
                doc[name] = tuple(doc[name])
        return cls(**doc)

    def identity(self, data_hash: str) -> str:
        """Short id of what is trained: every field but the seed, and the training data's hash."""
        doc = self.to_dict()
        doc.pop("seed")
        text = json.dumps(doc, sort_keys=True) + "\n" + data_hash
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def sampling_probabilities(self) -> dict[str, float]:
        total = sum(self.language_weights)
        return {lang: w / total for lang, w in zip(self.languages, self.language_weights)}

    def with_steps(self, steps: int) -> "ToyRecipe":
        """The same recipe for ``steps`` steps; the warm-up shrinks to at most a tenth of them."""
        return dataclasses.replace(self, steps=steps, warmup_steps=min(self.warmup_steps, steps // 10))


def load_recipe(path: Path | str | None = None, *, env_override: bool = True) -> ToyRecipe:
    """The committed recipe (``fixtures/toy-recipe.json``), with ``$LINGUA_CLAIMS_TOY_STEPS`` applied."""
    path = Path(path) if path is not None else RECIPE_FIXTURE
    if path.exists():
        try:
            recipe = ToyRecipe.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise HarnessError(f"toy recipe {path} is not valid: {exc}") from None
    elif path == RECIPE_FIXTURE:
        recipe = ToyRecipe()  # installed without the fixtures folder: the defaults are the same recipe
    else:
        raise HarnessError(f"toy recipe {path} does not exist")
    raw = os.environ.get(STEPS_ENV, "").strip() if env_override else ""
    if raw:
        try:
            steps = int(raw)
            if steps < 1:
                raise ValueError
        except ValueError:
            raise HarnessError(f"{STEPS_ENV}={raw!r} is not a positive integer") from None
        recipe = recipe.with_steps(steps)
    return recipe


def checkpoint_steps(steps: int) -> list[int]:
    """Step 0, every power of two up to ``steps``, and ``steps`` itself."""
    out = {0, steps}
    power = 1
    while power <= steps:
        out.add(power)
        power *= 2
    return sorted(out)
