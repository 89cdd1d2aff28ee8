"""Conversation rows: one per participant, keyed ``GRP#<owner>`` / ``GRP#<group>``.

A row's existence is the membership proof. Its key never changes; the latest message lives in
``last_message_sk`` (the LSI sort key), which only ever moves forward, with that message's
bounded preview in ``last_message``. ``unread_count`` is kept equal to the number of the other
participant's messages after the read marker ``read_up_to`` (a message sort key) up to
``last_message_sk``:

- in order (every message of the batch newer than the row's last), one conditional update
  moves the summary and adds the batch's count; a duplicate fails that condition;
- out of order or duplicated, the count is recomputed from the stored messages (the source of
  truth) and written conditionally on the row being unchanged since it was read.

So the row's size, and each update's cost, is bounded whatever the backlog (issue 11).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from app.crypto.cipher import NoEncryption, TextCipher
from app.domain import DELETED_TEXT, Conversation, Message, Page, SealedText, User, preview_of
from app.repositories import keys
from app.repositories.sealing import (
    TEXT_ATTRIBUTE,
    last_message_bindings,
    stored_form,
    stored_text,
)
from app.repositories.table import ConditionFailed, Item, Table

PARTICIPANTS_PER_CONVERSATION = 2
UNREAD_CAP = 100
"""``unread_count`` shown at most; 100 means "100 or more" (recounts stop there)."""
OPTIMISTIC_ATTEMPTS = 5
RECOUNT_PAGE = 100

_ROW_EXISTS = "attribute_exists(pk)"
_SET_SUMMARY = "SET last_message = :preview, last_message_sk = :sk"


class ParticipantsNotVisible(Exception):
    """The index does not show both rows yet (GSIs are eventually consistent): retry later."""


class NoConversationRows(Exception):
    """The message's sender has no row in its conversation: retrying can never apply it."""


class RowContended(Exception):
    """Concurrent writers kept changing a row; the caller retries later."""


def _sk(message: Message) -> str:
    return keys.message_sk(message.created_at, message.uuid)


def change_marker(message: Message) -> str:
    """Orders the versions of the rows' last message: its sort key, then the edit time; a
    tombstone comes after every edit ("~" sorts after digits)."""
    version = (
        "~" if message.deleted else keys.format_timestamp(message.edited_at or message.created_at)
    )
    return f"{_sk(message)}#{version}"


def latest_versions(changed: Sequence[Message]) -> list[Message]:
    """Each message's latest version among ``changed`` (a batch may hold several, and
    duplicates)."""
    latest: dict[UUID, Message] = {}
    for message in changed:
        seen = latest.get(message.uuid)
        if seen is None or change_marker(seen) < change_marker(message):
            latest[message.uuid] = message
    return list(latest.values())


def _stored_preview(message: Message) -> str | bytes:
    """The preview as stored on the message item (sealed with encryption on): rows copy it
    verbatim, so nothing here ever decrypts."""
    return stored_form(message.preview)


def new_row_item(owner: User, other: User, first_message: Message) -> Item:
    """A participant's row as created with the conversation, its first message as summary."""
    return {
        **keys.conversation_key(owner.uuid, first_message.message_group_uuid),
        "message_group_uuid": str(first_message.message_group_uuid),
        "other_user_uuid": str(other.uuid),
        "other_handle": other.handle,
        "other_display_name": other.display_name,
        "last_message": _stored_preview(first_message),
        "last_message_sk": _sk(first_message),
        "unread_count": 1 if first_message.sender_uuid != owner.uuid else None,
    }


def _conversation_from(owner_uuid: UUID, item: Item) -> Conversation:
    """The domain view of ``owner_uuid``'s row (the caller knows the owner; no pk parsing)."""
    last_at, last_uuid = keys.parse_message_sk(item["last_message_sk"])
    marker = item.get("read_up_to")
    return Conversation(
        message_group_uuid=keys.group_of_conversation_sk(item["sk"]),
        owner_uuid=owner_uuid,
        other_uuid=UUID(item["other_user_uuid"]),
        other_handle=item["other_handle"],
        other_display_name=item["other_display_name"],
        last_message=stored_text(item["last_message"]),
        last_message_at=last_at,
        last_message_uuid=last_uuid,
        unread_count=min(int(item.get("unread_count", 0)), UNREAD_CAP),
        read_up_to_uuid=keys.parse_message_sk(marker)[1] if marker else None,
        blocked_by=frozenset(UUID(blocker) for blocker in item.get("blocked_by", ())),
    )


