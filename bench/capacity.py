"""Capacity units per request of every pattern, computed from the seeded items: ours vs reference.

Each figure is an average over sample requests of the workload, using the very items the
data set holds (sizes vary with text length, unread sets and inbox sizes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TypedDict
from uuid import UUID, uuid5

from app.domain import DELETED_TEXT, Message, User, pair_conversation_uuid
from app.repositories import keys
from app.repositories.blocks import BLOCKED_BY
from app.repositories.conversations import change_marker, new_row_item
from app.repositories.messages import FIND_PAGE, message_item
from app.repositories.schema import TTL_ATTRIBUTE, table_definition
from app.repositories.table import Item
from app.repositories.users import user_items
from bench.capacity_model import Schema, Units, get_cost, query_cost, write_cost
from bench.dataset import (
    BENCH_NAMESPACE,
    HISTORY_ENDS_AT,
    DataSet,
    SeededConversation,
)
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
from bench.reference_design import (
    reference_definition,
    reference_message_item,
    reference_row_item,
)
from bench.summary_upkeep import PER_BATCH, burst_per_message, worst_per_message
from bench.workload import Descriptor

SUMMARY_UPDATE = "summary_update"
"""Pattern E, per message: the stream handler's work."""
MESSAGE_TOTAL = "message_total"
"""C + E: everything one message into an existing conversation costs."""
SUMMARY_UPKEEP_WORST = "summary_upkeep_worst"
SUMMARY_UPKEEP_BURST = "summary_upkeep_burst"
EDIT_MESSAGE_TOTAL = "edit_message_total"
DELETE_MESSAGE_TOTAL = "delete_message_total"
BLOCK_USER = "block_user"
"""Issue 16, priced on the send samples: edit or delete a just-sent message with the stream
handler's row updates (the throughput patterns of the same names without ``_total`` measure
the requests alone), and block the conversation's other participant."""

OURS = Schema.from_definition(table_definition("bench"))
REFERENCE = Schema.from_definition(reference_definition())


class CapacityFigure(TypedDict):
    pattern: str
    design: str
    """``ours`` or ``reference``."""
    read: dict[str, float]
    write: dict[str, float]
    total_read: float
    total_write: float
    note: str


@dataclass(frozen=True)
class _Lookup:
    """The data set indexed the way the patterns reach it."""

    dataset: DataSet

    def conversation(self, group: str | None) -> SeededConversation:
        wanted = UUID(group or "")
        return next(c for c in self.dataset.conversations if c.message_group_uuid == wanted)

    def inbox(self, owner: User) -> list[SeededConversation]:
        mine = [c for c in self.dataset.conversations if owner in (c.first, c.second)]
        return sorted(
            mine,
            key=lambda c: keys.message_sk(c.messages[-1].created_at, c.messages[-1].uuid),
            reverse=True,
        )


def _row(conversation: SeededConversation, owner: User) -> Item:
    first_row, second_row = conversation.row_items()
    return first_row if owner == conversation.first else second_row


def _pair(conversation: SeededConversation) -> tuple[User, User]:
    return conversation.first, conversation.second


def _other(conversation: SeededConversation, owner: User) -> User:
    return conversation.second if owner == conversation.first else conversation.first


def _new_message(sender: User, group: UUID, text: str | None) -> Message:
    """A message sent after the seeded history."""
    return Message(
        uuid5(BENCH_NAMESPACE, f"capacity:{group}:{text}"),
        group,
        sender.uuid,
        sender.handle,
        sender.display_name,
        text or "",
        HISTORY_ENDS_AT + timedelta(minutes=1),
    )


def summary_after(row: Item, message: Message, owner: User) -> Item:
    """The row after the in-order update (``ConversationsRepository``'s one conditional write,
    by the stream handler for the recipient and by the send path for the sender): summary
    moved to ``message``, counted unread for the recipient.

    A copy of what DynamoDB does with the repository's update expression, held to the real
    thing by tests/bench/test_capacity_rows.py."""
    unread = int(row.get("unread_count") or 0)
    if message.sender_uuid != owner.uuid:
        unread += 1
    return {
        **row,
        "last_message": message.preview,
        "last_message_sk": keys.message_sk(message.created_at, message.uuid),
        "unread_count": unread or None,
    }


