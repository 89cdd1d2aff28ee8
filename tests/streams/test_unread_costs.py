"""What keeps pattern E cheap: the opening message costs nothing, rows stay under 1 KB."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import httpx
import pytest

from app.crypto.envelope import OVERHEAD_BYTES
from app.domain import PREVIEW_MAX_BYTES, Message, SealedText
from app.repositories import keys
from app.repositories.conversations import UNREAD_CAP, ConversationsRepository
from app.repositories.schema import table_definition
from app.repositories.table import Table
from app.schemas import MESSAGE_MAX_CHARS
from app.streams.handler import handle_event
from bench.capacity_model import Schema
from bench.item_size import item_size, write_units
from tests.conftest import (
    LATER,
    MakeUser,
    RunningApp,
    SignedIn,
    message_in,
    start_conversation,
)
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


SCHEMA = Schema.from_definition(table_definition("t"))
ACTIVITY = SCHEMA.index(keys.ACTIVITY_INDEX)


def _message(group: UUID, sender: SignedIn, index: int, text: str | None = None) -> Message:
    return message_in(
        group, sender.user, text or f"unanswered {index}", at=LATER + timedelta(seconds=index)
    )


async def test_the_row_stays_under_one_write_unit_whatever_the_backlog_and_text(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    conversations: ConversationsRepository,
    running_app: RunningApp,
) -> None:
    """With encryption on (as the suite runs): the worst preview, sealed, still fits."""
    long_name = "D" * 100  # display names are copied into rows: the bound assumes <= 100 B
    andrew, bayko = await make_user(display_name=long_name), await make_user(display_name=long_name)
    group = UUID(await start_conversation(client, andrew, bayko, "hello?"))
    messages = running_app.state.messaging.messages  # the API's: it seals text and preview
    # 3 bytes a character: the largest preview (PREVIEW_MAX_BYTES exactly, ellipsis included).
    widest = "\u4e00" * MESSAGE_MAX_CHARS
    # In order, one at a time (the fast path), then a late batch (the recount path).
    burst = [_message(group, andrew, index, widest) for index in range(UNREAD_CAP + 10)]
    stored_burst = []
    for message in burst[10:]:
        stored_burst.append(await messages.add(message))
        await conversations.apply_messages(group, [stored_burst[-1]])
    late_batch = [await messages.add(message) for message in burst[:10]]
    await conversations.apply_messages(group, late_batch)

    row = await conversations.get(bayko.user.uuid, group)
    assert row is not None
    assert row.unread_count == UNREAD_CAP  # "100 or more"
    newest = stored_burst[-1]
    assert isinstance(newest.preview, SealedText)
    assert (row.last_message_uuid, row.last_message) == (newest.uuid, newest.preview)
    assert len(newest.preview.envelope) == PREVIEW_MAX_BYTES + OVERHEAD_BYTES
    for owner in (andrew, bayko):
        stored = await table.get(keys.conversation_key(owner.user.uuid, group))
        assert stored is not None
        assert write_units(item_size(stored)) == 1
        entry = ACTIVITY.entry(stored, SCHEMA.table_keys)
        assert entry is not None
        assert write_units(item_size(entry)) == 1

    read = await conversations.mark_read(bayko.user.uuid, group)
    assert read is not None
    assert read.unread_count == 0

    late = _message(group, andrew, -1)  # older than everything read: stays read
    newer = _message(group, andrew, UNREAD_CAP + 20)
    for message in (late, newer):
        await messages.add(message)
    await conversations.apply_messages(group, [late, newer])
    row = await conversations.get(bayko.user.uuid, group)
    assert row is not None
    assert (row.unread_count, row.last_message_uuid) == (1, newer.uuid)
