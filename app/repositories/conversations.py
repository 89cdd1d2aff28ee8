"""Conversation rows: one per participant, keyed ``GRP#<owner>`` / ``GRP#<group>``.

A row's existence is the membership proof. Its key never changes; the latest message lives in
``last_message_sk`` (the LSI sort key), which only ever moves forward. Unread messages are a
set of compact keys (``keys.unread_key``) after the read marker ``read_up_to``, so a duplicate
delivery adds nothing twice; the set is capped, as every update rewrites it (and the LSI entry).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from app.domain import Conversation, Message, Page, User
from app.repositories import keys
from app.repositories.table import ConditionFailed, Item, Table

PARTICIPANTS_PER_CONVERSATION = 2
UNREAD_CAP = 100
"""Unread entries kept per row; ``unread_count`` 100 means "100 or more"."""
OPTIMISTIC_ATTEMPTS = 5

_ROW_EXISTS = "attribute_exists(pk)"
_MOVES_FORWARD = "(attribute_not_exists(last_message_sk) OR last_message_sk < :sk)"
_SET_SUMMARY = (
    # The message's uuid and time live in last_message_sk: every byte here is written twice
    # (row and LSI entry) on every message, and rows over 1 KB cost double.
    "SET last_message = :text, last_message_sk = :sk"
)


class ParticipantsNotVisible(Exception):
    """The index does not show both rows yet (GSIs are eventually consistent): retry later."""


class NoConversationRows(Exception):
    """The message's sender has no row in its conversation: retrying can never apply it."""


class RowContended(Exception):
    """Concurrent writers kept changing a row; the caller retries later."""


def _summary_values(message: Message) -> dict[str, Any]:
    return {
        ":text": message.text,
        ":sk": keys.message_sk(message.created_at, message.uuid),
    }


def change_marker(message: Message) -> str:
    """Orders the versions of the rows' last message: its sort key, then the edit time; a
    tombstone comes after every edit ("~" sorts after digits)."""
    version = (
        "~" if message.deleted else keys.format_timestamp(message.edited_at or message.created_at)
    )
    return f"{keys.message_sk(message.created_at, message.uuid)}#{version}"


def new_row_item(owner: User, other: User, first_message: Message) -> Item:
    """A participant's row as created with the conversation, its first message as summary."""
    first_sk = keys.message_sk(first_message.created_at, first_message.uuid)
    unread = None
    if first_message.sender_uuid != owner.uuid:
        unread = {keys.unread_key(first_message.created_at, first_message.uuid)}
    return {
        **keys.conversation_key(owner.uuid, first_message.message_group_uuid),
        "message_group_uuid": str(first_message.message_group_uuid),
        "other_user_uuid": str(other.uuid),
        "other_handle": other.handle,
        "other_display_name": other.display_name,
        "last_message": first_message.text,
        "last_message_sk": first_sk,
        "unread_message_keys": unread,
    }


def _unread_after_marker(item: Mapping[str, Any]) -> set[str]:
    # Keys at or before the read marker can linger after a race with mark-read; they are read.
    marker = item.get("read_up_to", "")
    return {key for key in item.get("unread_message_keys", set()) if key > marker}


