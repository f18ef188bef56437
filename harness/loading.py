"""Model loading: names to sources, one code path for the hub, local folders and the toy.

``load_model("toy", "step256")``, ``load_model("bloom-560m", "global_step10000")``,
``load_model("/path/to/run", "checkpoint-500")`` and ``load_model("org/any-model")`` all end in
the same ``from_pretrained`` call on a resolved :class:`Source`. Every loaded model carries the
identity of its weights (:func:`weights_digest`: the SHA-256 of its weight files, known without
loading them) and is checked for non-finite values.
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
            "neuron_site": self.site.provenance(),  # where the neurons are read, and the rule that found it
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

    A profiled checkpoint suite takes its own revision names and their short forms (``step1000``
    → OLMo's ``step1000-tokens4B``; an unpublished Pythia step raises ``RevisionNameError``).

    An initialisation revision (``init``, ``init-seed<N>``) resolves to the final model's source
    (its config and tokenizer) with ``init_seed`` set; no weights are read from it.
    """
    seed = init_seed(revision)
    if seed is not None:
        return replace(resolve_source(name, None, toy_seed=toy_seed), init_seed=seed)
    if name in ("toy", "toy-s"):  # the toy family (harness.toy.TOY_FAMILY)
        from harness.toy import ensure_toy_size

        return _resolve_local_run(Path(ensure_toy_size(name, seed=toy_seed)), revision, name)
    profile = profile_for(name)
    if profile is not None:
        revision = profile.native_revision(revision)  # a suite's short form (Pythia, OLMo): its own name
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


#: the files ``from_pretrained`` reads weights from: one file or numbered shards (safetensors preferred)
_WEIGHT_FILE = re.compile(r"^(?:model|pytorch_model)(?:-\d+-of-\d+)?\.(?:safetensors|bin)$")


