"""Editing and deleting one's messages, and blocking users (issue 16).

Rows follow through the stream handler (``ConversationsRepository.apply_changes``), like sends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from app.domain import Block, Conversation, Message, Page, User
from app.errors import (
    NotFound,
    block_self,
    edit_window_closed,
    message_deleted,
    message_not_found,
    not_message_sender,
)
from app.repositories.blocks import BlocksRepository
from app.repositories.conversations import ConversationsRepository
from app.repositories.messages import MessagesRepository
from app.services.cursors import CursorCodec
from app.services.messaging import MessagingService, refusal_to_send


def utc_now() -> datetime:
    return datetime.now(UTC)


async def purge_message(
    messages: MessagesRepository,
    conversations: ConversationsRepository,
    message_group_uuid: UUID,
    message_uuid: UUID,
) -> Message | None:
    """Hard delete (data-protection requests): the item itself goes, whoever sent it.

    First a tombstone, so that the text leaves the idempotency record's copy and both rows
    (applied here, not left to the stream handler), then the item. None if there is no such
    message. Repeatable: a purge interrupted half-way is finished by running it again.
    """
    message = await messages.find(message_group_uuid, message_uuid)
    if message is None:
        return None
    tombstone = await messages.tombstone(message, utc_now()) if not message.deleted else message
    if tombstone is not None:
        await conversations.apply_changes(message_group_uuid, [tombstone])
    await messages.purge(message)
    return tombstone or message


class ModerationService:
    def __init__(
        self,
        messaging: MessagingService,
        blocks: BlocksRepository,
        cursors: CursorCodec,
        edit_window_seconds: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.messaging = messaging
        self.messages: MessagesRepository = messaging.messages
        self.blocks = blocks
        self.cursors = cursors
        self.edit_window = timedelta(seconds=edit_window_seconds)
        self.clock = clock

    async def _own_message(
        self, user: User, message_group_uuid: UUID, message_uuid: UUID
    ) -> tuple[Conversation, Message]:
        conversation = await self.messaging.require_member(user, message_group_uuid)
        message = await self.messages.find(message_group_uuid, message_uuid)
        if message is None:
            raise message_not_found()
        if message.sender_uuid != user.uuid:
            raise not_message_sender()
        return conversation, message

    async def edit(
        self, editor: User, message_group_uuid: UUID, message_uuid: UUID, text: str
    ) -> Message:
        """Same key, new text, ``edited_at``; the same edit again changes nothing."""
        conversation, message = await self._own_message(editor, message_group_uuid, message_uuid)
        if message.deleted:
            raise message_deleted()
        if message.text == text:
            return message
        if conversation.blocked_by:
            raise refusal_to_send(editor.uuid, conversation.blocked_by)
        now = self.clock()
        if now - message.created_at > self.edit_window:
            raise edit_window_closed(int(self.edit_window.total_seconds()))
        edited = await self.messages.edit(message, text, now)
        if edited is None:
            raise message_deleted()
        self._wake_stream_worker()
        return edited

    async def delete(self, deleter: User, message_group_uuid: UUID, message_uuid: UUID) -> Message:
        """A tombstone; deleting it again answers the same."""
        _, message = await self._own_message(deleter, message_group_uuid, message_uuid)
        if message.deleted:
            return message
        tombstone = await self.messages.tombstone(message, self.clock())
        if tombstone is None:
            raise message_not_found()
        self._wake_stream_worker()
        return tombstone

    def _wake_stream_worker(self) -> None:
        # As after a send: a worker in this process applies the change without waiting a poll.
        if self.messaging.on_stored is not None:
            self.messaging.on_stored()

    async def _user(self, handle: str) -> User:
        user = await self.messaging.users.get_by_handle(handle)
        if user is None:
            raise NotFound("No user has that handle.", code="user_not_found")
        return user

    async def block(self, blocker: User, handle: str) -> Block:
        target = await self._user(handle)
        if target.uuid == blocker.uuid:
            raise block_self()
        return await self.blocks.block(blocker.uuid, target, self.clock())

    async def unblock(self, blocker: User, handle: str) -> None:
        target = await self._user(handle)
        await self.blocks.unblock(blocker.uuid, target.uuid)

    async def list_blocks(
        self, blocker: User, *, limit: int, cursor: str | None
    ) -> Page[Block, str]:
        where = {"scope": "blocks", "caller": str(blocker.uuid), "listing": "blocks"}
        decoded = self.cursors.position(cursor, **where)
        position = decoded if isinstance(decoded, str) else None
        page = await self.blocks.blocks_of(blocker.uuid, limit=limit, next=position)
        return self.cursors.with_next(page, **where)
