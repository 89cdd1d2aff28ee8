"""Text UTF-8 cannot encode (lone surrogates): refused on the way in, repaired on the way out.

JSON may carry ``"\\udfff"``; DynamoDB items and our responses are UTF-8. moto answers 500 to
such a write and dynalite stores it, after which every page holding it used to answer 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from app.domain import pair_conversation_uuid
from app.repositories import keys
from app.repositories.conversations import ConversationsRepository, new_row_item
from app.repositories.messages import message_item
from app.repositories.table import Item, Table, serialize
from app.streams.handler import handle_event
from app.text import REPLACEMENT_CHARACTER
from tests.conftest import (
    DDB_TARGET,
    LATER,
    MakeUser,
    RunningApp,
    all_items,
    message_in,
    start_conversation,
)

BAD = "broken \udfff text"
REPAIRED = f"broken {REPLACEMENT_CHARACTER} text"


def raw_json(body: dict[str, Any]) -> bytes:
    """JSON with ``\\u`` escapes, as a client would send it (httpx's ``json=`` cannot)."""
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "body",
    [
        {"message": BAD, "handle": "bayko"},
        {"message": "hi", "handle": BAD},
        {"message": "hi \ud83d", "handle": "bayko"},
    ],
    ids=["message", "handle", "half-a-pair"],
)
@pytest.mark.parametrize("idempotency_key", [None, "key-1"], ids=["plain", "idempotent"])
async def test_unstorable_text_in_a_send_is_422_and_stores_nothing(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    body: dict[str, Any],
    idempotency_key: str | None,
) -> None:
    andrew, _ = await make_user(), await make_user("bayko")
    before = await all_items(table)
    headers = {**andrew.headers, "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    for _ in range(2):  # a retry gets the same answer (no "key in use")
        response = await client.post("/api/messages", content=raw_json(body), headers=headers)
        assert response.status_code == 422
        assert response.json()["code"] == "text_unstorable"
    assert await all_items(table) == before


async def test_unstorable_text_in_a_conversation_send_is_422(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    before = await all_items(table)
    response = await client.post(
        "/api/messages",
        content=raw_json({"message": BAD, "message_group_uuid": group}),
        headers={**andrew.headers, "Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()["code"]) == (422, "text_unstorable")
    assert await all_items(table) == before


async def test_undecodable_bytes_in_path_query_and_headers_are_4xx(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """Outside bodies, HTTP can only carry bytes: invalid UTF-8 never becomes a surrogate."""
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    answers = [
        await client.get("/api/users/@%ED%BF%BF/short", headers=andrew.headers),
        await client.get(f"/api/messages/{group}?cursor=%ED%BF%BF", headers=andrew.headers),
        await client.get("/api/message_groups?cursor=a%ED%BF%BF.b", headers=andrew.headers),
        await client.post(
            "/api/messages",
            json={"message": "hi", "message_group_uuid": group},
            headers=[
                (b"Authorization", andrew.headers["Authorization"].encode()),
                (b"Idempotency-Key", b"k\xed\xbf\xbf"),
            ],
        ),
    ]
    assert [answer.status_code for answer in answers] == [422] * 4
    assert [answer.json()["code"] for answer in answers] == [
        "handle_invalid",
        "cursor_invalid",
        "cursor_invalid",
        "validation_failed",
    ]


def test_the_table_refuses_unstorable_text_from_any_writer() -> None:
    """The CLI's and the Cognito trigger's display names reach the table without a body."""
    with pytest.raises(Exception, match="valid Unicode") as refused:
        serialize({"display_name": BAD})
    assert getattr(refused.value, "code", None) == "text_unstorable"


PLACEHOLDER = "stored-with-a-lone-surrogate"


@contextmanager
def stored_as_is(running_app: RunningApp, table: Table) -> Iterator[None]:
    """Where the server refuses to store lone surrogates (moto answers 500), make its answers
    hold them anyway, as dynalite's do: the placeholder written instead is swapped back in
    every response the app's client parses."""
    if DDB_TARGET == "dynalite":
        yield
        return

    def restore(value: Any) -> Any:
        if isinstance(value, dict):
            return {name: restore(item) for name, item in value.items()}
        if isinstance(value, list):
            return [restore(item) for item in value]
        return BAD if value == PLACEHOLDER else value

    def swap(parsed: dict[str, Any], **_: Any) -> None:
        for name, value in list(parsed.items()):
            parsed[name] = restore(value)

    events = running_app.state.ddb.meta.events
    events.register("after-call.dynamodb", swap)
    try:
        yield
    finally:
        events.unregister("after-call.dynamodb", swap)


async def put_raw(table: Table, item: Item) -> None:
    """``item``, whose ``BAD`` values skip our serializer's check, as another writer's would;
    on moto, which answers 500 to them, the placeholder ``stored_as_is`` swaps back."""
    stored = BAD if DDB_TARGET == "dynalite" else PLACEHOLDER
    attributes = {
        **serialize({name: value for name, value in item.items() if value != BAD}),
        **{name: {"S": stored} for name, value in item.items() if value == BAD},
    }
    await table.client.put_item(TableName=table.name, Item=attributes)


async def test_stored_unencodable_text_never_breaks_a_page_or_the_list(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table, running_app: RunningApp
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = UUID(await start_conversation(client, andrew, bayko, "hello"))
    bad = message_in(group, bayko.user, BAD, at=LATER)
    await put_raw(table, {**message_item(bad), "message": BAD})
    await put_raw(table, {**new_row_item(andrew.user, bayko.user, bad), "last_message": BAD})

    with stored_as_is(running_app, table):
        page = await client.get(f"/api/messages/{group}", headers=andrew.headers)
        listing = await client.get("/api/message_groups", headers=andrew.headers)
        for_bayko = await client.get(f"/api/messages/{group}", headers=bayko.headers)
    assert (page.status_code, listing.status_code, for_bayko.status_code) == (200, 200, 200)
    assert [m["message"] for m in page.json()] == ["hello", REPAIRED]
    assert listing.json()[0]["message"] == REPAIRED
    assert for_bayko.json() == page.json()


async def test_the_stream_handler_copies_repaired_text(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = pair_conversation_uuid(andrew.user.uuid, bayko.user.uuid)
    await start_conversation(client, andrew, bayko, "hello")
    message = message_in(group, bayko.user, "placeholder", at=datetime.now(UTC))
    # The rows copy the preview the sender stored (the contract's bounded preview).
    image = {**serialize(message_item(message)), "message": {"S": BAD}, "preview": {"S": BAD}}
    record = {
        "eventName": "INSERT",
        "dynamodb": {
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "NewImage": image,
            "SequenceNumber": "1",
        },
    }
    answer = await handle_event({"Records": [record]}, ConversationsRepository(table))
    assert answer == {"batchItemFailures": []}
    rows = [
        item
        for item in await all_items(table)
        if item["pk"] == keys.conversations_pk(andrew.user.uuid)
    ]
    assert [row["last_message"] for row in rows] == [REPAIRED]
