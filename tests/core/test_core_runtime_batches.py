"""Batches and progress (issue 13): ``--batch-size`` and its automatic default, perplexity without
full-vocabulary fp32 logits for a whole batch, generation in equal batches with the current cache
argument, and progress bars that reach the terminal of a ``pytest -q`` run."""

from __future__ import annotations

import dataclasses
import io
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from run_fixtures import fixed_loaded
from tiny_models import SENTENCES

import harness.perplexity as perplexity_module
from harness.extract import pooled_responses, progress_bar, progress_to
from harness.generation import _cache_argument, even_batches, generate
from harness.hooks import Intervention
from harness.measurement_cache import MeasurementCache
from harness.measurements import CPU_BATCH_SIZE, MAX_AUTO_BATCH, Measurements, RunConfig, bytes_per_text
from harness.perplexity import perplexity, windows

TEXTS = SENTENCES * 3


@torch.inference_mode()
def _perplexity_before_issue_13(lm, texts, window, batch_size, interventions=None):
    """The perplexity code as it stood: the fp32 logits of every window of a batch at once."""
    from harness.hooks import intervene

    ids = lm.tokenizer("\n\n".join(texts), add_special_tokens=False)["input_ids"]
    chunks = windows(ids, window)
    nll_sum, n_predicted = 0.0, 0
    with intervene(lm.site, interventions):
        for start in range(0, chunks.shape[0], batch_size):
            batch = chunks[start : start + batch_size].to(lm.device)
            logits = lm.module(input_ids=batch, use_cache=False).logits[:, :-1].float()
            targets = batch[:, 1:]
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum")
            nll_sum += float(nll)
            n_predicted += targets.numel()
    return math.exp(nll_sum / n_predicted), nll_sum, n_predicted, int(chunks.shape[0])


@pytest.mark.parametrize("arch", ["bloom", "llama"])
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_chunked_perplexity_equals_the_previous_code(load_tiny, arch, batch_size, monkeypatch):
    lm = load_tiny(arch)
    vocab = lm.module.config.vocab_size
    monkeypatch.setattr(perplexity_module, "LOG_SOFTMAX_ELEMENTS", 5 * vocab)  # 5 positions per log-softmax
    rows_seen: list[int] = []
    real = F.cross_entropy

    def counting(logits, targets, **kwargs):
        rows_seen.append(logits.shape[0])
        assert logits.dtype == torch.float32
        return real(logits, targets, **kwargs)

    monkeypatch.setattr(perplexity_module.F, "cross_entropy", counting)
    zeroed = Intervention(torch.tensor([0, 3, 40]), scale=0.0)
    for intervention in (None, zeroed):
        got = perplexity(lm, TEXTS, window=12, batch_size=batch_size, interventions=intervention)
        rows_seen_now, rows_seen[:] = list(rows_seen), []
        monkeypatch.setattr(perplexity_module.F, "cross_entropy", real)
        expected = _perplexity_before_issue_13(lm, TEXTS, 12, batch_size, intervention)
        monkeypatch.setattr(perplexity_module.F, "cross_entropy", counting)
        assert max(rows_seen_now) <= 5 and sum(rows_seen_now) == got.n_predicted
        assert (got.n_predicted, got.n_windows) == expected[2:]
        assert got.nll_sum == pytest.approx(expected[1], rel=1e-6)
        assert got.perplexity == pytest.approx(expected[0], rel=1e-6)


def test_perplexity_refuses_a_batch_of_no_windows(load_tiny):
    with pytest.raises(ValueError, match="batch_size"):
        perplexity(load_tiny("bloom"), TEXTS, window=12, batch_size=0)


