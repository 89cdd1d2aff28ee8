"""Messages (``MSG#<group>`` / ``<created_at>#<message_uuid>``) and the writes that add them."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from app.crypto.cipher import NoEncryption, TextCipher
from app.domain import IdempotencyRecord, Message, Page, User
from app.errors import Conflict
from app.repositories import keys
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


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    user_uuid: UUID
    client_key: str
    fingerprint: str
    ttl_seconds: int


def message_item(message: Message) -> Item:
    return {
        "pk": keys.message_pk(message.message_group_uuid),
        "sk": keys.message_sk(message.created_at, message.uuid),
        "message_uuid": str(message.uuid),
        "sender_uuid": str(message.sender_uuid),
        "sender_handle": message.sender_handle,
        "sender_display_name": message.sender_display_name,
        TEXT_ATTRIBUTE: stored_form(message.text),
        PREVIEW_ATTRIBUTE: stored_form(message.preview),
        "opens_conversation": message.opens_conversation or None,
    }


def message_from_item(item: Item) -> Message:
    created_at, message_uuid = keys.parse_message_sk(item["sk"])
    return Message(
        uuid=message_uuid,
        message_group_uuid=keys.group_of_message_pk(item["pk"]),
        sender_uuid=UUID(item["sender_uuid"]),
        sender_handle=item["sender_handle"],
        sender_display_name=item["sender_display_name"],
        text=stored_text(item[TEXT_ATTRIBUTE]),
        created_at=created_at,
        opens_conversation=bool(item.get("opens_conversation", False)),
        # Verbatim: items stored before previews existed fall back to their text's preview.
        preview=stored_text(item[PREVIEW_ATTRIBUTE]) if PREVIEW_ATTRIBUTE in item else "",
    )


def _claim_item(claim: IdempotencyClaim, message: Message) -> Item:
    # The stored message is renamed into the record's own attributes: it must not look like a
    # message item (no MSG# key), so the stream handler ignores it.
    stored: dict[str, Any] = {
        f"message_{name}": value for name, value in message_item(message).items()
    }
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
        operations = [self.table.put_op(item, condition=_NEW)]
        if claim is not None:
            operations.append(self.table.put_op(_claim_item(claim, message), condition=_NEW))
        if new_conversation is not None:
            first, second = new_conversation
            operations += [
                self.table.put_op(new_row_item(first, second, message), condition=_NEW),
                self.table.put_op(new_row_item(second, first, message), condition=_NEW),
            ]
        try:
            await self.table.transact_write(operations)
        except TransactionCancelled as cancelled:
            # Failed with ConditionalCheckFailed (stored) or TransactionConflict (in flight).
            if claim is not None and cancelled.failed(1):
                raise IdempotencyKeyUsed from None
            if new_conversation is not None and any(cancelled.reasons[-2:]):
                raise ConversationExists from None
            raise Conflict("Message already exists.", code="message_exists") from None
        return message

    async def get_idempotency_record(
        self, user_uuid: UUID, client_key: str
    ) -> IdempotencyRecord | None:
        item = await self.table.get(keys.idempotency_key(user_uuid, client_key), consistent=True)
        if item is None or item.get(TTL_ATTRIBUTE, 0) < time.time():
            return None  # TTL deletion is lazy: an expired record is treated as gone
        stored = {
            name.removeprefix("message_"): value
            for name, value in item.items()
            if name.startswith("message_")
        }
        message = await self._opened(message_from_item(stored))
        return IdempotencyRecord(fingerprint=item["fingerprint"], message=message)

    async def page(
        self,
        message_group_uuid: UUID,
        *,
        limit: int,
        next: str | None = None,
        prev: str | None = None,
    ) -> Page[Message, str]:
        """Pattern A: ``limit`` messages, oldest first within the page; positions are sort keys.

        By default the newest page; ``next`` walks back to older messages, ``prev`` polls for
        newer ones.
        Strongly consistent, so a sender reads their own message right after sending it.
        """
        return await self.opened_page(
            await self.stored_page(message_group_uuid, limit=limit, next=next, prev=prev)
        )

    async def opened_page(self, page: Page[Message, str]) -> Page[Message, str]:
        """``page`` (from ``stored_page``) with its messages' text opened."""
        return replace(page, items=[await self._opened(message) for message in page.items])

    async def stored_page(
        self,
        message_group_uuid: UUID,
        *,
        limit: int,
        next: str | None = None,
        prev: str | None = None,
    ) -> Page[Message, str]:
        """``page``'s messages as stored (text sealed with encryption on): nothing is opened,
        so a caller may fetch before it knows the reader may see them."""
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
        messages = [message_from_item(item) for item in items]
        more_older = not forward and result.next is not None
        return Page(
            items=messages,
            next=items[0]["sk"] if more_older else None,
            prev=items[-1]["sk"] if items else prev,
        )

    async def sent_since(
        self, message_group_uuid: UUID, moment: datetime, *, limit: int
    ) -> list[Message]:
        """Up to ``limit`` messages sent at or after ``moment``, oldest first."""
        page = await self.page(message_group_uuid, limit=limit, prev=keys.message_sk_floor(moment))
        return page.items
