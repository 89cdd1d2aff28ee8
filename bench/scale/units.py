"""Capacity units per request for a workload, from the benchmark's capacity model.

Nothing here restates a unit count: a small data set shaped like the workload (its inbox size
and message lengths) goes through ``bench.capacity.computed_capacity``, which prices the very
items the repositories build. When the row design changes, these figures change with it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import timedelta
from uuid import uuid5

from app.domain import Message, User, pair_conversation_uuid
from app.repositories import keys
from app.repositories.messages import message_item
from app.repositories.table import Item
from bench.capacity import OURS, SUMMARY_UPDATE, computed_capacity
from bench.capacity_model import Units, get_cost, write_cost
from bench.dataset import BENCH_NAMESPACE, HISTORY_ENDS_AT, DataSet, SeededConversation, bench_user
from bench.item_size import item_size
from bench.patterns import (
    LIST_CONVERSATIONS,
    MESSAGE_HANDLE_EXISTING,
    MESSAGE_HANDLE_NEW,
    PAGE_LIMIT,
    READ_PAGE,
    SEND_IDEMPOTENT,
    SEND_MESSAGE,
    Pattern,
)
from bench.scale.workload import Workload
from bench.workload import Descriptor

PAGE_SAMPLES = 100
"""Conversations whose last page prices a page read: read units round up per page, so the
expectation needs many pages drawn from the message lengths, not one average page."""
MARK_READ = "mark_read"
"""Not in the benchmark's plan: priced here with the same model functions."""
_FILLER = "lorem ipsum dolor sit amet "


@dataclass(frozen=True, slots=True)
class Sizes:
    """Average bytes of what one message and one conversation leave in the table."""

    message: float
    row: float
    activity_entry: float
    """A row's entry in the ALL-projected LSI."""
    participants_entry: float
    """A row's entry in the KEYS_ONLY GSI."""
    message_put: float
    """Table write units of one message item (its ``MSG#`` partition only)."""


@dataclass(frozen=True, slots=True)
class RequestUnits:
    by_pattern: dict[str, Units]
    """Per request, by pattern name (and ``summary_update`` per message, ``mark_read``)."""
    sizes: Sizes
    dataset: DataSet


