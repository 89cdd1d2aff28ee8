"""The journal's reference design (Cruddur week 5), modelled for capacity comparison only.

Its layout: messages ``MSG#<group>`` / ``<created_at>``; one conversation row per participant
``GRP#<owner>`` / ``<last_message_at>`` whose sort key is the last message time, so every new
message deletes and re-puts both rows; a GSI (``message_group_uuid``, ``sk``) projecting ALL,
which every row write also writes. "Message a handle" always creates a new conversation with
a BatchWriteItem of three puts (no transaction, no lookup of an existing one).
"""

from __future__ import annotations

from typing import Any

from app.domain import Message, User
from app.repositories.keys import CONVERSATION_INDEX
from app.repositories.table import Item


def reference_definition() -> dict[str, Any]:
    return {
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": CONVERSATION_INDEX,
                "KeySchema": [
                    {"AttributeName": "message_group_uuid", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


def _timestamp(message: Message) -> str:
    # The reference stores Python's isoformat(): microseconds and a "+00:00" offset.
    return message.created_at.isoformat()


def reference_message_item(message: Message) -> Item:
    return {
        "pk": f"MSG#{message.message_group_uuid}",
        "sk": _timestamp(message),
        "message": message.text,
        "message_uuid": str(message.uuid),
        "user_uuid": str(message.sender_uuid),
        "user_display_name": message.sender_display_name,
        "user_handle": message.sender_handle,
    }


def reference_row_item(owner: User, other: User, last_message: Message) -> Item:
    return {
        "pk": f"GRP#{owner.uuid}",
        "sk": _timestamp(last_message),
        "message_group_uuid": str(last_message.message_group_uuid),
        "message": last_message.text,
        "user_uuid": str(other.uuid),
        "user_display_name": other.display_name,
        "user_handle": other.handle,
    }
