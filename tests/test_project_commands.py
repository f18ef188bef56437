"""The README's two commands are what the project runs: `.ci/run` runs the test command exactly."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_the_readme_test_command_exactly():
    install_and_claims, install_and_tests = readme_commands()
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert install_and_tests in ci_lines
    assert "pytest tests claims" in install_and_tests and "ruff check ." in install_and_tests
    assert install_and_claims.endswith("pytest claims/")


def test_the_lint_and_type_configuration_the_readme_names_exists():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "line-length = 120" in pyproject and "max-complexity = 10" in pyproject
    assert 'files = ["harness/metrics"]' in pyproject
    assert "--strict-markers" in pyproject