def _conversation_from(owner_uuid: UUID, item: Item) -> Conversation:
    """The domain view of ``owner_uuid``'s row (the caller knows the owner; no pk parsing)."""
    last_at, last_uuid = keys.parse_message_sk(item["last_message_sk"])
    read_up_to_uuid = item.get("read_up_to_uuid")
    return Conversation(
        message_group_uuid=UUID(item["message_group_uuid"]),
        owner_uuid=owner_uuid,
        other_uuid=UUID(item["other_user_uuid"]),
        other_handle=item["other_handle"],
        other_display_name=item["other_display_name"],
        last_message=item["last_message"],
        last_message_at=last_at,
        last_message_uuid=last_uuid,
        unread_count=len(_unread_after_marker(item)),
        read_up_to_uuid=UUID(read_up_to_uuid) if read_up_to_uuid else None,
        blocked_by=frozenset(UUID(blocker) for blocker in item.get("blocked_by", ())),
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
        return _conversation_from(owner_uuid, item) if item else None

    async def list_recent(
        self, owner_uuid: UUID, *, limit: int, next: Mapping[str, str] | None = None
    ) -> Page[Conversation, Item]:
        """Pattern B: the owner's conversations, newest activity first, one Query on the LSI.

        Conversations the owner blocked the other in are left out (so a page may be short).
        """
        page = await self.table.query(
            index=keys.ACTIVITY_INDEX,
            key_condition="pk = :pk",
            values={":pk": keys.conversations_pk(owner_uuid), ":owner": str(owner_uuid)},
            forward=False,
            limit=limit,
            next=next,
            filter="NOT contains(blocked_by, :owner)",
        )
        return Page(
            items=[_conversation_from(owner_uuid, item) for item in page.items], next=page.next
        )

    async def participants(self, message_group_uuid: UUID) -> list[UUID]:
        """Owners of the conversation's rows, from the sparse KEYS_ONLY GSI."""
        page = await self.table.query(
            index=keys.CONVERSATION_INDEX,
            key_condition="message_group_uuid = :group",
            values={":group": str(message_group_uuid)},
        )
        return [keys.owner_of_conversation_pk(item["pk"]) for item in page.items]

    async def _owners(self, message_group_uuid: UUID, sender_uuid: UUID) -> list[UUID]:
        """Both participants, or ``ParticipantsNotVisible`` / ``NoConversationRows``."""
        owners = await self.participants(message_group_uuid)
        if len(owners) < PARTICIPANTS_PER_CONVERSATION:
            # The index lags the table; a strongly consistent read tells late from never.
            if await self.get(sender_uuid, message_group_uuid) is None:
                raise NoConversationRows(str(message_group_uuid))
            raise ParticipantsNotVisible(str(message_group_uuid))
        return owners

    async def apply_messages(self, message_group_uuid: UUID, messages: Sequence[Message]) -> None:
        """Pattern E: move every participant's row to the newest of ``messages``.

        Safe under duplicates, retries and any order: the summary only moves forward and
        unread keys form a set guarded by the read marker. A conversation's opening message
        is skipped: the transaction that created the rows already applied it.
        """
        later = [message for message in messages if not message.opens_conversation]
        if not later:
            return
        newest = max(later, key=lambda message: (message.created_at, str(message.uuid)))
        owners = await self._owners(message_group_uuid, newest.sender_uuid)
        await asyncio.gather(
            *(
                self._apply_to_row(
                    keys.conversation_key(owner, message_group_uuid),
                    newest,
                    [message for message in later if message.sender_uuid != owner],
                )
                for owner in owners
            )
        )

    async def _apply_to_row(
        self, row_key: keys.Key, newest: Message, unread: Sequence[Message]
    ) -> None:
        values = _summary_values(newest)
        if not unread:
            # Failing means a newer (or this very) message is already the summary.
            with contextlib.suppress(ConditionFailed):
                await self.table.update(
                    row_key,
                    update=_SET_SUMMARY,
                    condition=f"{_ROW_EXISTS} AND {_MOVES_FORWARD}",
                    values=values,
                )
            return
        unread_keys = {keys.unread_key(m.created_at, m.uuid) for m in unread}
        oldest = min(unread, key=lambda message: (message.created_at, str(message.uuid)))
        try:
            # Common case, one write: in order, after the read marker, with room in the set.
            await self.table.update(
                row_key,
                update=f"{_SET_SUMMARY} ADD unread_message_keys :unread",
                condition=f"{_ROW_EXISTS} AND {_MOVES_FORWARD} AND "
                "(attribute_not_exists(read_up_to) OR read_up_to < :oldest_unread) AND "
                "(attribute_not_exists(unread_message_keys) OR size(unread_message_keys) <= :room)",
                values={
                    **values,
                    ":unread": unread_keys,
                    ":oldest_unread": keys.unread_key(oldest.created_at, oldest.uuid),
                    ":room": UNREAD_CAP - len(unread_keys),
                },
            )
        except ConditionFailed:
            # Late, duplicate, partly read or full: decide from the row itself.
            await self._apply_after_reading(row_key, newest, unread_keys)

    async def apply_changes(self, message_group_uuid: UUID, changed: Sequence[Message]) -> None:
        """Edits and deletes (stream MODIFY records): never reorder, never count a message.

        A row whose last message changed shows the new text (``DELETED_TEXT`` for a tombstone),
        guarded by ``last_change`` so that a late or duplicated older change never overwrites
        a newer one; a row that moved on to a newer message is left alone. A deleted message
        leaves the recipient's unread set, which a duplicate delivery cannot do twice.
        Streams deliver one item's records in order, so a change never precedes its INSERT.
        """
        latest: dict[UUID, Message] = {}
        for message in changed:
            seen = latest.get(message.uuid)
            if seen is None or change_marker(seen) < change_marker(message):
                latest[message.uuid] = message
        if not latest:
            return
        some = next(iter(latest.values()))
        owners = await self._owners(message_group_uuid, some.sender_uuid)
        await asyncio.gather(
            *(self._apply_change(owner, message) for owner in owners for message in latest.values())
        )

    async def _apply_change(self, owner: UUID, message: Message) -> None:
        row_key = keys.conversation_key(owner, message.message_group_uuid)
        with contextlib.suppress(ConditionFailed):
            await self.table.update(
                row_key,
                update="SET last_message = :text, last_change = :change",
                condition="last_message_sk = :sk AND "
                "(attribute_not_exists(last_change) OR last_change < :change)",
                values={
                    ":text": message.text,
                    ":change": change_marker(message),
                    ":sk": keys.message_sk(message.created_at, message.uuid),
                },
            )
        if message.deleted and message.sender_uuid != owner:
            with contextlib.suppress(ConditionFailed):
                await self.table.update(
                    row_key,
                    update="DELETE unread_message_keys :deleted",
                    condition="contains(unread_message_keys, :key)",
                    values={
                        ":deleted": {keys.unread_key(message.created_at, message.uuid)},
                        ":key": keys.unread_key(message.created_at, message.uuid),
                    },
                )

    async def _apply_after_reading(
        self, row_key: keys.Key, newest: Message, unread_keys: set[str]
    ) -> None:
        """One read and one write conditional on what was read, retried if the row moved."""
        newest_sk = keys.message_sk(newest.created_at, newest.uuid)
        for _ in range(OPTIMISTIC_ATTEMPTS):
            item = await self.table.get(row_key, consistent=True)
            if item is None:
                return
            seen_last = str(item["last_message_sk"])
            marker = item.get("read_up_to")
            present = set(item.get("unread_message_keys", set()))
            room = max(0, UNREAD_CAP - len(present))
            to_add = sorted(key for key in unread_keys - present if key > (marker or ""))
            to_add = to_add[max(0, len(to_add) - room) :]  # keep the newest that fit
            moves = seen_last < newest_sk
            if not moves and not to_add:
                return
            update = [_SET_SUMMARY] if moves else []
            if to_add:
                update.append("ADD unread_message_keys :unread")
            marker_unchanged = (
                "read_up_to = :marker" if marker else "attribute_not_exists(read_up_to)"
            )
            try:
                await self.table.update(
                    row_key,
                    update=" ".join(update),
                    condition=f"last_message_sk = :seen_last AND {marker_unchanged}",
                    values={
                        **(_summary_values(newest) if moves else {}),
                        ":unread": set(to_add) or None,
                        ":seen_last": seen_last,
                        ":marker": marker,
                    },
                )
                return
            except ConditionFailed:
                continue
        raise RowContended(str(row_key))

    async def mark_read(
        self, owner_uuid: UUID, message_group_uuid: UUID, up_to_message_uuid: UUID | None = None
    ) -> Conversation | None:
        """Move the read marker forward to the latest (or the given unread) message.

        Returns the updated row, or None when the owner is not a member. Optimistic: the write
        is conditional on the marker it read, and retried if another mark-read moved it.
        """
        row_key = keys.conversation_key(owner_uuid, message_group_uuid)
        for _ in range(OPTIMISTIC_ATTEMPTS):
            item = await self.table.get(row_key, consistent=True)
            if item is None:
                return None
            target = _read_target(item, up_to_message_uuid)
            current = item.get("read_up_to")
            if target is None or (current is not None and target[0] <= current):
                return _conversation_from(owner_uuid, item)
            marker, marker_uuid = target
            now_read = {k for k in item.get("unread_message_keys", set()) if k <= marker}
            update = "SET read_up_to = :marker, read_up_to_uuid = :marker_uuid" + (
                " DELETE unread_message_keys :read" if now_read else ""
            )
            unchanged = "read_up_to = :current" if current else "attribute_not_exists(read_up_to)"
            try:
                updated = await self.table.update(
                    row_key,
                    update=update,
                    condition=f"{_ROW_EXISTS} AND {unchanged}",
                    # None values are left out by the serializer.
                    values={
                        ":marker": marker,
                        ":marker_uuid": str(marker_uuid),
                        ":read": now_read or None,
                        ":current": current,
                    },
                    return_new=True,
                )
            except ConditionFailed:
                continue
            assert updated is not None
            return _conversation_from(owner_uuid, updated)
        raise RowContended(str(row_key))


def _read_target(item: Mapping[str, Any], up_to: UUID | None) -> tuple[str, UUID] | None:
    """The marker (an unread key) and message uuid to mark read up to; None if not markable."""
    created_at, last_uuid = keys.parse_message_sk(str(item["last_message_sk"]))
    if up_to is None or up_to == last_uuid:
        return keys.unread_key(created_at, last_uuid), last_uuid
    matching: Iterable[str] = (
        key for key in item.get("unread_message_keys", set()) if keys.unread_key_matches(key, up_to)
    )
    marker = next(iter(matching), None)
    return (marker, up_to) if marker else None
