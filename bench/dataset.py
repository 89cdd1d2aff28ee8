"""A synthetic, deterministic data set: users, conversations and their messages.

Shaped like a real inbox: a few power users hold many conversations (more than one page),
most conversations are short, and a few hot conversations hold thousands of messages.
The items are the ones the repositories would write, built with their own item functions.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from app.domain import Message, User, pair_conversation_uuid
from app.repositories.conversations import new_row_item
from app.repositories.messages import message_item
from app.repositories.table import Item
from app.repositories.users import user_items

BENCH_NAMESPACE = uuid5(NAMESPACE_URL, "https://cruddur.com/bench")
HISTORY_ENDS_AT = datetime(2026, 10, 1, tzinfo=UTC)
"""Seeded messages lie before this fixed moment, so a seed gives the same items every time."""
HISTORY_DAYS = 30

_FIRST_NAMES = (
    "Andrew",
    "Bayko",
    "Londo",
    "Delenn",
    "Vir",
    "Lennier",
    "Talia",
    "Marcus",
    "Ivanova",
)
_LAST_NAMES = ("Brown", "Mollari", "Cotto", "Sheridan", "Garibaldi", "Franklin", "Winters", "Cole")
_WORDS = (
    "hey", "the", "stream", "table", "design", "partition", "key", "index", "tonight", "coffee",
    "week", "five", "deploy", "lambda", "query", "single", "sounds", "good", "see", "you", "at",
    "soon", "message", "group", "thanks", "again", "what", "about", "cost", "latency", "cheers",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Scale:
    users: int
    conversations: int
    messages_per_conversation: int
    """Mean length of an ordinary conversation."""
    hot_conversations: int
    messages_per_hot_conversation: int


@dataclass(frozen=True, slots=True)
class SeededConversation:
    message_group_uuid: UUID
    first: User
    second: User
    messages: tuple[Message, ...]
    """Oldest first."""
    hot: bool

    def row_items(self) -> tuple[Item, Item]:
        """Both participants' rows, summarising the last message as the stream handler would."""
        last = self.messages[-1]
        return new_row_item(self.first, self.second, last), new_row_item(
            self.second, self.first, last
        )


@dataclass(frozen=True, slots=True)
class DataSet:
    users: tuple[User, ...]
    conversations: tuple[SeededConversation, ...]
    _pairs: frozenset[frozenset[UUID]] = field(repr=False)

    def has_conversation(self, first: User, second: User) -> bool:
        return frozenset((first.uuid, second.uuid)) in self._pairs

    def items(self) -> Iterator[Item]:
        for user in self.users:
            yield from user_items(user)
        for conversation in self.conversations:
            yield from conversation.row_items()
            yield from (message_item(message) for message in conversation.messages)

    @property
    def message_count(self) -> int:
        return sum(len(conversation.messages) for conversation in self.conversations)


def bench_user(index: int, rng: random.Random) -> User:
    return User(
        uuid=uuid5(BENCH_NAMESPACE, f"user:{index}"),
        handle=f"bench_{index:05d}",
        display_name=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
        cognito_sub=str(uuid5(BENCH_NAMESPACE, f"sub:{index}")),
        created_at=HISTORY_ENDS_AT - timedelta(days=HISTORY_DAYS + 1),
    )


def message_text(rng: random.Random) -> str:
    """Mostly chat-sized, sometimes a paragraph; never over the 1024-character limit."""
    words = rng.choice((3, 6, 10, 16, 24, 40, 120))
    return " ".join(rng.choice(_WORDS) for _ in range(words))[:1024]


def _messages(
    group: UUID, pair: tuple[User, User], count: int, spacing_seconds: float, rng: random.Random
) -> tuple[Message, ...]:
    span = timedelta(seconds=spacing_seconds * count)
    moment = HISTORY_ENDS_AT - span - timedelta(seconds=rng.uniform(0, HISTORY_DAYS * 86400))
    messages = []
    for index in range(count):
        moment += timedelta(seconds=rng.uniform(1, 2 * spacing_seconds))
        sender = rng.choice(pair)
        messages.append(
            Message(
                uuid=uuid5(BENCH_NAMESPACE, f"message:{group}:{index}"),
                message_group_uuid=group,
                sender_uuid=sender.uuid,
                sender_handle=sender.handle,
                sender_display_name=sender.display_name,
                text=message_text(rng),
                created_at=moment,
            )
        )
    return tuple(messages)


def _pairs(users: tuple[User, ...], scale: Scale, rng: random.Random) -> list[tuple[User, User]]:
    """Distinct pairs; the hot ones first, between the power users at the head of the list."""
    wanted = min(scale.conversations, len(users) * (len(users) - 1) // 2)
    # Zipf-like: the first users start far more conversations, so some inboxes span pages.
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(users))]
    pairs: list[tuple[User, User]] = [
        (users[0], users[index + 1]) for index in range(min(scale.hot_conversations, wanted))
    ]
    seen = {frozenset((first.uuid, second.uuid)) for first, second in pairs}
    while len(pairs) < wanted:
        first = rng.choices(users, weights)[0]
        second = rng.choice(users)
        pair = frozenset((first.uuid, second.uuid))
        if first != second and pair not in seen:
            seen.add(pair)
            pairs.append((first, second))
    return pairs


def build_dataset(scale: Scale, seed: int = 6) -> DataSet:
    rng = random.Random(seed)
    users = tuple(bench_user(index, rng) for index in range(scale.users))
    conversations = []
    for index, (first, second) in enumerate(_pairs(users, scale, rng)):
        hot = index < scale.hot_conversations
        group = pair_conversation_uuid(first.uuid, second.uuid)
        if hot:
            count, spacing = scale.messages_per_hot_conversation, 30.0
        else:
            count, spacing = rng.randint(1, 2 * scale.messages_per_conversation - 1), 3600.0
        messages = _messages(group, (first, second), count, spacing, rng)
        conversations.append(SeededConversation(group, first, second, messages, hot))
    pairs = frozenset(frozenset((c.first.uuid, c.second.uuid)) for c in conversations)
    return DataSet(users, tuple(conversations), pairs)
