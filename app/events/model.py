"""The events a stream carries, built from the API's own response shapes.

An event's ``id`` is a position in time (microseconds since the epoch, as decimal text): the
message's time for ``message`` and ``conversation``, the moment of publication otherwise. A
client hands the last one back as ``Last-Event-ID`` and the server replays from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from app.crypto.binding import Binding
from app.crypto.cipher import TextCipher
from app.domain import Conversation, Message, SealedText, Text, UnreadableText
from app.errors import ServiceError
from app.events.bus import Event, SealedMessage
from app.schemas import ConversationOut, ReadStateOut, SentMessageOut, shown

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
MAX_POSITION_DIGITS = 20


def position(moment: datetime) -> str:
    return str((moment - _EPOCH) // _MICROSECOND)


def parse_position(text: str) -> datetime | None:
    """The moment of an event id; None when it is not one of ours."""
    # ASCII first: str.isdigit() also accepts digits int() refuses (e.g. "\N{SUPERSCRIPT TWO}").
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_POSITION_DIGITS:
        return None
    try:
        return _EPOCH + int(text) * _MICROSECOND
    except OverflowError:
        return None


def _json(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json")
    return data


def _event(
    name: str, event_id: str, data: dict[str, Any], text: Text, bindings: Sequence[Binding]
) -> Event:
    """Sealed text travels beside the data (whose ``message`` is null) until delivery."""
    if not isinstance(text, SealedText):
        return Event(name, event_id, data)
    data.pop("message_error", None)
    return Event(name, event_id, data, SealedMessage(text.envelope, tuple(bindings)))


def changed_message_event(
    message: Message, at: datetime, bindings: Sequence[Binding] = ()
) -> Event:
    """An edit (``message_updated``) or a delete (``message_deleted``), in the sent message's
    shape (sealed text opened on delivery, as ``message``'s); its position is when the change
    was announced."""
    name = "message_deleted" if message.deleted else "message_updated"
    data = _json(SentMessageOut.of(message))
    return _event(name, position(at), data, message.text, bindings)


def message_event(message: Message, bindings: Sequence[Binding] = ()) -> Event:
    """``bindings``: where a sealed text belongs (unused when the text is open)."""
    data = _json(SentMessageOut.of(message))
    return _event("message", position(message.created_at), data, message.text, bindings)


def conversation_event(conversation: Conversation, bindings: Sequence[Binding] = ()) -> Event:
    """``bindings``: where a sealed last message belongs (unused when it is open)."""
    data = _json(ConversationOut.of(conversation))
    event_id = position(conversation.last_message_at)
    return _event("conversation", event_id, data, conversation.last_message, bindings)


async def opened(event: Event, cipher: TextCipher) -> Event:
    """The event as a client sees it: a sealed ``message`` opened, as the REST endpoints show
    it (null with ``message_error`` when it cannot be). Called by the API process on delivery:
    it has the data-key cache, so this is usually no KMS call at all."""
    if event.sealed is None:
        return event
    try:
        text = await cipher.open(event.sealed.bindings, SealedText(event.sealed.envelope))
    except ServiceError as error:  # KMS unavailable: say so, as the list would fail to
        text = UnreadableText(error.code)
    shown_text, error_code = shown(text)
    data = {**event.data, "message": shown_text}
    if error_code is not None:
        data["message_error"] = error_code
    return Event(event.name, event.id, data)


def read_event(conversation: Conversation, at: datetime) -> Event:
    return Event("read", position(at), _json(ReadStateOut.of(conversation)))


def reset_event(at: datetime) -> Event:
    return Event("reset", position(at), {})