def sample_texts(workload: Workload, count: int = PAGE_LIMIT) -> list[str]:
    """``count`` texts whose lengths follow the workload's shares (largest remainder)."""
    shares = workload.length_shares
    exact = [share * count for _, share in shares]
    slots = [int(value) for value in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: exact[i] - slots[i], reverse=True)
    for index in by_remainder[: count - sum(slots)]:
        slots[index] += 1
    texts = []
    for (length, _), slot in zip(shares, slots, strict=True):
        text = (_FILLER * (length // len(_FILLER) + 1))[:length]
        texts.extend([text] * slot)
    random.Random(count).shuffle(texts)
    return texts


def _conversation(owner: User, partner: User, texts: list[str]) -> SeededConversation:
    group = pair_conversation_uuid(owner.uuid, partner.uuid)
    messages = tuple(
        Message(
            uuid=uuid5(BENCH_NAMESPACE, f"scale:{group}:{index}"),
            message_group_uuid=group,
            sender_uuid=sender.uuid,
            sender_handle=sender.handle,
            sender_display_name=sender.display_name,
            text=text,
            created_at=HISTORY_ENDS_AT - timedelta(minutes=len(texts) - index),
        )
        for index, (text, sender) in enumerate(
            zip(texts, [owner, partner] * len(texts), strict=False)
        )
    )
    return SeededConversation(group, owner, partner, messages, hot=False)


def workload_dataset(workload: Workload) -> DataSet:
    """User 0 in ``conversations_per_user`` conversations of one full page each; a stranger
    (user ``conversations_per_user + 1``) with none, for first messages; and
    ``PAGE_SAMPLES`` conversations between further pairs of users, whose pages are read."""
    rng = random.Random(6)
    partners = max(1, workload.conversations_per_user)
    users = tuple(bench_user(index, rng) for index in range(partners + 2 + 2 * PAGE_SAMPLES))
    texts = sample_texts(workload)
    # Each conversation a page drawn at random from the lengths: pages vary around the mean as
    # real ones do, and read units round up per page.
    pairs = [(users[0], users[index]) for index in range(1, partners + 1)]
    pairs += [(users[index], users[index + 1]) for index in range(partners + 2, len(users), 2)]
    conversations = tuple(
        _conversation(first, second, rng.choices(texts, k=PAGE_LIMIT)) for first, second in pairs
    )
    pair_sets = frozenset(frozenset((c.first.uuid, c.second.uuid)) for c in conversations)
    return DataSet(users, conversations, pair_sets)


def inbox_of(dataset: DataSet) -> tuple[SeededConversation, ...]:
    """User 0's conversations."""
    owner = dataset.users[0]
    return tuple(c for c in dataset.conversations if c.first == owner)


def _samples(dataset: DataSet, workload: Workload) -> dict[Pattern, list[Descriptor]]:
    texts = sample_texts(workload)
    conversations = inbox_of(dataset)
    members: list[Descriptor] = []
    # Every text once, the conversations in turn: the lengths keep their shares exactly.
    for turn in range(max(len(texts), len(conversations))):
        conversation = conversations[turn % len(conversations)]
        sender, recipient = (conversation.first, conversation.second)[:: 1 if turn % 2 else -1]
        members.append(
            Descriptor(
                user=dataset.users.index(sender),
                group=str(conversation.message_group_uuid),
                handle=recipient.handle,
                text=texts[turn % len(texts)],
            )
        )
    stranger = dataset.users[len(conversations) + 1].handle
    return {
        LIST_CONVERSATIONS: [Descriptor(user=0, group=None, handle=None, text=None)],
        READ_PAGE: [
            Descriptor(
                user=dataset.users.index(c.first),
                group=str(c.message_group_uuid),
                handle=None,
                text=None,
            )
            for c in dataset.conversations[len(conversations) :]
        ],
        SEND_MESSAGE: members,
        MESSAGE_HANDLE_EXISTING: members,
        SEND_IDEMPOTENT: members,
        MESSAGE_HANDLE_NEW: [
            Descriptor(user=1, group=None, handle=stranger, text=text) for text in texts
        ],
    }


def marked_read(row: Item) -> Item:
    """The row after mark-read up to its latest message (``ConversationsRepository.mark_read``'s
    common case), held to the repository by tests/bench/test_scale.py."""
    return {**row, "read_up_to": row["last_message_sk"], "unread_count": 0}


def _mark_read_units(dataset: DataSet) -> Units:
    total = Units()
    inbox = inbox_of(dataset)
    for conversation in inbox:
        row = conversation.row_items()[0]  # user 0's row
        total.add(get_cost(row, consistent=True)).add(write_cost(OURS, row, marked_read(row)))
    return total.scaled(1 / len(inbox))


def _average(values: list[float]) -> float:
    return sum(values) / len(values)


def _sizes(dataset: DataSet, workload: Workload) -> Sizes:
    rows = [row for c in inbox_of(dataset) for row in c.row_items()]
    activity, participants = (
        OURS.index(name) for name in (keys.ACTIVITY_INDEX, keys.CONVERSATION_INDEX)
    )
    # One message per sample text: the lengths in their exact shares.
    model = dataset.conversations[0].messages[0]
    messages = [message_item(replace(model, text=text)) for text in sample_texts(workload)]
    return Sizes(
        message=_average([item_size(message) for message in messages]),
        message_put=_average([write_cost(OURS, None, message).total_write for message in messages]),
        row=_average([item_size(row) for row in rows]),
        activity_entry=_average(
            [item_size(activity.entry(r, OURS.table_keys) or {}) for r in rows]
        ),
        participants_entry=_average(
            [item_size(participants.entry(r, OURS.table_keys) or {}) for r in rows]
        ),
    )


def request_units(workload: Workload) -> RequestUnits:
    dataset = workload_dataset(workload)
    figures = computed_capacity(dataset, _samples(dataset, workload))
    by_pattern = {
        figure["pattern"]: Units(dict(figure["read"]), dict(figure["write"]))
        for figure in figures
        if figure["design"] == "ours"
    }
    by_pattern[MARK_READ] = _mark_read_units(dataset)
    assert SUMMARY_UPDATE in by_pattern
    return RequestUnits(by_pattern, _sizes(dataset, workload), dataset)
