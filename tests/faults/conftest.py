"""Fault fixtures: the session app's shared DynamoDB client failing on demand.

``faults`` is a ``FaultInjector`` hooked on ``running_app.state.ddb`` (the one client every
request uses); ``faults.attach(other_client)`` hooks more clients for the same test. Tests'
own reads (``all_items(table)``) go through the ``table`` fixture's separate client, so they
see DynamoDB as it is. Every hook is removed at teardown, whatever the test did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio

from app.services.messaging import background_reads_done
from tests.conftest import RunningApp
from tests.faults.injector import FaultInjector

FAST_MAX_BACKOFF_SECONDS = 0.02
"""Retry sleeps capped this low in fault tests; the attempts are botocore's, unchanged."""


@dataclass
class FaultTally:
    """What the fault tests injected, for the end-of-run summary."""

    injected: int = 0
    absorbed: int = 0
    kinds: Counter[str] = field(default_factory=Counter)

    def add(self, injector: FaultInjector) -> None:
        self.injected += injector.injected
        self.absorbed += injector.absorbed
        self.kinds.update(injector.by_kind())


TALLY = FaultTally()


@pytest_asyncio.fixture
async def faults(running_app: RunningApp) -> AsyncIterator[FaultInjector]:
    injector = FaultInjector()
    injector.attach(running_app.state.ddb, max_backoff=FAST_MAX_BACKOFF_SECONDS)
    try:
        yield injector
    finally:
        # A stranger's page Query outlives their 404 (with its retries): its attempts belong
        # to this test's faults, not to the next test's.
        await background_reads_done()
        await injector.close()
        TALLY.add(injector)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.injected:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(TALLY.kinds.items()))
        terminalreporter.write_line(
            f"fault injection: {TALLY.injected} faults injected, {TALLY.absorbed} absorbed by "
            f"SDK retries, the rest answered as designed ({kinds})"
        )
