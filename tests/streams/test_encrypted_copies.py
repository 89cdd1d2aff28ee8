"""The stream handler copies a message's envelope into the rows without a key of its own."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.events.bus import Hub, InProcessBus
from app.repositories.conversations import ConversationsRepository
from app.repositories.table import Table
from app.streams.events import with_binary_decoded
from app.streams.handler import handle_event
from tests.conftest import MakeUser, RunningApp, all_items, start_conversation
from tests.encryption.test_backfill import fill, plaintext_conversation
from tests.encryption.test_stored_text import envelope
from tests.streams.conftest import (
    CallCounter,
    StreamReader,
    event_of,
    hooked,
    inbox,
    message_records,
    send,
)

pytestmark = pytest.mark.streams


def as_lambda_json(record: dict[str, Any]) -> dict[str, Any]:
    """The record as Lambda's JSON event has it: binary attribute values base64-encoded."""
    image = {
        name: {"B": base64.b64encode(value["B"]).decode()} if "B" in value else value
        for name, value in record["dynamodb"]["NewImage"].items()
    }
    return {**record, "dynamodb": {**record["dynamodb"], "NewImage": image}}


async def test_rows_get_the_messages_ciphertext_and_the_list_opens_it(
    client: httpx.AsyncClient, make_user: MakeUser, stream: StreamReader, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    await send(client, bayko, group, "a secret reply")
    records = message_records(await stream.new_records())
    lambda_json = event_of([as_lambda_json(record) for record in records])

    # No cipher: the handler's repository could not decrypt if it tried.
    answer = await handle_event(with_binary_decoded(lambda_json), ConversationsRepository(table))

    assert answer == {"batchItemFailures": []}
    items = await all_items(table)
    [reply] = [
        i for i in items if i["pk"] == f"MSG#{group}" and i["sender_uuid"] == str(bayko.user.uuid)
    ]
    rows = [i for i in items if i.get("message_group_uuid") == group]
    assert {envelope(row["last_message"]) for row in rows} == {envelope(reply["preview"])}
    for owner in (andrew, bayko):
        assert (await inbox(client, owner))[group]["message"] == "a secret reply"


async def test_the_backfills_rewrites_are_not_edits(
    make_user: MakeUser,
    stream: StreamReader,
    table: Table,
    conversations: ConversationsRepository,
    running_app: RunningApp,
    tmp_path: Path,
) -> None:
    """Sealing stored plaintext in place MODIFYs every message item without changing what
    anyone reads: the handler writes nothing and announces nothing for it."""
    andrew, bayko = await make_user(), await make_user()
    await plaintext_conversation(table, andrew, bayko, 3)
    await stream.new_records()
    await fill(running_app, table, tmp_path / "cp.json", 10)
    records = await stream.new_records()
    sealed = [r for r in records if r["dynamodb"]["Keys"]["pk"]["S"].startswith("MSG#")]
    assert [record["eventName"] for record in sealed] == ["MODIFY"] * 3
    bus = InProcessBus(Hub(queue_size=16, max_streams_per_user=4))
    listening = [await bus.subscribe(who.user.uuid) for who in (andrew, bayko)]

    calls = CallCounter()
    with hooked(table, "before-call.dynamodb", calls):
        response = await handle_event(event_of(records), conversations, publisher=bus)

    assert response == {"batchItemFailures": []}
    assert calls.operations == []
    assert [connection.queue.qsize() for connection in listening] == [0, 0]
