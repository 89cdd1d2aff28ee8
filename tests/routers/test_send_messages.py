"""POST /api/messages: patterns C and D, validation, membership, races and idempotency."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from app.domain import pair_conversation_uuid
from app.repositories.table import Table
from tests.conftest import MakeUser, SignedIn, all_items, start_conversation
from tests.routers.conftest import MESSAGE_FIELDS


async def send(
    client: httpx.AsyncClient, who: SignedIn, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.post("/api/messages", json=body, headers={**who.headers, **headers})


@pytest.mark.transactions
async def test_message_a_handle_creates_one_conversation_with_a_deterministic_uuid(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user("andrew"), await make_user("bayko")
    response = await send(client, andrew, {"message": "hi", "handle": "bayko"})
    assert response.status_code == 200
    body = response.json()
    expected_group = pair_conversation_uuid(andrew.user.uuid, bayko.user.uuid)
    assert body["message_group_uuid"] == str(expected_group)
    assert set(body) == MESSAGE_FIELDS | {"message_group_uuid"}
    assert body["created_at"].endswith(("Z", "+00:00"))

    again = await send(client, bayko, {"message": "hey", "handle": "ANDREW"})
    assert again.json()["message_group_uuid"] == str(expected_group)
    rows = [item for item in await all_items(table) if str(item["pk"]).startswith("GRP#")]
    assert len(rows) == 2


async def test_send_into_a_conversation_as_member(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    response = await send(client, bayko, {"message": "reply", "message_group_uuid": group})
    assert response.status_code == 200
    assert response.json()["handle"] == bayko.user.handle
    page = await client.get(f"/api/messages/{group}", headers=bayko.headers)
    assert [m["message"] for m in page.json()] == ["hello", "reply"]  # read-your-writes


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"message": "", "handle": "bayko"}, 422, "message_blank"),
        ({"message": "   \n ", "handle": "bayko"}, 422, "message_blank"),
        ({"message": "x" * 1025, "handle": "bayko"}, 422, "message_exceed_max_chars_1024"),
        ({"message": "hi", "message_group_uuid": ""}, 422, "message_group_uuid_blank"),
        ({"message": "hi", "message_group_uuid": "not-a-uuid"}, 422, "message_group_uuid_invalid"),
        ({"message": "hi", "handle": "  "}, 422, "user_reciever_handle_blank"),
        ({"message": "hi", "handle": "no spaces!"}, 422, "handle_invalid"),
        ({"message": "hi"}, 422, "message_target_missing"),
        (
            {"message": "hi", "handle": "bayko", "message_group_uuid": str(uuid4())},
            422,
            "message_target_ambiguous",
        ),
        ({"message": "hi", "handle": "bayko", "user_uuid": str(uuid4())}, 422, "field_not_allowed"),
        ({"handle": "bayko"}, 422, "field_required"),
        ({"message": 5, "handle": "bayko"}, 422, "validation_failed"),
        ({"message": "hi", "handle": "nobody_here"}, 404, "user_not_found"),
        ({"message": "hi", "handle": "andrew"}, 422, "message_self"),
        ({"message": "hi", "message_group_uuid": str(uuid4())}, 404, "message_group_not_found"),
    ],
)
async def test_bad_input_is_a_4xx_with_its_code_and_writes_nothing(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    andrew = await make_user("andrew")
    await make_user("bayko")
    before = await all_items(table)
    response = await send(client, andrew, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert await all_items(table) == before


async def test_malformed_json_is_a_422_problem(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew = await make_user()
    response = await client.post(
        "/api/messages",
        content=b'{"message": "hi", ',
        headers={**andrew.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "body_malformed"


@pytest.mark.transactions
async def test_a_1024_character_message_is_accepted(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    response = await send(client, andrew, {"message": "é" * 1024, "handle": bayko.user.handle})
    assert response.status_code == 200
    assert len(response.json()["message"]) == 1024


async def test_posting_into_someone_elses_conversation_is_404_and_writes_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko, mallory = await make_user(), await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    before = await all_items(table)
    response = await send(client, mallory, {"message": "let me in", "message_group_uuid": group})
    assert response.status_code == 404
    assert response.json()["code"] == "message_group_not_found"
    assert await all_items(table) == before


async def test_fifty_concurrent_sends_are_all_stored_distinct_and_ordered(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "first")
    senders = [andrew, bayko] * 25
    responses = await asyncio.gather(
        *(
            send(client, who, {"message": f"m{index}", "message_group_uuid": group})
            for index, who in enumerate(senders)
        )
    )
    assert all(response.status_code == 200 for response in responses)
    sent_ids = {response.json()["uuid"] for response in responses}
    assert len(sent_ids) == 50

    page = await client.get(f"/api/messages/{group}?limit=50", headers=andrew.headers)
    older = await client.get(_link(page, "next"), headers=andrew.headers)
    stored = older.json() + page.json()
    assert stored[0]["message"] == "first"
    assert {m["uuid"] for m in stored[1:]} == sent_ids
    keys = [(m["created_at"], m["uuid"]) for m in stored]
    assert keys == sorted(keys)


@pytest.mark.transactions
async def test_simultaneous_first_messages_end_in_one_conversation(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    for _ in range(5):
        andrew, bayko = await make_user(), await make_user()
        first, second = await asyncio.gather(
            send(client, andrew, {"message": "hi bayko", "handle": bayko.user.handle}),
            send(client, bayko, {"message": "hi andrew", "handle": andrew.user.handle}),
        )
        assert (first.status_code, second.status_code) == (200, 200)
        group = first.json()["message_group_uuid"]
        assert second.json()["message_group_uuid"] == group
        rows = [item for item in await all_items(table) if item.get("message_group_uuid") == group]
        assert sorted(str(row["pk"]) for row in rows) == sorted(
            [f"GRP#{andrew.user.uuid}", f"GRP#{bayko.user.uuid}"]
        )
        page = await client.get(f"/api/messages/{group}", headers=andrew.headers)
        assert sorted(m["message"] for m in page.json()) == ["hi andrew", "hi bayko"]


@pytest.mark.transactions
async def test_idempotent_retry_returns_the_original_and_stores_nothing_new(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    body = {"message": "only once", "handle": bayko.user.handle}
    first = await send(client, andrew, body, **{"Idempotency-Key": "key-1"})
    assert first.status_code == 200
    after_first = await all_items(table)
    replays = await asyncio.gather(
        *(send(client, andrew, body, **{"Idempotency-Key": "key-1"}) for _ in range(5))
    )
    assert all(replay.json() == first.json() for replay in replays)
    assert await all_items(table) == after_first

    into_group = {"message": "once more", "message_group_uuid": first.json()["message_group_uuid"]}
    concurrent = await asyncio.gather(
        *(send(client, andrew, into_group, **{"Idempotency-Key": "key-2"}) for _ in range(5))
    )
    assert len({response.json()["uuid"] for response in concurrent}) == 1
    messages = [i for i in await all_items(table) if str(i["pk"]).startswith("MSG#")]
    assert len(messages) == 2
    page = await client.get(
        f"/api/messages/{into_group['message_group_uuid']}", headers=andrew.headers
    )
    assert sorted(m["message"] for m in page.json()) == ["once more", "only once"]


@pytest.mark.transactions
async def test_reusing_an_idempotency_key_with_another_body_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    key = {"Idempotency-Key": "abc"}
    assert (
        await send(client, andrew, {"message": "a", "handle": bayko.user.handle}, **key)
    ).is_success
    before = await all_items(table)
    response = await send(client, andrew, {"message": "b", "handle": bayko.user.handle}, **key)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert await all_items(table) == before


@pytest.mark.transactions
async def test_idempotency_keys_are_per_user(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    key = {"Idempotency-Key": "same-key"}
    mine = await send(client, andrew, {"message": "x", "message_group_uuid": group}, **key)
    theirs = await send(client, bayko, {"message": "x", "message_group_uuid": group}, **key)
    assert mine.json()["uuid"] != theirs.json()["uuid"]
    assert UUID(theirs.json()["uuid"])


def _link(response: httpx.Response, relation: str) -> str:
    link = response.links.get(relation)
    assert link is not None, response.headers.get("link")
    return str(link["url"])
