"""GET /api/messages/{group}: pages, cursors bound to caller and conversation, polling."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain import Message
from app.repositories.messages import MessagesRepository
from app.repositories.table import Table
from tests.conftest import MakeUser, RunningApp, SignedIn, start_conversation
from tests.routers.conftest import MESSAGE_FIELDS

STARTED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def add_messages(table: Table, group: str, sender: SignedIn, count: int) -> list[str]:
    """``count`` messages, several sharing a timestamp, stored in the order returned."""
    repo = MessagesRepository(table)
    stored = []
    for index in range(count):
        message = Message(
            uuid=uuid4(),
            message_group_uuid=UUID(group),
            sender_uuid=sender.user.uuid,
            sender_handle=sender.user.handle,
            sender_display_name=sender.user.display_name,
            text=f"line {index}",
            # Every three messages share one microsecond: the uuid suffix keeps them apart.
            created_at=STARTED + timedelta(seconds=index // 3),
        )
        await repo.add(message)
        stored.append(message)
    stored.sort(key=lambda message: (message.created_at, str(message.uuid)))
    return [str(message.uuid) for message in stored]


async def walk_back(client: httpx.AsyncClient, url: str, who: SignedIn) -> list[list[str]]:
    pages = []
    next_url: str | None = url
    while next_url is not None:
        response = await client.get(next_url, headers=who.headers)
        assert response.status_code == 200, response.text
        pages.append([message["uuid"] for message in response.json()])
        link = response.links.get("next")
        next_url = link["url"] if link else None
    return pages


async def test_walking_105_messages_returns_each_once_in_order(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "opener")
    later = await add_messages(table, group, bayko, 104)
    pages = await walk_back(client, f"/api/messages/{group}?limit=20", andrew)
    assert [len(page) for page in pages] == [20, 20, 20, 20, 20, 5]
    walked = [uuid for page in reversed(pages) for uuid in page]
    assert walked[:-1] == later  # the opener was sent "now", after the back-dated ones
    assert len(set(walked)) == 105


async def test_pages_are_oldest_first_and_default_to_the_newest(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    for text in ("one", "two", "three"):
        await client.post(
            "/api/messages",
            json={"message": text, "message_group_uuid": group},
            headers=andrew.headers,
        )
    response = await client.get(f"/api/messages/{group}?limit=2", headers=bayko.headers)
    assert [m["message"] for m in response.json()] == ["two", "three"]
    assert set(response.json()[0]) == MESSAGE_FIELDS


async def test_polling_returns_only_newer_messages(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    first = await client.get(f"/api/messages/{group}", headers=bayko.headers)
    poll_url = first.links["prev"]["url"]
    empty = await client.get(poll_url, headers=bayko.headers)
    assert empty.json() == []
    assert empty.links["prev"]["url"] == poll_url  # nothing new: poll the same place again
    for text in ("a", "b"):
        await client.post(
            "/api/messages",
            json={"message": text, "message_group_uuid": group},
            headers=andrew.headers,
        )
    fresh = await client.get(poll_url, headers=bayko.headers)
    assert [m["message"] for m in fresh.json()] == ["a", "b"]
    after = await client.get(fresh.links["prev"]["url"], headers=bayko.headers)
    assert after.json() == []


async def test_a_cursor_is_refused_on_another_conversation_or_for_another_caller(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko, londo = await make_user(), await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    other_group = await start_conversation(client, andrew, londo)
    await add_messages(table, group, andrew, 5)
    page = await client.get(f"/api/messages/{group}?limit=2", headers=andrew.headers)
    cursor = httpx.URL(page.links["next"]["url"]).params["cursor"]

    elsewhere = await client.get(
        f"/api/messages/{other_group}", params={"cursor": cursor}, headers=andrew.headers
    )
    assert elsewhere.status_code == 422
    assert elsewhere.json()["code"] == "cursor_invalid"
    someone_else = await client.get(
        f"/api/messages/{group}", params={"cursor": cursor}, headers=bayko.headers
    )
    assert someone_else.json()["code"] == "cursor_invalid"
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    forged = await client.get(
        f"/api/messages/{group}", params={"cursor": tampered}, headers=andrew.headers
    )
    assert forged.json()["code"] == "cursor_invalid"
    for garbage in ("", "x", "a.b.c", "...."):
        response = await client.get(
            f"/api/messages/{group}", params={"cursor": garbage}, headers=andrew.headers
        )
        assert response.status_code == 422, garbage


async def test_limit_out_of_range_is_422(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    for limit in ("0", "51", "-1", "ten"):
        response = await client.get(
            f"/api/messages/{group}", params={"limit": limit}, headers=andrew.headers
        )
        assert response.status_code == 422, limit
        assert response.headers["content-type"] == "application/problem+json"


async def test_reading_a_conversation_you_are_not_in_reveals_nothing(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko, mallory = await make_user(), await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "secret")
    foreign = await client.get(f"/api/messages/{group}", headers=mallory.headers)
    missing = await client.get(f"/api/messages/{uuid4()}", headers=mallory.headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert "secret" not in foreign.text


async def test_a_non_member_with_a_cursor_gets_the_same_404(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko, mallory = await make_user(), await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    await add_messages(table, group, andrew, 5)
    page = await client.get(f"/api/messages/{group}?limit=2", headers=andrew.headers)
    cursor = httpx.URL(page.links["next"]["url"]).params["cursor"]
    missing = await client.get(f"/api/messages/{uuid4()}", headers=mallory.headers)
    for foreign_cursor in (cursor, "x", "a.b"):
        response = await client.get(
            f"/api/messages/{group}", params={"cursor": foreign_cursor}, headers=mallory.headers
        )
        assert response.status_code == 404
        assert response.content == missing.content


async def test_a_non_members_read_makes_both_calls_and_nothing_of_the_page_is_logged(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    running_app: RunningApp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    andrew, bayko, mallory = await make_user(), await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "secret")
    missing = await client.get(f"/api/messages/{uuid4()}", headers=mallory.headers)
    operations: list[str] = []

    def record(model: Any, **_: Any) -> None:
        operations.append(model.name)

    events = running_app.state.ddb.meta.events
    events.register("before-parameter-build.dynamodb", record)
    caplog.set_level(logging.DEBUG, logger="app")
    try:
        foreign = await client.get(f"/api/messages/{group}", headers=mallory.headers)
    finally:
        events.unregister("before-parameter-build.dynamodb", record)

    assert sorted(operations) == ["GetItem", "Query"]
    assert foreign.status_code == 404
    assert foreign.content == missing.content
    assert foreign.headers["content-length"] == missing.headers["content-length"]
    assert "secret" not in caplog.text


class TestMembershipProperty:
    """Random and real-but-foreign uuids: a non-member always gets the same 404."""

    @settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(random_uuids=st.lists(st.uuids(), min_size=1, max_size=6, unique=True))
    async def test_non_members_get_404(
        self, client: httpx.AsyncClient, make_user: MakeUser, random_uuids: list[UUID]
    ) -> None:
        andrew, bayko, mallory = await make_user(), await make_user(), await make_user()
        foreign = await start_conversation(client, andrew, bayko, "private")
        for target in [foreign, *map(str, random_uuids)]:
            read = await client.get(f"/api/messages/{target}", headers=mallory.headers)
            post = await client.post(
                "/api/messages",
                json={"message": "hi", "message_group_uuid": target},
                headers=mallory.headers,
            )
            mark = await client.post(f"/api/message_groups/{target}/read", headers=mallory.headers)
            for response in (read, post, mark):
                assert response.status_code == 404
                assert response.json()["code"] == "message_group_not_found"
                assert "private" not in response.text
        listed = await client.get("/api/message_groups", headers=mallory.headers)
        assert listed.json() == []
        page = await client.get(f"/api/messages/{foreign}", headers=andrew.headers)
        assert [message["message"] for message in page.json()] == ["private"]
