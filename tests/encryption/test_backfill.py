"""``ddb encryption backfill``: plaintext stored before encryption becomes ciphertext, in place."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from app.crypto.kms_cipher import EnvelopeEncryption
from app.domain import DELETED_TEXT, pair_conversation_uuid
from app.repositories.backfill import BackfillCounts
from app.repositories.conversations import new_row_item
from app.repositories.messages import message_item
from app.repositories.table import Table
from scripts.backfill import backfill
from tests.conftest import MakeUser, RunningApp, SignedIn, all_items, message_in
from tests.encryption.conftest import app_data_keys
from tests.encryption.test_stored_text import mentions, page

START = datetime(2025, 6, 1, tzinfo=UTC)


class Interrupted(Exception):
    pass


async def plaintext_conversation(
    table: Table, first: SignedIn, second: SignedIn, count: int
) -> tuple[str, list[str]]:
    """A conversation as an API without encryption stored it: items written directly."""
    group = pair_conversation_uuid(first.user.uuid, second.user.uuid)
    texts = [f"old secret {index}" for index in range(count)]
    messages = [
        message_in(
            group,
            (first, second)[index % 2].user,
            text,
            at=START + timedelta(seconds=index),
            opens_conversation=index == 0,
        )
        for index, text in enumerate(texts)
    ]
    for message in messages:
        await table.put(message_item(message))
    for owner, other in ((first, second), (second, first)):
        await table.put(new_row_item(owner.user, other.user, messages[-1]))
    return str(group), texts


async def fill(
    running_app: RunningApp,
    table: Table,
    checkpoint: Path,
    page_size: int,
    report: Callable[[BackfillCounts], None] = lambda _: None,
) -> BackfillCounts:
    """The backfill with the app's data keys, unpaced."""
    cipher = EnvelopeEncryption(app_data_keys(running_app))
    return await backfill(
        table, cipher, checkpoint, page_size=page_size, items_per_second=1e6, report=report
    )


async def test_the_backfill_encrypts_every_text_and_both_participants_still_read_them(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    running_app: RunningApp,
    tmp_path: Path,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group, texts = await plaintext_conversation(table, andrew, bayko, 5)
    assert [m["message"] for m in await page(client, andrew, group)] == texts  # readable before

    counts = await fill(running_app, table, tmp_path / "cp.json", 3)

    assert (counts.messages, counts.rows) == (5, 2)
    assert not [item for item in await all_items(table) if mentions(item, "old secret")]
    for reader in (andrew, bayko):
        assert [m["message"] for m in await page(client, reader, group)] == texts
        listed = await client.get("/api/message_groups", headers=reader.headers)
        assert [c["message"] for c in listed.json()] == [texts[-1]]
    again = await fill(running_app, table, tmp_path / "cp.json", 3)
    assert (again.messages, again.rows, again.records) == (0, 0, 0)  # idempotent


async def test_a_deleted_last_message_is_no_text_to_seal(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    running_app: RunningApp,
    tmp_path: Path,
) -> None:
    """The rows show the public ``DELETED_TEXT`` and the tombstone has no text: the backfill
    seals the other messages and leaves both alone, run after run."""
    andrew, bayko = await make_user(), await make_user()
    group, texts = await plaintext_conversation(table, andrew, bayko, 3)
    last = (await page(client, andrew, group))[-1]
    deleted = await client.delete(f"/api/messages/{group}/{last['uuid']}", headers=andrew.headers)
    assert deleted.status_code == 200, deleted.text
    messaging = running_app.state.messaging
    tombstone = await messaging.messages.find(UUID(group), UUID(last["uuid"]))
    assert tombstone is not None
    await messaging.conversations.apply_changes(UUID(group), [tombstone])  # the stream handler's

    counts = await fill(running_app, table, tmp_path / "cp.json", 3)

    assert (counts.messages, counts.rows) == (2, 0)
    assert not [item for item in await all_items(table) if mentions(item, "old secret")]
    for reader in (andrew, bayko):
        shown = [m["message"] for m in await page(client, reader, group)]
        assert shown == [*texts[:2], DELETED_TEXT]
        listed = await client.get("/api/message_groups", headers=reader.headers)
        assert [c["message"] for c in listed.json()] == [DELETED_TEXT]
    again = await fill(running_app, table, tmp_path / "cp.json", 3)
    assert (again.messages, again.rows, again.records) == (0, 0, 0)


async def test_an_interrupted_backfill_resumes_from_its_saved_position(
    make_user: MakeUser, table: Table, running_app: RunningApp, tmp_path: Path
) -> None:
    andrew, bayko = await make_user(), await make_user()
    await plaintext_conversation(table, andrew, bayko, 6)
    checkpoint = tmp_path / "cp.json"
    items = len(await all_items(table))
    pages: list[int] = []

    def stop_at_second_page(counts: BackfillCounts) -> None:
        pages.append(counts.scanned)
        if len(pages) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        await fill(running_app, table, checkpoint, 4, stop_at_second_page)
    assert checkpoint.exists()
    rest = await fill(running_app, table, checkpoint, 4)
    # Resumed, not restarted (the data key item it made may land on either side of the mark).
    assert items - pages[0] <= rest.scanned <= items - pages[0] + 1
    assert not [item for item in await all_items(table) if mentions(item, "old secret")]


async def test_sends_during_the_backfill_are_all_kept(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    running_app: RunningApp,
    tmp_path: Path,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group, texts = await plaintext_conversation(table, andrew, bayko, 12)

    async def keep_sending() -> list[str]:
        sent = []
        for index in range(10):
            text = f"new {index}"
            response = await client.post(
                "/api/messages",
                json={"message": text, "message_group_uuid": group},
                headers=bayko.headers,
            )
            assert response.status_code == 200, response.text
            sent.append(text)
            await asyncio.sleep(0)
        return sent

    counts, sent = await asyncio.gather(
        fill(running_app, table, tmp_path / "cp.json", 2),
        keep_sending(),
    )

    assert counts.messages == 12
    response = await client.get(f"/api/messages/{group}?limit=50", headers=andrew.headers)
    assert [m["message"] for m in response.json()] == texts + sent
    assert not [item for item in await all_items(table) if mentions(item, "secret")]


async def test_a_row_moved_on_meanwhile_is_not_overwritten(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    running_app: RunningApp,
    tmp_path: Path,
) -> None:
    """The stream handler moves a row to a newer message between the backfill's read of the
    row and its write: the conditional write fails and the newer summary stays."""
    andrew, bayko = await make_user(), await make_user()
    group, _ = await plaintext_conversation(table, andrew, bayko, 2)
    newer = message_in(UUID(group), bayko.user, "newer", at=START + timedelta(days=1))
    stored = await running_app.state.messaging.messages.add(newer)
    moved = False

    async def move_rows_first(params: dict[str, object], **_: object) -> None:
        nonlocal moved
        key = params.get("Key")
        if not moved and isinstance(key, dict) and key["pk"]["S"].startswith("GRP#"):
            moved = True
            await running_app.state.messaging.conversations.apply_messages(UUID(group), [stored])

    events: Any = table.client.meta.events  # botocore's stubs know only sync hooks
    events.register("before-parameter-build.dynamodb.UpdateItem", move_rows_first)
    try:
        counts = await fill(running_app, table, tmp_path / "cp.json", 100)
    finally:
        events.unregister("before-parameter-build.dynamodb.UpdateItem", move_rows_first)

    assert moved
    assert counts.changed_meanwhile >= 1
    for reader in (andrew, bayko):
        listed = await client.get("/api/message_groups", headers=reader.headers)
        assert [c["message"] for c in listed.json()] == ["newer"]
