"""Where encrypted text belongs (its ``Binding``) and how text is stored: str or envelope bytes.

Plaintext is a DynamoDB string and an envelope is binary, so items written before encryption
was turned on stay readable, and nothing a user types can pass for an envelope.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from app.crypto.binding import Binding
from app.domain import Conversation, Message, SealedText, Text, UnreadableText
from app.repositories import keys

TEXT_ATTRIBUTE = "message"
PREVIEW_ATTRIBUTE = "preview"


def message_binding(
    table_name: str,
    message_group_uuid: UUID,
    message_sk: str,
    sender_uuid: UUID,
    attribute: str = TEXT_ATTRIBUTE,
) -> Binding:
    """A message's text (or preview), bound to the message item wherever it is copied."""
    return Binding(
        table=table_name,
        pk=keys.message_pk(message_group_uuid),
        sk=message_sk,
        message_group_uuid=message_group_uuid,
        sender_uuid=sender_uuid,
        attribute=attribute,
    )


def row_bindings(
    table_name: str, message_group_uuid: UUID, last_message_sk: str, participants: Iterable[UUID]
) -> list[Binding]:
    """Where a row's copied last message may belong: its message (the row's ``last_message_sk``
    , so a stale or swapped copy fails), sent by either participant, as preview or text."""
    return [
        message_binding(table_name, message_group_uuid, last_message_sk, sender, attribute)
        for attribute in (PREVIEW_ATTRIBUTE, TEXT_ATTRIBUTE)
        for sender in participants
    ]


def binding_of(table_name: str, message: Message, attribute: str = TEXT_ATTRIBUTE) -> Binding:
    """Where a message's text (or preview) belongs."""
    sk = keys.message_sk(message.created_at, message.uuid)
    return message_binding(
        table_name, message.message_group_uuid, sk, message.sender_uuid, attribute
    )


def last_message_bindings(table_name: str, conversation: Conversation) -> list[Binding]:
    """Where a row's copied last message may belong (``row_bindings`` of the row)."""
    return row_bindings(
        table_name,
        conversation.message_group_uuid,
        keys.message_sk(conversation.last_message_at, conversation.last_message_uuid),
        (conversation.other_uuid, conversation.owner_uuid),
    )


def stored_form(text: Text) -> str | bytes:
    if isinstance(text, SealedText):
        return text.envelope
    if isinstance(text, UnreadableText):
        raise ValueError("unreadable text is never written back")
    return text


def stored_text(value: Any) -> Text:
    """Text from an attribute value: a string is plaintext, binary an envelope."""
    if isinstance(value, str):
        return value
    return SealedText(bytes(value))
