"""The project's own small BLOOM: trained offline on Bible text, with dense checkpoints.

>>> root = ensure_toy(seed=0)            # trains on first use (~5 min on 2 cores), else verifies
>>> toy_checkpoint_steps(root)           # [0, 1, 2, 4, ..., 1024, 2048]
>>> # root/"step256" loads with BloomForCausalLM / AutoTokenizer.from_pretrained

Modules: ``recipe`` (what is trained, ``fixtures/toy-recipe.json``), ``tokenizer`` (byte-level
BPE), ``batches`` (data order), ``model`` (BloomForCausalLM from the recipe), ``train`` (the loop
and the manifest), ``layout`` (folder names), ``store`` (cache entries and ``ensure_toy``).
``family`` names the sizes of the toy family (``toy-s``, ``toy``: :data:`TOY_FAMILY`, each with its
own committed recipe). ``python -m harness.toy [--size NAME] [--seed N] [--force]`` trains or
verifies and prints the root.
"""

from .family import TOY_FAMILY, ensure_toy_size, is_toy, toy_recipe
from .recipe import STEPS_ENV, ToyRecipe, checkpoint_steps, load_recipe
from .store import ensure_toy, read_manifest, toy_checkpoint_steps, toy_root
from .train import train_toy

__all__ = [
    "STEPS_ENV",
    "TOY_FAMILY",
    "ToyRecipe",
    "checkpoint_steps",
    "ensure_toy",
    "ensure_toy_size",
    "is_toy",
    "load_recipe",
    "read_manifest",
    "toy_checkpoint_steps",
    "toy_recipe",
    "toy_root",
    "train_toy",
]
