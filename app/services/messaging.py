"""Reading and sending messages: membership, conversation creation, idempotency, cursors."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from app.domain import Conversation, Message, Page, User, pair_conversation_uuid
from app.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ServiceError,
    Unavailable,
    blocked,
    cannot_message,
)
from app.events.bus import EventPublisher
from app.events.model import read_event
from app.repositories.conversations import ConversationsRepository, RowContended
from app.repositories.messages import (
    ConversationExists,
    IdempotencyClaim,
    IdempotencyKeyUsed,
    MessagesRepository,
    PairBlocked,
)
from app.repositories.users import UsersRepository
from app.services.cursors import CursorCodec

log = logging.getLogger(__name__)

CREATE_ATTEMPTS = 5
CREATE_BACKOFF_SECONDS = 0.05


def conversation_not_found() -> NotFound:
    # Same answer whether the conversation does not exist or the caller is not in it.
    return NotFound("No such conversation.", code="message_group_not_found")


_discarded: set[asyncio.Task[object]] = set()
"""Page reads nobody may see, referenced until they finish (the loop holds tasks weakly)."""


def _discard_when_done(task: asyncio.Task[Any]) -> None:
    _discarded.add(task)
    task.add_done_callback(_forget)


async def background_reads_done() -> None:
    """Wait for the page reads still running for callers already answered (a stranger's
    Query, retried by the SDK): before the client they use closes, and between tests."""
    if _discarded:
        await asyncio.wait(set(_discarded))


def _forget(task: asyncio.Task[Any]) -> None:
    _discarded.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it


def refusal_to_send(sender_uuid: UUID, blockers: frozenset[UUID] | set[UUID]) -> ServiceError:
    """What a sender is told when a block stands between them and the other participant: the
    blocker is told so; the blocked side gets a neutral answer (README, "Block")."""
    return blocked() if sender_uuid in blockers else cannot_message()


def _refuse_if_blocked(sender: User, conversation: Conversation) -> None:
    # The membership read is strongly consistent: a block that completed before it is seen.
    if conversation.blocked_by:
        raise refusal_to_send(sender.uuid, conversation.blocked_by)


def _fingerprint(target: str, text: str) -> str:
    body = json.dumps({"target": target, "message": text}, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


class MessagingService:
    def __init__(
        self,
        users: UsersRepository,
        conversations: ConversationsRepository,
        messages: MessagesRepository,
        cursors: CursorCodec,
        idempotency_ttl_seconds: int,
        *,
        publisher: EventPublisher | None = None,
        on_stored: Callable[[], None] | None = None,
        sender_read_your_writes: bool = True,
    ) -> None:
        self.users = users
        self.conversations = conversations
        self.messages = messages
        self.cursors = cursors
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        self.publisher = publisher
        """Where mark-read announces the moved marker (``read`` events)."""
        self.on_stored = on_stored
        """Called after a message was stored: wakes a stream worker in this process."""
        self.sender_read_your_writes = sender_read_your_writes

    async def require_member(self, user: User, message_group_uuid: UUID) -> Conversation:
        conversation = await self.conversations.get(user.uuid, message_group_uuid)
        if conversation is None:
            raise conversation_not_found()
        return conversation

    async def list_conversations(
        self, owner: User, *, limit: int, cursor: str | None
    ) -> Page[Conversation, str]:
        """The page at ``cursor`` (a previous page's ``next``); cursors as positions."""
        where = {"scope": "conversations", "caller": str(owner.uuid), "listing": "inbox"}
        position = self.cursors.position(cursor, **where)
        page = await self.conversations.list_recent(owner.uuid, limit=limit, next=position)
        return self.cursors.with_next(page, **where)

    async def read_messages(
        self, reader: User, message_group_uuid: UUID, *, limit: int, cursor: str | None
    ) -> Page[Message, str]:
        """The page at ``cursor`` (a previous page's ``next`` or ``prev``).

        One round trip: the page Query starts alongside the membership GetItem. A non-member is
        answered as soon as the GetItem says so, exactly as before the Query ran concurrently:
        waiting for the page would make the 404's latency grow with the conversation's page
        (botocore parses it), telling a stranger that the conversation exists. Their Query
        still completes, in the background, and nothing opens, reads, raises or logs its result.
        """
        position: dict[str, str] = {}
        if cursor is not None:
            try:
                decoded = self.cursors.decode(
                    cursor,
                    scope="messages",
                    caller=str(reader.uuid),
                    listing=str(message_group_uuid),
                )
            except InvalidInput:
                # As before the calls ran concurrently: a non-member learns nothing of the
                # cursor, a member hears it is not valid here.
                await self.require_member(reader, message_group_uuid)
                raise
            position = decoded if isinstance(decoded, dict) else {}
        reading = asyncio.create_task(
            self.messages.page(
                message_group_uuid,
                limit=limit,
                next=position.get("next"),
                prev=position.get("prev"),
                opened=False,
            )
        )
        try:
            await self.require_member(reader, message_group_uuid)
        except BaseException:
            _discard_when_done(reading)
            raise
        page = await self.messages.opened_page(await reading)

        def encode(relation: Literal["next", "prev"], sort_key: str | None) -> str | None:
            if sort_key is None:
                return None
            return self.cursors.encode(
                scope="messages",
                caller=str(reader.uuid),
                listing=str(message_group_uuid),
                position={relation: sort_key},
            )

        return Page(page.items, next=encode("next", page.next), prev=encode("prev", page.prev))

    async def send(
        self,
        sender: User,
        *,
        text: str,
        message_group_uuid: UUID | None = None,
        handle: str | None = None,
        idempotency_key: str | None = None,
    ) -> Message:
        """Pattern C (into a conversation) or D (to a handle, creating the conversation once)."""
        recipient = None
        if handle is not None:
            recipient = await self.users.get_by_handle(handle)
            if recipient is None:
                raise NotFound("No user has that handle.", code="user_not_found")
            if recipient.uuid == sender.uuid:
                raise InvalidInput("You cannot message yourself.", code="message_self")
            message_group_uuid = pair_conversation_uuid(sender.uuid, recipient.uuid)
        assert message_group_uuid is not None
        target = f"handle:{handle.lower()}" if handle is not None else f"group:{message_group_uuid}"
        claim = None
        if idempotency_key is not None:
            claim = IdempotencyClaim(
                sender.uuid,
                idempotency_key,
                _fingerprint(target, text),
                self.idempotency_ttl_seconds,
            )
            replayed = await self._replay(claim)
            if replayed is not None:
                return replayed
        message = Message(
            uuid=uuid4(),
            message_group_uuid=message_group_uuid,
            sender_uuid=sender.uuid,
            sender_handle=sender.handle,
            sender_display_name=sender.display_name,
            text=text,
            created_at=datetime.now(UTC),
        )
        try:
            stored, opened = await self._store(message, sender, recipient, claim)
        except IdempotencyKeyUsed:
            assert claim is not None
            replayed = await self._replay(claim)
            if replayed is None:
                # A concurrent request with this key holds it (its transaction is in flight).
                raise Conflict(
                    "A request with this Idempotency-Key is in progress; retry it.",
                    code="idempotency_key_in_use",
                    headers={"Retry-After": "1"},
                ) from None
            return replayed
        if self.on_stored is not None:
            self.on_stored()
        if not opened and self.sender_read_your_writes:
            await self._show_in_own_list(stored)
        return message

    async def _show_in_own_list(self, stored: Message) -> None:
        """Read-your-writes for the sender: their own row shows the message before we answer.

        The message is stored already, so a failure here only delays the row: the stream
        handler applies the same forward-only update from the message's record. ``stored``:
        the message as stored (its preview sealed with encryption on), so the row gets the
        very value the handler would copy.
        """
        try:
            await self.conversations.advance_own_row(stored)
        except (ServiceError, RowContended) as error:
            log.warning(
                "sender's row not updated, the stream will message_group_uuid=%s error=%s",
                stored.message_group_uuid,
                getattr(error, "code", type(error).__name__),
            )

    async def _store(
        self, message: Message, sender: User, recipient: User | None, claim: IdempotencyClaim | None
    ) -> tuple[Message, bool]:
        """Store the message: as stored (sealed with encryption on), and True when it opened
        the conversation (its rows show it)."""
        if recipient is None:
            _refuse_if_blocked(
                sender, await self.require_member(sender, message.message_group_uuid)
            )
            return await self.messages.add(message, claim=claim), False
        for attempt in range(CREATE_ATTEMPTS):
            if attempt:
                # Both creators can be cancelled (DynamoDB's TransactionConflict): back off
                # with jitter so one of them wins the next round.
                await asyncio.sleep(random.uniform(0, CREATE_BACKOFF_SECONDS * attempt))  # noqa: S311
            existing = await self.conversations.get(sender.uuid, message.message_group_uuid)
            if existing is not None:
                _refuse_if_blocked(sender, existing)
                return await self.messages.add(message, claim=claim), False
            try:
                opening = (sender, recipient)
                return await self.messages.add(message, claim=claim, new_conversation=opening), True
            except ConversationExists:
                continue  # a concurrent first message created it: send into it instead
            except PairBlocked as refused:
                raise refusal_to_send(sender.uuid, refused.blockers) from None
        raise Unavailable("The conversation is being created; retry.", code="conversation_busy")

    async def _replay(self, claim: IdempotencyClaim) -> Message | None:
        record = await self.messages.get_idempotency_record(claim.user_uuid, claim.client_key)
        if record is None:
            return None
        if record.fingerprint != claim.fingerprint:
            raise InvalidInput(
                "This Idempotency-Key was used with a different request.",
                code="idempotency_key_reused",
            )
        return record.message

    async def mark_read(
        self, owner: User, message_group_uuid: UUID, up_to_message_uuid: UUID | None
    ) -> Conversation:
        conversation = await self.conversations.mark_read(
            owner.uuid, message_group_uuid, up_to_message_uuid
        )
        if conversation is None:
            raise conversation_not_found()
        if self.publisher is not None:
            try:
                await self.publisher.publish(
                    owner.uuid, read_event(conversation, datetime.now(UTC))
                )
            except Exception as error:  # a lost hint: other tabs resume
                log.warning("read event not published error=%s", type(error).__name__)
        return conversation
