"""What each pattern's requests ask for, as plain descriptors shared by the HTTP and floor drivers.

A descriptor names the acting user (an index into the user list), and the conversation, the
recipient's handle and the text where the pattern has them. The HTTP driver turns it into a
request; the floor driver into the same DynamoDB calls the service would make.
"""

from __future__ import annotations

import random
from itertools import combinations
from typing import Any, TypedDict

from app.domain import User
from bench.dataset import DataSet, SeededConversation, message_text
from bench.patterns import (
    LIST_CONVERSATIONS,
    MESSAGE_HANDLE_EXISTING,
    MESSAGE_HANDLE_NEW,
    READ_PAGE,
    SEND_IDEMPOTENT,
    SEND_MESSAGE,
    Pattern,
)

HOT_SHARE = 0.3
"""Share of conversation requests aimed at the hot conversations (big partitions)."""
CYCLED_DESCRIPTORS = 4000
"""Requests that may repeat cycle through this many descriptors."""


class Descriptor(TypedDict):
    user: int
    group: str | None
    handle: str | None
    text: str | None


class UserEntry(TypedDict):
    uuid: str
    handle: str
    display_name: str
    cognito_sub: str


def user_entries(dataset: DataSet) -> list[UserEntry]:
    return [
        UserEntry(
            uuid=str(user.uuid),
            handle=user.handle,
            display_name=user.display_name,
            cognito_sub=user.cognito_sub or "",
        )
        for user in dataset.users
    ]


def _descriptor(
    user: int, group: str | None = None, handle: str | None = None, text: str | None = None
) -> Descriptor:
    return Descriptor(user=user, group=group, handle=handle, text=text)


def _pick_conversation(dataset: DataSet, rng: random.Random) -> SeededConversation:
    hot = [conversation for conversation in dataset.conversations if conversation.hot]
    if hot and rng.random() < HOT_SHARE:
        return rng.choice(hot)
    return rng.choice(dataset.conversations)


def _member_request(dataset: DataSet, rng: random.Random, index: dict[User, int]) -> Descriptor:
    conversation = _pick_conversation(dataset, rng)
    member, other = rng.choice(
        ((conversation.first, conversation.second), (conversation.second, conversation.first))
    )
    return _descriptor(
        index[member],
        group=str(conversation.message_group_uuid),
        handle=other.handle,
        text=message_text(rng),
    )


def _fresh_pairs(dataset: DataSet, rng: random.Random) -> list[Descriptor]:
    pairs = [
        (first, second)
        for first, second in combinations(range(len(dataset.users)), 2)
        if not dataset.has_conversation(dataset.users[first], dataset.users[second])
    ]
    rng.shuffle(pairs)
    return [
        _descriptor(first, handle=dataset.users[second].handle, text=message_text(rng))
        for first, second in pairs
    ]


def descriptors(pattern: Pattern, dataset: DataSet, seed: int) -> list[Descriptor]:
    """The pattern's requests; fresh-target patterns get every pair without a conversation."""
    rng = random.Random(f"{pattern.name}:{seed}")
    index = {user: position for position, user in enumerate(dataset.users)}
    if pattern is MESSAGE_HANDLE_NEW:
        return _fresh_pairs(dataset, rng)
    if pattern is LIST_CONVERSATIONS:
        owners = sorted(
            {index[c.first] for c in dataset.conversations}
            | {index[c.second] for c in dataset.conversations}
        )
        return [_descriptor(rng.choice(owners)) for _ in range(CYCLED_DESCRIPTORS)]
    if pattern in (READ_PAGE, SEND_MESSAGE, MESSAGE_HANDLE_EXISTING, SEND_IDEMPOTENT):
        return [_member_request(dataset, rng, index) for _ in range(CYCLED_DESCRIPTORS)]
    raise ValueError(f"no workload for {pattern.name}")


def split(items: list[Any], parts: int) -> list[list[Any]]:
    """``parts`` disjoint slices, so no two runs consume the same fresh target."""
    size = len(items) // parts
    return [items[part * size : (part + 1) * size] for part in range(parts)]
