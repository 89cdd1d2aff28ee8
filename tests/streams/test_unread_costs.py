"""What keeps pattern E cheap: the opening message costs nothing, the unread set is bounded."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import httpx
import pytest

from app.domain import Message
from app.repositories.conversations import UNREAD_CAP, ConversationsRepository
from app.repositories.messages import MessagesRepository
from app.repositories.table import Table
from app.streams.handler import handle_event
from tests.conftest import LATER, MakeUser, SignedIn, message_in, start_conversation
from tests.streams.conftest import CallCounter, StreamReader, event_of, hooked


@pytest.mark.streams
async def test_the_opening_message_record_costs_no_dynamodb_call(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    stream: StreamReader,
    conversations: ConversationsRepository,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    await stream.new_records()  # skip the users' items
    await start_conversation(client, andrew, bayko, "first!")
    records = await stream.new_records()
    counter = CallCounter()
    with hooked(table, "before-call.dynamodb", counter):
        response = await handle_event(event_of(records), conversations)
    assert response == {"batchItemFailures": []}
    assert counter.operations == []
    listed = (await client.get("/api/message_groups", headers=bayko.headers)).json()
    assert [(c["message"], c["unread_count"]) for c in listed] == [("first!", 1)]


def _message(group: UUID, sender: SignedIn, index: int) -> Message:
    return message_in(
        group, sender.user, f"unanswered {index}", at=LATER + timedelta(seconds=index)
    )


async def test_the_unread_set_is_capped_and_mark_read_empties_it(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    conversations: ConversationsRepository,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = UUID(await start_conversation(client, andrew, bayko, "hello?"))
    messages = MessagesRepository(table)
    # In order, one at a time (the fast path), then a late batch (the read-then-write path).
    burst = [_message(group, andrew, index) for index in range(UNREAD_CAP + 10)]
    for message in burst[10:]:
        await messages.add(message)
        await conversations.apply_messages(group, [message])
    for message in burst[:10]:
        await messages.add(message)
    await conversations.apply_messages(group, burst[:10])

    row = await conversations.get(bayko.user.uuid, group)
    assert row is not None
    assert row.unread_count == UNREAD_CAP
    assert row.last_message_uuid == burst[-1].uuid
    stored = await table.get({"pk": f"GRP#{bayko.user.uuid}", "sk": f"GRP#{group}"})
    assert stored is not None
    assert len(stored["unread_message_keys"]) == UNREAD_CAP

    read = await conversations.mark_read(bayko.user.uuid, group)
    assert read is not None
    assert read.unread_count == 0
    after_read = await table.get({"pk": f"GRP#{bayko.user.uuid}", "sk": f"GRP#{group}"})
    assert after_read is not None
    assert "unread_message_keys" not in after_read  # DynamoDB drops an emptied set

    late = _message(group, andrew, -1)  # older than everything read: stays read
    newer = _message(group, andrew, UNREAD_CAP + 20)
    for message in (late, newer):
        await messages.add(message)
    await conversations.apply_messages(group, [late, newer])
    row = await conversations.get(bayko.user.uuid, group)
    assert row is not None
    assert (row.unread_count, row.last_message_uuid) == (1, newer.uuid)
