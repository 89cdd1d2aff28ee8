"""What must hold after the soak, read straight from the table (and the API) with no faults."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from app.crypto.cipher import TextCipher
from app.domain import Conversation, pair_conversation_uuid
from app.repositories import keys
from app.repositories.conversations import UNREAD_CAP, ConversationsRepository
from app.repositories.messages import message_from_item
from app.repositories.sealing import message_binding
from app.repositories.table import Item, Table
from tests.conftest import SignedIn
from tests.soak.workload import Send

TOKEN = re.compile(r"^soak (m\d+) ")


async def _all_pages(table: Table, **query: Any) -> list[Item]:
    items: list[Item] = []
    position = None
    while True:
        page = await table.query(**query, next=position)
        items += page.items
        if page.next is None:
            return items
        position = page.next


@dataclass
class Snapshot:
    """Every pair's messages (oldest first) and conversation rows, by group uuid."""

    members: dict[str, tuple[UUID, UUID]]
    messages: dict[str, list[Item]]
    index_rows: dict[str, list[Item]]
    owner_rows: dict[UUID, list[Item]]
    views: dict[tuple[UUID, str], Conversation]
    """Each member's row as the repository reads it (the row layout is the repository's)."""


async def _with_text_opened(table: Table, cipher: TextCipher, items: list[Item]) -> list[Item]:
    """Message items with ``message`` as the API reads it (plain text, or why not)."""
    opened = []
    for item in items:
        message = message_from_item(item)
        binding = message_binding(
            table.name, message.message_group_uuid, item["sk"], message.sender_uuid
        )
        opened.append({**item, "message": await cipher.open([binding], message.text)})
    return opened


async def snapshot(table: Table, users: Sequence[SignedIn], cipher: TextCipher) -> Snapshot:
    uuids = [signed.user.uuid for signed in users]
    members = {
        str(pair_conversation_uuid(a, b)): (a, b) for a, b in itertools.combinations(uuids, 2)
    }
    messages, index_rows = {}, {}
    for group in members:
        stored = await _all_pages(
            table,
            key_condition="pk = :pk",
            values={":pk": keys.message_pk(UUID(group))},
            consistent=True,
        )
        messages[group] = await _with_text_opened(table, cipher, stored)
        index_rows[group] = await _all_pages(
            table,
            index=keys.CONVERSATION_INDEX,
            key_condition="message_group_uuid = :group",
            values={":group": group},
        )
    owner_rows = {
        owner: await _all_pages(
            table,
            key_condition="pk = :pk",
            values={":pk": keys.conversations_pk(owner)},
            consistent=True,
        )
        for owner in uuids
    }
    repository = ConversationsRepository(table)
    views = {}
    for group, (first, second) in members.items():
        for owner in (first, second) if messages[group] else ():
            view = await repository.get(owner, UUID(group))
            if view is not None:
                views[owner, group] = view
    return Snapshot(members, messages, index_rows, owner_rows, views)


def stale_rows(snap: Snapshot) -> list[str]:
    """Rows missing or not showing their conversation's newest message."""
    stale = []
    for group, stored in snap.messages.items():
        for owner in snap.members[group] if stored else ():
            view = snap.views.get((owner, group))
            if view is None or str(view.last_message_uuid) != stored[-1]["message_uuid"]:
                stale.append(f"{group} row of {owner}")
    return stale


def message_problems(snap: Snapshot, sends: Sequence[Send]) -> tuple[list[str], Counter[str]]:
    """Every acknowledged send stored exactly once where it said; nothing stored unattempted."""
    problems: list[str] = []
    stored_tokens: Counter[str] = Counter()
    where: dict[str, tuple[str, Item]] = {}
    for group, stored in snap.messages.items():
        for item in stored:
            match = TOKEN.match(str(item["message"]))
            token = match.group(1) if match else f"<foreign: {item['message']!r}>"
            stored_tokens[token] += 1
            where[token] = (group, item)
    attempted = {send.token: send for send in sends}
    counts: Counter[str] = Counter()
    for token, times in stored_tokens.items():
        if times > 1:
            problems.append(f"{token} stored {times} times")
        if token not in attempted:
            problems.append(f"{token} stored but never sent")
    for send in sends:
        if send.acknowledged is None:
            counts["unacknowledged stored" if send.token in where else "unacknowledged absent"] += 1
            continue
        if send.token not in where:
            problems.append(f"{send.token} acknowledged but not stored")
            continue
        group, item = where[send.token]
        if (group, item["message_uuid"]) != (
            send.acknowledged["message_group_uuid"],
            send.acknowledged["uuid"],
        ):
            problems.append(f"{send.token} stored as {item['message_uuid']} in {group}")
        elif item["sender_uuid"] != str(snap.members[group][0]) and item["sender_uuid"] != str(
            snap.members[group][1]
        ):
            problems.append(f"{send.token} stored with a foreign sender")
        counts["acknowledged verified"] += 1
    counts["stored"] = sum(stored_tokens.values())
    return problems, counts


def row_problems(snap: Snapshot) -> list[str]:
    """Exactly one row per participant of every conversation with messages, none otherwise."""
    problems: list[str] = []
    for group, stored in snap.messages.items():
        expected = sorted(keys.conversations_pk(owner) for owner in snap.members[group])
        indexed = sorted(str(row["pk"]) for row in snap.index_rows[group])
        if indexed != (expected if stored else []):
            problems.append(f"{group}: index rows {indexed}, expected {expected if stored else []}")
    for owner, rows in snap.owner_rows.items():
        groups = Counter(str(row["message_group_uuid"]) for row in rows)
        for group, count in groups.items():
            if count != 1 or not snap.messages.get(group) or owner not in snap.members[group]:
                problems.append(f"{owner}: {count} rows of {group}")
    return stale_rows(snap) + problems


def expected_unread(snap: Snapshot, owner: UUID, group: str) -> int:
    """The other's messages after the owner's read marker (a message), up to the cap."""
    marker_uuid = snap.views[owner, group].read_up_to_uuid
    stored = snap.messages[group]
    marker = next((str(m["sk"]) for m in stored if m["message_uuid"] == str(marker_uuid)), "")
    assert marker or marker_uuid is None, f"read marker {marker_uuid} is no message of {group}"
    after = sum(1 for m in stored if m["sender_uuid"] != str(owner) and str(m["sk"]) > marker)
    return min(after, UNREAD_CAP)


async def inbox_problems(
    http: httpx.AsyncClient, users: Sequence[SignedIn], snap: Snapshot
) -> tuple[list[str], int]:
    """Through the API: each inbox lists the newest message and the unread count the read
    marker implies (the other's messages after it)."""
    problems: list[str] = []
    checked = 0
    for signed in users:
        owner = signed.user.uuid
        response = await http.get("/api/message_groups?limit=50", headers=signed.headers)
        assert response.status_code == 200, response.text
        listed: Mapping[str, dict[str, Any]] = {c["uuid"]: c for c in response.json()}
        mine = [g for g, stored in snap.messages.items() if stored and owner in snap.members[g]]
        if sorted(listed) != sorted(mine):
            problems.append(f"{signed.user.handle} lists {len(listed)} of {len(mine)}")
        for group in set(listed) & set(mine):
            newest = snap.messages[group][-1]
            unread = expected_unread(snap, owner, group)
            shown = (listed[group]["message"], listed[group]["unread_count"])
            if shown != (newest["message"], unread):
                problems.append(
                    f"{signed.user.handle} {group}: {shown} != {newest['message']!r}, {unread}"
                )
            checked += 1
    return problems, checked
