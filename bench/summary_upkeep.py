"""Pattern E's upkeep per message: the previous row design against this one, worst case and
amortised over the reference burst (issue 11), from item sizes by DynamoDB's rules.

Previous design: every row held a set of up to 100 unread keys (26 bytes each) and the full
last message (up to 1024 characters), projected ALL into the activity LSI; the stream handler
updated both rows, once per conversation per batch. This design: a bounded preview and an
unread counter, the LSI projecting what the list shows; the send path moves the sender's own
row (read-your-writes) and the handler moves the recipient's (reading, not writing, the
sender's). A move changes the LSI key: a delete and a put of the entry, each by its size.

The burst: 20 conversations of 50 messages (1,000 messages, 20 concurrent senders), each
message from either participant at random, texts drawn as in the benchmark's data set. How
many messages of one conversation a batch holds (``per_batch``) depends on the consumer's
lag; the table shows several values side by side.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from uuid import uuid5

from app.crypto.envelope import OVERHEAD_BYTES
from app.domain import Message, SealedText, Text, User
from app.repositories import keys
from app.repositories.conversations import UNREAD_CAP, new_row_item
from app.repositories.schema import table_definition
from app.repositories.sealing import stored_form
from app.repositories.table import Item
from app.schemas import MESSAGE_MAX_CHARS
from bench.capacity_model import Schema, Units, get_cost, query_cost, write_cost
from bench.dataset import BENCH_NAMESPACE, HISTORY_ENDS_AT, message_text

OURS = Schema.from_definition(table_definition("bench"))


def _previous_definition() -> dict[str, object]:
    definition = table_definition("bench")
    for index in definition["LocalSecondaryIndexes"]:
        index["Projection"] = {"ProjectionType": "ALL"}
    return definition


PREVIOUS = Schema.from_definition(_previous_definition())
BURST_CONVERSATIONS = 20
BURST_MESSAGES_EACH = 50
PER_BATCH = (1, 2, 3, 5)
NO_RYW = "ours without sender read-your-writes"
WIDEST_TEXT = "\U0001f600" * MESSAGE_MAX_CHARS
"""1024 four-byte characters: the largest text a message may hold (the previous design's rows
copied it)."""
LARGEST_PREVIEW_TEXT = "\u4e00" * MESSAGE_MAX_CHARS
"""Three-byte characters: the largest preview (``PREVIEW_MAX_BYTES`` with its ellipsis), which
this design's rows copy, sealed."""
LONG_DISPLAY_NAME = "D" * 100


def _unread_key(message: Message) -> str:
    """The previous design's compact unread key (26 characters)."""
    micros = (message.created_at - HISTORY_ENDS_AT) // timedelta(microseconds=1)
    return f"{micros:014x}{message.uuid.hex[:12]}"


def _previous_row(owner: User, other: User, last: Message, unread: Sequence[Message]) -> Item:
    row = new_row_item(owner, other, last)
    del row["unread_count"]
    return {
        **row,
        "last_message": last.text,
        "unread_message_keys": {_unread_key(m) for m in unread[:UNREAD_CAP]} or None,
    }


def _previous_after(row: Item, batch: Sequence[Message], owner: User) -> Item:
    newest = batch[-1]
    unread = set(row.get("unread_message_keys") or set())
    for message in batch:
        if message.sender_uuid != owner.uuid and len(unread) < UNREAD_CAP:
            unread.add(_unread_key(message))
    return {
        **row,
        "last_message": newest.text,
        "last_message_sk": keys.message_sk(newest.created_at, newest.uuid),
        "unread_message_keys": unread or None,
    }


def _ours_after(row: Item, newest: Message | None, counted: int) -> Item:
    moved = {}
    if newest is not None:
        moved = {
            "last_message": stored_form(newest.preview),
            "last_message_sk": keys.message_sk(newest.created_at, newest.uuid),
        }
    unread = int(row.get("unread_count") or 0) + counted
    return {**row, **moved, "unread_count": unread or None}


@dataclass
class _Conversation:
    first: User
    second: User
    messages: list[Message]

    def other(self, owner: User) -> User:
        return self.second if owner == self.first else self.first


def _previous_cost(conversation: _Conversation, rows: dict[User, Item], per_batch: int) -> Units:
    units = Units()
    messages = conversation.messages
    for start in range(0, len(messages), per_batch):
        batch = messages[start : start + per_batch]
        units.add(query_cost(PREVIOUS, rows.values(), consistent=False, index=CONVERSATIONS))
        for owner, row in rows.items():
            after = _previous_after(row, batch, owner)
            units.add(write_cost(PREVIOUS, row, after))
            rows[owner] = after
    return units


