"""The local stream worker: end to end through HTTP, restarts, retries, a late table."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import httpx
import pytest

from app.repositories import keys
from app.repositories.conversations import ConversationsRepository
from app.repositories.dead_letters import DeadLettersRepository
from app.repositories.schema import create_table, drop_table
from app.repositories.table import Table, deserialize
from app.settings import Settings
from app.streams.handler import BatchResponse, handle_event
from app.streams.worker import StreamWorker, run_worker
from tests.conftest import MakeUser, start_conversation
from tests.streams.conftest import (
    FastClock,
    StreamReader,
    eventually,
    inbox,
    send,
    sequence_numbers,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodbstreams import DynamoDBStreamsClient

pytestmark = pytest.mark.streams

Run = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@pytest.fixture
def worker_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"local_state_dir": tmp_path, "stream_poll_interval_seconds": 0.05}
    )


@asynccontextmanager
async def running(run: Run) -> AsyncIterator[asyncio.Task[None]]:
    """``run`` as a task for the block; then stopped through its event (if still running)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(stop))
    try:
        yield task
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


def newest_first(message: Mapping[str, Any]) -> tuple[datetime, str]:
    return datetime.fromisoformat(message["created_at"]), message["uuid"]


async def test_messages_reach_both_inboxes_and_reading_resets_unread(
    client: httpx.AsyncClient, make_user: MakeUser, worker_settings: Settings
) -> None:
    andrew, bayko, carol = await make_user(), await make_user(), await make_user()
    async with running(functools.partial(run_worker, worker_settings)):
        with_bayko = await start_conversation(client, andrew, bayko, "hello bayko")
        with_carol = await start_conversation(client, andrew, carol, "hello carol")
        assert (await inbox(client, andrew))[with_bayko]["unread_count"] == 0

        for count, text in enumerate(("hi andrew", "are you there?"), start=1):
            await send(client, bayko, with_bayko, text)

            async def both_see_it(text: str = text, count: int = count) -> None:
                andrews = await inbox(client, andrew)
                assert list(andrews) == [with_bayko, with_carol]  # the new message first
                assert andrews[with_bayko]["message"] == text
                assert andrews[with_bayko]["unread_count"] == count
                assert (await inbox(client, bayko))[with_bayko]["message"] == text

            await eventually(both_see_it)

        read = await client.post(f"/api/message_groups/{with_bayko}/read", headers=andrew.headers)
        assert read.status_code == 200, read.text
        assert (await inbox(client, andrew))[with_bayko]["unread_count"] == 0


