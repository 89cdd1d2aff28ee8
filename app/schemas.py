"""Request and response bodies of the HTTP API (shared/CONTRACT.md section 1, plus additions).

Validation errors carry the SPA's codes as their pydantic error type, so the one validation
handler can answer with a stable ``code``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from app.domain import (
    DELETED_TEXT,
    PREVIEW_CHARS,
    PREVIEW_MAX_BYTES,
    Block,
    Conversation,
    Message,
    SealedText,
    Text,
    User,
)
from app.errors import invalid_field
from app.text import UNSTORABLE_TEXT, is_storable

MESSAGE_MAX_CHARS = 1024
HANDLE_PATTERN = r"^[A-Za-z0-9_]{1,32}$"

_SAMPLE_GROUP = "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"
_SAMPLE_MESSAGE: dict[str, Any] = {
    "uuid": "0b8c3a3e-4f50-4b6d-9c39-5a7d1b0a9f11",
    "display_name": "Andrew Brown",
    "handle": "andrewbrown",
    "message": "Ready for week 5? DynamoDB time.",
    "created_at": "2026-11-20T17:02:11.120431Z",
}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        # Every string of every body, whatever its field: JSON may carry lone surrogates
        # (``"\udfff"``), which no field can store (app/text.py).
        if not all(is_storable(text) for text in _strings(data)):
            raise invalid_field(UNSTORABLE_TEXT, "Text must be valid Unicode.")
        return data


class _MessageText(_Request):
    message: str = Field(description="Trimmed; 1 to 1024 characters.")

    @field_validator("message", mode="before")
    @classmethod
    def _message_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            raise invalid_field("message_blank", "The message is blank.")
        if len(text) > MESSAGE_MAX_CHARS:
            raise invalid_field(
                "message_exceed_max_chars_1024", "The message is over 1024 characters."
            )
        return text


class EditMessageRequest(_MessageText):
    """The message's new text."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"message": "Hello again, fixed."}]})


class SendMessageRequest(_MessageText):
    """Send into a conversation (``message_group_uuid``) or to a user (``handle``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"message": "Hello again!", "message_group_uuid": _SAMPLE_GROUP},
                {"message": "Hi Londo, got a minute?", "handle": "londo"},
            ]
        }
    )

    message_group_uuid: UUID | None = None
    handle: str | None = Field(default=None, description="The recipient's handle.")

    @field_validator("message_group_uuid", mode="before")
    @classmethod
    def _group_uuid(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                raise invalid_field("message_group_uuid_blank", "The conversation is blank.")
            try:
                return UUID(value.strip())
            except ValueError:
                raise invalid_field(
                    "message_group_uuid_invalid", "The conversation id is not a uuid."
                ) from None
        return value

    @field_validator("handle", mode="before")
    @classmethod
    def _handle(cls, value: Any) -> Any:
        if isinstance(value, str):
            handle = value.strip().removeprefix("@")
            if not handle:
                raise invalid_field("user_reciever_handle_blank", "The handle is blank.")
            return handle
        return value

    @field_validator("handle")
    @classmethod
    def _handle_shape(cls, value: str | None) -> str | None:
        return None if value is None else validate_handle(value)

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if self.message_group_uuid is None and self.handle is None:
            raise invalid_field(
                "message_target_missing", "Give either message_group_uuid or handle."
            )
        if self.message_group_uuid is not None and self.handle is not None:
            raise invalid_field(
                "message_target_ambiguous", "Give message_group_uuid or handle, not both."
            )
        return self


def validate_handle(value: str) -> str:
    if re.fullmatch(HANDLE_PATTERN, value) is None:
        raise invalid_field("handle_invalid", "That is not a valid handle.")
    return value


Handle = Annotated[
    str,
    AfterValidator(validate_handle),
    # Documented, not enforced, by the pattern: validate_handle answers with our own code.
    Field(
        description="1-32 letters, digits or underscores.",
        examples=["andrewbrown"],
        json_schema_extra={"pattern": HANDLE_PATTERN},
    ),
]


class MarkReadRequest(_Request):
    up_to_message_uuid: UUID | None = Field(
        default=None, description="Mark read up to this message; the latest when omitted."
    )


class DevTokenRequest(_Request):
    handle: Handle


_TEXT_DESCRIPTION = "null when the stored text cannot be decrypted; `message_error` says why."
_ERROR_DESCRIPTION = (
    "Set only when `message` is null: `message_undecryptable` (altered or moved ciphertext), "
    "`data_key_undecryptable`/`data_key_missing` (its key), `encryption_off`, "
    "`envelope_malformed`, `envelope_version_unknown`."
)


def shown(text: Text) -> tuple[str | None, str | None]:
    """The text a client may see, or None and the code of why not: never ciphertext."""
    if isinstance(text, str):
        return text, None
    if isinstance(text, SealedText):
        return None, "message_undecryptable"  # not opened: still never shown as text
    return None, text.code


class MessageOut(BaseModel):
    """A message; ``display_name`` and ``handle`` describe its sender."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SAMPLE_MESSAGE]})

    uuid: UUID
    display_name: str
    handle: str
    message: str | None = Field(description=f'{_TEXT_DESCRIPTION} "{DELETED_TEXT}" once deleted.')
    message_error: str | None = Field(
        default=None, description=_ERROR_DESCRIPTION, exclude_if=lambda error: error is None
    )
    created_at: datetime
    edited_at: datetime | None = Field(default=None, description="When it was last edited.")
    deleted: bool = Field(default=False, description="Deleted by its sender: no text is kept.")

    @classmethod
    def of(cls, message: Message) -> Self:
        text, error = shown(message.text)
        return cls(
            uuid=message.uuid,
            display_name=message.sender_display_name,
            handle=message.sender_handle,
            message=text,
            message_error=error,
            created_at=message.created_at,
            edited_at=message.edited_at,
            deleted=message.deleted,
        )


