"""`ddb summaries repair`: rows left wrong by records that were given up on are made right.

The records are dropped here as a consumer with bounded retries would (the old local worker
after 5 attempts, a Lambda mapping with MaximumRetryAttempts): that is what the repair is for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio

from app import ddb
from app.repositories import keys
from app.repositories.blocks import BlocksRepository
from app.repositories.conversations import ConversationsRepository
from app.repositories.dead_letters import DeadLettersRepository
from app.repositories.table import Table
from app.services.summaries_repair import SummariesRepair
from app.settings import Settings
from app.streams.handler import handle_event
from scripts.ddb import main
from tests.conftest import MakeUser, SignedIn, start_conversation
from tests.faults.conftest import FAST_MAX_BACKOFF_SECONDS
from tests.faults.injector import FaultInjector, FaultKind
from tests.streams.conftest import StreamReader, event_of, inbox, message_records, send

pytestmark = pytest.mark.streams


@pytest_asyncio.fixture
async def stream(settings: Settings, table: Table) -> AsyncIterator[StreamReader]:
    async with AsyncExitStack() as stack:
        streams = await ddb.open_client(settings, stack, "dynamodbstreams")
        description = await table.client.describe_table(TableName=table.name)
        reader = StreamReader(streams, description["Table"]["LatestStreamArn"])
        await reader.new_records()
        yield reader


async def row(client: httpx.AsyncClient, owner: SignedIn, group: str) -> tuple[str, int]:
    shown = (await inbox(client, owner))[group]
    return shown["message"], shown["unread_count"]


def repair_of(table: Table) -> SummariesRepair:
    """The repair over ``table``, paced fast enough for a test."""
    return SummariesRepair(
        ConversationsRepository(table),
        DeadLettersRepository(table),
        BlocksRepository(table),
        rows_per_second=1000,
    )


async def test_repair_after_an_outage_whose_records_were_given_up_makes_every_row_right(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    settings: Settings,
    table: Table,
    stream: StreamReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    andrew, londo = await make_user(), await make_user()
    group = await start_conversation(client, londo, andrew, "m1")
    conversations = ConversationsRepository(table)
    await stream.new_records()

    # The outage: every attempt of the handler's calls answers HTTP 500; m2 is given up on.
    faults = FaultInjector()
    faults.attach(table.client, max_backoff=FAST_MAX_BACKOFF_SECONDS)
    try:
        faults.fail(["Query", "GetItem", "UpdateItem"], FaultKind.INTERNAL_ERROR)
        await send(client, londo, group, "m2")
        during = message_records(await stream.new_records())
        response = await handle_event(event_of(during), conversations)
        assert len(response["batchItemFailures"]) == 1
    finally:
        await faults.close()
    await send(client, londo, group, "m3")
    after = message_records(await stream.new_records())
    assert await handle_event(event_of(after), conversations) == {"batchItemFailures": []}
    assert await row(client, andrew, group) == ("m3", 2)  # wrong for good, as in issue 11

    monkeypatch.setenv("CRUDDUR_DDB_ENDPOINT_URL", str(settings.ddb_endpoint_url))
    monkeypatch.setenv("CRUDDUR_TABLE_NAME", settings.table_name)
    assert (
        await asyncio.to_thread(main, ["summaries", "repair", "--handle", andrew.user.handle]) == 0
    )

    assert await row(client, andrew, group) == ("m3", 3)
    assert await row(client, londo, group) == ("m3", 0)
    repair = repair_of(table)
    await repair.conversation(UUID(group))
    assert (repair.report.rows_checked, repair.report.rows_repaired) == (2, 0)  # idempotent


async def test_repair_beside_the_stream_handler_loses_no_update(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    stream: StreamReader,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, bayko, andrew, "hello")
    conversations = ConversationsRepository(table)
    for index in range(6):
        await send(client, bayko, group, f"late {index}")
    records = message_records(await stream.new_records())
    repair = repair_of(table)

    async def apply_one_by_one() -> None:
        for record in records:
            assert await handle_event(event_of([record]), conversations) == {
                "batchItemFailures": []
            }

    progress: list[str] = []
    await asyncio.gather(
        apply_one_by_one(),
        repair.everything(after=None, progress=progress.append),
        repair.conversation(UUID(group)),
    )
    assert await row(client, andrew, group) == ("late 5", 7)
    assert await row(client, bayko, group) == ("late 5", 0)


async def test_repair_processes_the_dead_letters(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    stream: StreamReader,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, bayko, andrew, "hello")
    dead_letters = DeadLettersRepository(table)
    await send(client, bayko, group, "set aside")
    *_, record = message_records(await stream.new_records())
    broken: dict[str, Any] = {**record, "eventID": "broken-image"}
    await dead_letters.put(broken, "undecodable: KeyError")
    await dead_letters.put({**record, "eventID": "no-key", "dynamodb": {}}, "undecodable")

    repair = repair_of(table)
    await repair.set_aside_records()

    assert repair.report.dead_letters_processed == 1
    assert [letter.event_id for letter in (await dead_letters.page(limit=10))[0]] == ["no-key"]
    assert await row(client, andrew, group) == ("set aside", 2)


async def test_repair_shows_edits_and_tombstones_whose_records_were_lost_and_block_flags(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table, stream: StreamReader
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    conversations = ConversationsRepository(table)
    edited = await send(client, bayko, group, "draft")
    unread = await send(client, bayko, group, "unread, then deleted")
    await handle_event(event_of(message_records(await stream.new_records())), conversations)
    path = f"/api/messages/{group}"
    edit = await client.patch(
        f"{path}/{edited['uuid']}", json={"message": "fixed"}, headers=bayko.headers
    )
    assert edit.status_code == 200
    deletion = await client.delete(f"{path}/{unread['uuid']}", headers=bayko.headers)
    assert deletion.status_code == 200
    await stream.new_records()  # the MODIFY records, given up on
    assert await row(client, andrew, group) == ("unread, then deleted", 2)
    # A block whose row flags were never written (the call stopped after the block item).
    await table.put(
        {
            **keys.block_key(andrew.user.uuid, bayko.user.uuid),
            "blocked_handle": bayko.user.handle,
            "blocked_display_name": bayko.user.display_name,
            "created_at": "2026-11-30T12:00:00.000000Z",
        }
    )

    repair = repair_of(table)
    await repair.conversation(UUID(group))
    assert repair.report.rows_repaired == 2
    assert await row(client, bayko, group) == ("message deleted", 1)
    assert UUID(group) not in {  # Andrew blocked Bayko: the row leaves Andrew's list
        UUID(key) for key in await inbox(client, andrew)
    }
    refused = await client.post(
        "/api/messages", json={"message": "hi", "message_group_uuid": group}, headers=bayko.headers
    )
    assert refused.json()["code"] == "cannot_message"
    andrews = await conversations.get(andrew.user.uuid, UUID(group))
    assert andrews is not None
    assert (andrews.last_message, andrews.unread_count) == ("message deleted", 1)
