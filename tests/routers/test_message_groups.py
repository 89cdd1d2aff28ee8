"""GET /api/message_groups (pattern B) and POST /api/message_groups/{group}/read."""

from __future__ import annotations

import httpx

from tests.conftest import MakeUser, start_conversation


async def test_my_conversations_newest_first_with_the_other_participant(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    me = await make_user("me_myself")
    others = [await make_user(f"friend_{index}", f"Friend {index}") for index in range(3)]
    groups = [
        await start_conversation(client, me, other, f"to {index}")
        for index, other in enumerate(others)
    ]
    response = await client.get("/api/message_groups", headers=me.headers)
    assert response.status_code == 200
    listed = response.json()
    assert [c["uuid"] for c in listed] == groups[::-1]
    newest = listed[0]
    assert newest == {
        "uuid": groups[2],
        "display_name": "Friend 2",
        "handle": "friend_2",
        "message": "to 2",
        "created_at": newest["created_at"],
        "unread_count": 0,  # I sent it
        "other_user_uuid": str(others[2].user.uuid),
    }
    theirs = (await client.get("/api/message_groups", headers=others[0].headers)).json()
    assert [(c["handle"], c["unread_count"]) for c in theirs] == [("me_myself", 1)]
    assert "pk" not in response.text
    assert "GRP#" not in response.text


async def test_conversation_pages_follow_the_link_header_without_gaps(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    me = await make_user()
    groups = [await start_conversation(client, me, await make_user()) for _ in range(5)]
    seen: list[str] = []
    url: str | None = "/api/message_groups?limit=2"
    while url:
        response = await client.get(url, headers=me.headers)
        seen += [conversation["uuid"] for conversation in response.json()]
        url = response.links.get("next", {}).get("url")
    assert seen == groups[::-1]


async def test_a_conversation_list_cursor_belongs_to_its_caller(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    me, someone = await make_user(), await make_user()
    for _ in range(2):
        await start_conversation(client, me, await make_user())
    page = await client.get("/api/message_groups?limit=1", headers=me.headers)
    cursor = httpx.URL(page.links["next"]["url"]).params["cursor"]
    stolen = await client.get(
        "/api/message_groups", params={"cursor": cursor}, headers=someone.headers
    )
    assert stolen.status_code == 422
    assert stolen.json()["code"] == "cursor_invalid"


async def test_mark_read_resets_the_unread_count(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "ping")
    response = await client.post(f"/api/message_groups/{group}/read", headers=bayko.headers)
    assert response.status_code == 200, response.text
    state = response.json()
    assert state["unread_count"] == 0
    assert state["message_group_uuid"] == group
    listed = (await client.get("/api/message_groups", headers=bayko.headers)).json()
    assert listed[0]["unread_count"] == 0
    again = await client.post(f"/api/message_groups/{group}/read", headers=bayko.headers)
    assert again.json() == state  # idempotent


async def test_mark_read_up_to_a_given_message(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "ping")
    first_uuid = (await client.get(f"/api/messages/{group}", headers=bayko.headers)).json()[0][
        "uuid"
    ]
    response = await client.post(
        f"/api/message_groups/{group}/read",
        json={"up_to_message_uuid": first_uuid},
        headers=bayko.headers,
    )
    assert response.json()["read_up_to_message_uuid"] == first_uuid
    assert response.json()["unread_count"] == 0


async def test_mark_read_rejects_unknown_fields(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    response = await client.post(
        f"/api/message_groups/{group}/read", json={"everything": True}, headers=bayko.headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "field_not_allowed"


async def test_the_sender_reads_their_own_send_in_their_list_at_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """Read-your-writes for the sender, with no stream consumer running at all: the send
    moves the sender's own row before it answers; the recipient's row waits for the stream."""
    andrew, londo = await make_user(), await make_user()
    group = await start_conversation(client, londo, andrew, "first")
    long_text = "x" * 300
    for body in (
        {"message": "into the conversation", "message_group_uuid": group},
        {"message": "by handle", "handle": andrew.user.handle},
        {"message": long_text, "message_group_uuid": group},
    ):
        sent = await client.post("/api/messages", json=body, headers=londo.headers)
        assert sent.status_code == 200, sent.text
        [row] = (await client.get("/api/message_groups", headers=londo.headers)).json()
        expected = body["message"] if len(body["message"]) <= 160 else "x" * 160 + "\u2026"
        assert (row["uuid"], row["message"], row["created_at"]) == (
            group,
            expected,
            sent.json()["created_at"],
        )
        assert row["unread_count"] == 0
    [theirs] = (await client.get("/api/message_groups", headers=andrew.headers)).json()
    assert (theirs["message"], theirs["unread_count"]) == ("first", 1)  # the stream's job