async def test_concurrent_senders_leave_one_row_each_showing_the_last_message(
    client: httpx.AsyncClient, make_user: MakeUser, worker_settings: Settings, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    async with running(functools.partial(run_worker, worker_settings)):
        group = await start_conversation(client, andrew, bayko, "start")
        senders = [andrew if index % 2 == 0 else bayko for index in range(20)]
        sent = await asyncio.gather(
            *(send(client, sender, group, f"message {i}") for i, sender in enumerate(senders))
        )
        last = max(sent, key=newest_first)

        async def rows_show_the_last_message() -> None:
            for owner, unread in ((andrew, 10), (bayko, 11)):  # bayko has "start" unread too
                [row] = (await inbox(client, owner)).values()
                assert (row["uuid"], row["message"]) == (group, last["message"])
                assert row["unread_count"] == unread

        await eventually(rows_show_the_last_message)
    participants = await ConversationsRepository(table).participants(UUID(group))
    assert sorted(participants) == sorted([andrew.user.uuid, bayko.user.uuid])


async def test_a_restarted_worker_resumes_after_its_checkpoint(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    worker_settings: Settings,
    table: Table,
    streams_client: DynamoDBStreamsClient,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    checkpoint_path = worker_settings.local_state_dir / "checkpoints.json"
    delivered: list[str] = []
    conversations = ConversationsRepository(table)

    async def recording(event: Mapping[str, Any]) -> BatchResponse:
        delivered.extend(sequence_numbers(event["Records"]))
        return await handle_event(event, conversations)

    def worker() -> StreamWorker:
        return StreamWorker(
            worker_settings, table.client, streams_client, checkpoint_path, recording
        )

    async def andrew_sees(text: str, unread: int) -> None:
        row = (await inbox(client, andrew))[group]
        assert (row["message"], row["unread_count"]) == (text, unread)

    async with running(worker().run):
        group = await start_conversation(client, andrew, bayko)
        await send(client, bayko, group, "one")
        await send(client, bayko, group, "two")
        await eventually(functools.partial(andrew_sees, "two", 2))
    first_run, delivered[:] = list(delivered), []

    await send(client, bayko, group, "three")
    await send(client, bayko, group, "four")
    async with running(worker().run) as task:
        await eventually(functools.partial(andrew_sees, "four", 4))
        # Cancelled rather than stopped: a batch in flight may be delivered again, but the
        # checkpoint file stays whole.
        task.cancel()

    assert first_run
    assert delivered
    assert min(map(int, delivered)) > max(map(int, first_run))
    assert (await inbox(client, bayko))[group]["unread_count"] == 1
    [positions] = json.loads(checkpoint_path.read_text()).values()
    [position] = positions.values()
    assert position in first_run + delivered
    assert int(position) >= max(map(int, first_run))  # never moves back


async def test_failed_records_are_retried_from_the_lowest_until_they_succeed(
    table: Table,
    stream: StreamReader,
    streams_client: DynamoDBStreamsClient,
    worker_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for index in range(4):
        await table.put({"pk": f"MSG#{uuid4()}", "sk": f"item {index}"})
    first, flaky, stubborn, fourth = sequence_numbers(await stream.new_records())
    batches: list[list[str]] = []
    stubborn_failures = 8  # far beyond the five attempts the worker used to give up after

    async def handle(event: Mapping[str, Any]) -> BatchResponse:
        numbers = sequence_numbers(event["Records"])
        batches.append(numbers)
        failing = {flaky} if len(batches) == 1 else set()
        if len(batches) <= stubborn_failures:
            failing.add(stubborn)
        return {"batchItemFailures": [{"itemIdentifier": n} for n in numbers if n in failing]}

    checkpoint_path = worker_settings.local_state_dir / "checkpoints.json"
    clock = FastClock()
    worker = StreamWorker(
        worker_settings,
        table.client,
        streams_client,
        checkpoint_path,
        handle,
        sleep=clock.sleep,
        clock=clock,
    )
    caplog.set_level(logging.INFO, logger="app.streams")
    async with running(worker.run):

        async def retried_until_applied() -> None:
            assert batches[:2] == [[first, flaky, stubborn, fourth], [flaky, stubborn, fourth]]
            assert batches[2:] == [[stubborn, fourth]] * (stubborn_failures - 1)
            assert worker.status.retrying_since is None  # caught up

        await eventually(retried_until_applied)
        await table.put({"pk": f"MSG#{uuid4()}", "sk": "after"})
        [after] = sequence_numbers(await stream.new_records())

        async def moved_on() -> None:
            assert batches[stubborn_failures + 1 :] == [[after]]

        await eventually(moved_on)

    messages = [record.getMessage() for record in caplog.records]
    retries = [message for message in messages if "retrying" in message]
    assert len(retries) == stubborn_failures
    assert all("lag_seconds=" in message for message in retries)
    assert any(record.levelno == logging.ERROR for record in caplog.records)  # loud when long
    assert "stream batch recovered" in caplog.text
    [positions] = json.loads(checkpoint_path.read_text()).values()
    assert list(positions.values()) == [after]


async def test_a_poison_record_is_set_aside_with_its_image_and_does_not_block_the_shard(
    client: httpx.AsyncClient, make_user: MakeUser, worker_settings: Settings, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    poison = {
        "pk": keys.message_pk(UUID(group)),
        "sk": f"{keys.format_timestamp(datetime.now(UTC))}#{uuid4()}",
        "message": "no sender: can never be applied",
    }
    async with running(functools.partial(run_worker, worker_settings)):
        await table.put(poison)
        await send(client, bayko, group, "after the poison")

        async def delivered_past_it() -> None:
            row = (await inbox(client, andrew))[group]
            assert (row["message"], row["unread_count"]) == ("after the poison", 1)

        await eventually(delivered_past_it)

    [dead_letter], _ = await DeadLettersRepository(table).page(limit=10)
    assert dead_letter.reason.startswith("undecodable")
    image = dead_letter.record["dynamodb"]["NewImage"]
    assert deserialize(image) == poison


async def test_the_worker_waits_for_a_table_created_later(
    table: Table,
    streams_client: DynamoDBStreamsClient,
    worker_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    late_settings = worker_settings.model_copy(update={"table_name": f"late-{uuid4().hex[:8]}"})
    delivered: list[str] = []

    async def handle(event: Mapping[str, Any]) -> BatchResponse:
        delivered.extend(sequence_numbers(event["Records"]))
        return {"batchItemFailures": []}

    worker = StreamWorker(
        late_settings,
        table.client,
        streams_client,
        late_settings.local_state_dir / "checkpoints.json",
        handle,
    )
    caplog.set_level(logging.INFO, logger="app.streams")
    async with running(worker.run):

        async def waiting() -> None:
            assert any("waiting" in record.getMessage() for record in caplog.records)

        await eventually(waiting)
        try:
            await create_table(table.client, late_settings.table_name)
            late_table = Table(table.client, late_settings.table_name)
            await late_table.put({"pk": "MSG#late", "sk": "first"})

            async def delivered_once() -> None:
                assert len(delivered) == 1

            await eventually(delivered_once)
        finally:
            await drop_table(table.client, late_settings.table_name)
