"""Domain values passed between repositories, services and routers (no keys, no wire formats)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID, uuid5

T = TypeVar("T")
Position = TypeVar("Position")

# Fixed namespace: the uuid of a two-person conversation is a function of the pair.
CONVERSATION_NAMESPACE = UUID("5b0e7f5e-3f0a-4d6c-9a55-2f4c1c7f0d11")


def pair_conversation_uuid(first: UUID, second: UUID) -> UUID:
    """The same uuid whoever starts the conversation, so a pair has at most one."""
    low, high = sorted((str(first), str(second)))
    return uuid5(CONVERSATION_NAMESPACE, f"{low}:{high}")


@dataclass(frozen=True, slots=True)
class SealedText:
    """Text as stored with encryption on: an envelope only the API's repositories open."""

    envelope: bytes


@dataclass(frozen=True, slots=True)
class UnreadableText:
    """Stored text that does not decrypt (tampered, moved, or its key unusable): never shown."""

    code: str


Text = str | SealedText | UnreadableText
"""Plain text, or sealed as stored, or why it cannot be read."""


@dataclass(frozen=True, slots=True)
class User:
    uuid: UUID
    handle: str
    display_name: str
    cognito_sub: str | None = None
    created_at: datetime | None = None


PREVIEW_CHARS = 160
PREVIEW_MAX_BYTES = 480
"""A preview is the first 160 characters, and never more than 480 bytes of UTF-8, its ellipsis
included: so that a conversation row, which copies it sealed in an envelope 33 bytes larger,
stays under DynamoDB's 1 KB write unit whatever the script (tests/streams/test_unread_costs.py)."""
ELLIPSIS = "\u2026"


def _utf8_size(text: str) -> int:
    # surrogatepass: text another writer stored may hold lone surrogates (repaired on reads).
    return len(text.encode("utf-8", "surrogatepass"))


def preview_of(text: str) -> str:
    """The bounded preview a conversation list shows: the text, or its start and an ellipsis."""
    if len(text) <= PREVIEW_CHARS and _utf8_size(text) <= PREVIEW_MAX_BYTES:
        return text
    start = text[:PREVIEW_CHARS]
    while _utf8_size(start) + _utf8_size(ELLIPSIS) > PREVIEW_MAX_BYTES:
        start = start[:-1]
    return start + ELLIPSIS


@dataclass(frozen=True, slots=True)
class Message:
    uuid: UUID
    message_group_uuid: UUID
    sender_uuid: UUID
    sender_handle: str
    sender_display_name: str
    text: Text
    created_at: datetime
    opens_conversation: bool = False
    """Written with the conversation's rows, which already show it."""
    preview: Text = ""
    """What conversation rows show: ``preview_of(text)`` unless given (as stored on the
    message item, sealed like the text, which the stream handler copies verbatim)."""
    edited_at: datetime | None = None
    deleted: bool = False
    """A tombstone: its text is gone from the table; ``text`` and ``preview`` are
    ``DELETED_TEXT``."""

    def __post_init__(self) -> None:
        if not self.preview:
            # Sealed text without a stored preview (stored before previews existed): rows show
            # the text itself, which the list can still open.
            preview = preview_of(self.text) if isinstance(self.text, str) else self.text
            object.__setattr__(self, "preview", preview)


DELETED_TEXT = "message deleted"
"""What a deleted message, and a conversation row whose last message it was, show instead."""


@dataclass(frozen=True, slots=True)
class Conversation:
    """One participant's view of a conversation: its inbox row."""

    message_group_uuid: UUID
    owner_uuid: UUID
    other_uuid: UUID
    other_handle: str
    other_display_name: str
    last_message: Text
    """The last message's bounded preview (``Message.preview``)."""
    last_message_at: datetime
    last_message_uuid: UUID
    unread_count: int = 0
    read_up_to_uuid: UUID | None = None
    blocked_by: frozenset[UUID] = frozenset()
    """Participants who blocked the other: while any, neither can send into it."""


@dataclass(frozen=True, slots=True)
class Block:
    """``blocker_uuid`` blocked ``blocked`` at ``created_at``."""

    blocker_uuid: UUID
    blocked: User
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What a send stored under a client's Idempotency-Key, for replaying the answer."""

    fingerprint: str
    message: Message


@dataclass(frozen=True, slots=True)
class Page(Generic[T, Position]):
    """One page of a listing, named as the RFC 8288 ``Link`` relations that carry it.

    ``next`` continues the listing (older messages, less recent conversations) when there is
    more; ``prev`` (messages only) fetches just what arrived after the page, for polling. A
    position is a key or a sort key in repositories and a signed cursor above them; a listing
    is asked for the page at a position with the same name (``next=``, ``prev=``).
    """

    items: list[T]
    next: Position | None = None
    prev: Position | None = None