class _Costs:
    def __init__(self, dataset: DataSet) -> None:
        self.lookup = _Lookup(dataset)
        self.users = dataset.users

    def _member_of(self, request: Descriptor) -> tuple[User, SeededConversation]:
        return self.users[request["user"]], self.lookup.conversation(request["group"])

    def _recipient(self, request: Descriptor) -> User:
        return next(user for user in self.users if user.handle == request["handle"])

    # Ours.

    def list_conversations(self, request: Descriptor) -> Units:
        owner = self.users[request["user"]]
        rows = [_row(c, owner) for c in self.lookup.inbox(owner)[:PAGE_LIMIT]]
        return query_cost(OURS, rows, consistent=False, index=keys.ACTIVITY_INDEX)

    def read_page(self, request: Descriptor) -> Units:
        reader, conversation = self._member_of(request)
        page = [message_item(m) for m in conversation.messages[-PAGE_LIMIT:]]
        return get_cost(_row(conversation, reader), consistent=True).add(
            query_cost(OURS, page, consistent=True)
        )

    def send_message(self, request: Descriptor) -> Units:
        sender, conversation = self._member_of(request)
        message = _new_message(sender, conversation.message_group_uuid, request["text"])
        return (
            get_cost(_row(conversation, sender), consistent=True)
            .add(write_cost(OURS, None, message_item(message)))
            .add(self._own_row(conversation, sender, message))
        )

    @staticmethod
    def _own_row(conversation: SeededConversation, sender: User, message: Message) -> Units:
        """The sender's row moved by the send itself (read-your-writes, on by default)."""
        row = _row(conversation, sender)
        return write_cost(OURS, row, summary_after(row, message, sender))

    def message_handle_existing(self, request: Descriptor) -> Units:
        recipient = self._recipient(request)
        claim = user_items(recipient)[1]  # the handle claim
        return get_cost(claim, consistent=False).add(self.send_message(request))

    def message_handle_new(self, request: Descriptor) -> Units:
        sender = self.users[request["user"]]
        recipient = self._recipient(request)
        group = pair_conversation_uuid(sender.uuid, recipient.uuid)
        message = replace(_new_message(sender, group, request["text"]), opens_conversation=True)
        claim = user_items(recipient)[1]  # the handle claim
        units = get_cost(claim, consistent=False).add(get_cost(None, consistent=True))
        for item in (
            message_item(message),
            new_row_item(sender, recipient, message),
            new_row_item(recipient, sender, message),
            # "Neither blocked the other": two ConditionChecks, billed as transactional
            # writes of the (absent) block items.
            keys.block_key(sender.uuid, recipient.uuid),
            keys.block_key(recipient.uuid, sender.uuid),
        ):
            units.add(write_cost(OURS, None, item, transactional=True))
        return units

    def send_idempotent(self, request: Descriptor) -> Units:
        sender, conversation = self._member_of(request)
        message = _new_message(sender, conversation.message_group_uuid, request["text"])
        stored = message_item(message)
        claim = {
            **keys.idempotency_key(sender.uuid, "a-client-key"),
            "fingerprint": "0" * 64,
            **{f"message_{name}": value for name, value in stored.items()},
            TTL_ATTRIBUTE: 1_800_000_000,
        }
        units = get_cost(None, consistent=True).add(
            get_cost(_row(conversation, sender), consistent=True)
        )
        units.add(write_cost(OURS, None, stored, transactional=True))
        units.add(write_cost(OURS, None, claim, transactional=True))
        return units.add(self._own_row(conversation, sender, message))

    def summary_update(self, request: Descriptor) -> Units:
        sender, conversation = self._member_of(request)
        message = _new_message(sender, conversation.message_group_uuid, request["text"])
        rows = [
            (_row(conversation, owner), owner)
            for owner in (conversation.first, conversation.second)
        ]
        # The KEYS_ONLY index returns only the keys of both rows.
        units = query_cost(
            OURS, [row for row, _ in rows], consistent=False, index=keys.CONVERSATION_INDEX
        )
        for row, owner in rows:
            # The recipient's row; the sender's the send moved (counted there), and the
            # handler reads it (strongly) to find it already there.
            if owner == sender:
                units.add(get_cost(row, consistent=True))
            else:
                units.add(write_cost(OURS, row, summary_after(row, message, owner)))
        return units

    # Edit, delete, block (issue 16).

    def _change(self, request: Descriptor, changed: Callable[[Message], Message]) -> Units:
        """Find a just-sent message (one Query page, newest first), write its change, and the
        stream handler's update of both rows, whose last message it is."""
        sender, conversation = self._member_of(request)
        message = _new_message(sender, conversation.message_group_uuid, request["text"])
        recent = [message_item(m) for m in conversation.messages[-(FIND_PAGE - 1) :]]
        units = get_cost(_row(conversation, sender), consistent=True).add(
            query_cost(OURS, [*recent, message_item(message)], consistent=True)
        )
        after = changed(message)
        units.add(write_cost(OURS, message_item(message), message_item(after)))
        rows = [(summary_after(_row(conversation, o), message, o), o) for o in _pair(conversation)]
        units.add(
            query_cost(OURS, [r for r, _ in rows], consistent=False, index=keys.CONVERSATION_INDEX)
        )
        for row, owner in rows:
            new_row = {**row, "last_message": after.preview, "last_change": change_marker(after)}
            units.add(write_cost(OURS, row, new_row))
            if after.deleted and owner != sender:
                # Recount: the row (strongly), the unread messages, the lowered count.
                unread = int(new_row.get("unread_count") or 0)
                tail = [message_item(m) for m in conversation.messages[-unread:]] if unread else []
                units.add(get_cost(new_row, consistent=True))
                units.add(query_cost(OURS, tail, consistent=True))
                lowered = {**new_row, "unread_count": max(0, unread - 1) or None}
                units.add(write_cost(OURS, new_row, lowered))
        return units

    def edit_message(self, request: Descriptor) -> Units:
        return self._change(
            request,
            lambda m: replace(m, text=f"{m.text} (edited)", preview="", edited_at=m.created_at),
        )

    def delete_message(self, request: Descriptor) -> Units:
        return self._change(
            request, lambda m: replace(m, text=DELETED_TEXT, preview="", deleted=True)
        )

    def block_user(self, request: Descriptor) -> Units:
        """Handle claim, the block item (put, then read back), a flag on both rows."""
        blocker, conversation = self._member_of(request)
        blocked = _other(conversation, blocker)
        block = {
            **keys.block_key(blocker.uuid, blocked.uuid),
            "blocked_handle": blocked.handle,
            "blocked_display_name": blocked.display_name,
            "created_at": keys.format_timestamp(HISTORY_ENDS_AT),
        }
        units = get_cost(user_items(blocked)[1], consistent=False)
        units.add(write_cost(OURS, None, block)).add(get_cost(block, consistent=True))
        for owner in _pair(conversation):
            row = _row(conversation, owner)
            units.add(write_cost(OURS, row, {**row, BLOCKED_BY: {str(blocker.uuid)}}))
        return units

    # The reference design.

    def reference_list_conversations(self, request: Descriptor) -> Units:
        owner = self.users[request["user"]]
        rows = [
            reference_row_item(owner, _other(c, owner), c.messages[-1])
            for c in self.lookup.inbox(owner)[:PAGE_LIMIT]
        ]
        return query_cost(REFERENCE, rows, consistent=False)

    def reference_read_page(self, request: Descriptor) -> Units:
        conversation = self.lookup.conversation(request["group"])
        page = [reference_message_item(m) for m in conversation.messages[-PAGE_LIMIT:]]
        return query_cost(REFERENCE, page, consistent=False)  # no membership check at all

    def reference_send_message(self, request: Descriptor) -> Units:
        sender, conversation = self._member_of(request)
        message = _new_message(sender, conversation.message_group_uuid, request["text"])
        return write_cost(REFERENCE, None, reference_message_item(message))

    def reference_message_handle(self, request: Descriptor) -> Units:
        sender = self.users[request["user"]]
        recipient = self._recipient(request)
        group = uuid5(BENCH_NAMESPACE, f"new:{sender.uuid}:{recipient.uuid}")
        message = _new_message(sender, group, request["text"])
        units = Units()
        for item in (
            reference_message_item(message),
            reference_row_item(sender, recipient, message),
            reference_row_item(recipient, sender, message),
        ):
            units.add(write_cost(REFERENCE, None, item))
        return units

    def reference_summary_update(self, request: Descriptor) -> Units:
        sender, conversation = self._member_of(request)
        message = _new_message(sender, conversation.message_group_uuid, request["text"])
        owners = (conversation.first, conversation.second)
        rows = [
            (reference_row_item(o, _other(conversation, o), conversation.messages[-1]), o)
            for o in owners
        ]
        units = query_cost(
            REFERENCE, [row for row, _ in rows], consistent=False, index=keys.CONVERSATION_INDEX
        )
        for row, owner in rows:
            units.add(write_cost(REFERENCE, row, None))  # delete the old summary row ...
            new_row = reference_row_item(owner, _other(conversation, owner), message)
            units.add(write_cost(REFERENCE, None, new_row))  # ... and put it back re-keyed
        return units


