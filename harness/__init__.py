"""Measurement core for testing claims about multilingual language models.

Subpackages: ``data`` (Bible-derived fixtures), ``toy`` (the project's own small BLOOM),
``metrics`` (plain vectorised functions on tensors), ``report`` (summary, Markdown, figures).
Modules at this level form the measurement core: loading, neuron sites, hooks, extraction,
perplexity, generation, language identification and the on-disk measurement cache.
"""

__version__ = "0.1.0"
