"""Fuzzing fixtures: the production server (``app.serve``) on a loopback port, over a table with
the demo seed, rate limits off, and a token for a seeded user minted by the app's local issuer.

A real server rather than schemathesis' in-process ASGI transport: that transport ends the app's
lifespan after every test and starts it again, which a process never does in production.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest
import pytest_asyncio

from app.ddb import open_client
from app.repositories.schema import create_table, drop_table
from app.repositories.table import Table
from app.serve import build_server
from app.settings import Settings
from app.state import cipher_of, open_data_keys
from scripts.seed import seed
from tests.fuzz.api import TARGET, schema

FUZZ_TABLE = "cruddur-messages-fuzz"  # its own table: other tests drop theirs at will
SIGNED_IN_HANDLE = "andrewbrown"
SERVER_START_TIMEOUT_SECONDS = 30.0


@pytest.fixture(scope="session")
def fuzz_settings(settings: Settings) -> Settings:
    # Thousands of requests from one user would otherwise meet 429 after the first minute's worth.
    return settings.model_copy(update={"rate_limit_enabled": False, "table_name": FUZZ_TABLE})


@pytest_asyncio.fixture(scope="session")
async def seeded_table(fuzz_settings: Settings, kms_key: str) -> None:
    async with AsyncExitStack() as stack:
        client = await open_client(fuzz_settings, stack)
        await drop_table(client, FUZZ_TABLE)
        await create_table(client, FUZZ_TABLE)
        table = Table(client, FUZZ_TABLE)
        await seed(table, cipher_of(await open_data_keys(fuzz_settings, stack, table)))


@pytest.fixture(scope="session")
def target(fuzz_settings: Settings, seeded_table: None) -> Iterator[None]:
    """Serve the app in a thread (its own event loop, lifespan run once) until the session ends."""
    server = build_server(fuzz_settings, "127.0.0.1", 0, log_level="warning")
    thread = threading.Thread(target=server.run, name="fuzz-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while not server.started:
        assert thread.is_alive(), "the server failed to start"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    TARGET.base_url = f"http://127.0.0.1:{port}"
    minted = (
        schema["/api/dev/tokens"]["POST"]
        .Case(body={"handle": SIGNED_IN_HANDLE})
        .call(base_url=TARGET.base_url)
    )
    assert minted.status_code == 200, minted.text
    TARGET.token = minted.json()["access_token"]
    yield
    server.should_exit = True
    thread.join(timeout=SERVER_START_TIMEOUT_SECONDS)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TARGET.cases:
        return
    terminalreporter.write_sep("-", "schemathesis cases sent")
    for kind, count in sorted(TARGET.cases.items()):
        terminalreporter.write_line(f"{kind}: {count}")
    terminalreporter.write_line(f"total: {TARGET.cases.total()}")
