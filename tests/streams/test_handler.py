"""The stream handler on real records read from the embedded server's stream."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import pytest_asyncio

from app.domain import Message
from app.events.bus import REDIS_TIMEOUT_SECONDS, RedisPublisher
from app.repositories import keys
from app.repositories.conversations import ConversationsRepository
from app.repositories.dead_letters import DeadLettersRepository
from app.repositories.messages import MessagesRepository
from app.repositories.table import Table, serialize
from app.settings import Settings
from app.streams import handler as lambda_module
from app.streams.handler import handle_event
from tests.conftest import MakeUser, SignedIn, all_items, start_conversation
from tests.streams.conftest import (
    CallCounter,
    LambdaRecord,
    StreamReader,
    event_of,
    failing_sends,
    hooked,
    inbox,
    message_records,
    send,
    sequence_numbers,
)

pytestmark = pytest.mark.streams

CONVERSATIONS_IN_ONE_BATCH = 12


async def test_messages_sent_through_the_api_update_both_rows_once_per_conversation(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    table: Table,
    conversations: ConversationsRepository,
) -> None:
    andrew, bayko, carol = await make_user(), await make_user(), await make_user()
    with_bayko = await start_conversation(client, andrew, bayko, "hello bayko")
    with_carol = await start_conversation(client, andrew, carol, "hello carol")
    await send(client, bayko, with_bayko, "hi andrew")
    await send(client, bayko, with_bayko, "how are you?")
    await send(client, carol, with_carol, "hey")

    records = await stream.new_records()
    assert len(message_records(records)) == 5
    first = records[0]
    assert first["eventSourceARN"] == stream.stream_arn
    assert isinstance(first["dynamodb"]["ApproximateCreationDateTime"], float)

    calls = CallCounter()
    with hooked(table, "before-call.dynamodb", calls):
        response = await handle_event(event_of(records), conversations)
    assert response == {"batchItemFailures": []}
    # Coalesced: one participants query per conversation, however many messages it got.
    assert calls.operations.count("Query") == 2

    andrews = await inbox(client, andrew)
    assert list(andrews) == [with_carol, with_bayko]
    assert (andrews[with_bayko]["message"], andrews[with_bayko]["unread_count"]) == (
        "how are you?",
        2,
    )
    assert (andrews[with_carol]["message"], andrews[with_carol]["unread_count"]) == ("hey", 1)
    baykos = await inbox(client, bayko)
    assert (baykos[with_bayko]["message"], baykos[with_bayko]["unread_count"]) == (
        "how are you?",
        1,
    )

    # A redelivered batch changes nothing and counts nothing twice.
    assert await handle_event(event_of(records), conversations) == {"batchItemFailures": []}
    assert await inbox(client, andrew) == andrews
    assert await inbox(client, bayko) == baykos


async def test_records_other_than_message_inserts_and_changes_are_ignored(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    table: Table,
    conversations: ConversationsRepository,
) -> None:
    andrew, bayko = await make_user(), await make_user()  # user, handle and identity INSERTs
    group = await start_conversation(client, andrew, bayko)  # two conversation row INSERTs
    idempotent = await client.post(  # an idempotency record INSERT
        "/api/messages",
        json={"message": "once", "message_group_uuid": group},
        headers={**bayko.headers, "Idempotency-Key": str(uuid4())},
    )
    assert idempotent.status_code == 200, idempotent.text
    [_, once] = await conversations_messages(table, UUID(group))
    read = await client.post(f"/api/message_groups/{group}/read", headers=andrew.headers)
    assert read.status_code == 200, read.text  # a conversation row MODIFY
    # A message's REMOVE (an operator's purge repairs the rows itself).
    await table.client.delete_item(TableName=table.name, Key=serialize(message_key(once)))

    records = await stream.new_records()
    ignored = [record for record in records if record not in message_records(records)]
    assert {record["eventName"] for record in ignored} == {"INSERT", "MODIFY", "REMOVE"}
    prefixes = {record["dynamodb"]["Keys"]["pk"]["S"].split("#")[0] for record in ignored}
    assert prefixes == {"USER", "HANDLE", "SUB", "GRP", "IDEM", "MSG", "DATAKEY"}

    before = await all_items(table)
    calls = CallCounter()
    with hooked(table, "before-call.dynamodb", calls):
        response = await handle_event(event_of(ignored), conversations)
    assert response == {"batchItemFailures": []}
    assert calls.operations == []
    assert await all_items(table) == before


async def conversations_messages(table: Table, group: UUID) -> list[dict[str, Any]]:
    page = await table.query(key_condition="pk = :pk", values={":pk": keys.message_pk(group)})
    return page.items


def message_key(item: dict[str, Any]) -> dict[str, str]:
    return {"pk": item["pk"], "sk": item["sk"]}


@dataclass(frozen=True)
class TwoConversations:
    andrew: SignedIn
    bayko: SignedIn
    carol: SignedIn
    with_bayko: str
    with_carol: str


@pytest_asyncio.fixture
async def two_conversations(
    client: httpx.AsyncClient, make_user: MakeUser, stream: StreamReader
) -> TwoConversations:
    """Andrew in a conversation with Bayko and another with Carol; their records read already
    (the creating transactions applied them)."""
    andrew, bayko, carol = await make_user(), await make_user(), await make_user()
    with_bayko = await start_conversation(client, andrew, bayko)
    with_carol = await start_conversation(client, andrew, carol)
    await stream.new_records()
    return TwoConversations(andrew, bayko, carol, with_bayko, with_carol)


async def poison_then_good(
    client: httpx.AsyncClient,
    two_conversations: TwoConversations,
    stream: StreamReader,
    table: Table,
) -> list[LambdaRecord]:
    """The records of two poison message items (with Bayko) then Carol's good message."""
    andrew, carol = two_conversations.andrew, two_conversations.carol
    # A message item missing its sender: undecodable, retrying will never help.
    await table.put(
        {
            "pk": keys.message_pk(UUID(two_conversations.with_bayko)),
            "sk": f"{keys.format_timestamp(datetime.now(UTC))}#{uuid4()}",
            "message": "no sender",
        }
    )
    # A message of a conversation without rows: its participants are not visible (yet).
    orphan = Message(
        uuid4(), uuid4(), andrew.user.uuid, "andrew", "Andrew", "lost", datetime.now(UTC)
    )
    await MessagesRepository(table).add(orphan)
    await send(client, carol, two_conversations.with_carol, "still delivered")
    return await stream.new_records()


