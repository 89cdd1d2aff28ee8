"""A first end-to-end pass through every endpoint (detailed cases live beside it)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import MakeUser


@pytest.mark.transactions
async def test_first_message_by_handle_then_reply_then_lists(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew = await make_user("andrew")
    bayko = await make_user("bayko")

    sent = await client.post(
        "/api/messages",
        json={"message": "  hello bayko  ", "handle": "Bayko"},
        headers=andrew.headers,
    )
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["message"] == "hello bayko"
    assert body["handle"] == "andrew"
    group = body["message_group_uuid"]

    reply = await client.post(
        "/api/messages", json={"message": "hi!", "message_group_uuid": group}, headers=bayko.headers
    )
    assert reply.status_code == 200, reply.text

    page = await client.get(f"/api/messages/{group}", headers=andrew.headers)
    assert page.status_code == 200, page.text
    assert [m["message"] for m in page.json()] == ["hello bayko", "hi!"]

    listed = await client.get("/api/message_groups", headers=bayko.headers)
    assert listed.status_code == 200, listed.text
    [conversation] = listed.json()
    assert conversation["uuid"] == group
    assert conversation["handle"] == "andrew"
    assert conversation["unread_count"] == 1

    short = await client.get("/api/users/@ANDREW/short", headers=bayko.headers)
    assert short.json() == {
        "uuid": str(andrew.user.uuid),
        "handle": "andrew",
        "display_name": "Andrew",
    }