class SentMessageOut(MessageOut):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_SAMPLE_MESSAGE, "message_group_uuid": _SAMPLE_GROUP}]}
    )

    message_group_uuid: UUID

    @classmethod
    def of(cls, message: Message) -> Self:
        return cls(
            **MessageOut.of(message).model_dump(), message_group_uuid=message.message_group_uuid
        )


class ConversationOut(BaseModel):
    """One conversation; ``display_name``/``handle`` describe the other participant."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "uuid": _SAMPLE_GROUP,
                    "display_name": "Bayko",
                    "handle": "bayko",
                    "message": "See you at the livestream!",
                    "created_at": "2026-11-20T17:05:43.004211Z",
                    "unread_count": 2,
                    "other_user_uuid": "7f1c1e0a-2b8e-4d2c-8f5e-6a1d9b3c2e10",
                }
            ]
        }
    )

    uuid: UUID = Field(description="The message group (conversation) uuid.")
    display_name: str
    handle: str
    message: str | None = Field(
        description=f"A bounded preview of the last message: its text, or its first "
        f"{PREVIEW_CHARS} characters (at most {PREVIEW_MAX_BYTES} bytes of UTF-8) followed by an "
        "ellipsis (U+2026) when longer. The full text is in the conversation "
        f"(GET /api/messages/{{message_group_uuid}}); {_TEXT_DESCRIPTION}"
    )
    message_error: str | None = Field(
        default=None, description=_ERROR_DESCRIPTION, exclude_if=lambda error: error is None
    )
    created_at: datetime = Field(description="When the last message was sent.")
    unread_count: int = Field(
        ge=0,
        description="The other participant's messages after my read marker; 100 means 100 or more.",
    )
    other_user_uuid: UUID

    @classmethod
    def of(cls, conversation: Conversation) -> Self:
        text, error = shown(conversation.last_message)
        return cls(
            uuid=conversation.message_group_uuid,
            display_name=conversation.other_display_name,
            handle=conversation.other_handle,
            message=text,
            message_error=error,
            created_at=conversation.last_message_at,
            unread_count=conversation.unread_count,
            other_user_uuid=conversation.other_uuid,
        )


class ReadStateOut(BaseModel):
    message_group_uuid: UUID
    unread_count: int = Field(ge=0)
    read_up_to_message_uuid: UUID | None

    @classmethod
    def of(cls, conversation: Conversation) -> Self:
        return cls(
            message_group_uuid=conversation.message_group_uuid,
            unread_count=conversation.unread_count,
            read_up_to_message_uuid=conversation.read_up_to_uuid,
        )


_LONDO: dict[str, JsonValue] = {
    "uuid": "1d0b0a8c-6c0e-4a44-8f16-6b2b4a7c8d01",
    "handle": "londo",
    "display_name": "Londo Mollari",
}
"""The user the examples show."""


class UserShortOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_LONDO]})

    uuid: UUID
    handle: str
    display_name: str

    @classmethod
    def of(cls, user: User) -> Self:
        return cls(uuid=user.uuid, handle=user.handle, display_name=user.display_name)


class MeOut(UserShortOut):
    created_at: datetime | None

    @classmethod
    def of(cls, user: User) -> Self:
        return cls(
            uuid=user.uuid,
            handle=user.handle,
            display_name=user.display_name,
            created_at=user.created_at,
        )


class BlockOut(BaseModel):
    """A user I blocked, and since when."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_LONDO, "created_at": "2026-11-20T17:05:43.004211Z"}]}
    )

    uuid: UUID
    handle: str
    display_name: str
    created_at: datetime = Field(description="When I blocked them.")

    @classmethod
    def of(cls, block: Block) -> Self:
        return cls(
            uuid=block.blocked.uuid,
            handle=block.blocked.handle,
            display_name=block.blocked.display_name,
            created_at=block.created_at,
        )


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int = Field(description="Seconds until the token expires.")


class KmsCallsOut(BaseModel):
    encryption: Literal["off", "kms"]
    generate_data_key: int
    decrypt: int
    cache_hits: int = Field(description="Data-key uses served from memory, without KMS.")


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)


class EventTicketOut(BaseModel):
    ticket: str = Field(description="For `GET /api/events?ticket=`: single use, bound to you.")
    expires_in: int = Field(description="Seconds the ticket stays usable.")