async def test_poison_records_fail_alone(
    client: httpx.AsyncClient,
    two_conversations: TwoConversations,
    stream: StreamReader,
    table: Table,
    conversations: ConversationsRepository,
) -> None:
    andrew, with_carol = two_conversations.andrew, two_conversations.with_carol
    records = await poison_then_good(client, two_conversations, stream, table)
    response = await handle_event(event_of(records), conversations)

    [broken_record, orphan_record, good_record] = message_records(records)
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": broken_record["dynamodb"]["SequenceNumber"]},
            {"itemIdentifier": orphan_record["dynamodb"]["SequenceNumber"]},
        ]
    }
    assert good_record["dynamodb"]["Keys"]["pk"]["S"] == keys.message_pk(UUID(with_carol))
    assert (await inbox(client, andrew))[with_carol]["message"] == "still delivered"


async def test_with_a_dead_letter_store_poison_records_are_set_aside_with_their_image(
    client: httpx.AsyncClient,
    two_conversations: TwoConversations,
    stream: StreamReader,
    table: Table,
    conversations: ConversationsRepository,
) -> None:
    andrew, with_carol = two_conversations.andrew, two_conversations.with_carol
    records = await poison_then_good(client, two_conversations, stream, table)
    dead_letters = DeadLettersRepository(table)

    response = await handle_event(event_of(records), conversations, dead_letters)

    assert response == {"batchItemFailures": []}
    [broken_record, orphan_record, _] = message_records(records)
    stored, _ = await dead_letters.page(limit=10)
    by_event = {letter.event_id: letter for letter in stored}
    assert by_event.keys() == {broken_record["eventID"], orphan_record["eventID"]}
    assert by_event[broken_record["eventID"]].record == broken_record
    assert by_event[orphan_record["eventID"]].reason == "no conversation rows"
    assert by_event[orphan_record["eventID"]].record == orphan_record
    assert (await inbox(client, andrew))[with_carol]["message"] == "still delivered"

    # A redelivery overwrites its own entries: still two.
    assert await handle_event(event_of(records), conversations, dead_letters) == {
        "batchItemFailures": []
    }
    assert len((await dead_letters.page(limit=10))[0]) == 2


