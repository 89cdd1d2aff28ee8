"""Pattern E converges whatever the stream does: duplicates, reordering, any batch split.

Each example is a fresh conversation of two fresh users in the test's one table, so examples
never see each other's rows and the table stays small.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain import Message, User, pair_conversation_uuid
from app.repositories import keys
from app.repositories.conversations import ConversationsRepository, new_row_item
from app.repositories.messages import message_item
from app.repositories.table import Table
from app.streams.handler import handle_event
from tests.streams.conftest import LambdaRecord, StreamReader, event_of

pytestmark = pytest.mark.streams

MAX_MESSAGES = 5
MAX_BATCHES = 5


def sort_key(message: Message) -> str:
    return keys.message_sk(message.created_at, message.uuid)


def draw_deliveries(data: st.DataObject, records: list[LambdaRecord]) -> list[list[LambdaRecord]]:
    """The records, some more than once, shuffled, cut into batches."""
    indexes = list(range(len(records)))
    duplicates = data.draw(st.lists(st.sampled_from(indexes), max_size=len(records) // 2))
    order = data.draw(st.permutations(indexes + duplicates))
    cuts = data.draw(st.sets(st.integers(1, len(order) - 1), max_size=MAX_BATCHES - 1))
    bounds = [0, *sorted(cuts), len(order)]
    return [[records[i] for i in order[start:end]] for start, end in pairwise(bounds)]


@settings(
    max_examples=25,
    deadline=None,
    # One table for all examples is the point: each example uses fresh users.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_rows_converge_under_any_delivery(
    data: st.DataObject, table: Table, stream: StreamReader, conversations: ConversationsRepository
) -> None:
    first_user, second_user = (User(uuid4(), f"u{uuid4().hex[:8]}", "U") for _ in range(2))
    participants = (first_user, second_user)
    group = pair_conversation_uuid(first_user.uuid, second_user.uuid)
    count = data.draw(st.integers(1, MAX_MESSAGES), label="messages")
    senders = data.draw(st.lists(st.sampled_from(participants), min_size=count, max_size=count))
    # Few distinct milliseconds, so equal timestamps (ties broken by uuid) are common.
    offsets = data.draw(st.lists(st.integers(0, 3), min_size=count, max_size=count))
    start = datetime.now(UTC)
    messages = [
        Message(
            uuid4(),
            group,
            sender.uuid,
            sender.handle,
            "U",
            f"m{index}",
            start + timedelta(milliseconds=offset),
        )
        for index, (sender, offset) in enumerate(zip(senders, offsets, strict=True))
    ]
    other_of = {first_user.uuid: second_user, second_user.uuid: first_user}
    await stream.new_records()  # skip what earlier examples' updates wrote
    # The rows and messages as the send transaction writes them; separate puts are much faster
    # on moto, and the stream shows the same INSERTs.
    for owner in participants:
        await table.put(new_row_item(owner, other_of[owner.uuid], messages[0]))
    for message in messages:
        await table.put(message_item(message))
    records = await stream.new_records()  # the rows' INSERTs too: the handler skips them

    batches = draw_deliveries(data, records)
    mark_read_after = data.draw(st.none() | st.integers(-1, len(batches) - 1), label="mark after")
    reader = data.draw(st.sampled_from(participants), label="reader")
    read_up_to: str | None = None
    if mark_read_after == -1:
        read_up_to = await mark_read(conversations, reader.uuid, group)
    for index, batch in enumerate(batches):
        assert await handle_event(event_of(batch), conversations) == {"batchItemFailures": []}
        if index == mark_read_after:
            read_up_to = await mark_read(conversations, reader.uuid, group)

    newest = max(messages, key=sort_key)
    assert sorted(await conversations.participants(group)) == sorted(u.uuid for u in participants)
    for owner in participants:
        page = await conversations.list_recent(owner.uuid, limit=10)
        [row] = page.items
        assert (row.message_group_uuid, row.last_message_uuid) == (group, newest.uuid)
        assert row.last_message == newest.text
        marker = read_up_to if owner == reader else None
        unread = {
            sort_key(message)
            for message in messages
            if message.sender_uuid != owner.uuid and (marker is None or sort_key(message) > marker)
        }
        assert row.unread_count == len(unread)


async def mark_read(conversations: ConversationsRepository, owner_uuid: UUID, group: UUID) -> str:
    """Mark read up to the row's current summary; the marker it stored."""
    before = await conversations.table.get(
        keys.conversation_key(owner_uuid, group), consistent=True
    )
    assert before is not None
    await conversations.mark_read(owner_uuid, group)
    after = await conversations.table.get(keys.conversation_key(owner_uuid, group), consistent=True)
    assert after is not None
    assert after["read_up_to"] == before["last_message_sk"]
    return str(before["last_message_sk"])
