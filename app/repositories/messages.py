"""Messages (``MSG#<group>`` / ``<created_at>#<message_uuid>``) and the writes that add them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from app.crypto.cipher import NoEncryption, TextCipher
from app.domain import DELETED_TEXT, IdempotencyRecord, Message, Page, SealedText, User, preview_of
from app.errors import Conflict
from app.repositories import keys
from app.repositories.blocks import blocks_absent_ops
from app.repositories.conversations import new_row_item
from app.repositories.schema import TTL_ATTRIBUTE
from app.repositories.sealing import (
    PREVIEW_ATTRIBUTE,
    TEXT_ATTRIBUTE,
    binding_of,
    stored_form,
    stored_text,
)
from app.repositories.table import ConditionFailed, Item, Table, TransactionCancelled

_NEW = "attribute_not_exists(pk)"


class IdempotencyKeyUsed(Exception):
    """The client's key already stored a send; the caller replays or refuses it."""


class ConversationExists(Exception):
    """Someone created the conversation's rows first (or is creating them right now)."""


class PairBlocked(Exception):
    """A block between the two users refused the conversation's creation."""

    def __init__(self, blockers: set[UUID]) -> None:
        super().__init__("blocked")
        self.blockers = blockers


FIND_PAGE = 25
"""Messages read per Query while looking for one by uuid (newest first)."""


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    user_uuid: UUID
    client_key: str
    fingerprint: str
    ttl_seconds: int


CLAIM_PREFIX = "message_"
"""An idempotency record keeps a copy of its message's attributes, each under this prefix: it
must not look like a message item (no MSG# key), so the stream handler ignores it."""


def claim_attribute(name: str) -> str:
    """Where an idempotency record keeps its message's attribute ``name``."""
    return CLAIM_PREFIX + name


def message_item(message: Message) -> Item:
    return {
        **_key(message),
        "message_uuid": str(message.uuid),
        "sender_uuid": str(message.sender_uuid),
        "sender_handle": message.sender_handle,
        "sender_display_name": message.sender_display_name,
        TEXT_ATTRIBUTE: None if message.deleted else stored_form(message.text),
        PREVIEW_ATTRIBUTE: None if message.deleted else stored_form(message.preview),
        "opens_conversation": message.opens_conversation or None,
        "edited_at": keys.format_timestamp(message.edited_at) if message.edited_at else None,
        "deleted": message.deleted or None,
    }


def message_from_item(item: Item) -> Message:
    created_at, message_uuid = keys.parse_message_sk(item["sk"])
    deleted = bool(item.get("deleted", False))
    edited_at = item.get("edited_at")
    return Message(
        uuid=message_uuid,
        message_group_uuid=keys.group_of_message_pk(item["pk"]),
        sender_uuid=UUID(item["sender_uuid"]),
        sender_handle=item["sender_handle"],
        sender_display_name=item["sender_display_name"],
        text=DELETED_TEXT if deleted else stored_text(item[TEXT_ATTRIBUTE]),
        created_at=created_at,
        opens_conversation=bool(item.get("opens_conversation", False)),
        # Verbatim: items stored before previews existed fall back to their text's preview.
        preview=DELETED_TEXT
        if deleted
        else (stored_text(item[PREVIEW_ATTRIBUTE]) if PREVIEW_ATTRIBUTE in item else ""),
        edited_at=keys.parse_timestamp(edited_at) if edited_at else None,
        deleted=deleted,
    )


def _claim_item(claim: IdempotencyClaim, message: Message) -> Item:
    stored = {claim_attribute(name): value for name, value in message_item(message).items()}
    return {
        **keys.idempotency_key(claim.user_uuid, claim.client_key),
        "fingerprint": claim.fingerprint,
        **stored,
        TTL_ATTRIBUTE: int(time.time()) + claim.ttl_seconds,
    }


