"""Model loading: names to sources, one code path for the hub, local folders and the toy.

``load_model("toy", "step256")``, ``load_model("bloom-560m", "global_step10000")``,
``load_model("/path/to/run", "checkpoint-500")`` and ``load_model("org/any-model")`` all end in
the same ``from_pretrained`` call on a resolved :class:`Source`. Every loaded model carries the
hash of its weights, computed in the same pass that checks them for non-finite values.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import torch

from harness.errors import BadCheckpointError, ModelNotAvailableError
from harness.profiles import ModelProfile, profile_for
from harness.revisions import step_of
from harness.sites import NeuronSite, neuron_site

#: ``init`` or ``init-seed<N>``: the model's architecture at initialisation (``from_config`` under a seed)
_INIT_REVISION = re.compile(r"^init(?:-seed(\d+))?$")


def init_seed(revision: str | None) -> int | None:
    """The seed of an initialisation revision (``init`` = ``init-seed0``, ``init-seed7``), else None.

    >>> init_seed("init"), init_seed("init-seed7"), init_seed("step0"), init_seed(None)
    (0, 7, None, None)
    """
    match = _INIT_REVISION.match(revision or "")
    return None if match is None else int(match.group(1) or 0)


def init_revision(seed: int = 0) -> str:
    """The revision name of the model's architecture initialised under ``seed`` (see :func:`load_model`)."""
    return f"init-seed{int(seed)}"


@dataclass(frozen=True)
class Source:
    """Where weights and tokenizer come from. ``weights`` is a hub id or a local folder."""

    weights: str
    revision: str | None
    tokenizer: str
    tokenizer_revision: str | None
    local: bool
    init_seed: int | None = None  # not None: build the config of ``weights`` at initialisation under this seed


@dataclass
class LoadedModel:
    name: str
    revision: str | None
    source: Source
    module: torch.nn.Module  # the torch module (the model by name is `name`)
    tokenizer: object
    site: NeuronSite
    weights_hash: str
    device: torch.device
    dtype: torch.dtype
    profile: ModelProfile | None

    @property
    def label(self) -> str:
        return f"{self.name}@{self.revision}" if self.revision else self.name

    @cached_property
    def special_prefix(self) -> tuple[int, ...]:
        """Token ids the tokenizer puts before every text by default, e.g. LLaMA's ``<s>``,
        Gemma's ``<bos>``, OPT's and XGLM's ``</s>``; empty for BLOOM, GPT-2 and Qwen2.

        Extraction runs every text after this prefix, as the model saw text in training (LLaMA-type
        models without their BOS give far-off activations on the first tokens), and pools and
        probes only the text's own tokens. Suffixes (an EOS appended) are not used.
        """
        plain = self.tokenizer("a", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        cut = len(full) - len(plain)
        return tuple(int(t) for t in full[:cut]) if cut > 0 and full[cut:] == plain else ()

    def prompt_token_id(self) -> int:
        """The token a generation starts from: ``</s>`` for BLOOM tokenizers (which add no BOS)."""
        tok = self.tokenizer
        if self.site.architecture == "bloom" or tok.bos_token_id is None:
            if tok.eos_token_id is None:
                raise ValueError(f"{self.label}: tokenizer has neither a BOS nor an EOS token to prompt with")
            return int(tok.eos_token_id)
        return int(tok.bos_token_id)

    def provenance(self) -> dict:
        return {
            "model": self.name,
            "revision": self.revision,
            "source": self.source.weights,
            "weights_sha256": self.weights_hash,
            **({"initialised_with_seed": self.source.init_seed} if self.source.init_seed is not None else {}),
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "architecture": self.site.architecture,
            "n_layers": self.site.n_layers,
            "units_per_layer": self.site.units_per_layer,
        }


def checkpoint_dirs(run_dir: Path) -> dict[int, Path]:
    """Checkpoint subfolders of a training run: ``checkpoint-<N>``, ``step<N>`` or ``global_step<N>``."""
    found = {}
    for child in Path(run_dir).iterdir():
        step = step_of(child.name)
        if step is not None and child.is_dir() and (child / "config.json").exists():
            found[step] = child
    return dict(sorted(found.items()))


def _step_of(revision: str) -> int | None:
    """A checkpoint name's step, or a bare step number (``1000``)."""
    step = step_of(revision)
    return int(revision) if step is None and re.fullmatch(r"\d+", revision) else step


def _has_tokenizer(path: Path) -> bool:
    return any((path / f).exists() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))


