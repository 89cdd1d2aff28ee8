"""Transient DynamoDB faults are retried by the SDK (standard mode, bounded attempts); persistent
ones become a 503 problem with ``Retry-After`` and a stable code, never a 500."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from app.ddb import open_client
from app.errors import Unavailable
from app.repositories import keys
from app.repositories.table import Table
from app.settings import Settings
from tests.conftest import MakeUser, SignedIn, all_items, start_conversation
from tests.faults.conftest import FAST_MAX_BACKOFF_SECONDS
from tests.faults.injector import FaultInjector, FaultKind, body_contains

TRANSACTIONS = pytest.mark.transactions

Exercise = Callable[[httpx.AsyncClient, SignedIn, str], Awaitable[httpx.Response]]


async def send_into(client: httpx.AsyncClient, sender: SignedIn, group: str) -> httpx.Response:
    """Membership GetItem, then one PutItem."""
    body = {"message": "through the storm", "message_group_uuid": group}
    return await client.post("/api/messages", json=body, headers=sender.headers)


async def send_with_key(client: httpx.AsyncClient, sender: SignedIn, group: str) -> httpx.Response:
    """Two GetItems (idempotency record, membership), then one TransactWriteItems."""
    body = {"message": "through the storm", "message_group_uuid": group}
    headers = {**sender.headers, "Idempotency-Key": f"key-{uuid4()}"}
    return await client.post("/api/messages", json=body, headers=headers)


async def read_page(client: httpx.AsyncClient, reader: SignedIn, group: str) -> httpx.Response:
    """Membership GetItem, then one Query."""
    return await client.get(f"/api/messages/{group}", headers=reader.headers)


async def list_inbox(client: httpx.AsyncClient, reader: SignedIn, _: str) -> httpx.Response:
    """One Query on the activity index."""
    return await client.get("/api/message_groups", headers=reader.headers)


EXERCISES: dict[str, Exercise] = {
    "PutItem": send_into,
    "TransactWriteItems": send_with_key,
    "GetItem": read_page,
    "Query": read_page,
}


async def conversation(client: httpx.AsyncClient, make_user: MakeUser) -> tuple[SignedIn, str]:
    """A member of a fresh conversation (signed in, so no identity lookup is left to fault)."""
    andrew, bayko = await make_user(), await make_user()
    return andrew, await start_conversation(client, andrew, bayko)


@pytest.mark.parametrize(
    ("operation", "kind", "failures"),
    [
        ("PutItem", FaultKind.THROTTLED, 2),
        ("PutItem", FaultKind.THROTTLING, 1),
        ("GetItem", FaultKind.THROTTLED, 2),
        ("Query", FaultKind.THROTTLED, 2),
        pytest.param("TransactWriteItems", FaultKind.INTERNAL_ERROR, 2, marks=TRANSACTIONS),
        ("Query", FaultKind.CONNECTION_ERROR, 2),
        ("GetItem", FaultKind.READ_TIMEOUT, 1),
    ],
)
async def test_transient_faults_are_retried_and_the_request_succeeds(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    faults: FaultInjector,
    settings: Settings,
    operation: str,
    kind: FaultKind,
    failures: int,
) -> None:
    assert failures < settings.ddb_max_attempts
    andrew, group = await conversation(client, make_user)
    # The membership check is the GetItem of a conversation row: only that one is faulted;
    # likewise the message's PutItem (not the conversation's data key, made on first use).
    targets = {
        "GetItem": body_contains(keys.conversation_key(andrew.user.uuid, uuid4())["pk"]),
        "PutItem": body_contains(keys.message_pk(UUID(group))),
    }
    fault = faults.fail(operation, kind, times=failures, when=targets.get(operation))

    response = await EXERCISES[operation](client, andrew, group)

    assert response.status_code == 200, response.text
    assert (fault.injected, fault.matched) == (failures, failures + 1)
    assert faults.absorbed == failures
    page = await read_page(client, andrew, group)
    sent = 1 if operation in {"PutItem", "TransactWriteItems"} else 0
    assert len(page.json()) == 1 + sent


@pytest.mark.parametrize(
    ("operation", "kind", "code"),
    [
        ("PutItem", FaultKind.THROTTLED, "dynamodb_throttled"),
        ("Query", FaultKind.THROTTLING, "dynamodb_throttled"),
        ("GetItem", FaultKind.INTERNAL_ERROR, "dynamodb_unavailable"),
        pytest.param(
            "TransactWriteItems",
            FaultKind.INTERNAL_ERROR,
            "dynamodb_unavailable",
            marks=TRANSACTIONS,
        ),
        ("Query", FaultKind.CONNECTION_ERROR, "dynamodb_unreachable"),
        ("PutItem", FaultKind.READ_TIMEOUT, "dynamodb_unreachable"),
        pytest.param(
            "TransactWriteItems",
            FaultKind.TRANSACTION_THROTTLED,
            "dynamodb_throttled",
            marks=TRANSACTIONS,
        ),
    ],
)
async def test_persistent_faults_are_attempted_max_attempts_times_then_a_503(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    faults: FaultInjector,
    settings: Settings,
    table: Table,
    operation: str,
    kind: FaultKind,
    code: str,
) -> None:
    andrew, group = await conversation(client, make_user)
    before = await all_items(table)
    fault = faults.fail(operation, kind)

    response = await EXERCISES[operation](client, andrew, group)

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["code"] == code
    # standard mode's total_max_attempts (3 by default), not legacy mode's 10 for DynamoDB;
    # a cancelled transaction is not retried by the SDK at all.
    assert settings.ddb_max_attempts == 3
    attempts = 1 if kind is FaultKind.TRANSACTION_THROTTLED else settings.ddb_max_attempts
    assert fault.matched == fault.injected == attempts
    assert faults.absorbed == 0
    assert await all_items(table) == before


async def test_an_inbox_listing_under_persistent_throttling_is_a_503(
    client: httpx.AsyncClient, make_user: MakeUser, faults: FaultInjector
) -> None:
    andrew, _ = await conversation(client, make_user)
    faults.fail("Query", FaultKind.THROTTLED)
    response = await list_inbox(client, andrew, "")
    assert response.status_code == 503
    assert response.json()["code"] == "dynamodb_throttled"
    assert "Retry-After" in response.headers


async def test_max_attempts_follows_the_setting(
    settings: Settings, table: Table, faults: FaultInjector
) -> None:
    five = settings.model_copy(update={"ddb_max_attempts": 5})
    async with AsyncExitStack() as stack:
        client: Any = await open_client(five, stack)
        faults.attach(client, max_backoff=FAST_MAX_BACKOFF_SECONDS)
        fault = faults.fail("GetItem", FaultKind.THROTTLED)
        with pytest.raises(Unavailable) as raised:
            await Table(client, table.name).get(keys.user_key(uuid4()))
    assert raised.value.code == "dynamodb_throttled"
    assert fault.matched == 5
