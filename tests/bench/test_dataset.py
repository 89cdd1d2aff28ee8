"""The synthetic data set: the items it writes and the requests the workload derives from it."""

from __future__ import annotations

from app.domain import User
from bench.dataset import Scale, build_dataset
from bench.patterns import MESSAGE_HANDLE_NEW, READ_PAGE
from bench.workload import descriptors, split

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
