"""Resume without an event log: what changed after a ``Last-Event-ID``, from the table itself.

The activity index already orders a user's conversation rows by their last message, and
messages are keyed by time, so a replay is one Query of the user's most recent rows plus one
Query per conversation that moved. Nothing is written per message to make this possible.

Semantics (events are hints, the REST endpoints are the truth):
- the replay starts ``overlap`` before the id, because events are published when the stream
  handler has run, not in message-time order: a client may see a message twice (it dedupes
  by uuid) but misses no message sent after the id;
- it re-sends the ``conversation`` rows of the user's most recent conversations (those a
  client shows), so a read marker moved elsewhere meanwhile is caught up too, and so is an
  edit or delete of a row's last message (its preview);
- it does not replay ``message_updated``/``message_deleted``: without a log of them nothing
  finds them by time (a message of any age may be deleted). A message replayed above comes
  as it now reads; for the others a client re-reads the messages it shows after a resume;
- when the id is older than the horizon, unknown, or the gap holds more than the limits,
  the client gets one ``reset`` instead: refetch the lists, then follow the stream.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from app.events.bus import Event
from app.events.model import conversation_event, message_event, reset_event
from app.repositories.conversations import ConversationsRepository
from app.repositories.messages import MessagesRepository

_KIND_ORDER = {"message": 0, "conversation": 1}


@dataclass(frozen=True)
class ReplayLimits:
    horizon: timedelta
    overlap: timedelta
    max_conversations: int
    max_messages: int


class _GapTooLarge(Exception):
    pass


async def replay(
    conversations: ConversationsRepository,
    messages: MessagesRepository,
    owner_uuid: UUID,
    since: datetime | None,
    now: datetime,
    limits: ReplayLimits,
) -> list[Event]:
    """The events to send before live ones, oldest first; ``[reset]`` when it cannot."""
    if since is None or since < now - limits.horizon:
        return [reset_event(now)]
    start = since - limits.overlap
    page = await conversations.list_recent(owner_uuid, limit=limits.max_conversations + 1)
    rows = page.items
    if len(rows) > limits.max_conversations and rows[-1].last_message_at >= start:
        return [reset_event(now)]
    rows = rows[: limits.max_conversations]
    moved = [row for row in rows if row.last_message_at >= start]

    async def sent_since(group: UUID) -> list[Event]:
        found = await messages.sent_since(group, start, limit=limits.max_messages + 1)
        if len(found) > limits.max_messages:
            raise _GapTooLarge
        return [message_event(message) for message in found]

    try:
        per_conversation = await asyncio.gather(
            *(sent_since(row.message_group_uuid) for row in moved)
        )
    except _GapTooLarge:
        return [reset_event(now)]
    events = [event for found in per_conversation for event in found]
    events += [conversation_event(row) for row in rows]
    return sorted(events, key=lambda event: (int(event.id), _KIND_ORDER[event.name]))