def _ours_cost(
    conversation: _Conversation, rows: dict[User, Item], per_batch: int, *, at_send: bool = True
) -> Units:
    """What the send path and the handler write, in the repository's order of decisions;
    ``at_send`` False: the sender's row is left to the handler (no read-your-writes)."""
    units = Units()
    messages = conversation.messages
    for start in range(0, len(messages), per_batch):
        batch = messages[start : start + per_batch]
        for message in batch if at_send else ():  # each send moves its sender's own row
            owner = next(user for user in rows if user.uuid == message.sender_uuid)
            after = _ours_after(rows[owner], message, 0)
            units.add(write_cost(OURS, rows[owner], after))
            rows[owner] = after
        units.add(query_cost(OURS, rows.values(), consistent=False, index=CONVERSATIONS))
        for owner, row in rows.items():
            others = [m for m in batch if m.sender_uuid != owner.uuid]
            own = [m for m in batch if m.sender_uuid == owner.uuid]
            if not others:
                units.add(get_cost(row, consistent=True))  # read first: usually already there
                if at_send:
                    continue
            newest = batch[-1] if batch[-1].sender_uuid != owner.uuid or not at_send else None
            if at_send and own and own[-1].created_at > others[0].created_at:
                units.add(get_cost(row, consistent=True))  # then a recount (reads)
            after = _ours_after(row, newest, len(others))
            units.add(write_cost(OURS, row, after))
            rows[owner] = after
    return units


CONVERSATIONS = keys.CONVERSATION_INDEX


def _burst(seed: int = 11) -> list[_Conversation]:
    rng = random.Random(seed)
    conversations = []
    for index in range(BURST_CONVERSATIONS):
        first, second = (
            User(uuid5(BENCH_NAMESPACE, f"burst:{index}:{side}"), f"burst_{index}_{side}", name)
            for side, name in (("a", "Andrew Brown"), ("b", "Londo Mollari"))
        )
        messages = [
            _message(rng.choice((first, second)), first, second, number, message_text(rng))
            for number in range(BURST_MESSAGES_EACH)
        ]
        conversations.append(_Conversation(first, second, messages))
    return conversations


def _sealed(preview: Text) -> SealedText:
    """A preview as stored with encryption on (as in production): only its size matters here,
    its plaintext's plus the envelope's overhead."""
    assert isinstance(preview, str)
    return SealedText(bytes(len(preview.encode()) + OVERHEAD_BYTES))


def _message(sender: User, first: User, second: User, number: int, text: str) -> Message:
    group = uuid5(BENCH_NAMESPACE, f"burst:{first.uuid}:{second.uuid}")
    message = Message(
        uuid5(BENCH_NAMESPACE, f"burst:{group}:{number}"),
        group,
        sender.uuid,
        sender.handle,
        sender.display_name,
        text,
        HISTORY_ENDS_AT + timedelta(seconds=number),
    )
    return replace(message, preview=_sealed(message.preview))


def _fresh_rows(conversation: _Conversation, previous: bool) -> dict[User, Item]:
    opener = _message(conversation.first, conversation.first, conversation.second, -1, "hi")
    if previous:
        return {
            owner: _previous_row(owner, conversation.other(owner), opener, [])
            for owner in (conversation.first, conversation.second)
        }
    return {
        owner: new_row_item(owner, conversation.other(owner), opener)
        for owner in (conversation.first, conversation.second)
    }


def burst_per_message(per_batch: int) -> dict[str, Units]:
    """Average units per message over the burst, for both designs."""
    conversations = _burst()
    count = sum(len(c.messages) for c in conversations)
    totals = {"previous": Units(), "ours": Units(), NO_RYW: Units()}
    for conversation in conversations:
        previous = _previous_cost(conversation, _fresh_rows(conversation, True), per_batch)
        totals["previous"].add(previous)
        ours = _ours_cost(conversation, _fresh_rows(conversation, False), per_batch)
        totals["ours"].add(ours)
        rows = _fresh_rows(conversation, False)
        totals[NO_RYW].add(_ours_cost(conversation, rows, per_batch, at_send=False))
    return {design: units.scaled(1 / count) for design, units in totals.items()}


def worst_per_message() -> dict[str, Units]:
    """One message alone in its batch, both rows at the unread cap, the widest text (ours: the
    largest preview, sealed) and 100-byte display names (this design's rows are bounded for
    names up to 100 bytes)."""
    first = User(uuid5(BENCH_NAMESPACE, "worst:a"), "a" * 32, LONG_DISPLAY_NAME)
    second = User(uuid5(BENCH_NAMESPACE, "worst:b"), "b" * 32, LONG_DISPLAY_NAME)
    backlog = [
        _message(sender, first, second, number, WIDEST_TEXT)
        for number in range(UNREAD_CAP)
        for sender in (first, second)
    ]
    last = backlog[-1]
    message = _message(first, first, second, UNREAD_CAP + 1, WIDEST_TEXT)
    conversation = _Conversation(first, second, [message])
    # This design's rows hold a preview, whose largest comes from another script.
    ours_last = _message(second, first, second, UNREAD_CAP - 1, LARGEST_PREVIEW_TEXT)
    ours_message = _message(first, first, second, UNREAD_CAP + 1, LARGEST_PREVIEW_TEXT)
    ours_conversation = _Conversation(first, second, [ours_message])
    previous_rows = {
        owner: _previous_row(
            owner,
            conversation.other(owner),
            last,
            [m for m in backlog if m.sender_uuid != owner.uuid],
        )
        for owner in (first, second)
    }
    ours_rows = {
        owner: {
            **new_row_item(owner, conversation.other(owner), ours_last),
            "unread_count": UNREAD_CAP,
        }
        for owner in (first, second)
    }
    return {
        "previous": _previous_cost(conversation, previous_rows, 1),
        "ours": _ours_cost(ours_conversation, dict(ours_rows), 1),
        NO_RYW: _ours_cost(ours_conversation, dict(ours_rows), 1, at_send=False),
    }