def _resolve_local_run(run_dir: Path, revision: str | None, display: str) -> Source:
    checkpoints = checkpoint_dirs(run_dir)
    if (run_dir / "config.json").exists() and revision is None:
        return Source(str(run_dir), None, str(run_dir), None, True)
    if not checkpoints:
        raise ModelNotAvailableError(
            f"{display}: {run_dir} holds neither a saved model (config.json) nor checkpoint folders "
            "(checkpoint-<N>/, step<N>/)"
        )
    if revision is None:
        step = max(checkpoints)
    else:
        step = _step_of(revision)
        if step not in checkpoints:
            available = ", ".join(checkpoints[s].name for s in checkpoints)
            raise ModelNotAvailableError(f"{display}: no checkpoint {revision!r} in {run_dir}; available: {available}")
    ckpt = checkpoints[step]
    tokenizer_dir = next(
        (p for p in (ckpt, run_dir / "tokenizer", run_dir) if p.is_dir() and _has_tokenizer(p)), ckpt
    )
    return Source(str(ckpt), None, str(tokenizer_dir), None, True)


def resolve_source(name: str, revision: str | None = None, *, toy_seed: int = 0) -> Source:
    """Map a model name and revision to a :class:`Source` without loading anything.

    An initialisation revision (``init``, ``init-seed<N>``) resolves to the final model's source
    (its config and tokenizer) with ``init_seed`` set; no weights are read from it.
    """
    seed = init_seed(revision)
    if seed is not None:
        return replace(resolve_source(name, None, toy_seed=toy_seed), init_seed=seed)
    if name == "toy":
        from harness.toy import ensure_toy

        return _resolve_local_run(Path(ensure_toy(seed=toy_seed)), revision, "toy")
    profile = profile_for(name)
    if profile is not None:
        if revision is not None and profile.intermediate_repo and _step_of(revision) is not None:
            # "600000", "step600000" and "global_step600000" name one checkpoint: check the canonical name
            revision = f"global_step{_step_of(revision)}"
        if revision in profile.known_bad:
            raise BadCheckpointError(f"{name}@{revision} is refused: {profile.known_bad[revision]}")
        if revision and revision.startswith("global_step") and profile.intermediate_repo:
            return Source(profile.intermediate_repo, revision, profile.repo, None, False)
        return Source(profile.repo, revision, profile.repo, None, False)
    path = Path(name).expanduser()
    if path.is_dir():
        return _resolve_local_run(path, revision, name)
    if path.suffix or name.startswith((".", "/", "~")):
        raise ModelNotAvailableError(f"{name}: no such local folder")
    if "/" not in name:
        from harness.profiles import PROFILES

        raise ModelNotAvailableError(
            f"unknown model {name!r}: use 'toy', one of {', '.join(PROFILES)}, a hub id 'org/name', "
            "or a local folder saved with save_pretrained"
        )
    return Source(name, revision, name, None, False)


def _auto_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _auto_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
                "float16": torch.float16, "fp16": torch.float16}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}: use auto, float32, bfloat16 or float16") from None


