"""Builders shared by the core tests: tiny models of every supported architecture.

The families are those of ``harness.sites.SUPPORTED_ARCHITECTURES``: the eight with hand-written
sites before sites were found by structure, and GPT-NeoX (Pythia), OLMo, OLMo-2, Qwen3, Gemma-2,
Falcon, GPT-J and StableLM, whose module names were read from transformers 5.24.

Hidden size 32, 2 layers, random weights from a fixed seed, and a tiny byte-level BPE tokenizer
trained on a few multilingual sentences (``<unk>``, ``<s>``, ``</s>``, ``<pad>``).
"""

from __future__ import annotations

from pathlib import Path

import torch

ARCHITECTURES = (
    "bloom", "llama", "mistral", "qwen2", "gemma", "gpt2", "opt", "xglm",
    "gpt_neox", "olmo", "olmo2", "qwen3", "gemma2", "falcon", "gptj", "stablelm",
)
#: families whose MLP is ``down_proj(act(gate_proj(x)) * up_proj(x))``
GATED = ("llama", "mistral", "qwen2", "gemma", "olmo", "olmo2", "qwen3", "gemma2", "stablelm")

# Sentences of several scripts and lengths (the length spread makes padding matter).
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Le renard brun saute par-dessus le chien paresseux, puis il s'endort sous un arbre.",
    "El zorro marrón salta.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "Con cáo nâu nhanh nhẹn nhảy qua con chó lười và chạy vào rừng sâu.",
    "الثعلب البني السريع يقفز فوق الكلب الكسول",
    "Mbweha wa kahawia anaruka juu ya mbwa mvivu.",
    "O rato roeu a roupa do rei de Roma.",
    "Hi.",
    "In the beginning was the Word, and the Word was with God, and the Word was God.",
    "भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
    "Rubah cokelat melompati anjing yang malas.",
]

_TRAINING_TEXT = SENTENCES + [
    "Au commencement était la Parole, et la Parole était avec Dieu.",
    "En el principio era el Verbo, y el Verbo era con Dios.",
    "太初有道，道与神同在，道就是神。",
    "Hapo mwanzo kulikuwako Neno, naye Neno alikuwako kwa Mungu.",
]

HIDDEN = 32
N_LAYERS = 2
INIT = 0.2  # larger than the default 0.02 so that activations and logits vary visibly


def _config_kwargs(arch: str, vocab: int) -> dict:
    common_gated = dict(
        hidden_size=HIDDEN,
        intermediate_size=48,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        initializer_range=INIT,
    )
    return {
        "bloom": dict(hidden_size=HIDDEN, n_layer=N_LAYERS, n_head=4, initializer_range=INIT),
        "llama": common_gated,
        "mistral": dict(common_gated, sliding_window=None),
        "qwen2": common_gated,
        "gemma": dict(common_gated, num_key_value_heads=1, head_dim=8),
        "gpt2": dict(n_embd=HIDDEN, n_layer=N_LAYERS, n_head=4, n_positions=128, initializer_range=INIT),
        "opt": dict(
            hidden_size=HIDDEN,
            ffn_dim=64,
            num_hidden_layers=N_LAYERS,
            num_attention_heads=4,
            max_position_embeddings=128,
            word_embed_proj_dim=HIDDEN,
            init_std=INIT,
        ),
        "xglm": dict(
            d_model=HIDDEN, ffn_dim=64, num_layers=N_LAYERS, attention_heads=4, max_position_embeddings=128,
            init_std=INIT,
        ),
        "gpt_neox": dict(
            hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=N_LAYERS, num_attention_heads=4,
            max_position_embeddings=128, initializer_range=INIT,
        ),
        "olmo": common_gated,
        "olmo2": common_gated,
        "qwen3": dict(common_gated, head_dim=8),
        "gemma2": dict(common_gated, num_key_value_heads=1, head_dim=8, sliding_window=16),
        "falcon": dict(hidden_size=HIDDEN, num_hidden_layers=N_LAYERS, num_attention_heads=4, initializer_range=INIT),
        "gptj": dict(n_embd=HIDDEN, n_layer=N_LAYERS, n_head=4, n_positions=128, rotary_dim=4, initializer_range=INIT),
        "stablelm": common_gated,
    }[arch] | dict(vocab_size=vocab)


