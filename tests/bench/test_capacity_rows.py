"""The capacity model's copy of pattern E's row update, held to the repository's real one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx

from app.domain import Message
from app.repositories import keys
from app.repositories.conversations import ConversationsRepository
from app.repositories.table import Item, Table
from bench.capacity import summary_after
from tests.conftest import MakeUser, SignedIn, start_conversation


def _reply(group: UUID, sender: SignedIn, text: str, seconds: int) -> Message:
    return Message(
        uuid=uuid4(),
        message_group_uuid=group,
        sender_uuid=sender.user.uuid,
        sender_handle=sender.user.handle,
        sender_display_name=sender.user.display_name,
        text=text,
        created_at=datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds),
    )


def _present(item: Item) -> Item:
    return {name: value for name, value in item.items() if value is not None}


async def test_the_modelled_summary_update_leaves_the_rows_the_repository_leaves(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = UUID(await start_conversation(client, andrew, bayko, "hello?"))
    conversations = ConversationsRepository(table)
    for seconds, (sender, text) in enumerate([(andrew, "still there?"), (bayko, "yes!")], 1):
        message = _reply(group, sender, text, seconds)
        owners = (andrew, bayko)
        before = [await table.get(keys.conversation_key(o.user.uuid, group)) for o in owners]

        await conversations.apply_messages(group, [message])

        for owner, row in zip(owners, before, strict=True):
            assert row is not None
            stored = await table.get(keys.conversation_key(owner.user.uuid, group))
            assert stored == _present(summary_after(row, message, owner.user)), owner.user.handle
