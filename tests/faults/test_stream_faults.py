"""The stream handler and worker under throttled UpdateItems: failures are reported per record,
and a retry (Lambda's, or the local worker's) converges on the newest message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from app import ddb
from app.repositories.conversations import ConversationsRepository
from app.repositories.table import Table
from app.settings import Settings
from app.streams import worker as worker_module
from app.streams.handler import handle_event
from tests.conftest import MakeUser, RunningApp, start_conversation
from tests.faults.conftest import FAST_MAX_BACKOFF_SECONDS
from tests.faults.injector import FaultInjector, FaultKind
from tests.streams.conftest import (
    StreamReader,
    event_of,
    eventually,
    inbox,
    message_records,
    send,
    sequence_numbers,
)

pytestmark = pytest.mark.streams


@pytest_asyncio.fixture
async def stream(settings: Settings, table: Table) -> AsyncIterator[StreamReader]:
    async with AsyncExitStack() as stack:
        streams = await ddb.open_client(settings, stack, "dynamodbstreams")
        description = await table.client.describe_table(TableName=table.name)
        yield StreamReader(streams, description["Table"]["LatestStreamArn"])


@pytest.fixture
def conversations(running_app: RunningApp, table: Table) -> ConversationsRepository:
    """On the shared client, the one ``faults`` hooks."""
    return ConversationsRepository(Table(running_app.state.ddb, table.name))


async def test_throttled_updates_are_reported_and_a_retry_applies_them(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    conversations: ConversationsRepository,
    faults: FaultInjector,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    await send(client, bayko, group, "one")
    await send(client, bayko, group, "two")
    records = message_records(await stream.new_records())
    throttled = faults.fail("UpdateItem", FaultKind.THROTTLED)

    response = await handle_event(event_of(records), conversations)

    failed = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    assert failed == sequence_numbers(records)
    assert throttled.injected >= 3  # at least one row update, every attempt throttled
    assert ((await inbox(client, andrew))[group]["message"]) == "hello"

    throttled.stop()
    retried = [record for record in records if record["dynamodb"]["SequenceNumber"] in failed]
    assert await handle_event(event_of(retried), conversations) == {"batchItemFailures": []}
    andrews = (await inbox(client, andrew))[group]
    assert (andrews["message"], andrews["unread_count"]) == ("two", 2)
    assert (await inbox(client, bayko))[group]["message"] == "two"


async def test_transient_throttling_is_absorbed_within_the_batch(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    conversations: ConversationsRepository,
    faults: FaultInjector,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    await send(client, bayko, group, "one")
    records = message_records(await stream.new_records())
    faults.fail("UpdateItem", FaultKind.THROTTLING, times=2)
    faults.fail("Query", FaultKind.INTERNAL_ERROR, times=1)

    assert await handle_event(event_of(records), conversations) == {"batchItemFailures": []}
    assert faults.absorbed == faults.injected == 3
    assert (await inbox(client, andrew))[group]["message"] == "one"


async def test_the_worker_converges_through_throttled_batches(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    settings: Settings,
    tmp_path: Path,
    faults: FaultInjector,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def open_hooked_client(*args: Any, **kwargs: Any) -> Any:
        client = await ddb.open_client(*args, **kwargs)
        if client.meta.service_model.service_name == "dynamodb":
            faults.attach(client, max_backoff=FAST_MAX_BACKOFF_SECONDS)
        return client

    monkeypatch.setattr(worker_module, "open_client", open_hooked_client)
    worker_settings = settings.model_copy(
        update={"local_state_dir": tmp_path, "stream_poll_interval_seconds": 0.05}
    )
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    for text in ("one", "two", "three"):
        await send(client, bayko, group, text)
    # Both rows' first update, every attempt: the whole first delivery fails.
    throttled = faults.fail("UpdateItem", FaultKind.THROTTLED, times=2 * settings.ddb_max_attempts)

    stop = asyncio.Event()
    caplog.set_level(logging.WARNING, logger=worker_module.__name__)
    task = asyncio.create_task(worker_module.run_worker(worker_settings, stop))
    try:

        async def converged() -> None:
            andrews = (await inbox(client, andrew))[group]
            assert (andrews["message"], andrews["unread_count"]) == ("three", 3)
            assert (await inbox(client, bayko))[group]["message"] == "three"

        await eventually(converged, wait_seconds=15)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
    assert throttled.injected == 2 * settings.ddb_max_attempts
    assert "stream batch failed, retrying" in caplog.text
