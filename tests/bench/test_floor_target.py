"""The benchmark's floor sends what the service sends: same operations, in the same order, with
the same tables, indexes, expressions, consistency, limits and item shapes.

bench/floor_target.py restates each pattern's DynamoDB requests by hand; both sides are recorded
here for one request of each pattern (the service through the exact HTTP request the load
generator sends) and compared with every key, uuid and timestamp abstracted to its type.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from app.repositories.table import Table
from app.settings import Settings
from bench.floor_target import FloorTarget
from bench.http_target import encode_request
from bench.patterns import MESSAGE_HANDLE_NEW, PATTERNS, SEND_IDEMPOTENT, Pattern
from bench.workload import Descriptor, UserEntry
from tests.conftest import MakeUser, RunningApp, SignedIn, start_conversation

ATTRIBUTE_TYPES = {"S", "N", "B", "SS", "NS", "BS", "BOOL", "NULL", "L", "M"}
Call = tuple[str, Any]


@dataclass(eq=False)  # hashable: botocore keys its handlers by identity
class Recorder:
    calls: list[Call] = field(default_factory=list)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, shape(copy.deepcopy(params))))


def shape(value: Any) -> Any:
    """``value`` with every attribute value reduced to its type (``{"S": "GRP#..."}`` -> "S")."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ATTRIBUTE_TYPES:
            return next(iter(value))
        return {name: shape(item) for name, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return value


@contextmanager
def recorded(client: Any) -> Iterator[Recorder]:
    recorder = Recorder()
    client.meta.events.register("before-parameter-build.dynamodb", recorder)
    try:
        yield recorder
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb", recorder)


def http_request(raw: bytes) -> tuple[str, str, dict[str, str], bytes]:
    """The load generator's encoded request, taken apart for httpx."""
    head, _, body = raw.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode().split("\r\n")
    method, path, _ = request_line.split(" ")
    headers = dict(line.split(": ", 1) for line in header_lines)
    del headers["Host"]
    headers.pop("Content-Length", None)
    return method, path, headers, body


def entry(user: SignedIn) -> UserEntry:
    return {
        "uuid": str(user.user.uuid),
        "handle": user.user.handle,
        "display_name": user.user.display_name,
        "cognito_sub": str(user.user.cognito_sub),
    }


async def _sent(client: httpx.AsyncClient, sender: SignedIn, group: str) -> str:
    answer = await client.post(
        "/api/messages",
        json={"message": "sent to be changed", "message_group_uuid": group},
        headers=sender.headers,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["uuid"])


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param(p, id=p.name, marks=[pytest.mark.transactions] if p.needs_transactions else [])
        for p in PATTERNS
    ],
)
async def test_the_floor_makes_the_calls_the_service_makes(
    pattern: Pattern,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    settings: Settings,
    running_app: RunningApp,
) -> None:
    andrew, bayko = await make_user("andrew"), await make_user("bayko")
    # A first message needs a pair without a conversation: one for each side.
    await make_user("carol")
    await make_user("dave")
    group = await start_conversation(client, andrew, bayko)
    target = "carol" if pattern is MESSAGE_HANDLE_NEW else "bayko"
    descriptor: Descriptor = {"user": 0, "group": group, "handle": target, "text": "hi"}
    # Edits and deletes change a message Andrew just sent: one for each side.
    own = [await _sent(client, andrew, group) for _ in range(2)] if pattern.recent_targets else []
    if own:
        descriptor["message"] = own[0]
    token = andrew.headers["Authorization"].removeprefix("Bearer ")
    raw = encode_request(
        pattern,
        descriptor,
        host="test",
        token=token,
        idempotency_key="floor-check-1" if pattern is SEND_IDEMPOTENT else None,
    )
    method, path, headers, body = http_request(raw)
    assert (await client.get("/api/me", headers=andrew.headers)).status_code == 200  # as primed

    with recorded(running_app.state.ddb) as service:
        response = await client.request(method, path, headers=headers, content=body)
    assert response.status_code == 200, response.text
    if pattern is MESSAGE_HANDLE_NEW:
        descriptor = {**descriptor, "handle": "dave"}
    if own:
        descriptor = {**descriptor, "message": own[1]}
    floor = FloorTarget(
        str(settings.ddb_endpoint_url),
        table.name,
        pattern,
        [descriptor],
        [entry(andrew)],
        idempotency_prefix="floor-check-floor",
        sealed=running_app.state.data_keys is not None,  # the suite's service encrypts
    )
    await floor.start(workers=1)
    try:
        with recorded(floor.client) as direct:
            assert await floor.call(0, 0) is None
    finally:
        await floor.close()

    assert service.calls
    assert direct.calls == service.calls
