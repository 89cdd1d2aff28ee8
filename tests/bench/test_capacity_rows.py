"""The capacity model's copy of pattern E's row update, held to the repository's real one."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import httpx

from app.repositories import keys
from app.repositories.conversations import ConversationsRepository
from app.repositories.table import Item, Table
from bench.capacity import summary_after
from tests.conftest import LATER, MakeUser, message_in, start_conversation


def _present(item: Item) -> Item:
    return {name: value for name, value in item.items() if value is not None}


async def test_the_modelled_summary_update_leaves_the_rows_the_repository_leaves(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = UUID(await start_conversation(client, andrew, bayko, "hello?"))
    conversations = ConversationsRepository(table)
    for seconds, (sender, text) in enumerate([(andrew, "still there?"), (bayko, "yes!")], 1):
        message = message_in(group, sender.user, text, at=LATER + timedelta(seconds=seconds))
        owners = (andrew, bayko)
        before = [await table.get(keys.conversation_key(o.user.uuid, group)) for o in owners]

        await conversations.apply_messages(group, [message])

        for owner, row in zip(owners, before, strict=True):
            assert row is not None
            stored = await table.get(keys.conversation_key(owner.user.uuid, group))
            assert stored == _present(summary_after(row, message, owner.user)), owner.user.handle