@pytest.mark.parametrize("n, size", [(100, 32), (5, 8), (64, 32), (65, 32), (1, 1), (0, 4), (31, 7)])
def test_even_batches_are_the_fewest_and_equal(n, size):
    batches = even_batches(n, size)
    lengths = [len(b) for b in batches]
    assert [i for b in batches for i in b] == list(range(n))
    assert len(batches) == -(-n // size)
    assert not lengths or (max(lengths) <= size and max(lengths) - min(lengths) <= 1)


def test_generation_passes_the_cache_under_its_current_name(load_tiny):
    """No deprecated ``past_key_values`` (transformers 5 names it ``cache``), and the same texts in any batch."""
    lm = load_tiny("bloom")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts = generate(lm, list(range(7)), batch_size=3, progress=False)
    assert not [w for w in caught if "past_key_values" in str(w.message)]
    assert _cache_argument(lm.module) in ("cache", "past_key_values")
    assert texts == generate(lm, list(range(7)), batch_size=7, progress=False)


# ------------------------------------------------------------------------------ --batch-size
def _measurements(**config) -> Measurements:
    return Measurements(RunConfig(model="tiny", **config), cache=MeasurementCache(enabled=False))


def test_batch_size_is_the_option_else_a_fixed_cpu_default():
    lm = fixed_loaded()
    assert _measurements(batch_size=5).batch_size(lm) == 5
    assert _measurements().batch_size(lm) == CPU_BATCH_SIZE
    # perplexity windows: the tokens of a batch of texts, at least one window
    assert _measurements(batch_size=4, max_length=128).perplexity_batch(lm, 256) == 2
    assert _measurements(batch_size=1, max_length=128).perplexity_batch(lm, 2048) == 1


def test_automatic_batch_size_on_cuda_follows_free_memory(monkeypatch, load_tiny):
    lm = load_tiny("bloom")
    on_gpu = dataclasses.replace(lm, device=torch.device("cuda"))
    free = {"bytes": 0}
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free["bytes"], 80 << 30))
    run = _measurements()
    sizes = []
    for gib in (0, 1, 4, 16, 1 << 20):
        free["bytes"] = gib << 30
        sizes.append((run.batch_size(on_gpu), run.perplexity_batch(on_gpu, 2048)))
    assert sizes[0] == (1, 1) and sizes[-1] == (MAX_AUTO_BATCH, MAX_AUTO_BATCH)
    assert [s[0] for s in sizes] == sorted(s[0] for s in sizes)
    per_text = bytes_per_text(on_gpu, 128)
    assert sizes[1][0] == min(MAX_AUTO_BATCH, (1 << 30) // 4 // per_text)
    assert bytes_per_text(on_gpu, 2048, logits=True) > bytes_per_text(on_gpu, 2048)


def test_the_batch_size_option(pytester):
    from harness.pytest_plugin import run_config

    plugin = ("-p", "harness.pytest_plugin")
    assert run_config(pytester.parseconfig(*plugin, "--batch-size", "8")).batch_size == 8
    assert run_config(pytester.parseconfig(*plugin)).batch_size is None  # automatic
    with pytest.raises(pytest.UsageError):
        pytester.parseconfig(*plugin, "--batch-size", "0")


# ------------------------------------------------------------------------------ progress
class _Stream(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_progress_bars_go_to_the_given_stream_unless_disabled(load_tiny):
    lm = load_tiny("bloom")
    stream = _Stream()
    with progress_to(stream):
        pooled_responses(lm, TEXTS, poolings=("max",), batch_size=4, progress=True, desc="concepts en tiny")
        pooled_responses(lm, TEXTS, poolings=("max",), batch_size=4, progress=False, desc="not shown")
    shown = stream.getvalue()
    assert "concepts en tiny" in shown and f"{len(TEXTS)}/{len(TEXTS)}" in shown
    assert "not shown" not in shown
    assert "it/s" in shown or "sent/s" in shown or "s/sent" in shown  # a rate, from which tqdm's ETA comes
    with progress_to(stream), progress_bar(3, "stage", "item", progress=False) as bar:
        assert bar.disable


_PROGRESS_CLAIM = '''
import time
from dataclasses import dataclass

import pytest

from harness.claim_registry import ClaimOutcome, claim
from harness.extract import progress_bar
from harness.metrics import Decision


@pytest.fixture(scope="session")
def measurements():
    return None


@dataclass(frozen=True)
class N:
    gap: float


@claim("XX-1", numbers=N)
def test_xx_1(measurements):
    with progress_bar(3, "concepts en fake@step1", "sent") as bar:
        for _ in range(3):
            bar.update(1)
    return ClaimOutcome(Decision(statistic="gap", value=1.0, control=0.0, effect_size=None, p_value=0.001, ci=None,
                                 n=3, alternative="greater", alpha=0.01, supported=True, contradicted=False),
                        N(gap=1.0))
'''


def test_a_claims_progress_shows_in_a_quiet_run(pytester, tmp_path):
    """pytest captures a test's stderr; a claim's progress bars reach the terminal all the same."""
    pytester.makepyfile(test_progress_claim=_PROGRESS_CLAIM)
    result = pytester.runpytest_subprocess("-p", "harness.pytest_plugin", "--model", "fake", "--report-dir",
                                           str(tmp_path / "report"), "-p", "no:cacheprovider", "-q")
    assert result.ret == 0
    assert "concepts en fake@step1" in result.stderr.str() and "3/3" in result.stderr.str()
