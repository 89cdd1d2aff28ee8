"""PATCH and DELETE /api/messages/{group}/{message}: who may, when, and what stays behind."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from app.repositories.table import Table
from app.services.moderation import ModerationService
from tests.conftest import MakeUser, RunningApp, SignedIn, all_items, start_conversation


@pytest.fixture
def moderation(running_app: RunningApp) -> Iterator[ModerationService]:
    """The app's service; a test may set its clock, which is put back afterwards."""
    service = running_app.state.moderation
    clock = service.clock
    yield service
    service.clock = clock


async def send(
    client: httpx.AsyncClient, who: SignedIn, group: str, text: str, **headers: str
) -> dict[str, Any]:
    response = await client.post(
        "/api/messages",
        json={"message": text, "message_group_uuid": group},
        headers={**who.headers, **headers},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def edit(
    client: httpx.AsyncClient, who: SignedIn, group: str, message: str, text: str
) -> httpx.Response:
    return await client.patch(
        f"/api/messages/{group}/{message}", json={"message": text}, headers=who.headers
    )


async def delete(
    client: httpx.AsyncClient, who: SignedIn, group: str, message: str
) -> httpx.Response:
    return await client.delete(f"/api/messages/{group}/{message}", headers=who.headers)


async def stored_outside_rows(table: Table) -> list[dict[str, object]]:
    """Every item but conversation rows, which the stream handler (not run here) updates."""
    return [item for item in await all_items(table) if not str(item["pk"]).startswith("GRP#")]


async def texts(client: httpx.AsyncClient, who: SignedIn, group: str) -> list[tuple[str, bool]]:
    page = await client.get(f"/api/messages/{group}", headers=who.headers)
    assert page.status_code == 200
    return [(message["message"], message["deleted"]) for message in page.json()]


async def test_the_sender_edits_in_place_and_the_same_edit_again_changes_nothing(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "first")
    typo = await send(client, andrew, group, "helo")
    await send(client, bayko, group, "last")

    edited = await edit(client, andrew, group, typo["uuid"], "hello")
    assert edited.status_code == 200
    body = edited.json()
    assert (body["uuid"], body["created_at"], body["message"]) == (
        typo["uuid"],
        typo["created_at"],
        "hello",
    )
    assert body["edited_at"] is not None
    assert await texts(client, bayko, group) == [
        ("first", False),
        ("hello", False),
        ("last", False),
    ]
    again = await edit(client, andrew, group, typo["uuid"], "hello")
    assert again.json() == body  # no second write: the same edited_at


async def test_an_edit_after_the_window_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser, moderation: ModerationService
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    sent = await send(client, andrew, group, "soon stale")
    sent_at = datetime.fromisoformat(sent["created_at"])

    moderation.clock = lambda: sent_at + moderation.edit_window
    assert (await edit(client, andrew, group, sent["uuid"], "just in time")).status_code == 200
    moderation.clock = lambda: sent_at + moderation.edit_window + timedelta(microseconds=1)
    late = await edit(client, andrew, group, sent["uuid"], "too late")
    assert (late.status_code, late.json()["code"]) == (409, "edit_window_closed")
    assert late.headers["content-type"] == "application/problem+json"
    # Deleting has no window.
    moderation.clock = lambda: datetime.now(UTC) + timedelta(days=400)
    assert (await delete(client, andrew, group, sent["uuid"])).status_code == 200


async def test_only_the_sender_may_change_a_message_and_only_members_learn_anything(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko, mallory = await make_user(), await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    sent = await send(client, andrew, group, "mine")

    for response in (
        await edit(client, bayko, group, sent["uuid"], "yours now"),
        await delete(client, bayko, group, sent["uuid"]),
    ):
        assert (response.status_code, response.json()["code"]) == (403, "not_message_sender")
    # Not a member: the same answer as for a conversation that does not exist.
    for response in (
        await edit(client, mallory, group, sent["uuid"], "x"),
        await delete(client, mallory, group, sent["uuid"]),
        await delete(client, mallory, str(uuid4()), sent["uuid"]),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "message_group_not_found")
    missing = await delete(client, andrew, group, str(uuid4()))
    assert (missing.status_code, missing.json()["code"]) == (404, "message_not_found")
    assert await texts(client, andrew, group) == [("hello", False), ("mine", False)]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"message": "  "}, "message_blank"),
        ({"message": "x" * 1025}, "message_exceed_max_chars_1024"),
        ({"message": "x", "handle": "bayko"}, "field_not_allowed"),
        ({}, "field_required"),
    ],
)
async def test_bad_edits_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser, body: dict[str, Any], code: str
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    sent = await send(client, andrew, group, "fine")
    response = await client.patch(
        f"/api/messages/{group}/{sent['uuid']}", json=body, headers=andrew.headers
    )
    assert (response.status_code, response.json()["code"]) == (422, code)
    bad_uuid = await client.patch(
        f"/api/messages/{group}/not-a-uuid", json={"message": "x"}, headers=andrew.headers
    )
    assert bad_uuid.status_code == 422


async def test_a_delete_leaves_a_tombstone_without_text_in_its_place(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "first")
    secret = await send(client, andrew, group, "my secret plan")
    await send(client, bayko, group, "last")

    deleted = await delete(client, andrew, group, secret["uuid"])
    assert deleted.status_code == 200
    assert (deleted.json()["deleted"], deleted.json()["message"]) == (True, "message deleted")
    assert await texts(client, bayko, group) == [
        ("first", False),
        ("message deleted", True),
        ("last", False),
    ]
    assert "my secret plan" not in repr(await stored_outside_rows(table))

    assert (await delete(client, andrew, group, secret["uuid"])).json() == deleted.json()
    refused = await edit(client, andrew, group, secret["uuid"], "resurrected")
    assert (refused.status_code, refused.json()["code"]) == (409, "message_deleted")


@pytest.mark.transactions
async def test_edits_and_deletes_reach_the_idempotency_records_copy(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    key = {"Idempotency-Key": "k-1"}
    sent = await send(client, andrew, group, "my secret plan", **key)

    await edit(client, andrew, group, sent["uuid"], "my other plan")
    retried = await send(client, andrew, group, "my secret plan", **key)
    assert (retried["uuid"], retried["message"]) == (sent["uuid"], "my other plan")
    await delete(client, andrew, group, sent["uuid"])
    assert "plan" not in repr(await stored_outside_rows(table))
    replayed = await send(client, andrew, group, "my secret plan", **key)
    assert (replayed["uuid"], replayed["deleted"]) == (sent["uuid"], True)


async def test_a_block_stops_edits_but_not_deletes(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    by_andrew = await send(client, andrew, group, "from andrew")
    by_bayko = await send(client, bayko, group, "from bayko")
    await client.post(f"/api/users/@{bayko.user.handle}/block", headers=andrew.headers)

    own = await edit(client, andrew, group, by_andrew["uuid"], "changed")
    assert own.json()["code"] == "blocked"
    theirs = await edit(client, bayko, group, by_bayko["uuid"], "changed")
    assert theirs.json()["code"] == "cannot_message"
    assert (await delete(client, bayko, group, by_bayko["uuid"])).status_code == 200
