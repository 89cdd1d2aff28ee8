"""Soak fixtures: the embedded server's streams made to behave like DynamoDB's, and the soak's
numbers printed at the end of the run."""

from __future__ import annotations

import pytest

SOAK_REPORTS: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in SOAK_REPORTS:
        terminalreporter.write_line(line)
