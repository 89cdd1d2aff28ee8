"""Edits and deletes reach the conversation rows through the stream handler (MODIFY records),
idempotent under duplicates and safe when an edit and a newer message arrive in either order."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.crypto.cipher import TextCipher
from app.events.bus import Connection, Hub, InProcessBus
from app.events.model import opened
from app.repositories.conversations import ConversationsRepository
from app.streams.handler import handle_event
from tests.conftest import MakeUser, RunningApp, SignedIn, start_conversation
from tests.streams.conftest import LambdaRecord, StreamReader, event_of, inbox, send

pytestmark = pytest.mark.streams


async def edit(
    client: httpx.AsyncClient, who: SignedIn, group: str, message: str, text: str
) -> dict[str, Any]:
    response = await client.patch(
        f"/api/messages/{group}/{message}", json={"message": text}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def delete(client: httpx.AsyncClient, who: SignedIn, group: str, message: str) -> None:
    response = await client.delete(f"/api/messages/{group}/{message}", headers=who.headers)
    assert response.status_code == 200, response.text


async def apply(conversations: ConversationsRepository, records: list[LambdaRecord]) -> None:
    assert await handle_event(event_of(records), conversations) == {"batchItemFailures": []}


async def received(connection: Connection, cipher: TextCipher) -> list[tuple[str, Any, Any]]:
    """(name, text, deleted) of the events queued for ``connection``, as a client sees them."""
    events = []
    while not connection.queue.empty():
        event = connection.queue.get_nowait()
        assert event is not None
        event = await opened(event, cipher)  # as the API process does on delivery
        events.append((event.name, event.data.get("message"), event.data.get("deleted")))
    return events


async def andrews_last_message_applied(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    conversations: ConversationsRepository,
    text: str,
) -> tuple[SignedIn, SignedIn, str, dict[str, Any]]:
    """Andrew, Bayko, their conversation ("hello", then Andrew's ``text``), both rows applied."""
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    sent = await send(client, andrew, group, text)
    await apply(conversations, await stream.new_records())
    return andrew, bayko, group, sent


async def summaries(
    client: httpx.AsyncClient, group: str, *owners: SignedIn
) -> list[tuple[str, int]]:
    rows = [(await inbox(client, owner))[group] for owner in owners]
    return [(row["message"], row["unread_count"]) for row in rows]


async def test_editing_and_deleting_the_last_message_updates_both_previews(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    conversations: ConversationsRepository,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    last = await send(client, bayko, group, "see you tomorow")
    await apply(conversations, await stream.new_records())
    before = await inbox(client, andrew)

    await edit(client, bayko, group, last["uuid"], "see you tomorrow")
    await apply(conversations, await stream.new_records())
    # Bayko has not read Andrew's opening message: the counts stay as they were.
    assert await summaries(client, group, andrew, bayko) == [
        ("see you tomorrow", 1),
        ("see you tomorrow", 1),
    ]
    # Never reorders: the row keeps the message's time.
    assert (await inbox(client, andrew))[group]["created_at"] == before[group]["created_at"]

    await delete(client, bayko, group, last["uuid"])
    await apply(conversations, await stream.new_records())
    assert await summaries(client, group, andrew, bayko) == [
        ("message deleted", 0),
        ("message deleted", 1),
    ]


async def test_deleting_an_unread_message_lowers_the_count_once(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    conversations: ConversationsRepository,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    first = await send(client, bayko, group, "one")
    await send(client, bayko, group, "two")
    await send(client, bayko, group, "three")
    await apply(conversations, await stream.new_records())
    assert await summaries(client, group, andrew) == [("three", 3)]

    await delete(client, bayko, group, first["uuid"])
    deletion = await stream.new_records()
    await apply(conversations, deletion)
    assert await summaries(client, group, andrew) == [("three", 2)]
    await apply(conversations, deletion + deletion)  # duplicated, and redelivered
    assert await summaries(client, group, andrew) == [("three", 2)]


@pytest.mark.parametrize("edit_first", [True, False])
async def test_an_edit_and_a_newer_message_in_either_order_leave_the_newer_preview(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    conversations: ConversationsRepository,
    edit_first: bool,
) -> None:
    andrew, bayko, group, older = await andrews_last_message_applied(
        client, make_user, stream, conversations, "older, with a typo"
    )

    await edit(client, andrew, group, older["uuid"], "older, fixed")
    edited = await stream.new_records()
    await send(client, bayko, group, "newer")
    newer = await stream.new_records()
    await apply(conversations, edited + newer if edit_first else newer + edited)
    assert await summaries(client, group, andrew, bayko) == [("newer", 1), ("newer", 2)]
    # The edit itself shows in the conversation, in its place.
    page = await client.get(f"/api/messages/{group}", headers=bayko.headers)
    assert [message["message"] for message in page.json()] == ["hello", "older, fixed", "newer"]


async def test_a_late_older_edit_never_overwrites_a_newer_one(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    conversations: ConversationsRepository,
) -> None:
    andrew, bayko, group, last = await andrews_last_message_applied(
        client, make_user, stream, conversations, "draft 1"
    )
    await edit(client, andrew, group, last["uuid"], "draft 2")
    second = await stream.new_records()
    await edit(client, andrew, group, last["uuid"], "draft 3")
    third = await stream.new_records()

    await apply(conversations, third)
    await apply(conversations, second)  # a stale duplicate after the newer edit
    assert await summaries(client, group, bayko) == [("draft 3", 2)]
    await delete(client, andrew, group, last["uuid"])
    deletion = await stream.new_records()
    await apply(conversations, deletion + third)  # an edit can never undo a delete
    assert await summaries(client, group, bayko) == [("message deleted", 1)]


async def test_a_message_deleted_in_the_batch_that_sends_it_is_never_published_with_its_text(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    conversations: ConversationsRepository,
    running_app: RunningApp,
) -> None:
    """Sent to the wrong person and deleted at once: its INSERT and its delete share a batch.
    Both participants get the tombstone, never the text."""
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    await apply(conversations, await stream.new_records())
    sent = await send(client, andrew, group, "meant for someone else")
    await delete(client, andrew, group, sent["uuid"])
    bus = InProcessBus(Hub(queue_size=16, max_streams_per_user=4))
    listening = [await bus.subscribe(who.user.uuid) for who in (andrew, bayko)]

    response = await handle_event(
        event_of(await stream.new_records()), conversations, publisher=bus
    )

    assert response == {"batchItemFailures": []}
    cipher = running_app.state.messaging.messages.cipher
    deleted = [
        ("message_deleted", "message deleted", True),
        ("conversation", "message deleted", None),
    ]
    assert [await received(connection, cipher) for connection in listening] == [deleted, deleted]


async def test_edits_and_deletes_are_published_to_both_participants(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stream: StreamReader,
    conversations: ConversationsRepository,
    running_app: RunningApp,
) -> None:
    andrew, bayko, group, sent = await andrews_last_message_applied(
        client, make_user, stream, conversations, "helo"
    )
    cipher = running_app.state.messaging.messages.cipher
    bus = InProcessBus(Hub(queue_size=16, max_streams_per_user=4))
    listening = [await bus.subscribe(who.user.uuid) for who in (andrew, bayko)]

    async def published() -> list[list[tuple[str, Any, Any]]]:
        records = await stream.new_records()
        response = await handle_event(event_of(records), conversations, publisher=bus)
        assert response == {"batchItemFailures": []}
        return [await received(connection, cipher) for connection in listening]

    await edit(client, andrew, group, sent["uuid"], "hello")
    edited = [("message_updated", "hello", False), ("conversation", "hello", None)]
    assert await published() == [edited, edited]

    await edit(client, andrew, group, sent["uuid"], "hello!")
    await delete(client, andrew, group, sent["uuid"])
    # Only the latest version: the edited text is not sent again once the message is deleted.
    deleted = [
        ("message_deleted", "message deleted", True),
        ("conversation", "message deleted", None),
    ]
    assert await published() == [deleted, deleted]