class MessagesRepository:
    def __init__(self, table: Table, cipher: TextCipher | None = None) -> None:
        self.table = table
        self.cipher = cipher or NoEncryption()

    async def _sealed(self, message: Message) -> Message:
        """Text and preview sealed, each bound to its attribute (rows copy the preview)."""
        assert isinstance(message.text, str)
        assert isinstance(message.preview, str)
        text = await self.cipher.seal(binding_of(self.table.name, message), message.text)
        preview_binding = binding_of(self.table.name, message, PREVIEW_ATTRIBUTE)
        preview = await self.cipher.seal(preview_binding, message.preview)
        return replace(message, text=text, preview=preview)

    async def _opened(self, message: Message) -> Message:
        if not isinstance(message.text, SealedText):
            return message  # plaintext (or a tombstone): nothing to open, nothing to bind
        bindings = [binding_of(self.table.name, message)]
        return replace(message, text=await self.cipher.open(bindings, message.text))

    async def add(
        self,
        message: Message,
        *,
        claim: IdempotencyClaim | None = None,
        new_conversation: tuple[User, User] | None = None,
    ) -> Message:
        """Store ``message``; with a claim and/or new conversation rows, all in one transaction.

        Returns the message as stored (its text sealed with encryption on). Raises
        ``IdempotencyKeyUsed`` or ``ConversationExists``; nothing is written then.
        """
        if new_conversation is not None:
            message = replace(message, opens_conversation=True)
        # Sealed before any write: a KMS failure leaves nothing behind.
        message = await self._sealed(message)
        item = message_item(message)
        if claim is None and new_conversation is None:
            # Failing means the SDK retried a put whose answer was lost: the key holds this
            # send's fresh uuid, so only that earlier attempt can have stored it.
            with contextlib.suppress(ConditionFailed):
                await self.table.put(item, condition=_NEW)
            return message
        if claim is not None:
            # The claim holds a copy of the message: edits and deletes reach it through this.
            item["claim_pk"] = keys.idempotency_key(claim.user_uuid, claim.client_key)["pk"]
        operations = [self.table.put_op(item, condition=_NEW)]
        if claim is not None:
            operations.append(self.table.put_op(_claim_item(claim, message), condition=_NEW))
        if new_conversation is not None:
            first, second = new_conversation
            # Block checks come last but two: a block item written before this transaction
            # refuses it, and blocking after it commits flags the rows it created.
            operations += [
                *blocks_absent_ops(self.table, first.uuid, second.uuid),
                self.table.put_op(new_row_item(first, second, message), condition=_NEW),
                self.table.put_op(new_row_item(second, first, message), condition=_NEW),
            ]
        try:
            await self.table.transact_write(operations)
        except TransactionCancelled as cancelled:
            # Failed with ConditionalCheckFailed (stored) or TransactionConflict (in flight).
            if claim is not None and cancelled.failed(1):
                raise IdempotencyKeyUsed from None
            if new_conversation is not None:
                first, second = new_conversation
                if any(cancelled.reasons[-2:]):
                    raise ConversationExists from None
                blockers = {
                    user.uuid
                    for user, reason in zip((first, second), cancelled.reasons[-4:-2], strict=True)
                    if reason == "ConditionalCheckFailed"
                }
                if blockers:
                    raise PairBlocked(blockers) from None
            raise Conflict("Message already exists.", code="message_exists") from None
        return message

    async def get_idempotency_record(
        self, user_uuid: UUID, client_key: str
    ) -> IdempotencyRecord | None:
        item = await self.table.get(keys.idempotency_key(user_uuid, client_key), consistent=True)
        if item is None or item.get(TTL_ATTRIBUTE, 0) < time.time():
            return None  # TTL deletion is lazy: an expired record is treated as gone
        stored = {
            name.removeprefix(CLAIM_PREFIX): value
            for name, value in item.items()
            if name.startswith(CLAIM_PREFIX)
        }
        message = await self._opened(message_from_item(stored))
        return IdempotencyRecord(fingerprint=item["fingerprint"], message=message)

    async def opened_page(self, page: Page[Message, str]) -> Page[Message, str]:
        """``page`` (from ``page(..., opened=False)``) with its messages' text opened."""
        return replace(page, items=[await self._opened(message) for message in page.items])

    async def page(
        self,
        message_group_uuid: UUID,
        *,
        limit: int,
        next: str | None = None,
        prev: str | None = None,
        opened: bool = True,
    ) -> Page[Message, str]:
        """Pattern A: ``limit`` messages, oldest first within the page; positions are sort keys.

        By default the newest page; ``next`` walks back to older messages, ``prev`` polls for
        newer ones.
        Strongly consistent, so a sender reads their own message right after sending it.
        With ``opened=False`` the messages are as stored (text sealed with encryption on), for
        a caller that fetches before it knows the reader may see them (``opened_page`` later).
        """
        values: dict[str, Any] = {":pk": keys.message_pk(message_group_uuid)}
        condition = "pk = :pk"
        if prev is not None:
            condition += " AND sk > :position"
            values[":position"] = prev
        elif next is not None:
            condition += " AND sk < :position"
            values[":position"] = next
        forward = prev is not None
        result = await self.table.query(
            key_condition=condition, values=values, forward=forward, limit=limit, consistent=True
        )
        items = result.items if forward else result.items[::-1]
        more_older = not forward and result.next is not None
        page = Page(
            items=[message_from_item(item) for item in items],
            next=items[0]["sk"] if more_older else None,
            prev=items[-1]["sk"] if items else prev,
        )
        return await self.opened_page(page) if opened else page

    async def sent_since(
        self, message_group_uuid: UUID, moment: datetime, *, limit: int
    ) -> list[Message]:
        """Up to ``limit`` messages sent at or after ``moment``, oldest first."""
        page = await self.page(message_group_uuid, limit=limit, prev=keys.message_sk_floor(moment))
        return page.items

    async def find(self, message_group_uuid: UUID, message_uuid: UUID) -> Message | None:
        """The conversation's message with that uuid, searched from the newest back.

        The uuid is not in the key: each Query reads ``FIND_PAGE`` messages (paid for in full,
        the filter only trims the answer), so the cost grows with how many messages came after
        it. Edits are recent by rule; deleting an old message in a long conversation pays more.
        """
        next: Item | None = None
        while True:
            result = await self.table.query(
                key_condition="pk = :pk",
                values={":pk": keys.message_pk(message_group_uuid), ":uuid": str(message_uuid)},
                forward=False,
                limit=FIND_PAGE,
                next=next,
                consistent=True,
                filter="message_uuid = :uuid",
            )
            if result.items:
                return await self._opened(message_from_item(result.items[0]))
            if result.next is None:
                return None
            next = result.next

    async def edit(self, message: Message, text: str, edited_at: datetime) -> Message | None:
        """Replace the text in place (same key, so the same position); None if it was deleted
        meanwhile."""
        at = keys.format_timestamp(edited_at)
        # Sealed like a send's (same bindings: the item's key does not change).
        sealed = await self._sealed(replace(message, text=text, preview=preview_of(text)))
        edited = await self._change(
            message,
            {
                TEXT_ATTRIBUTE: stored_form(sealed.text),
                PREVIEW_ATTRIBUTE: stored_form(sealed.preview),
                "edited_at": at,
            },
            unless="deleted",
        )
        return await self._opened(edited) if edited is not None else None

    async def tombstone(self, message: Message, deleted_at: datetime) -> Message | None:
        """Remove the text from the table; the item keeps its place, marked deleted. None if
        the item is gone (purged)."""
        return await self._change(
            message,
            {"deleted": True, "deleted_at": keys.format_timestamp(deleted_at)},
            remove=(TEXT_ATTRIBUTE, PREVIEW_ATTRIBUTE),
        )

    async def _change(
        self,
        message: Message,
        sets: Mapping[str, Any],
        *,
        remove: Sequence[str] = (),
        unless: str | None = None,
    ) -> Message | None:
        """Set (and remove) attributes of the message item and, in step, the same ones of its
        idempotency record's copy (which a replay returns); None when the item is gone or has
        the attribute ``unless``."""
        values = {f":v{index}": value for index, value in enumerate(sets.values())}
        update = "SET " + ", ".join(f"#s{index} = :v{index}" for index in range(len(sets)))
        if remove:
            update += " REMOVE " + ", ".join(f"#r{index}" for index in range(len(remove)))

        def names(name_of: Callable[[str], str]) -> dict[str, str]:
            placed = {f"#s{index}": name_of(name) for index, name in enumerate(sets)}
            return placed | {f"#r{index}": name_of(name) for index, name in enumerate(remove)}

        condition = "attribute_exists(pk)"
        if unless is not None:
            condition += f" AND attribute_not_exists({unless})"
        try:
            updated = await self.table.update(
                _key(message),
                update=update,
                condition=condition,
                names=names(str),
                values=values,
                return_new=True,
            )
        except ConditionFailed:
            return None
        assert updated is not None
        claim_pk = updated.get("claim_pk")
        if claim_pk is not None:
            with contextlib.suppress(ConditionFailed):  # expired and removed: nothing to keep
                await self.table.update(
                    keys.claim_key(claim_pk),
                    update=update,
                    condition="attribute_exists(pk)",
                    names=names(claim_attribute),
                    values=values,
                )
        return message_from_item(updated)

    async def purge(self, message: Message) -> None:
        """Remove the item itself (operators' data-protection requests)."""
        await self.table.delete(_key(message))


def _key(message: Message) -> keys.Key:
    return {
        "pk": keys.message_pk(message.message_group_uuid),
        "sk": keys.message_sk(message.created_at, message.uuid),
    }
