"""Writes under faults: all or nothing, and "stored, but the answer was lost" stores once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.repositories.table import Table
from tests.conftest import MakeUser, SignedIn, all_items, start_conversation
from tests.faults.injector import FaultInjector, FaultKind

pytestmark = pytest.mark.transactions

TRANSACT = "TransactWriteItems"


async def post(
    client: httpx.AsyncClient, sender: SignedIn, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {**sender.headers, **({"Idempotency-Key": key} if key else {})}
    return await client.post("/api/messages", json=body, headers=headers)


def messages_in(items: list[dict[str, Any]], group: str) -> list[dict[str, Any]]:
    return [item for item in items if item["pk"] == f"MSG#{group}"]


def without_data_keys(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A send may store its conversation's data key before it fails: reused by the retry, it is
    no part of the message (one per conversation and epoch, never half of anything)."""
    return [item for item in items if not str(item["pk"]).startswith("DATAKEY#")]


def rows_of(items: list[dict[str, Any]], group: str) -> list[str]:
    return sorted(str(item["pk"]) for item in items if item.get("message_group_uuid") == group)


@pytest.mark.parametrize(
    ("kind", "attempts", "code"),
    [
        (FaultKind.THROTTLED, 3, "dynamodb_throttled"),
        (FaultKind.INTERNAL_ERROR, 3, "dynamodb_unavailable"),
        (FaultKind.READ_TIMEOUT, 3, "dynamodb_unreachable"),
        # Cancelled with a ThrottlingError reason: not retried by the SDK, still a throttle.
        (FaultKind.TRANSACTION_THROTTLED, 1, "dynamodb_throttled"),
    ],
)
@pytest.mark.parametrize("key", [None, "create-once"])
async def test_a_failed_conversation_creation_leaves_nothing_behind(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    faults: FaultInjector,
    kind: FaultKind,
    attempts: int,
    code: str,
    key: str | None,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    body = {"message": "first contact", "handle": bayko.user.handle}
    before = await all_items(table)
    fault = faults.fail(TRANSACT, kind)

    failed = await post(client, andrew, body, key)

    assert failed.status_code == 503, failed.text
    assert failed.json()["code"] == code
    assert fault.matched == attempts
    assert without_data_keys(await all_items(table)) == before

    fault.stop()
    retried = await post(client, andrew, body, key)
    assert retried.status_code == 200, retried.text
    group = retried.json()["message_group_uuid"]
    after = await all_items(table)
    assert [m["message_uuid"] for m in messages_in(after, group)] == [retried.json()["uuid"]]
    assert rows_of(after, group) == sorted([f"GRP#{andrew.user.uuid}", f"GRP#{bayko.user.uuid}"])


@pytest.mark.parametrize("lost", [FaultKind.INTERNAL_ERROR, FaultKind.READ_TIMEOUT])
@pytest.mark.parametrize("by_handle", [False, True], ids=["into-group", "by-handle"])
async def test_a_stored_send_whose_answer_was_lost_is_replayed_by_its_key(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    faults: FaultInjector,
    lost: FaultKind,
    by_handle: bool,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, bayko, andrew, "are you there?")
    target = {"handle": bayko.user.handle} if by_handle else {"message_group_uuid": group}
    body = {"message": "yes, once", **target}
    # DynamoDB applies the first attempt but its answer is lost; every retry of this
    # request fails too, so the client sees a 503 although the message is stored.
    stored_then_lost = faults.fail(TRANSACT, lost, times=1, after_send=True)
    faults.fail(TRANSACT, lost)

    failed = await post(client, andrew, body, "lost-answer")

    assert failed.status_code == 503, failed.text
    assert stored_then_lost.injected == 1
    [stored] = [
        m
        for m in messages_in(await all_items(table), group)
        if m["sender_uuid"] == str(andrew.user.uuid)
    ]

    faults.heal()
    retried = await post(client, andrew, body, "lost-answer")
    assert retried.status_code == 200, retried.text
    assert retried.json()["uuid"] == stored["message_uuid"]
    again = await post(client, andrew, body, "lost-answer")
    assert again.json() == retried.json()
    assert len(messages_in(await all_items(table), group)) == 2
    page = await client.get(f"/api/messages/{group}", headers=andrew.headers)
    assert sorted(m["message"] for m in page.json()) == ["are you there?", "yes, once"]


@pytest.mark.parametrize(
    ("key", "by_handle"),
    [(None, False), (None, True), ("sdk-retry", False), ("sdk-retry", True)],
    ids=["put", "create", "put-with-key", "create-with-key"],
)
async def test_an_answer_lost_once_is_absorbed_within_the_request(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    faults: FaultInjector,
    key: str | None,
    by_handle: bool,
) -> None:
    """The SDK retries a write that DynamoDB already applied.

    On DynamoDB a retried TransactWriteItems carries the same ClientRequestToken and succeeds
    without writing twice; a retried PutItem (and, on the embedded server, a transaction) is
    rejected by its ``attribute_not_exists`` condition instead. Either way: one message, 200.
    """
    andrew, bayko = await make_user(), await make_user()
    group = None if by_handle else await start_conversation(client, bayko, andrew, "hi")
    target = {"handle": bayko.user.handle} if by_handle else {"message_group_uuid": group}
    fault = faults.fail({"PutItem", TRANSACT}, FaultKind.INTERNAL_ERROR, times=1, after_send=True)

    response = await post(client, andrew, {"message": "exactly once", **target}, key)

    assert response.status_code == 200, response.text
    assert fault.injected == 1
    group = response.json()["message_group_uuid"]
    mine = [
        m
        for m in messages_in(await all_items(table), group)
        if m["sender_uuid"] == str(andrew.user.uuid)
    ]
    assert [m["message_uuid"] for m in mine] == [response.json()["uuid"]]