def weights_digest(model: torch.nn.Module) -> tuple[str, list[str]]:
    """SHA-256 over every parameter and buffer (name and bytes), and the names holding NaN/inf."""
    digest = hashlib.sha256()
    non_finite = []
    for name, tensor in sorted(model.state_dict().items()):
        data = tensor.detach()
        if data.is_floating_point() and not torch.isfinite(data).all():
            non_finite.append(name)
        digest.update(name.encode())
        digest.update(str(data.dtype).encode())
        digest.update(data.cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest(), non_finite


def _unavailable(repo: str, revision: str | None, what: str, error: Exception) -> ModelNotAvailableError:
    where = f"{repo}" + (f" at revision {revision}" if revision else "")
    return ModelNotAvailableError(
        f"cannot load the {what} of {where}: it is not in the local Hugging Face cache and the hub is not "
        f"reachable ({type(error).__name__}). Download it on a connected machine "
        f"(hf download {repo}"
        + (f" --revision {revision}" if revision else "")
        + ") or pass a local folder saved with save_pretrained."
    )


def _initialised(source: Source, dtype: torch.dtype) -> torch.nn.Module:
    """The architecture of ``source`` at initialisation: ``from_config`` under ``torch.manual_seed``.

    Built in float32 on the CPU (the same weights on every machine), then cast to ``dtype``; the
    global RNG state is left as it was.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(source.weights, revision=source.revision)
    except (OSError, ValueError) as error:
        raise _unavailable(source.weights, source.revision, "config", error) from error
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(source.init_seed or 0))
        model = AutoModelForCausalLM.from_config(config)
    return model.to(dtype)


def load_model(
    name: str = "toy",
    revision: str | None = None,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    toy_seed: int = 0,
) -> LoadedModel:
    """Load a causal LM and its tokenizer in eval mode, with its neuron site and weights hash.

    Refuses known-bad checkpoints and checkpoints with non-finite weights (BadCheckpointError);
    a model neither cached nor reachable gives one ModelNotAvailableError saying what to do.
    ``revision="init-seed<N>"`` (or ``"init"``, seed 0) gives the same architecture at
    initialisation: the model's config built with ``from_config`` under ``torch.manual_seed(N)``,
    with the model's tokenizer (the untrained control of ``harness.analyses.untrained``).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_source(name, revision, toy_seed=toy_seed)
    device = _auto_device(device)
    torch_dtype = _auto_dtype(dtype, device)
    if source.init_seed is not None:
        model = _initialised(source, torch_dtype)
    else:
        try:
            model = AutoModelForCausalLM.from_pretrained(source.weights, revision=source.revision, dtype=torch_dtype)
        except (OSError, ValueError) as error:
            raise _unavailable(source.weights, source.revision, "weights", error) from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.tokenizer, revision=source.tokenizer_revision)
    except (OSError, ValueError) as error:
        raise _unavailable(source.tokenizer, source.tokenizer_revision, "tokenizer", error) from error
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    model.eval().to(device)
    site = neuron_site(model)
    weights_hash, non_finite = weights_digest(model)
    label = f"{name}@{revision}" if revision else name
    if non_finite:
        raise BadCheckpointError(f"{label} is refused: non-finite weights in {', '.join(non_finite[:5])}")
    return LoadedModel(
        name, revision, source, model, tokenizer, site, weights_hash, device, torch_dtype, profile_for(name)
    )


def saved_step_zero(name: str, *, toy_seed: int = 0) -> str | None:
    """The folder name of a saved step-0 checkpoint of ``name`` (the toy, a local training run), else None.

    Hub models are not searched (BLOOM's intermediate repositories hold no step 0).
    """
    if name == "toy":
        from harness.toy import ensure_toy

        root = Path(ensure_toy(seed=toy_seed))
    elif profile_for(name) is not None:
        return None
    else:
        root = Path(name).expanduser()
        if not root.is_dir():
            return None
    zero = checkpoint_dirs(root).get(0)
    return None if zero is None else zero.name


def check_distinct(checkpoints: dict[str, str]) -> None:
    """Refuse a series in which two revisions have identical weights: ``{revision: weights_hash}``."""
    seen: dict[str, str] = {}
    for revision, digest in checkpoints.items():
        if digest in seen:
            raise BadCheckpointError(
                f"checkpoint {revision} is refused: its weights are identical to {seen[digest]}, so a trend over "
                "both would count one model twice"
            )
        seen[digest] = revision
