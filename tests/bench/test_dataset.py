"""The synthetic data set: the items it writes and the requests the workload derives from it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from uuid import UUID

from app.domain import User
from bench.dataset import Scale, build_dataset
from bench.patterns import DELETE_MESSAGE, EDIT_MESSAGE, MESSAGE_HANDLE_NEW, READ_PAGE
from bench.workload import (
    TARGETS_PER_CONVERSATION,
    descriptors,
    recent_targets,
    run_size,
    split,
)

SMALL = Scale(users=12, conversations=20, messages_per_conversation=3, hot_conversations=1,
              messages_per_hot_conversation=30)  # fmt: skip


def test_the_data_set_is_deterministic_and_shaped_as_asked() -> None:
    dataset = build_dataset(SMALL)
    assert dataset == build_dataset(SMALL)
    assert len(dataset.users) == SMALL.users
    assert len(dataset.conversations) == SMALL.conversations
    [hot] = [c for c in dataset.conversations if c.hot]
    assert len(hot.messages) == SMALL.messages_per_hot_conversation
    assert all(
        a.created_at < b.created_at
        for c in dataset.conversations
        for a, b in zip(c.messages, c.messages[1:], strict=False)
    )


def test_fresh_targets_are_pairs_without_a_conversation_and_never_shared() -> None:
    dataset = build_dataset(SMALL)
    users = {user.handle: user for user in dataset.users}
    fresh = descriptors(MESSAGE_HANDLE_NEW, dataset, seed=1)
    recipients = [d["handle"] for d in fresh]
    assert all(recipients)
    pairs = [
        frozenset((dataset.users[d["user"]].handle, str(handle)))
        for d, handle in zip(fresh, recipients, strict=True)
    ]
    assert len(pairs) == len(set(pairs)) == 12 * 11 // 2 - SMALL.conversations
    assert not any(dataset.has_conversation(*(users[handle] for handle in pair)) for pair in pairs)
    first, second = split(fresh, 2)
    assert not set(map(str, first)) & set(map(str, second))


def test_readers_are_members_of_the_conversation_they_read() -> None:
    dataset = build_dataset(SMALL)
    groups = {str(c.message_group_uuid): c for c in dataset.conversations}
    for request in descriptors(READ_PAGE, dataset, seed=1)[:200]:
        conversation = groups[request["group"] or ""]
        reader: User = dataset.users[request["user"]]
        assert reader in (conversation.first, conversation.second)


def test_each_edit_changes_its_messages_text_and_each_run_gets_messages_of_its_own() -> None:
    dataset = build_dataset(SMALL)
    template = descriptors(EDIT_MESSAGE, dataset, seed=1)
    sent_at = datetime.now(UTC)
    requests, messages = recent_targets(
        template, dataset, count=len(template), run="a", sent_at=sent_at
    )
    texts = {message.uuid: message.text for message in messages}
    assert len(texts) == SMALL.conversations == len(requests) // 2
    for request in requests * 2:  # cycled: every edit finds a different text in place
        target = UUID(request.get("message", ""))
        assert request["text"] != texts[target]
        texts[target] = request["text"] or ""
    senders = {message.uuid: message.sender_uuid for message in messages}
    assert all(
        senders[UUID(r.get("message", ""))] == dataset.users[r["user"]].uuid for r in requests
    )
    again, _ = recent_targets(template, dataset, count=len(template), run="b", sent_at=sent_at)
    assert not {r.get("message") for r in requests} & {r.get("message") for r in again}


def test_a_delete_run_targets_each_message_once_a_few_per_conversation() -> None:
    dataset = build_dataset(SMALL)
    template = descriptors(DELETE_MESSAGE, dataset, seed=1)
    count = run_size(DELETE_MESSAGE, template, seconds=60.0)
    assert count == TARGETS_PER_CONVERSATION * SMALL.conversations
    requests, messages = recent_targets(
        template, dataset, count=count, run="a", sent_at=datetime.now(UTC)
    )
    assert len({r.get("message") for r in requests}) == len(messages) == count
    per_conversation = Counter(message.message_group_uuid for message in messages)
    assert max(per_conversation.values()) == TARGETS_PER_CONVERSATION
