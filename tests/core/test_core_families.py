"""The families whose sites are found by structure, with the BOS handling of each family's tokenizer.

Each tiny model gets a tokenizer that behaves as its family's does by default: Gemma-2's puts
``<bos>`` before every text; Pythia's (GPT-NeoX), OLMo-2's and Falcon's put nothing before a text
and have a BOS/EOS token to prompt from; Qwen3's has no BOS token at all. Extraction must run each
text after exactly the family's prefix and pool only the text's own tokens; generation starts from
the BOS, else the EOS. (Site, hooks, pooling against brute force and interventions of every family
are the ``arch``-parametrised tests of the other core modules.)
"""

from __future__ import annotations

import pytest
import torch
from tiny_models import SENTENCES, build_model, build_tokenizer, neurons_by_definition, save_model

from harness.extract import pooled_responses
from harness.hooks import Intervention, intervene

ATOL = 1e-5
#: family → (its tokenizer adds a BOS before every text, it has a BOS token)
FAMILY_TOKENIZERS = {
    "gpt_neox": (False, True),
    "olmo2": (False, True),
    "qwen3": (False, False),
    "gemma2": (True, True),
    "falcon": (False, True),
}


@pytest.fixture(scope="module", params=sorted(FAMILY_TOKENIZERS))
def family_lm(request, tmp_path_factory):
    from tokenizers import processors

    from harness.loading import load_model

    arch = request.param
    adds_bos, has_bos = FAMILY_TOKENIZERS[arch]
    tokenizer = build_tokenizer(tmp_path_factory.mktemp(f"{arch}-tokenizer"))
    if adds_bos:
        bos = tokenizer.bos_token_id
        tokenizer._tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", bos)])
    if not has_bos:
        tokenizer.bos_token = None
    path = save_model(build_model(arch, tokenizer), tokenizer, tmp_path_factory.mktemp(arch))
    return arch, load_model(str(path), device="cpu")


def test_the_prefix_is_the_familys_bos_or_nothing(family_lm):
    arch, lm = family_lm
    adds_bos, has_bos = FAMILY_TOKENIZERS[arch]
    assert lm.special_prefix == ((lm.tokenizer.bos_token_id,) if adds_bos else ())
    assert (lm.tokenizer.bos_token_id is not None) == has_bos
    expected_prompt = lm.tokenizer.bos_token_id if has_bos else lm.tokenizer.eos_token_id
    assert lm.prompt_token_id() == expected_prompt


def test_pooling_runs_after_the_familys_prefix_and_leaves_it_out(family_lm):
    arch, lm = family_lm
    prefix = list(lm.special_prefix)
    got = pooled_responses(lm, SENTENCES[:6], batch_size=4, progress=False)
    for row, text in enumerate(SENTENCES[:6]):
        ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
        full = neurons_by_definition(lm.module, arch, prefix + ids)[:, len(prefix):]
        torch.testing.assert_close(got.max[row], full.amax(dim=1).reshape(-1), atol=ATOL, rtol=0)
        torch.testing.assert_close(got.mean[row], full.mean(dim=1).reshape(-1), atol=ATOL, rtol=0)
        assert int(got.n_tokens[row]) == len(ids)


def test_zeroing_the_site_changes_the_output_and_leaves_no_hook(family_lm):
    from tiny_models import all_hooks

    arch, lm = family_lm
    ids = torch.tensor([lm.tokenizer(SENTENCES[0])["input_ids"]])
    before = all_hooks(lm.module)
    with torch.inference_mode():
        plain = lm.module(input_ids=ids).logits
        units = torch.arange(lm.site.units_per_layer)  # every unit of layer 0
        with intervene(lm.site, Intervention(units, scale=0.0)):
            zeroed = lm.module(input_ids=ids).logits
        again = lm.module(input_ids=ids).logits
    assert not torch.allclose(plain, zeroed, atol=1e-4)
    torch.testing.assert_close(plain, again, atol=0, rtol=0)
    assert all_hooks(lm.module) == before