async def test_a_failing_conversation_update_reports_exactly_its_records(
    client: httpx.AsyncClient,
    two_conversations: TwoConversations,
    stream: StreamReader,
    table: Table,
    conversations: ConversationsRepository,
) -> None:
    andrew, bayko, carol = (
        two_conversations.andrew,
        two_conversations.bayko,
        two_conversations.carol,
    )
    with_bayko, with_carol = two_conversations.with_bayko, two_conversations.with_carol
    for text in ("one", "two"):
        await send(client, bayko, with_bayko, text)
        await send(client, carol, with_carol, text)
    records = await stream.new_records()

    with hooked(table, "before-send.dynamodb.UpdateItem", failing_sends(with_bayko)):
        response = await handle_event(event_of(records), conversations)

    failed = sequence_numbers(
        [
            r
            for r in records
            if r["dynamodb"]["Keys"]["pk"]["S"] == keys.message_pk(UUID(with_bayko))
        ]
    )
    assert [failure["itemIdentifier"] for failure in response["batchItemFailures"]] == failed
    assert len(failed) == 2
    andrews = await inbox(client, andrew)
    assert (andrews[with_carol]["message"], andrews[with_carol]["unread_count"]) == ("two", 2)
    assert (andrews[with_bayko]["message"], andrews[with_bayko]["unread_count"]) == ("hello", 0)

    # Retrying the failed records (as Lambda would) catches up.
    retried = [record for record in records if record["dynamodb"]["SequenceNumber"] in failed]
    assert await handle_event(event_of(retried), conversations) == {"batchItemFailures": []}
    andrews = await inbox(client, andrew)
    assert (andrews[with_bayko]["message"], andrews[with_bayko]["unread_count"]) == ("two", 2)


async def test_lambda_entry_point_reuses_one_client_across_invocations(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    await send(client, bayko, group, "first reply")
    first_batch = await stream.new_records()
    await send(client, bayko, group, "second reply")
    second_batch = await stream.new_records()

    assert settings.ddb_endpoint_url is not None
    monkeypatch.setenv("CRUDDUR_DDB_ENDPOINT_URL", settings.ddb_endpoint_url)
    monkeypatch.setenv("CRUDDUR_TABLE_NAME", settings.table_name)
    monkeypatch.setenv("CRUDDUR_AWS_REGION", settings.aws_region)
    try:
        # The handler runs its own event loop, so it gets a thread of its own.
        first = await asyncio.to_thread(lambda_module.handler, event_of(first_batch), None)
        stores = lambda_module.runtime._resource
        second = await asyncio.to_thread(lambda_module.handler, event_of(second_batch), None)
        assert lambda_module.runtime._resource is stores  # reused, not reopened
        assert stores is not None
        assert stores.publisher is None  # no Redis configured: no events to publish
        config = stores.conversations.table.client.meta.config
        retries = config.retries  # type: ignore[attr-defined]  # set, but not in the stubs
        assert retries == {"mode": "standard", "total_max_attempts": 5}
    finally:
        await asyncio.to_thread(lambda_module.runtime.close)
    assert lambda_module.runtime._resource is None

    assert first == second == {"batchItemFailures": []}
    andrews = await inbox(client, andrew)
    assert (andrews[group]["message"], andrews[group]["unread_count"]) == ("second reply", 2)


@contextmanager
def unreachable_redis(kind: str) -> Iterator[str]:
    """A ``redis://`` URL nothing answers at: a closed port (refused at once), or a listener
    that never accepts (the connection opens, then every call waits out its timeout)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        if kind == "silent":
            sock.listen(64)
        else:
            sock.close()
        yield f"redis://127.0.0.1:{port}/0"


@pytest.mark.parametrize("kind", ["closed", "silent"])
async def test_an_unreachable_bus_costs_a_batch_one_failed_publish_not_one_per_conversation(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    conversations: ConversationsRepository,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    andrew = await make_user()
    others = [await make_user() for _ in range(CONVERSATIONS_IN_ONE_BATCH)]
    groups = [await start_conversation(client, other, andrew, "hello") for other in others]
    for other, group in zip(others, groups, strict=True):
        await send(client, other, group, "are you there?")
    records = await stream.new_records()

    with unreachable_redis(kind) as url, caplog.at_level(logging.WARNING, "app.streams"):
        publisher = RedisPublisher(url)
        try:
            # One publish's timeout, not one per conversation (which would take 24 s).
            async with asyncio.timeout(CONVERSATIONS_IN_ONE_BATCH * REDIS_TIMEOUT_SECONDS / 2):
                response = await handle_event(event_of(records), conversations, publisher=publisher)
        finally:
            await publisher.aclose()

    assert response == {"batchItemFailures": []}
    andrews = await inbox(client, andrew)
    assert [(andrews[group]["message"], andrews[group]["unread_count"]) for group in groups] == [
        ("are you there?", 2)
    ] * len(groups)
    failures = [r.getMessage() for r in caplog.records if "event publish" in r.getMessage()]
    assert len(failures) == 2, failures  # the failure, then what it skipped
    assert f"conversations={len(groups) - 1}" in failures[1]
