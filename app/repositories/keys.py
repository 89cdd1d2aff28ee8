"""Key formats of the single table (see shared/CONTRACT.md section 2); nothing else builds keys."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from uuid import UUID

Key = dict[str, str]

CONVERSATION_INDEX = "message-group-sk-index"
"""Sparse GSI (message_group_uuid, sk): every participant row of a conversation."""
ACTIVITY_INDEX = "conversation-activity-index"
"""LSI (pk, last_message_sk): one owner's conversations ordered by latest message."""
ACTIVITY_PROJECTION = (
    "other_user_uuid",
    "other_handle",
    "other_display_name",
    "last_message",
    "unread_count",
    "read_up_to",
    "blocked_by",
)
"""The row attributes the LSI carries besides keys: what the conversation list shows, and
``blocked_by``, which its filter reads (a blocker's row is left out of their list)."""

_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_timestamp(moment: datetime) -> str:
    """Fixed-width UTC with microseconds, so string order is time order."""
    return moment.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)  # several times faster than strptime; keeps the "Z"


def user_key(user_uuid: UUID) -> Key:
    return {"pk": f"USER#{user_uuid}", "sk": "PROFILE"}


def handle_key(handle: str) -> Key:
    return {"pk": f"HANDLE#{handle.lower()}", "sk": "HANDLE"}


BLOCK_SK_PREFIX = "BLOCK#"


def block_key(blocker_uuid: UUID, blocked_uuid: UUID) -> Key:
    """A block, in the blocker's own partition beside their profile: listing mine is one Query."""
    return {"pk": user_key(blocker_uuid)["pk"], "sk": f"{BLOCK_SK_PREFIX}{blocked_uuid}"}


def blocked_of_block_sk(sk: str) -> UUID:
    return UUID(sk.removeprefix(BLOCK_SK_PREFIX))


def identity_key(cognito_sub: str) -> Key:
    return {"pk": f"SUB#{cognito_sub}", "sk": "SUB"}


def conversations_pk(owner_uuid: UUID) -> str:
    return f"GRP#{owner_uuid}"


def conversation_key(owner_uuid: UUID, message_group_uuid: UUID) -> Key:
    return {"pk": conversations_pk(owner_uuid), "sk": f"GRP#{message_group_uuid}"}


def group_of_conversation_sk(sk: str) -> UUID:
    return UUID(sk.removeprefix("GRP#"))


def owner_of_conversation_pk(pk: str) -> UUID:
    return UUID(pk.removeprefix("GRP#"))


def message_pk(message_group_uuid: UUID) -> str:
    return f"MSG#{message_group_uuid}"


def message_sk(created_at: datetime, message_uuid: UUID) -> str:
    """Timestamp first for time ranges; the uuid suffix makes equal timestamps distinct."""
    return f"{format_timestamp(created_at)}#{message_uuid}"


def message_sk_floor(moment: datetime) -> str:
    """Sorts before the key of every message sent at or after ``moment``."""
    return format_timestamp(moment)


def parse_message_sk(sk: str) -> tuple[datetime, UUID]:
    timestamp, _, message_uuid = sk.partition("#")
    return parse_timestamp(timestamp), UUID(message_uuid)


def is_message_pk(pk: str) -> bool:
    return pk.startswith("MSG#")


def group_of_message_pk(pk: str) -> UUID:
    """Raises ValueError when ``pk`` is not a message partition key."""
    if not is_message_pk(pk):
        raise ValueError(f"not a message partition key: {pk!r}")
    return UUID(pk.removeprefix("MSG#"))


DEAD_LETTERS_PK = "DEADLETTER"
"""One partition for every stream record set aside: few, and read all at once by the repair."""


def dead_letter_key(event_id: str) -> Key:
    """A set-aside stream record, by its ``eventID`` (unique per record, stable across retries)."""
    return {"pk": DEAD_LETTERS_PK, "sk": f"DEADLETTER#{event_id}"}


def idempotency_key(user_uuid: UUID, client_key: str) -> Key:
    # Hashed: the client's key is arbitrary text and must not shape our partition keys.
    digest = hashlib.sha256(client_key.encode()).hexdigest()[:40]
    return claim_key(f"IDEM#{user_uuid}#{digest}")


def claim_key(pk: str) -> Key:
    """An idempotency record by its partition key (as a message item refers to it)."""
    return {"pk": pk, "sk": "IDEM"}


def data_key_key(message_group_uuid: UUID, epoch: int) -> Key:
    """A conversation's wrapped data key of one epoch.

    Its own partition, not under ``MSG#<group>``: message pages query that partition without
    a sort-key filter, and the stream handler treats every ``MSG#`` insert as a message.
    """
    return {"pk": f"DATAKEY#{message_group_uuid}", "sk": f"EPOCH#{epoch:010d}"}


def is_conversation_row_pk(pk: str) -> bool:
    return pk.startswith("GRP#")