def build_tokenizer(path: Path, vocab_size: int = 300, texts: list[str] | None = None):
    """Train a byte-level BPE on the sentences above (or on ``texts``) and save it as a PreTrainedTokenizerFast.

    A larger vocabulary trained on the evaluation texts makes their token sequences short, which
    is what makes a whole claim run on tiny models cheap (tests/test_suite_run_folder.py).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts if texts is not None else _TRAINING_TEXT * 3, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    fast.save_pretrained(path)
    return fast


def build_model(arch: str, tokenizer, *, seed: int = 0, **overrides):
    """A randomly initialised causal LM of ``arch`` (seeded), in eval mode."""
    from transformers import AutoConfig, AutoModelForCausalLM

    kwargs = _config_kwargs(arch, len(tokenizer)) | overrides
    config = AutoConfig.for_model(
        arch,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **kwargs,
    )
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config).eval()


def save_model(model, tokenizer, path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path



def random_bloom(config, seed: int = 0) -> torch.nn.Module:
    """A BLOOM of ``config`` with BLOOM-like random weights (uniform ±0.035, std ≈ 0.02; LayerNorm weights 1,
    biases 0), initialised in one pass on the CPU (``from_config`` would initialise twice), tied, in eval mode."""
    from transformers import BloomForCausalLM

    with torch.device("meta"):
        model = BloomForCausalLM(config)
    model = model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() > 1:
                param.uniform_(-0.035, 0.035, generator=generator)  # std ≈ 0.02, BLOOM's init
            else:
                is_norm_weight = ("layernorm" in name or "ln_f" in name) and name.endswith("weight")
                param.fill_(1.0 if is_norm_weight else 0.0)
    model.tie_weights()
    return model.eval()


def save_gpt_neox_run(root: Path, languages, steps) -> Path:
    """A run folder ``root/checkpoint-<step>`` of GPT-NeoX models, one seed per step; the tokenizer is trained on
    the concept pool of ``languages`` (verses stay short). Returns ``root``."""
    from harness.data import load_eval_data

    data = load_eval_data()
    texts = [text for lang in languages for text in data.texts("concepts", lang)]
    tokenizer = build_tokenizer(root / "tokenizer", vocab_size=2000, texts=texts)
    for seed, step in enumerate(steps):
        save_model(build_model("gpt_neox", tokenizer, seed=seed), tokenizer, root / f"checkpoint-{step}")
    return root


def all_hooks(model: torch.nn.Module) -> dict[tuple[str, str], tuple]:
    """Every forward (pre-)hook of every submodule: {(module name, kind): (hook ids...)}."""
    found = {}
    for name, module in model.named_modules():
        kinds = ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs")
        for kind in kinds:
            table = getattr(module, kind, None)
            if table:
                found[(name, kind)] = tuple(table.keys())
    return found


# --- MLP neurons computed from their definition (CLAIMS.md "MLP neuron"), independently of harness.sites ---

def _tanh_gelu(x):
    return torch.nn.functional.gelu(x, approximate="tanh")


_ACTIVATIONS = {
    "silu": torch.nn.functional.silu,
    "gelu": torch.nn.functional.gelu,
    "gelu_new": _tanh_gelu,
    "gelu_pytorch_tanh": _tanh_gelu,
    "relu": torch.nn.functional.relu,
}


def mlp_blocks(model, arch: str):
    """Per layer: (a module, neurons(module input, module output) computed by definition).

    The neurons are computed from the MLP's input with the MLP's own weights, or (OPT, XGLM) from
    the output of ``fc1``; they are never read from the module the harness hooks.
    """
    cfg = model.config
    if arch == "bloom":
        return [(b.mlp, lambda x, _o, m=b.mlp: _tanh_gelu(m.dense_h_to_4h(x))) for b in model.transformer.h]
    if arch in GATED:
        act = _ACTIVATIONS[getattr(cfg, "hidden_activation", None) or cfg.hidden_act]
        return [(b.mlp, lambda x, _o, m=b.mlp: act(m.gate_proj(x)) * m.up_proj(x)) for b in model.model.layers]
    if arch in ("gpt_neox", "falcon"):
        act = _ACTIVATIONS[cfg.hidden_act if arch == "gpt_neox" else cfg.activation]
        layers = model.gpt_neox.layers if arch == "gpt_neox" else model.transformer.h
        return [(b.mlp, lambda x, _o, m=b.mlp: act(m.dense_h_to_4h(x))) for b in layers]
    if arch == "gptj":
        act = _ACTIVATIONS[cfg.activation_function]
        return [(b.mlp, lambda x, _o, m=b.mlp: act(m.fc_in(x))) for b in model.transformer.h]
    if arch == "gpt2":
        act = _ACTIVATIONS[cfg.activation_function]
        return [(b.mlp, lambda x, _o, m=b.mlp: act(m.c_fc(x))) for b in model.transformer.h]
    if arch in ("opt", "xglm"):
        act = _ACTIVATIONS[cfg.activation_function]
        layers = model.model.decoder.layers if arch == "opt" else model.model.layers
        return [(b.fc1, lambda _x, out: act(out)) for b in layers]
    raise KeyError(arch)


def down_projections(model, arch: str):
    """Per layer, the linear map that reads the MLP neurons (its input is the neuron vector)."""
    if arch == "bloom":
        return [b.mlp.dense_4h_to_h for b in model.transformer.h]
    if arch in GATED:
        return [b.mlp.down_proj for b in model.model.layers]
    if arch == "gpt_neox":
        return [b.mlp.dense_4h_to_h for b in model.gpt_neox.layers]
    if arch == "falcon":
        return [b.mlp.dense_4h_to_h for b in model.transformer.h]
    if arch == "gptj":
        return [b.mlp.fc_out for b in model.transformer.h]
    if arch == "gpt2":
        return [b.mlp.c_proj for b in model.transformer.h]
    if arch == "opt":
        return [b.fc2 for b in model.model.decoder.layers]
    if arch == "xglm":
        return [b.fc2 for b in model.model.layers]
    raise KeyError(arch)


def down_weight_columns(proj, units):
    """A view-able index into ``proj``'s weight selecting the columns read from ``units``."""
    # nn.Linear stores [out, in]; GPT-2's Conv1D stores [in, out].
    if type(proj).__name__ == "Conv1D":
        return (units, slice(None))
    return (slice(None), units)


@torch.inference_mode()
def neurons_by_definition(model, arch: str, input_ids: list[int]) -> torch.Tensor:
    """Run one sentence alone; return its neurons [layers, tokens, units] from the definition."""
    captured = {}
    handles = []
    for layer, (module, neurons) in enumerate(mlp_blocks(model, arch)):
        def hook(_m, args, output, layer=layer, neurons=neurons):
            # OPT flattens [batch, tokens] before its MLP; one sentence is one batch row
            captured[layer] = neurons(args[0], output).reshape(len(input_ids), -1).float()
        handles.append(module.register_forward_hook(hook))
    try:
        model(input_ids=torch.tensor([input_ids]), use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return torch.stack([captured[layer] for layer in range(len(captured))])