@dataclass(frozen=True, slots=True)
class _RowState:
    """What a conditional write of a row was decided from."""

    last_sk: str
    marker: str | None
    unread: int

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> _RowState:
        return cls(
            str(item["last_message_sk"]), item.get("read_up_to"), int(item.get("unread_count", 0))
        )

    def condition(self) -> tuple[str, dict[str, Any]]:
        """The row is exactly as read: same summary, same marker (so the same count)."""
        marker = "read_up_to = :marker" if self.marker else "attribute_not_exists(read_up_to)"
        values = {":seen_last": self.last_sk, ":marker": self.marker}
        return f"last_message_sk = :seen_last AND {marker}", values


class ConversationsRepository:
    def __init__(self, table: Table, cipher: TextCipher | None = None) -> None:
        self.table = table
        self.cipher = cipher or NoEncryption()

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
            items=[await self._opened(owner_uuid, item) for item in page.items], next=page.next
        )

    async def _opened(self, owner_uuid: UUID, item: Item) -> Conversation:
        conversation = _conversation_from(owner_uuid, item)
        if not isinstance(conversation.last_message, SealedText):
            return conversation  # plaintext: nothing to open, nothing to bind
        bindings = last_message_bindings(self.table.name, conversation)
        text = await self.cipher.open(bindings, conversation.last_message)
        return replace(conversation, last_message=text)

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

    async def groups_of(
        self, owner_uuid: UUID, *, limit: int, after: Mapping[str, Any] | None = None
    ) -> tuple[list[UUID], Item | None]:
        """The conversations the owner has a row in (one page, in key order)."""
        page = await self.table.query(
            key_condition="pk = :pk AND begins_with(sk, :rows)",
            values={":pk": keys.conversations_pk(owner_uuid), ":rows": "GRP#"},
            limit=limit,
            next=after,
            projection="sk",
        )
        return [keys.group_of_conversation_sk(item["sk"]) for item in page.items], page.next

    async def all_rows(
        self, *, limit: int, after: Mapping[str, Any] | None = None
    ) -> tuple[list[tuple[UUID, UUID]], Item | None]:
        """(owner, conversation) of every row: one page of the sparse KEYS_ONLY index."""
        page = await self.table.scan(index=keys.CONVERSATION_INDEX, limit=limit, next=after)
        rows = [
            (keys.owner_of_conversation_pk(item["pk"]), UUID(item["message_group_uuid"]))
            for item in page.items
        ]
        return rows, page.next

    async def apply_messages(self, message_group_uuid: UUID, messages: Sequence[Message]) -> None:
        """Pattern E: move every participant's row to the newest of ``messages``.

        Safe under duplicates, retries and any order (see the module's docstring). A
        conversation's opening message is skipped: the transaction that created the rows
        already applied it. Afterwards ``get`` shows each row at least this far.
        """
        # A batch may hold the same record twice: count each message once.
        distinct = {message.uuid: message for message in messages}
        later = [message for message in distinct.values() if not message.opens_conversation]
        if not later:
            return
        newest = max(later, key=_sk)
        owners = await self._owners(message_group_uuid, newest.sender_uuid)
        await asyncio.gather(
            *(
                self._apply_to_row(
                    owner,
                    message_group_uuid,
                    newest,
                    [message for message in later if message.sender_uuid != owner],
                    own_newest=max(
                        (_sk(message) for message in later if message.sender_uuid == owner),
                        default=None,
                    ),
                )
                for owner in owners
            )
        )

    async def advance_own_row(self, message: Message) -> None:
        """The sender's own row shows ``message`` at once (read-your-writes after a send).

        The same forward-only update the stream handler makes; the handler, finding the row
        already there, leaves it alone. Own messages never change the owner's unread count.
        """
        await self._apply_to_row(
            message.sender_uuid, message.message_group_uuid, message, [], read_first=False
        )

    async def _apply_to_row(
        self,
        owner: UUID,
        message_group_uuid: UUID,
        newest: Message,
        unread: Sequence[Message],
        own_newest: str | None = None,
        *,
        read_first: bool = True,
    ) -> None:
        """``own_newest``: the sort key of the owner's newest message in the batch, if any;
        ``read_first``: with no unread messages, read before writing (the handler, which
        usually finds the send path was there first)."""
        row_key = keys.conversation_key(owner, message_group_uuid)
        newest_sk = _sk(newest)
        oldest_unread_sk = min(_sk(message) for message in unread) if unread else newest_sk
        if unread and own_newest is not None and own_newest > oldest_unread_sk:
            # The send path has most likely moved the row past some of these already: the
            # in-order write would fail (and a failed write still costs a unit).
            await self._apply_after_reading(owner, message_group_uuid, newest, unread)
            return
        if not unread and read_first:
            # Only the owner's own messages: usually the send path applied them already, and a
            # read (1 RCU) is cheaper than a failed conditional write (1 WCU).
            item = await self.table.get(row_key, consistent=True)
            if item is None or str(item["last_message_sk"]) >= newest_sk:
                return
        update = _SET_SUMMARY + (" ADD unread_count :unread" if unread else "")
        try:
            # In order, one write: every unread message is newer than the row's summary, so
            # none of them was counted before (a duplicate fails here).
            await self.table.update(
                row_key,
                update=update,
                condition=f"{_ROW_EXISTS} AND "
                "(attribute_not_exists(last_message_sk) OR last_message_sk < :oldest_unread)",
                values={
                    ":preview": _stored_preview(newest),
                    ":sk": newest_sk,
                    ":unread": len(unread) or None,
                    ":oldest_unread": oldest_unread_sk,
                },
            )
        except ConditionFailed:
            await self._apply_after_reading(owner, message_group_uuid, newest, unread)

    async def apply_changes(self, message_group_uuid: UUID, changed: Sequence[Message]) -> None:
        """Edits and deletes (stream MODIFY records): never reorder, never count a message.

        A row whose last message changed shows its new preview (``DELETED_TEXT`` for a
        tombstone), guarded by ``last_change`` so that a late or duplicated older change never
        overwrites a newer one; a row that moved on to a newer message is left alone. A deleted
        unread message lowers the recipient's count, recounted from the stored messages, so a
        duplicate delivery cannot lower it twice.
        Streams deliver one item's records in order, so a change never precedes its INSERT.
        """
        latest = latest_versions(changed)
        if not latest:
            return
        some = latest[0]
        owners = await self._owners(message_group_uuid, some.sender_uuid)
        await asyncio.gather(
            *(self._apply_change(owner, message) for owner in owners for message in latest)
        )

    async def _apply_change(self, owner: UUID, message: Message) -> None:
        row_key = keys.conversation_key(owner, message.message_group_uuid)
        with contextlib.suppress(ConditionFailed):
            await self.table.update(
                row_key,
                update="SET last_message = :preview, last_change = :change",
                condition="last_message_sk = :sk AND "
                "(attribute_not_exists(last_change) OR last_change < :change)",
                values={
                    ":preview": _stored_preview(message),
                    ":change": change_marker(message),
                    ":sk": _sk(message),
                },
            )
        if message.deleted and message.sender_uuid != owner:
            await self._recount(owner, message)

    async def _recount(self, owner: UUID, deleted: Message) -> None:
        """The owner's unread count without ``deleted``, counted again from the stored
        messages (which skip tombstones): a duplicate delivery finds the same count."""
        row_key = keys.conversation_key(owner, deleted.message_group_uuid)
        for _ in range(OPTIMISTIC_ATTEMPTS):
            item = await self.table.get(row_key, consistent=True)
            if item is None:
                return
            seen = _RowState.of(item)
            if seen.marker is not None and _sk(deleted) <= seen.marker:
                return  # read already: never counted
            unread_count = await self.count_unread(
                owner, deleted.message_group_uuid, seen.marker, seen.last_sk
            )
            if unread_count == seen.unread:
                return
            condition, values = seen.condition()
            try:
                await self._write_summary(row_key, None, unread_count, condition, values)
                return
            except ConditionFailed:
                continue
        raise RowContended(str(row_key))

    async def _apply_after_reading(
        self, owner: UUID, message_group_uuid: UUID, newest: Message, unread: Sequence[Message]
    ) -> None:
        """Late, duplicate or missing row: decide from the row itself, count from the source."""
        row_key = keys.conversation_key(owner, message_group_uuid)
        newest_sk = _sk(newest)
        for _ in range(OPTIMISTIC_ATTEMPTS):
            item = await self.table.get(row_key, consistent=True)
            if item is None:
                return
            seen = _RowState.of(item)
            moves = seen.last_sk < newest_sk
            last_sk = newest_sk if moves else seen.last_sk
            unseen = [m for m in unread if _sk(m) > seen.last_sk]
            if len(unseen) == len(unread):
                unread_count = seen.unread + len(unseen)
            else:
                # Some may have been counted already: count again from the stored messages.
                unread_count = await self.count_unread(
                    owner, message_group_uuid, seen.marker, last_sk
                )
            if not moves and unread_count == seen.unread:
                return
            condition, values = seen.condition()
            try:
                summary = (newest_sk, _stored_preview(newest)) if moves else None
                await self._write_summary(row_key, summary, unread_count, condition, values)
                return
            except ConditionFailed:
                continue
        raise RowContended(str(row_key))

    async def _write_summary(
        self,
        row_key: keys.Key,
        summary: tuple[str, str | bytes] | None,
        unread_count: int,
        condition: str,
        values: Mapping[str, Any],
    ) -> None:
        """Set the count, and the summary (sort key, preview) when it moves forward."""
        update = "SET unread_count = :count"
        summary_values: dict[str, Any] = {}
        if summary is not None:
            update = f"{_SET_SUMMARY}, unread_count = :count"
            summary_values = {":sk": summary[0], ":preview": summary[1]}
        await self.table.update(
            row_key,
            update=update,
            condition=condition,
            values={**values, **summary_values, ":count": unread_count},
        )

    async def _unread_newest_first(
        self, owner: UUID, message_group_uuid: UUID, marker: str | None, up_to: str
    ) -> AsyncIterator[tuple[str, str | None, bool]]:
        """(sort key, message uuid, unread: from the other participant and not deleted) of each
        stored message after
        ``marker`` up to ``up_to``, newest first, a page at a time (strongly consistent: a
        message whose record is being applied is there)."""
        start: Item | None = None
        while True:
            page = await self.table.query(
                key_condition="pk = :pk AND sk <= :up_to",
                values={":pk": keys.message_pk(message_group_uuid), ":up_to": up_to},
                forward=False,
                limit=RECOUNT_PAGE,
                next=start,
                consistent=True,
                projection="sk, sender_uuid, message_uuid, deleted",
            )
            for item in page.items:
                sort_key = str(item["sk"])
                if marker is not None and sort_key <= marker:
                    return
                sender = item.get("sender_uuid")  # None: an undecodable item, never counted
                counts = sender not in (None, str(owner)) and not item.get("deleted", False)
                yield sort_key, item.get("message_uuid"), counts
            if page.next is None:
                return
            start = page.next

    async def count_unread(
        self, owner: UUID, message_group_uuid: UUID, marker: str | None, up_to: str
    ) -> int:
        """The other participant's stored messages after ``marker`` up to ``up_to``, at most
        ``UNREAD_CAP``."""
        count = 0
        async for _, _, unread in self._unread_newest_first(
            owner, message_group_uuid, marker, up_to
        ):
            count += unread
            if count >= UNREAD_CAP:
                break
        return count

    async def repair_row(self, owner: UUID, message_group_uuid: UUID) -> bool:
        """Recompute the owner's row from the stored messages and its read marker.

        Forward-only and conditional on the row as read (retried if it moved), so it is safe
        beside the stream handler and idempotent. True when the row changed.
        """
        row_key = keys.conversation_key(owner, message_group_uuid)
        for _ in range(OPTIMISTIC_ATTEMPTS):
            item = await self.table.get(row_key, consistent=True)
            if item is None:
                return False
            seen = _RowState.of(item)
            page = await self.table.query(
                key_condition="pk = :pk",
                values={":pk": keys.message_pk(message_group_uuid)},
                forward=False,
                limit=1,
                consistent=True,
            )
            newest = _summary_of(page.items[0]) if page.items else None
            moves = newest is not None and newest[0] > seen.last_sk
            # The last message edited or deleted while its record was not applied.
            changed = (
                newest is not None
                and newest[0] == seen.last_sk
                and newest[1] != _as_stored(item["last_message"])
            )
            summary = newest if moves or changed else None
            last_sk = summary[0] if summary is not None else seen.last_sk
            unread_count = await self.count_unread(owner, message_group_uuid, seen.marker, last_sk)
            if summary is None and min(unread_count, UNREAD_CAP) == min(seen.unread, UNREAD_CAP):
                return False
            condition, values = seen.condition()
            try:
                await self._write_summary(row_key, summary, unread_count, condition, values)
                return True
            except ConditionFailed:
                continue
        raise RowContended(str(row_key))

    async def mark_read(
        self, owner_uuid: UUID, message_group_uuid: UUID, up_to_message_uuid: UUID | None = None
    ) -> Conversation | None:
        """Move the read marker forward to the latest (or the given unread) message.

        Returns the updated row, or None when the owner is not a member. Optimistic: the write
        is conditional on the row it read, and retried if the row moved meanwhile.
        """
        row_key = keys.conversation_key(owner_uuid, message_group_uuid)
        for _ in range(OPTIMISTIC_ATTEMPTS):
            item = await self.table.get(row_key, consistent=True)
            if item is None:
                return None
            seen = _RowState.of(item)
            target = await self._read_target(
                owner_uuid, message_group_uuid, seen, up_to_message_uuid
            )
            if target is None or (seen.marker is not None and target[0] <= seen.marker):
                return _conversation_from(owner_uuid, item)
            marker, unread_count = target
            condition, values = seen.condition()
            try:
                updated = await self.table.update(
                    row_key,
                    update="SET read_up_to = :new_marker, unread_count = :count",
                    condition=condition,
                    values={**values, ":new_marker": marker, ":count": unread_count},
                    return_new=True,
                )
            except ConditionFailed:
                continue
            assert updated is not None
            return _conversation_from(owner_uuid, updated)
        raise RowContended(str(row_key))

    async def _read_target(
        self, owner: UUID, message_group_uuid: UUID, seen: _RowState, up_to: UUID | None
    ) -> tuple[str, int] | None:
        """The marker (a message sort key) to mark read up to, and the unread count after it;
        None when ``up_to`` is not among the newest ``UNREAD_CAP`` unread messages."""
        last_uuid = keys.parse_message_sk(seen.last_sk)[1]
        if up_to is None or up_to == last_uuid:
            return seen.last_sk, 0
        after = 0
        async for sort_key, message_uuid, unread in self._unread_newest_first(
            owner, message_group_uuid, seen.marker, seen.last_sk
        ):
            if message_uuid == str(up_to):
                return sort_key, after
            after += unread
            if after >= UNREAD_CAP:
                break
        return None


def _as_stored(value: Any) -> str | bytes:
    """A row's ``last_message`` as comparable with a preview: text, or envelope bytes."""
    return value if isinstance(value, str) else bytes(value)


def _summary_of(message_item: Item) -> tuple[str, str | bytes]:
    """A stored message's sort key and verbatim preview, sealed or not: never decrypted.
    Items stored before previews existed show their text's preview (a sealed text as it is:
    the list opens it with the text's binding)."""
    if message_item.get("deleted"):
        return str(message_item["sk"]), DELETED_TEXT
    preview = message_item.get("preview")
    if preview is None:
        text = message_item.get(TEXT_ATTRIBUTE, "")
        preview = preview_of(text) if isinstance(text, str) else bytes(text)
    return str(message_item["sk"]), preview if isinstance(preview, str) else bytes(preview)
