"""``pytest claims/ --model RUN`` end to end on tiny saved OLMo-2, Qwen3, Gemma-2 and Falcon models.

Each family runs a training-run folder of three checkpoints (``checkpoint-0`` … ``checkpoint-200``, random
weights from different seeds, ``save_pretrained``; the folder is the series: step 0 untrained, early = mid
= 100, late 200) through a different measurement path, so that together they cover every kind of
measurement the claims make (GPT-NeoX runs RF-2a and LF-4 in tests/test_suite_run_folder.py):

- OLMo-2: RF-1a, language-ID probes on hidden states at random positions (``hidden_states_at_seeds``);
- Qwen3: LF-3a, mean-pooled responses → key regions → perplexity with key regions zeroed (interventions);
- Gemma-2: LF-8, continuation log-likelihoods (the Bible cloze), with the tokenizer's BOS (Gemma adds one);
- Falcon: RF-4a, max-pooled concept responses → expert AP → generation steered by clamped units.

Each run: one subprocess with one intra-op thread, a few languages and ``--generation-seeds 2``; the
claim's record exists, is not skipped, carries the family's neuron site in the provenance, and the output
holds no traceback. A claim may come out either way on random weights (no expectations exist for these
folders, so a claim that does not hold fails the run with exit code 1): only that it ran is asserted.
CPU time (user + system, recorded per run as the test's ``cpu_s`` property), measured 2026-11-29 on the
shared 2-core machine (load average 4.4–5.7): the four subprocesses 61 s (OLMo-2 9.6, Qwen3 15.0, Gemma-2
19.5, Falcon 17.3), the whole file 72 s with building the tokenizer and the twelve checkpoints (wall 1 min 43 s).
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "core"))

from claims_process import run_claims_offline  # noqa: E402
from tiny_models import build_model, build_tokenizer, save_model  # noqa: E402

STEPS = (0, 100, 200)
# family: (claim test selected with -k, claim id, languages, the site the report must name)
RUNS = {
    "olmo2": ("rf_1a", "RF-1a", ("en", "es", "ru", "zh"), "input of model.layers[l].mlp.down_proj"),
    "qwen3": ("lf3a", "LF-3a", ("en", "es", "ru", "zh", "ar", "hi"), "input of model.layers[l].mlp.down_proj"),
    "gemma2": ("lf8", "LF-8", ("en", "es", "fr"), "input of model.layers[l].mlp.down_proj"),
    "falcon": ("rf_4a", "RF-4a", ("en", "es", "fr"), "output of transformer.h[l].mlp.act"),
}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """One tokenizer for every family, trained on the concept pool of the languages used (short verses)."""
    from harness.data import load_eval_data

    data = load_eval_data()
    languages = sorted({lang for _k, _id, langs, _site in RUNS.values() for lang in langs})
    texts = [text for lang in languages for text in data.texts("concepts", lang)]
    return build_tokenizer(tmp_path_factory.mktemp("family-tokenizer"), vocab_size=2000, texts=texts)


def _run_folder(root: Path, arch: str, tokenizer) -> Path:
    for seed, step in enumerate(STEPS):
        save_model(build_model(arch, tokenizer, seed=seed), tokenizer, root / f"checkpoint-{step}")
    return root


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.parametrize("arch", list(RUNS))
def test_a_claim_runs_end_to_end_on_a_tiny_saved_model_of_the_family(arch, tokenizer, tmp_path, request):
    selector, claim_id, languages, site = RUNS[arch]
    run = _run_folder(tmp_path / f"{arch}-run", arch, tokenizer)
    before = _children_cpu()
    result = run_claims_offline(run, tmp_path / "reports", "-k", selector, "--languages", ",".join(languages),
                         "--generation-seeds", "2")
    request.node.user_properties.append(("cpu_s", round(_children_cpu() - before, 1)))
    output = result.stdout + result.stderr
    assert result.returncode in (0, 1), output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    payload = json.loads((tmp_path / "reports" / "claims.json").read_text())
    records = {r["id"]: r for r in payload["claims"]}
    assert set(records) == {claim_id}, sorted(records)
    record = records[claim_id]
    assert record["verdict"] in ("supported", "contradicted", "inconclusive"), (record["verdict"], record["reason"])
    assert record["checkpoints"] and set(record["checkpoints"]) <= {f"checkpoint-{s}" for s in STEPS}
    provenance = payload["provenance"]
    assert provenance["neuron_site"]["site"] == site, provenance["neuron_site"]
    assert provenance["languages"] == list(languages)
