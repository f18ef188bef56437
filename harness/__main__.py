"""Command line of the harness: ``python -m harness <command> …``.

Commands are argparse subcommands; add one with a ``_add_<name>(subparsers)`` function that sets
``func`` on its parser and list it in ``COMMANDS``.

- ``report DIR``: rebuild ``DIR/claims.md`` and ``DIR/figures/`` from ``DIR/claims.json``
  (no model is loaded and nothing is measured).
- ``measure [run options]``: fill the measurement cache for ``pytest claims/`` with the same options;
  under ``accelerate launch --num_processes N`` the work is split between the processes
  (``harness.scale_out``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _report(args: argparse.Namespace) -> int:
    from harness.report import write_report

    report_dir = Path(args.dir)
    if not (report_dir / "claims.json").is_file():
        print(f"error: {report_dir / 'claims.json'} not found (run `pytest claims/ --report-dir {report_dir}` first)",
              file=sys.stderr)
        return 2
    result = write_report(report_dir, figures=not args.no_figures)
    print(f"wrote {result.markdown}")
    if result.figures_skipped:
        print(f"figures skipped: {result.figures_skipped}")
    else:
        print(f"wrote {len(result.figures)} figures under {report_dir / 'figures'}")
    for name, error in sorted(result.figures_failed.items()):
        print(f"figure {name} failed: {error}", file=sys.stderr)
    return 0


def _add_report(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="rebuild claims.md and figures from DIR/claims.json",
        description="Rebuild DIR/claims.md and DIR/figures/*.png from DIR/claims.json without loading a model.",
    )
    parser.add_argument("dir", help="report folder holding claims.json (pytest's --report-dir)")
    parser.add_argument("--no-figures", action="store_true", help="write claims.md only")
    parser.set_defaults(func=_report)


def _add_measure(subparsers) -> None:
    from harness.scale_out import add_measure

    add_measure(subparsers)


COMMANDS = (_add_report, _add_measure)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="command", required=True)
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
