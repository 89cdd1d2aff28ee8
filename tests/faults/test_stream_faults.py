"""The stream handler and worker under throttled UpdateItems: failures are reported per record,
and a retry (Lambda's, or the local worker's) converges on the newest message."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiobotocore.awsrequest import AioAWSResponse
from botocore.awsrequest import AWSPreparedRequest

from app import ddb
from app.repositories.conversations import ConversationsRepository
from app.repositories.table import Table
from app.settings import Settings
from app.streams import worker as worker_module
from app.streams.handler import SummaryStores, handle_event
from tests.conftest import MakeUser, RunningApp, start_conversation
from tests.faults.conftest import FAST_MAX_BACKOFF_SECONDS
from tests.faults.injector import FaultInjector, FaultKind, fake_answer, operation_of
from tests.streams.conftest import (
    FastClock,
    StreamReader,
    event_of,
    eventually,
    inbox,
    message_records,
    send,
    sequence_numbers,
)

pytestmark = pytest.mark.streams


def hook_worker_clients(
    monkeypatch: pytest.MonkeyPatch, service: str, hook: Callable[[Any], object]
) -> None:
    """``hook(client)`` on each ``service`` client the local worker opens from now on."""

    async def open_hooked_client(*args: Any, **kwargs: Any) -> Any:
        client = await ddb.open_client(*args, **kwargs)
        if client.meta.service_model.service_name == service:
            hook(client)
        return client

    monkeypatch.setattr(worker_module, "open_client", open_hooked_client)


async def run_worker_until(
    converged: Callable[[], Awaitable[None]], settings: Settings, state_dir: Path
) -> None:
    """The local worker as ``make run`` starts it (polling fast), until ``converged`` holds."""
    worker_settings = settings.model_copy(
        update={"local_state_dir": state_dir, "stream_poll_interval_seconds": 0.05}
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker_module.run_worker(worker_settings, stop))
    try:
        await eventually(converged, wait_seconds=15)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


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
    hook_worker_clients(
        monkeypatch, "dynamodb", lambda c: faults.attach(c, max_backoff=FAST_MAX_BACKOFF_SECONDS)
    )
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    for text in ("one", "two", "three"):
        await send(client, bayko, group, text)
    # Both rows' first update, every attempt: the whole first delivery fails.
    throttled = faults.fail("UpdateItem", FaultKind.THROTTLED, times=2 * settings.ddb_max_attempts)

    async def converged() -> None:
        andrews = (await inbox(client, andrew))[group]
        assert (andrews["message"], andrews["unread_count"]) == ("three", 3)
        assert (await inbox(client, bayko))[group]["message"] == "three"

    caplog.set_level(logging.WARNING, logger=worker_module.__name__)
    await run_worker_until(converged, settings, tmp_path)
    assert throttled.injected == 2 * settings.ddb_max_attempts
    assert "stream batch failed, holding the checkpoint and retrying" in caplog.text


@pytest.mark.parametrize("outage_seconds", [12, 60])
async def test_the_worker_loses_nothing_through_an_outage(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    settings: Settings,
    tmp_path: Path,
    outage_seconds: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 11's reproduction: the worker's DynamoDB calls answer HTTP 500 while the API works.

    Londo sends m2 during the outage and m3 after it; Andrew's row must end at m3 with 3
    unread, with no repair. The worker's time is made fast: the 60 s outage (beyond the five
    attempts the worker used to give up after) passes in its backoff sleeps, not slept.
    """
    andrew, londo = await make_user(), await make_user()
    group = await start_conversation(client, londo, andrew, "m1")
    clock = FastClock()
    outage_ends: list[float] = []

    def in_outage(_: object) -> bool:
        return bool(outage_ends) and clock.now < outage_ends[0]

    worker_settings = settings.model_copy(
        update={"local_state_dir": tmp_path, "stream_poll_interval_seconds": 0.05}
    )
    faults = FaultInjector()
    caplog.set_level(logging.INFO, logger=worker_module.__name__)
    async with AsyncExitStack() as stack:
        worker_ddb = await ddb.open_client(worker_settings, stack)
        streams_client = await ddb.open_client(worker_settings, stack, "dynamodbstreams")
        faults.attach(worker_ddb, max_backoff=FAST_MAX_BACKOFF_SECONDS)
        stack.push_async_callback(faults.close)
        stores = SummaryStores.over(Table(worker_ddb, worker_settings.table_name))
        worker = worker_module.StreamWorker(
            worker_settings,
            worker_ddb,
            streams_client,
            worker_module.checkpoint_path(worker_settings),
            functools.partial(
                handle_event,
                conversations=stores.conversations,
                dead_letters=stores.dead_letters,
            ),
            sleep=clock.sleep,
            clock=clock,
        )
        data_plane = ["Query", "GetItem", "UpdateItem", "PutItem"]
        faults.fail(data_plane, FaultKind.INTERNAL_ERROR, when=in_outage)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:

            async def following() -> None:
                assert "stream batch handled" in caplog.text

            await eventually(following)
            outage_ends.append(clock.now + outage_seconds)
            await send(client, londo, group, "m2")

            async def outage_over() -> None:
                assert clock.now >= outage_ends[0]

            await eventually(outage_over, wait_seconds=30)
            assert faults.injected > 0
            await send(client, londo, group, "m3")

            async def rows_right() -> None:
                andrews = (await inbox(client, andrew))[group]
                assert (andrews["message"], andrews["unread_count"]) == ("m3", 3)
                londos = (await inbox(client, londo))[group]
                assert (londos["message"], londos["unread_count"]) == ("m3", 0)
                assert worker.status.retrying_since is None

            await eventually(rows_right, wait_seconds=30)
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
    assert "holding the checkpoint and retrying" in caplog.text
    assert "given up" not in caplog.text


async def test_the_worker_reads_on_from_its_checkpoint_when_an_iterator_expires(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """GetRecords' ExpiredIteratorException arrives mapped (dynamodb_errors), not as botocore's."""
    expired: list[str] = []

    async def expire_once(request: AWSPreparedRequest, **_: Any) -> AioAWSResponse | None:
        if operation_of(request) != "GetRecords" or expired:
            return None
        expired.append(request.url)
        return fake_answer(FaultKind.EXPIRED_ITERATOR, request)

    hook_worker_clients(
        monkeypatch, "dynamodbstreams", lambda c: c.meta.events.register("before-send", expire_once)
    )
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    await send(client, bayko, group, "one")

    async def converged() -> None:
        assert (await inbox(client, andrew))[group]["message"] == "one"

    caplog.set_level(logging.WARNING, logger=worker_module.__name__)
    await run_worker_until(converged, settings, tmp_path)
    assert len(expired) == 1
    assert "retrying after DynamoDB error" not in caplog.text
