"""Conversation rows: one per participant, keyed ``GRP#<owner>`` / ``GRP#<group>``.

A row's existence is the membership proof. Its key never changes; the latest message lives in
``last_message_sk`` (the LSI sort key), which only ever moves forward. Unread messages are
kept as the set of their sort keys, so a duplicate delivery adds nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from app.domain import Conversation, ConversationPage, Message, User
from app.repositories import keys
from app.repositories.table import ConditionFailed, Item, Table

PARTICIPANTS_PER_CONVERSATION = 2

_ROW_EXISTS = "attribute_exists(pk)"
_MOVES_FORWARD = "(attribute_not_exists(last_message_sk) OR last_message_sk < :sk)"
_SET_SUMMARY = (
    "SET last_message = :text, last_message_uuid = :message_uuid, "
    "last_sender_uuid = :sender_uuid, last_message_sk = :sk"
)


class ParticipantsNotVisible(Exception):
    """The index does not show both rows yet (GSIs are eventually consistent): retry later."""


def _summary_values(message: Message) -> dict[str, Any]:
    return {
        ":text": message.text,
        ":message_uuid": str(message.uuid),
        ":sender_uuid": str(message.sender_uuid),
        ":sk": keys.message_sk(message.created_at, message.uuid),
    }


def new_row_item(owner: User, other: User, first_message: Message) -> Item:
    """A participant's row as created with the conversation, its first message as summary."""
    first_sk = keys.message_sk(first_message.created_at, first_message.uuid)
    unread = {first_sk} if first_message.sender_uuid != owner.uuid else None
    return {
        **keys.conversation_key(owner.uuid, first_message.message_group_uuid),
        "message_group_uuid": str(first_message.message_group_uuid),
        "other_user_uuid": str(other.uuid),
        "other_handle": other.handle,
        "other_display_name": other.display_name,
        "last_message": first_message.text,
        "last_message_uuid": str(first_message.uuid),
        "last_sender_uuid": str(first_message.sender_uuid),
        "last_message_sk": first_sk,
        "unread_sks": unread,
    }


def _unread_after_marker(item: Mapping[str, Any]) -> set[str]:
    # Keys at or before the read marker can linger after a race with mark-read; they are read.
    marker = item.get("read_up_to_sk", "")
    return {sk for sk in item.get("unread_sks", set()) if sk > marker}


def _conversation_from(item: Item) -> Conversation:
    last_at, last_uuid = keys.parse_message_sk(item["last_message_sk"])
    marker = item.get("read_up_to_sk")
    return Conversation(
        message_group_uuid=UUID(item["message_group_uuid"]),
        owner_uuid=keys.owner_of_conversation_pk(item["pk"]),
        other_uuid=UUID(item["other_user_uuid"]),
        other_handle=item["other_handle"],
        other_display_name=item["other_display_name"],
        last_message=item["last_message"],
        last_message_at=last_at,
        last_message_uuid=last_uuid,
        unread_count=len(_unread_after_marker(item)),
        read_up_to_uuid=keys.parse_message_sk(marker)[1] if marker else None,
    )


class ConversationsRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def get(
        self, owner_uuid: UUID, message_group_uuid: UUID, *, consistent: bool = True
    ) -> Conversation | None:
        """The owner's row of the conversation, or None when the owner is not a member."""
        item = await self.table.get(
            keys.conversation_key(owner_uuid, message_group_uuid), consistent=consistent
        )
        return _conversation_from(item) if item else None

    async def list_recent(
        self, owner_uuid: UUID, *, limit: int, after: Mapping[str, str] | None = None
    ) -> ConversationPage:
        """Pattern B: the owner's conversations, newest activity first, one Query on the LSI."""
        page = await self.table.query(
            index=keys.ACTIVITY_INDEX,
            key_condition="pk = :pk",
            values={":pk": keys.conversations_pk(owner_uuid)},
            forward=False,
            limit=limit,
            start_key=after,
        )
        return ConversationPage(
            conversations=[_conversation_from(item) for item in page.items],
            continue_after=page.last_key,
        )

    async def participants(self, message_group_uuid: UUID) -> list[UUID]:
        """Owners of the conversation's rows, from the sparse KEYS_ONLY GSI."""
        page = await self.table.query(
            index=keys.CONVERSATION_INDEX,
            key_condition="message_group_uuid = :group",
            values={":group": str(message_group_uuid)},
        )
        return [keys.owner_of_conversation_pk(item["pk"]) for item in page.items]

    async def apply_messages(self, message_group_uuid: UUID, messages: Sequence[Message]) -> None:
        """Pattern E: move every participant's row to the newest of ``messages``.

        Safe under duplicates, retries and any order: the summary only moves forward and
        unread keys form a set guarded by the read marker.
        """
        owners = await self.participants(message_group_uuid)
        if len(owners) < PARTICIPANTS_PER_CONVERSATION:
            raise ParticipantsNotVisible(str(message_group_uuid))
        newest = max(messages, key=lambda message: (message.created_at, str(message.uuid)))
        await asyncio.gather(
            *(
                self._apply_to_row(
                    keys.conversation_key(owner, message_group_uuid),
                    newest,
                    {
                        keys.message_sk(message.created_at, message.uuid)
                        for message in messages
                        if message.sender_uuid != owner
                    },
                )
                for owner in owners
            )
        )

    async def _apply_to_row(self, row_key: keys.Key, newest: Message, unread: set[str]) -> None:
        values = _summary_values(newest)
        if unread:
            # Common case, one write: in order and after the read marker.
            try:
                await self.table.update(
                    row_key,
                    update=f"{_SET_SUMMARY} ADD unread_sks :unread",
                    condition=f"{_ROW_EXISTS} AND {_MOVES_FORWARD} AND "
                    "(attribute_not_exists(read_up_to_sk) OR read_up_to_sk < :oldest_unread)",
                    values={**values, ":unread": unread, ":oldest_unread": min(unread)},
                )
                return
            except ConditionFailed:
                pass  # late, duplicate or partly read: apply each part on its own below
        # Failing means a newer (or this very) message is already the summary.
        with contextlib.suppress(ConditionFailed):
            await self.table.update(
                row_key,
                update=_SET_SUMMARY,
                condition=f"{_ROW_EXISTS} AND {_MOVES_FORWARD}",
                values=values,
            )
        for unread_sk in unread:
            await self._add_unread(row_key, unread_sk)

    async def _add_unread(self, row_key: keys.Key, unread_sk: str) -> None:
        with contextlib.suppress(ConditionFailed):  # failing means it is already read
            await self.table.update(
                row_key,
                update="ADD unread_sks :unread",
                condition=f"{_ROW_EXISTS} AND "
                "(attribute_not_exists(read_up_to_sk) OR read_up_to_sk < :sk)",
                values={":unread": {unread_sk}, ":sk": unread_sk},
            )

    async def mark_read(
        self, owner_uuid: UUID, message_group_uuid: UUID, up_to_message_uuid: UUID | None = None
    ) -> Conversation | None:
        """Move the read marker forward to the latest (or the given unread) message.

        Returns the updated row, or None when the owner is not a member. Optimistic: the write
        is conditional on the marker it read, and retried if another mark-read moved it.
        """
        row_key = keys.conversation_key(owner_uuid, message_group_uuid)
        while True:
            item = await self.table.get(row_key, consistent=True)
            if item is None:
                return None
            marker = _read_marker_for(item, up_to_message_uuid)
            current = item.get("read_up_to_sk")
            if marker is None or (current is not None and marker <= current):
                return _conversation_from(item)
            now_read = {sk for sk in item.get("unread_sks", set()) if sk <= marker}
            update = "SET read_up_to_sk = :marker" + (
                " DELETE unread_sks :read" if now_read else ""
            )
            try:
                updated = await self.table.update(
                    row_key,
                    update=update,
                    condition=_ROW_EXISTS
                    + (
                        " AND read_up_to_sk = :current"
                        if current is not None
                        else " AND attribute_not_exists(read_up_to_sk)"
                    ),
                    # None values are left out by the serializer.
                    values={":marker": marker, ":read": now_read or None, ":current": current},
                    return_new=True,
                )
            except ConditionFailed:
                continue
            assert updated is not None
            return _conversation_from(updated)


def _read_marker_for(item: Mapping[str, Any], up_to_message_uuid: UUID | None) -> str | None:
    """The sort key to mark read up to; None when the given message is not one to mark."""
    if up_to_message_uuid is None or item["last_message_uuid"] == str(up_to_message_uuid):
        return str(item["last_message_sk"])
    suffix = f"#{up_to_message_uuid}"
    matching: Iterable[str] = (sk for sk in item.get("unread_sks", set()) if sk.endswith(suffix))
    return next(iter(matching), None)
