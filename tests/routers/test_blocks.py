"""Blocks: POST/DELETE /api/users/@{handle}/block, GET /api/blocks, and what a block refuses."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.repositories.table import Table
from tests.conftest import MakeUser, SignedIn, all_items, start_conversation


async def block(client: httpx.AsyncClient, who: SignedIn, whom: SignedIn) -> httpx.Response:
    return await client.post(f"/api/users/@{whom.user.handle}/block", headers=who.headers)


async def unblock(client: httpx.AsyncClient, who: SignedIn, whom: SignedIn) -> httpx.Response:
    return await client.delete(f"/api/users/@{whom.user.handle}/block", headers=who.headers)


async def reply(
    client: httpx.AsyncClient, who: SignedIn, group: str, text: str = "hi"
) -> httpx.Response:
    return await client.post(
        "/api/messages", json={"message": text, "message_group_uuid": group}, headers=who.headers
    )


async def listed(client: httpx.AsyncClient, who: SignedIn) -> list[str]:
    response = await client.get("/api/message_groups", headers=who.headers)
    assert response.status_code == 200
    return [conversation["uuid"] for conversation in response.json()]


async def test_block_list_and_unblock_are_idempotent(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko, londo = await make_user(), await make_user(), await make_user()
    first = await block(client, andrew, bayko)
    assert first.status_code == 200
    assert first.json()["handle"] == bayko.user.handle
    again = await block(client, andrew, bayko)
    assert again.json() == first.json()  # the first block's time stands
    await block(client, andrew, londo)
    blocks = await client.get("/api/blocks", headers=andrew.headers, params={"limit": 1})
    assert len(blocks.json()) == 1
    rest = await client.get(blocks.links["next"]["url"], headers=andrew.headers)
    handles = {item["handle"] for item in blocks.json() + rest.json()}
    assert handles == {bayko.user.handle, londo.user.handle}
    assert (await client.get("/api/blocks", headers=bayko.headers)).json() == []

    assert (await unblock(client, andrew, bayko)).status_code == 204
    assert (await unblock(client, andrew, bayko)).status_code == 204
    remaining = await client.get("/api/blocks", headers=andrew.headers)
    assert [item["handle"] for item in remaining.json()] == [londo.user.handle]


@pytest.mark.parametrize(
    ("handle", "status", "code"),
    [("nobody_here", 404, "user_not_found"), ("no-dash", 422, "handle_invalid")],
)
async def test_blocking_a_missing_or_invalid_handle(
    client: httpx.AsyncClient, make_user: MakeUser, handle: str, status: int, code: str
) -> None:
    andrew = await make_user()
    for method in ("POST", "DELETE"):
        response = await client.request(
            method, f"/api/users/@{handle}/block", headers=andrew.headers
        )
        assert response.status_code == status
        assert response.json()["code"] == code


async def test_blocking_yourself_is_refused(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    andrew = await make_user()
    response = await block(client, andrew, andrew)
    assert response.status_code == 422
    assert response.json()["code"] == "block_self"


async def test_a_block_stops_both_sides_hides_the_blockers_row_and_keeps_history(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "before the block")
    await block(client, andrew, bayko)

    refused = await reply(client, bayko, group)
    assert (refused.status_code, refused.json()["code"]) == (403, "cannot_message")
    assert "block" not in refused.json()["detail"].lower()  # the blocked side is not told
    own = await reply(client, andrew, group)
    assert (own.status_code, own.json()["code"]) == (403, "blocked")

    assert await listed(client, andrew) == []
    assert await listed(client, bayko) == [group]
    for who in (andrew, bayko):
        history = await client.get(f"/api/messages/{group}", headers=who.headers)
        assert [message["message"] for message in history.json()] == ["before the block"]

    await unblock(client, andrew, bayko)
    assert await listed(client, andrew) == [group]
    assert (await reply(client, bayko, group, "after")).status_code == 200


async def test_a_block_by_each_side_needs_both_unblocks(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    await block(client, andrew, bayko)
    await block(client, bayko, andrew)
    assert (await reply(client, bayko, group)).json()["code"] == "blocked"
    await unblock(client, andrew, bayko)
    assert (await reply(client, andrew, group)).json()["code"] == "cannot_message"
    await unblock(client, bayko, andrew)
    assert (await reply(client, andrew, group)).status_code == 200


@pytest.mark.transactions
async def test_a_blocked_user_cannot_start_a_conversation_by_handle(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    await block(client, andrew, bayko)
    by_blocked = await client.post(
        "/api/messages", json={"message": "hi", "handle": andrew.user.handle}, headers=bayko.headers
    )
    assert (by_blocked.status_code, by_blocked.json()["code"]) == (403, "cannot_message")
    by_blocker = await client.post(
        "/api/messages", json={"message": "hi", "handle": bayko.user.handle}, headers=andrew.headers
    )
    assert (by_blocker.status_code, by_blocker.json()["code"]) == (403, "blocked")
    stored = [
        item for item in await all_items(table) if str(item["pk"]).startswith(("GRP#", "MSG#"))
    ]
    assert stored == []

    # By handle into an existing conversation: the rows' flag refuses it.
    await unblock(client, andrew, bayko)
    await start_conversation(client, andrew, bayko)
    await block(client, andrew, bayko)
    again = await client.post(
        "/api/messages", json={"message": "hi", "handle": andrew.user.handle}, headers=bayko.headers
    )
    assert again.json()["code"] == "cannot_message"


async def test_a_send_racing_with_a_block_is_stored_only_if_it_was_accepted(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    """The bound of the race (README, "Block"): a send whose membership read came before the
    block's row flag may still be stored, and is answered 200; every send that starts after
    the block answered is refused; a refused send stores nothing."""
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "opening")
    racing = [reply(client, bayko, group, f"racing {index}") for index in range(8)]
    outcomes = await asyncio.gather(*racing, block(client, andrew, bayko))
    *sends, blocked = outcomes
    assert blocked.status_code == 200
    assert {response.status_code for response in sends} <= {200, 403}
    accepted = {response.json()["uuid"] for response in sends if response.status_code == 200}
    stored = {
        str(item["message_uuid"])
        for item in await all_items(table)
        if str(item["pk"]).startswith("MSG#") and not item.get("opens_conversation")
    }
    assert stored == accepted
    after = await asyncio.gather(*(reply(client, bayko, group) for _ in range(4)))
    assert {response.json()["code"] for response in after} == {"cannot_message"}