def _average(cost: Callable[[Descriptor], Units], requests: Sequence[Descriptor]) -> Units:
    total = Units()
    for request in requests:
        total.add(cost(request))
    return total.scaled(1 / len(requests))


def _figure(pattern: str, design: str, units: Units, note: str = "") -> CapacityFigure:
    return CapacityFigure(
        pattern=pattern,
        design=design,
        read=units.read,
        write=units.write,
        total_read=units.total_read,
        total_write=units.total_write,
        note=note,
    )


@dataclass(frozen=True)
class _Row:
    pattern: Pattern
    """Whose sample requests drive the figure."""
    name: str
    ours: Callable[[Descriptor], Units]
    reference: Callable[[Descriptor], Units] | None
    note: str = ""


def _plan(costs: _Costs) -> list[_Row]:
    return [
        _Row(LIST_CONVERSATIONS, LIST_CONVERSATIONS.name, costs.list_conversations,
             costs.reference_list_conversations),
        _Row(READ_PAGE, READ_PAGE.name, costs.read_page, costs.reference_read_page,
             "reference: no membership check"),
        _Row(SEND_MESSAGE, SEND_MESSAGE.name, costs.send_message, costs.reference_send_message,
             "reference: no membership check"),
        _Row(MESSAGE_HANDLE_EXISTING, MESSAGE_HANDLE_EXISTING.name,
             costs.message_handle_existing, costs.reference_message_handle,
             "reference: creates a second conversation"),
        _Row(MESSAGE_HANDLE_NEW, MESSAGE_HANDLE_NEW.name, costs.message_handle_new,
             costs.reference_message_handle, "reference: BatchWriteItem, no transaction"),
        _Row(SEND_IDEMPOTENT, SEND_IDEMPOTENT.name, costs.send_idempotent, None,
             "reference: no idempotency"),
        _Row(SEND_MESSAGE, SUMMARY_UPDATE, costs.summary_update, costs.reference_summary_update,
             "per message; ours: the recipient's row (the send moves the sender's)"),
        _Row(SEND_MESSAGE, EDIT_MESSAGE_TOTAL, costs.edit_message, None, "reference: no edits"),
        _Row(SEND_MESSAGE, DELETE_MESSAGE_TOTAL, costs.delete_message, None,
             "reference: no deletes"),
        _Row(SEND_MESSAGE, BLOCK_USER, costs.block_user, None, "reference: no blocks"),
    ]  # fmt: skip


