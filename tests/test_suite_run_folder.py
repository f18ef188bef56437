"""``pytest claims/ --model RUN`` on a training-run folder runs the trend claims without further options.

RUN holds four tiny GPT-NeoX checkpoints (``checkpoint-0`` … ``checkpoint-300``, different random
seeds) built here with ``save_pretrained``; the run folder is the series by itself
(``harness.profiles.run_folder_profile``). One end-to-end run of two trend claims, RF-2a (experts
over training) and LF-4 (key regions over training), in a subprocess with one thread: 36 s of CPU
time (measured: under 40 s on an idle core; about 100 s on a machine loaded 4× over).
A model with no recognisable neuron site (a mixture of experts) stops such a run before any claim.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "core"))

from claims_process import run_claims_offline  # noqa: E402
from tiny_models import build_tokenizer, save_gpt_neox_run, save_model  # noqa: E402

STEPS = (0, 100, 200, 300)
# LF-4's key regions need at least six languages (z > 2 across languages)
LANGUAGES = ("en", "es", "ru", "zh", "ar", "hi")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """Four GPT-NeoX checkpoints; the tokenizer is trained on the concept pool, so that verses are short."""
    return save_gpt_neox_run(tmp_path_factory.mktemp("run") / "run", LANGUAGES, STEPS)


def test_the_plan_of_the_run_folder_follows_the_stated_rule(run_folder):
    from harness.profiles import run_profile
    from harness.run_plan import RunConfig, RunPlan

    plan = RunPlan.build(RunConfig(model=str(run_folder)), run_profile(str(run_folder)), LANGUAGES)
    assert plan.series == tuple(f"checkpoint-{s}" for s in STEPS)
    assert (plan.early, plan.mid, plan.late, plan.revision) == (
        "checkpoint-100", "checkpoint-200", "checkpoint-300", "checkpoint-300")


def test_trend_claims_run_on_a_run_folder_without_checkpoint_options(run_folder, tmp_path):
    result = run_claims_offline(run_folder, tmp_path, "-k", "rf_2a or lf4", "--languages", ",".join(LANGUAGES))
    output = result.stdout + result.stderr
    # no expectations exist for this folder, so a claim that does not hold fails the run (1); nothing else may
    assert result.returncode in (0, 1), output[-3000:]
    payload = json.loads((tmp_path / "claims.json").read_text())
    records = {r["id"]: r for r in payload["claims"]}
    assert set(records) == {"RF-2a", "LF-4"}
    for cid, record in records.items():
        assert record["verdict"] != "skipped", (cid, record["reason"])
        assert set(record["checkpoints"]) <= {f"checkpoint-{s}" for s in STEPS} and record["checkpoints"], cid
    assert payload["provenance"]["checkpoints"] == [f"checkpoint-{s}" for s in STEPS]
    site = payload["provenance"]["neuron_site"]
    assert site["site"] == "output of gpt_neox.layers[l].mlp.act" and "'act'" in site["rule"]
    for text in ((tmp_path / "claims.json").read_text(), (tmp_path / "claims.md").read_text()):
        assert "at None" not in text and "@None" not in text


def test_a_model_without_a_neuron_site_stops_the_run_before_any_claim(tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    tokenizer = build_tokenizer(tmp_path / "tokenizer")
    config = AutoConfig.for_model(
        "mixtral", hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, num_local_experts=2, vocab_size=len(tokenizer),
    )
    save_model(AutoModelForCausalLM.from_config(config), tokenizer, tmp_path / "moe")
    result = run_claims_offline(tmp_path / "moe", tmp_path / "reports", "-k", "rf_2a or lf1a")
    output = result.stdout + result.stderr
    assert result.returncode == 4, output[-3000:]
    errors = [line for line in output.splitlines() if "error:" in line]
    assert len(errors) == 1 and "mixture of experts" in errors[0] and "refused" in errors[0], output[-3000:]
    assert "Traceback" not in output and "PASSED" not in output and "FAILED" not in output
    assert not (tmp_path / "reports" / "claims.json").exists()
