"""What each pattern's requests ask for, as plain descriptors shared by the HTTP and floor drivers.

A descriptor names the acting user (an index into the user list), and the conversation, the
recipient's handle and the text where the pattern has them. The HTTP driver turns it into a
request; the floor driver into the same DynamoDB calls the service would make.
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from itertools import combinations
from typing import Any, NotRequired, TypedDict
from uuid import UUID, uuid5

from app.domain import Message, User
from bench.dataset import BENCH_NAMESPACE, DataSet, SeededConversation, message_text
from bench.patterns import (
    DELETE_MESSAGE,
    EDIT_MESSAGE,
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
EDITED_MESSAGES = 500
"""Messages an edit run cycles through, each in its own conversation."""
TARGETS_PER_CONVERSATION = 8
"""At most this many of one run's fresh targets share a conversation: each stays among its
newest messages, found by the first Query page (``FIND_PAGE``)."""
FRESH_TARGETS_PER_SECOND = 1000
"""Targets written per second of a run that uses each once (deletes): more than this machine's
floor deletes; a run that still uses them up reports it (``list ran out``)."""


class Descriptor(TypedDict):
    user: int
    group: str | None
    handle: str | None
    text: str | None
    message: NotRequired[str]
    """Edits and deletes: the target message's uuid (a placeholder until ``recent_targets``)."""


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


def _own_messages(dataset: DataSet, rng: random.Random, index: dict[User, int]) -> list[Descriptor]:
    """One target per conversation, sent by either member; the text is the one it is sent with."""
    conversations = list(dataset.conversations)
    rng.shuffle(conversations)
    targets: list[Descriptor] = []
    for conversation in conversations:
        sender = rng.choice((conversation.first, conversation.second))
        group = str(conversation.message_group_uuid)
        target = _descriptor(index[sender], group=group, text=message_text(rng))
        target["message"] = str(len(targets))
        targets.append(target)
    return targets


def _edits(targets: list[Descriptor], rng: random.Random) -> list[Descriptor]:
    """Every target edited twice, with two different texts: the second pass's text is the one
    it is sent with (``recent_targets``), so each edit, cycled or not, changes it."""
    first_pass: list[Descriptor] = [{**target, "text": message_text(rng)} for target in targets]
    second_pass: list[Descriptor] = []
    for edit in first_pass:
        text = message_text(rng)
        while text == edit["text"]:
            text = message_text(rng)
        second_pass.append({**edit, "text": text})
    return first_pass + second_pass


def descriptors(pattern: Pattern, dataset: DataSet, seed: int) -> list[Descriptor]:
    """The pattern's requests; fresh-target patterns get every pair without a conversation;
    edits and deletes their targets, one per conversation, to expand with ``recent_targets``."""
    rng = random.Random(f"{pattern.name}:{seed}")
    index = {user: position for position, user in enumerate(dataset.users)}
    if pattern is MESSAGE_HANDLE_NEW:
        return _fresh_pairs(dataset, rng)
    if pattern is EDIT_MESSAGE:
        return _edits(_own_messages(dataset, rng, index)[:EDITED_MESSAGES], rng)
    if pattern is DELETE_MESSAGE:
        return _own_messages(dataset, rng, index)
    if pattern is LIST_CONVERSATIONS:
        owners = sorted(
            {index[c.first] for c in dataset.conversations}
            | {index[c.second] for c in dataset.conversations}
        )
        return [_descriptor(rng.choice(owners)) for _ in range(CYCLED_DESCRIPTORS)]
    if pattern in (READ_PAGE, SEND_MESSAGE, MESSAGE_HANDLE_EXISTING, SEND_IDEMPOTENT):
        return [_member_request(dataset, rng, index) for _ in range(CYCLED_DESCRIPTORS)]
    raise ValueError(f"no workload for {pattern.name}")


def recent_targets(
    template: list[Descriptor], dataset: DataSet, *, count: int, run: str, sent_at: datetime
) -> tuple[list[Descriptor], list[Message]]:
    """One run's ``count`` requests (the template, repeated if need be) and the messages they
    change, sent at ``sent_at``: each placeholder gets a uuid of its own in each run and
    repetition, and its message the text of its last request in the template.

    The messages are what a send stores (their rows are not moved: the requests read only the
    caller's row, for membership).
    """
    requests: list[Descriptor] = []
    sent: dict[str, Message] = {}
    for position in range(count):
        request = template[position % len(template)]
        repetition = position // len(template)
        uuid = uuid5(BENCH_NAMESPACE, f"target:{run}:{repetition}:{request['message']}")
        requests.append({**request, "message": str(uuid)})
        sender = dataset.users[request["user"]]
        sent[str(uuid)] = Message(
            uuid=uuid,
            message_group_uuid=UUID(request["group"] or ""),
            sender_uuid=sender.uuid,
            sender_handle=sender.handle,
            sender_display_name=sender.display_name,
            text=request["text"] or "",
            created_at=sent_at,
        )
    return requests, list(sent.values())


def run_size(pattern: Pattern, template: list[Descriptor], seconds: float) -> int:
    """How many requests ``recent_targets`` makes for one run of ``seconds``."""
    if not pattern.fresh_targets:
        return len(template)
    wanted = math.ceil(FRESH_TARGETS_PER_SECOND * seconds)
    return min(wanted, TARGETS_PER_CONVERSATION * len(template))


def split(items: list[Any], parts: int) -> list[list[Any]]:
    """``parts`` disjoint slices, so no two runs consume the same fresh target."""
    size = len(items) // parts
    return [items[part * size : (part + 1) * size] for part in range(parts)]