def computed_capacity(
    dataset: DataSet, samples: Mapping[Pattern, Sequence[Descriptor]]
) -> list[CapacityFigure]:
    """Both designs for every pattern that has samples, plus the per-message total (C + E)."""
    figures: list[CapacityFigure] = []
    per_message = {"ours": Units(), "reference": Units()}
    for row in _plan(_Costs(dataset)):
        requests = samples.get(row.pattern)
        if not requests:
            continue
        for design, cost in (("ours", row.ours), ("reference", row.reference)):
            note = row.note if design == "reference" else ""
            if cost is None:
                figures.append(_figure(row.name, design, Units(), f"n/a ({note})"))
                continue
            units = _average(cost, requests)
            figures.append(_figure(row.name, design, units, note))
            if row.name in (SEND_MESSAGE.name, SUMMARY_UPDATE):
                per_message[design].add(units)
    if samples.get(SEND_MESSAGE):
        for design, units in per_message.items():
            figures.append(_figure(MESSAGE_TOTAL, design, units, "C + E"))
        figures += upkeep_figures()
    return figures


def upkeep_figures() -> list[CapacityFigure]:
    """Pattern E per message, the previous row design against this one (bench/summary_upkeep)."""
    figures = [
        _figure(SUMMARY_UPKEEP_WORST, design, units, "rows at the unread cap, widest text")
        for design, units in worst_per_message().items()
    ]
    for per_batch in PER_BATCH:
        note = f"20-sender burst, {per_batch} message(s) of a conversation per batch"
        figures += [
            _figure(f"{SUMMARY_UPKEEP_BURST}_{per_batch}", design, units, note)
            for design, units in burst_per_message(per_batch).items()
        ]
    return figures