def weight_files(folder: Path) -> list[Path]:
    """The weight files ``from_pretrained`` reads in ``folder``: its safetensors files if any, else its
    ``.bin`` files (never a Trainer's ``training_args.bin``, ``optimizer.pt`` …), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _WEIGHT_FILE.match(p.name)]
    safetensors = [p for p in found if p.suffix == ".safetensors"]
    return sorted(safetensors or found)


def _weights_folder(source: Source) -> Path | None:
    """The folder of ``source``'s files: the local folder, or the hub cache's snapshot of its revision
    (the commit that the cached branch or tag points to), None when the hub cache holds none."""
    if source.local:
        return Path(source.weights)
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(source.weights, "config.json", revision=source.revision)
    return Path(config).parent if isinstance(config, str) else None


def weights_digest(source: Source) -> str | None:
    """The identity of a revision's weights, read from its files without loading them; None when unknown.

    SHA-256 over the name and SHA-256 of each weight file (:func:`weight_files`), streamed once and
    remembered by the file's stat (:func:`harness.cache.file_digest`); the hub cache names its
    files by that SHA-256 already (git LFS), so a hub checkpoint's identity costs no read, and a
    local copy of the same files has the same identity. An initialisation revision (``init-seed<N>``)
    is its config file, seed and the torch and transformers versions that draw the weights. None when
    the files are not on this machine yet (a hub revision not downloaded): load the model, then ask again.
    """
    from harness.cache import file_digest

    folder = _weights_folder(source)
    digest = hashlib.sha256()
    if source.init_seed is not None:
        config = folder / "config.json" if folder is not None else None
        if config is None or not config.is_file():
            return None
        import transformers

        digest.update(f"init-seed{source.init_seed}\0torch {torch.__version__}\0transformers {transformers.__version__}"
                      "\0".encode())
        digest.update(config.read_bytes())
        return digest.hexdigest()
    files = weight_files(folder) if folder is not None else []
    if not files:
        return None
    for path in files:
        digest.update(f"{path.name}\0{file_digest(path)}\n".encode())
    return digest.hexdigest()


def tensors_digest(model: torch.nn.Module) -> str:
    """SHA-256 over every parameter and buffer (name, dtype and bytes) of a model in memory: the identity
    of weights that :func:`weights_digest` cannot name from files (weights under other file names)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        data = tensor.detach()
        digest.update(name.encode())
        digest.update(str(data.dtype).encode())
        digest.update(data.cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def non_finite_weights(model: torch.nn.Module) -> list[str]:
    """Names of the parameters and buffers holding NaN or infinity."""
    return [name for name, tensor in model.state_dict().items()
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and the exceptions it was raised from (transformers wraps the hub's errors in OSError)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


#: the hub client's and HTTP libraries' names for "the hub could not be reached"
_UNREACHABLE = {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectError", "ConnectionError", "ConnectTimeout",
                "TimeoutException", "NetworkError", "ProxyError"}


def _cause_of(repo: str, revision: str | None, what: str, error: Exception) -> tuple[str, bool]:
    """``(why the {what} of repo at revision could not be loaded, whether downloading it would help)``."""
    chain = _causes(error)
    kinds = {cls.__name__ for e in chain for cls in type(e).__mro__}
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if Path(repo).expanduser().is_dir():
        return f"a file is missing or unreadable in the local folder {repo} ({message})", False
    if "RevisionNotFoundError" in kinds:
        return (f"the hub has no revision {revision!r} of {repo} (a branch, tag or commit id; BLOOM's intermediate "
                "checkpoints are the branches global_step<N>)"), False
    if "GatedRepoError" in kinds:
        return f"{repo} is gated: accept its terms on the hub and log in (hf auth login)", False
    if "RepositoryNotFoundError" in kinds:
        return f"the hub has no repository {repo} (or it is private: log in with hf auth login)", False
    if kinds & _UNREACHABLE or "couldn't connect" in message.lower():  # before EntryNotFound: a subclass of it
        note = _cached_note(repo, revision)
        return f"it is not in the local Hugging Face cache and the hub is not reachable{note}", True
    if "EntryNotFoundError" in kinds or "does not appear to have" in message:
        return f"{repo} has no {what} files ({message})", False
    return f"{type(error).__name__}: {message}", False


def _cached_note(repo: str, revision: str | None) -> str:
    """What the local hub cache holds of ``repo`` when the wanted revision is not there, else ''."""
    try:
        from huggingface_hub import constants, scan_cache_dir

        # the cache folder read now, not the default bound when huggingface_hub was first imported
        repos = scan_cache_dir(constants.HF_HUB_CACHE).repos
        cached = next((r for r in repos if r.repo_id == repo and r.repo_type == "model"), None)
    except Exception:  # no cache folder, or one the client cannot read: nothing to add
        return ""
    if cached is None:
        return ""
    refs = sorted({ref for rev in cached.revisions for ref in rev.refs})
    wanted = revision or "main"
    return (f"; the cache holds {repo} at {', '.join(refs) or 'unnamed commits'} but not at {wanted}, "
            "which may also not exist on the hub")


def _unavailable(repo: str, revision: str | None, what: str, error: Exception) -> ModelNotAvailableError:
    """One error that names the real cause: a file missing from a local folder, a revision or repository the
    hub does not have, a gated repository, a missing file, an unreachable hub (with what the cache holds),
    or any other error's own type and message."""
    where = f"{repo}" + (f" at revision {revision}" if revision else "")
    cause, download = _cause_of(repo, revision, what, error)
    hint = ""
    if download:
        hint = (f". Download it on a connected machine (hf download {repo}"
                + (f" --revision {revision}" if revision else "")
                + ") or pass a local folder saved with save_pretrained.")
    elif not Path(repo).expanduser().is_dir():
        hint = ". Or pass a local folder saved with save_pretrained."
    return ModelNotAvailableError(f"cannot load the {what} of {where}: {cause}{hint}")


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


def _placement(device_map: str | None, max_memory: dict | tuple | None) -> dict:
    """The ``from_pretrained`` keywords of a model spread over devices (none without ``device_map``)."""
    if device_map is None:
        if max_memory:
            raise ValueError("max_memory needs a device_map (e.g. device_map='auto')")
        return {}
    return {"device_map": device_map, **({"max_memory": dict(max_memory)} if max_memory else {})}


def _dispatched(model: torch.nn.Module, *, device_map: str, max_memory: dict | None = None) -> torch.nn.Module:
    """An initialised model (built in memory, not read from files) spread over devices as ``device_map`` says."""
    from accelerate import dispatch_model, infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    no_split = list(getattr(model, "_no_split_modules", None) or [])
    if device_map != "sequential":
        max_memory = get_balanced_memory(model, max_memory=max_memory, no_split_module_classes=no_split,
                                         low_zero=device_map == "balanced_low_0")
    placement = infer_auto_device_map(model, max_memory=max_memory, no_split_module_classes=no_split)
    return dispatch_model(model, device_map=placement)


def load_model(
    name: str = "toy",
    revision: str | None = None,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    toy_seed: int = 0,
    device_map: str | None = None,
    max_memory: dict | tuple | None = None,
) -> LoadedModel:
    """Load a causal LM and its tokenizer in eval mode, with its neuron site and weights hash.

    Refuses known-bad checkpoints and checkpoints with non-finite weights (BadCheckpointError);
    a model neither cached nor reachable gives one ModelNotAvailableError saying what to do.
    ``revision="init-seed<N>"`` (or ``"init"``, seed 0) gives the same architecture at
    initialisation: the model's config built with ``from_config`` under ``torch.manual_seed(N)``,
    with the model's tokenizer (the untrained control of ``harness.analyses.untrained``).

    ``device_map`` (``"auto"``, ``"balanced"``, …) spreads a model too large for one device over the GPUs
    and the CPU as ``from_pretrained(device_map=…, max_memory=…)`` does (``max_memory``: ``{device: size}``
    or its pairs, e.g. ``{0: "20GiB", "cpu": "60GiB"}``); the model's device is then that of its input
    embeddings, where the inputs go. Without it the model is moved to ``device`` whole.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_source(name, revision, toy_seed=toy_seed)
    device = _auto_device(device)
    torch_dtype = _auto_dtype(dtype, device)
    placement = _placement(device_map, max_memory)
    if source.init_seed is not None:
        model = _initialised(source, torch_dtype)
        if placement:
            model = _dispatched(model, **placement)
    else:
        try:
            model = AutoModelForCausalLM.from_pretrained(source.weights, revision=source.revision, dtype=torch_dtype,
                                                         **placement)
        except (OSError, ValueError) as error:
            raise _unavailable(source.weights, source.revision, "weights", error) from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.tokenizer, revision=source.tokenizer_revision)
    except (OSError, ValueError) as error:
        raise _unavailable(source.tokenizer, source.tokenizer_revision, "tokenizer", error) from error
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    model.eval()
    if placement:
        device = model.get_input_embeddings().weight.device  # the inputs go where the first layer is
    else:
        model.to(device)
    site = neuron_site(model)
    label = f"{name}@{revision}" if revision else name
    non_finite = non_finite_weights(model)
    weights_hash = weights_digest(source) or tensors_digest(model)
    if non_finite:
        raise BadCheckpointError(f"{label} is refused: non-finite weights in {', '.join(non_finite[:5])}")
    return LoadedModel(
        name, revision, source, model, tokenizer, site, weights_hash, device, torch_dtype, profile_for(name)
    )


def saved_step_zero(name: str, *, toy_seed: int = 0) -> str | None:
    """The folder name of a saved step-0 checkpoint of ``name`` (the toy, a local training run), else None.

    Hub models are not searched (BLOOM's intermediate repositories hold no step 0).
    """
    if name in ("toy", "toy-s"):
        from harness.toy import ensure_toy_size

        root = Path(ensure_toy_size(name, seed=toy_seed))
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
