"""The events a stream carries, built from the API's own response shapes.

An event's ``id`` is a position in time (microseconds since the epoch, as decimal text): the
message's time for ``message`` and ``conversation``, the moment of publication otherwise. A
client hands the last one back as ``Last-Event-ID`` and the server replays from it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain import Conversation, Message
from app.events.bus import Event
from app.schemas import ConversationOut, ReadStateOut, SentMessageOut

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
MAX_POSITION_DIGITS = 20


def position(moment: datetime) -> str:
    return str((moment - _EPOCH) // _MICROSECOND)


def parse_position(text: str) -> datetime | None:
    """The moment of an event id; None when it is not one of ours."""
    if not text.isdigit() or len(text) > MAX_POSITION_DIGITS:
        return None
    try:
        return _EPOCH + int(text) * _MICROSECOND
    except OverflowError:
        return None


def _json(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json")
    return data


def message_event(message: Message) -> Event:
    return Event("message", position(message.created_at), _json(SentMessageOut.of(message)))


def changed_message_event(message: Message, at: datetime) -> Event:
    """An edit (``message_updated``) or a delete (``message_deleted``), in the sent message's
    shape; its position is when the change was announced."""
    name = "message_deleted" if message.deleted else "message_updated"
    return Event(name, position(at), _json(SentMessageOut.of(message)))


def conversation_event(conversation: Conversation) -> Event:
    return Event(
        "conversation",
        position(conversation.last_message_at),
        _json(ConversationOut.of(conversation)),
    )


def read_event(conversation: Conversation, at: datetime) -> Event:
    return Event("read", position(at), _json(ReadStateOut.of(conversation)))


def reset_event(at: datetime) -> Event:
    return Event("reset", position(at), {})
