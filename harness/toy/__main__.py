"""``python -m harness.toy [--size NAME] [--seed N] [--force]``: train a toy size if needed, print its root."""

from __future__ import annotations

import argparse
import sys

from harness.errors import HarnessError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.toy",
        description="Train the toy BLOOM on first use (or verify the cached run) and print its folder. "
        "LINGUA_CLAIMS_TOY_STEPS overrides the number of steps; LINGUA_CLAIMS_CACHE the cache root.",
    )
    parser.add_argument("--size", default="toy", help="the toy size (default: toy; the family: toy-s, toy)")
    parser.add_argument("--seed", type=int, default=None, help="training seed (default: the recipe's, 0)")
    parser.add_argument("--force", action="store_true", help="train again even if a valid run is cached")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from . import ensure_toy, read_manifest, toy_recipe

    try:
        recipe = None if args.size == "toy" else toy_recipe(args.size)
        root = ensure_toy(seed=args.seed, recipe=recipe, progress=not args.quiet, force=args.force)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    manifest = read_manifest(root) or {}
    timing = manifest.get("timing", {})
    if timing:
        print(
            f"trained in {timing.get('wall_s')} s wall ({timing.get('tokens_per_s')} tokens/s), "
            f"final loss {manifest.get('final_loss')}",
            file=sys.stderr,
        )
    print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
