"""What the stream handler announces once a conversation's rows show its new messages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from app.crypto.binding import Binding
from app.domain import Message
from app.events.bus import Event, EventPublisher
from app.events.model import changed_message_event, conversation_event, message_event
from app.repositories.conversations import ConversationsRepository, latest_versions
from app.repositories.sealing import binding_of, last_message_bindings

log = logging.getLogger(__name__)


async def publish_messages(
    conversations: ConversationsRepository,
    publisher: EventPublisher,
    message_group_uuid: UUID,
    messages: Sequence[Message],
) -> None:
    """To both participants: each ``message``, then their row as it now reads (``conversation``).

    Called after the summary update was applied, and reads the rows back (strongly
    consistent), so an event never announces what the list endpoint does not show yet. The
    participants come from the rows themselves: the sender's row names the other one, even
    for a conversation the sparse index may not show yet.
    """
    ordered = sorted(messages, key=lambda message: (message.created_at, str(message.uuid)))
    await _publish(conversations, publisher, message_group_uuid, ordered, message_event)


async def publish_changes(
    conversations: ConversationsRepository,
    publisher: EventPublisher,
    message_group_uuid: UUID,
    changed: Sequence[Message],
) -> None:
    """Edits and deletes, as ``publish_messages`` announces new messages:
    ``message_updated`` or ``message_deleted`` (each message's latest version among
    ``changed`` only, so text edited and then deleted in one batch is not sent), then each
    participant's row."""
    now = datetime.now(UTC)
    await _publish(
        conversations,
        publisher,
        message_group_uuid,
        latest_versions(changed),
        lambda message, bindings: changed_message_event(message, now, bindings),
    )


async def _publish(
    conversations: ConversationsRepository,
    publisher: EventPublisher,
    message_group_uuid: UUID,
    messages: list[Message],
    event_of: Callable[[Message, Sequence[Binding]], Event],
) -> None:
    if not messages:
        return
    sender_row = await conversations.get(messages[-1].sender_uuid, message_group_uuid)
    if sender_row is None:
        log.warning("event publish found no row message_group_uuid=%s", message_group_uuid)
        return
    other_row = await conversations.get(sender_row.other_uuid, message_group_uuid)
    table_name = conversations.table.name
    # With encryption on, the text is sealed (the handler has no KMS): the events carry it
    # sealed, with its bindings, and the API process opens it on delivery.
    message_events = [event_of(m, [binding_of(table_name, m)]) for m in messages]
    for row in (sender_row, other_row):
        if row is None:
            continue
        for event in message_events:
            await publisher.publish(row.owner_uuid, event)
        bindings = last_message_bindings(table_name, row)
        await publisher.publish(row.owner_uuid, conversation_event(row, bindings))
