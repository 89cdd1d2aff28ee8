"""The DynamoDB calls each component really makes, replayed against its role in the template.

Each component's recorded calls need exactly what deploy/grants.py lists for it (test_iam.py
checks the template's roles against the same list), and every call passes its role's policy:
resources, partition-key conditions (``dynamodb:LeadingKeys``) and transaction-only grants.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import botocore.handlers
import httpx
import pytest
import pytest_asyncio

from app.cognito.post_confirmation import SignUpRefused
from app.domain import Message, User, pair_conversation_uuid
from app.lambda_runtime import LambdaRuntime
from app.repositories.conversations import ConversationsRepository
from app.repositories.messages import MessagesRepository, message_item
from app.repositories.table import Table, serialize
from app.repositories.users import UsersRepository
from app.settings import Settings
from app.streams import handler as stream_handler
from deploy.grants import CALLS, Grant
from tests.conftest import MakeUser, RunningApp, start_conversation
from tests.deploy.cfn import render
from tests.deploy.conftest import confirmation, invoke
from tests.deploy.iam_sim import Request, allowed, grants_of, requests_of

pytestmark = pytest.mark.transactions


@dataclass(eq=False)  # hashable: botocore keys its handlers by identity
class CallRecorder:
    """A ``before-parameter-build.dynamodb`` hook: every call's operation and parameters."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, copy.deepcopy(params)))

    def grants(self, table_name: str) -> set[Grant]:
        return grants_of(self.calls, table_name)

    def denied(self, role: str, table_name: str) -> list[Request]:
        statements = render(TableName=table_name).statements(role)
        return [
            request
            for operation, params in self.calls
            for request in requests_of(operation, params)
            if not allowed(statements, request)
        ]


@pytest.fixture
def new_clients_recorded(table: Table, monkeypatch: pytest.MonkeyPatch) -> CallRecorder:
    """Records the calls of every client created from now on, as the Lambdas create theirs
    lazily on their first invocation (the ``table`` fixture's own client is not recorded)."""
    recorder = CallRecorder()
    hooks = [*botocore.handlers.BUILTIN_HANDLERS, ("before-parameter-build.dynamodb", recorder)]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", hooks)
    return recorder


@pytest.fixture
def app_client_recorded(running_app: RunningApp) -> Iterator[CallRecorder]:
    recorder = CallRecorder()
    events = running_app.state.ddb.meta.events
    events.register("before-parameter-build.dynamodb", recorder)
    yield recorder
    events.unregister("before-parameter-build.dynamodb", recorder)


async def test_the_post_confirmation_trigger_stays_within_its_role(
    cold_post_confirmation: LambdaRuntime[UsersRepository],
    new_clients_recorded: CallRecorder,
    table: Table,
) -> None:
    event = confirmation("andrew")
    await invoke(copy.deepcopy(event))
    await invoke(copy.deepcopy(event))  # Cognito's retry
    with pytest.raises(SignUpRefused):
        await invoke(confirmation("someone", preferred_username="andrew"))

    assert new_clients_recorded.grants(table.name) == CALLS["post_confirmation"]
    assert new_clients_recorded.denied("PostConfirmationRole", table.name) == []


@pytest_asyncio.fixture
async def cold_stream_handler(
    settings: Settings, table: Table, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    assert settings.ddb_endpoint_url is not None
    monkeypatch.setenv("CRUDDUR_DDB_ENDPOINT_URL", settings.ddb_endpoint_url)
    monkeypatch.setenv("CRUDDUR_TABLE_NAME", table.name)
    monkeypatch.setenv("CRUDDUR_AWS_REGION", settings.aws_region)
    await asyncio.to_thread(stream_handler.runtime.close)
    yield
    await asyncio.to_thread(stream_handler.runtime.close)


def _inserted(message: Message, sequence_number: int) -> dict[str, Any]:
    """A stream record of a message INSERT as Lambda delivers it."""
    item = message_item(message)
    return {
        "eventID": str(uuid4()),
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": serialize({"pk": item["pk"], "sk": item["sk"]}),
            "NewImage": serialize(item),
            "SequenceNumber": str(sequence_number),
            "StreamViewType": "NEW_IMAGE",
        },
    }


async def test_the_stream_handler_stays_within_its_role(
    cold_stream_handler: None, new_clients_recorded: CallRecorder, table: Table
) -> None:
    andrew, bayko = (User(uuid4(), handle, handle.title()) for handle in ("andrew", "bayko"))
    group = pair_conversation_uuid(andrew.uuid, bayko.uuid)
    sent = datetime.now(UTC)
    first, reply = (
        Message(uuid4(), group, sender.uuid, sender.handle, sender.display_name, text, at)
        for sender, text, at in [
            (andrew, "hello", sent),
            (bayko, "hi there", sent + timedelta(seconds=1)),
        ]
    )
    messages = MessagesRepository(table)
    await messages.add(first, new_conversation=(andrew, bayko))
    await messages.add(reply)

    undecodable = _inserted(reply, 300)
    del undecodable["dynamodb"]["NewImage"]["sender_uuid"]  # goes to the dead-letter store
    batch = {"Records": [_inserted(first, 100), _inserted(reply, 200), undecodable]}
    delivered = await asyncio.to_thread(stream_handler.handler, batch, None)
    # At-least-once delivery: the duplicate takes the read-then-write path.
    redelivered = await asyncio.to_thread(stream_handler.handler, batch, None)

    assert delivered == redelivered == {"batchItemFailures": []}
    row = await ConversationsRepository(table).get(andrew.uuid, group)
    assert row is not None
    assert row.last_message == "hi there"
    assert new_clients_recorded.grants(table.name) == CALLS["stream"]
    assert new_clients_recorded.denied("StreamHandlerRole", table.name) == []


async def test_the_api_stays_within_its_task_role(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    running_app: RunningApp,
    app_client_recorded: CallRecorder,
    table: Table,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    response = await client.post(
        "/api/messages",
        json={"message": "hello", "handle": bayko.user.handle},
        headers={**andrew.headers, "Idempotency-Key": str(uuid4())},
    )
    assert response.status_code == 200, response.text
    group, sent = response.json()["message_group_uuid"], response.json()["uuid"]
    await start_conversation(client, bayko, andrew, "hi, again")  # into the existing one
    for method, path, user in [
        ("POST", "/api/messages", andrew),
        ("GET", "/api/message_groups", bayko),
        ("GET", f"/api/messages/{group}", bayko),
        ("POST", f"/api/message_groups/{group}/read", bayko),
        ("GET", f"/api/users/@{andrew.user.handle}/short", bayko),
    ]:
        body = (
            {"message": "third", "message_group_uuid": group} if path == "/api/messages" else None
        )
        response = await client.request(method, path, json=body, headers=user.headers)
        assert response.status_code == 200, (path, response.text)
    for method, path, user in [
        ("PATCH", f"/api/messages/{group}/{sent}", andrew),
        ("DELETE", f"/api/messages/{group}/{sent}", andrew),
        ("POST", f"/api/users/@{bayko.user.handle}/block", andrew),
        ("GET", "/api/blocks", andrew),
        ("DELETE", f"/api/users/@{bayko.user.handle}/block", andrew),
    ]:
        body = {"message": "edited"} if method == "PATCH" else None
        response = await client.request(method, path, json=body, headers=user.headers)
        assert response.is_success, (path, response.text)
    running_app.state.table_ready_until = 0.0  # force /readyz to look at the table again
    assert (await client.get("/readyz")).status_code == 200

    assert app_client_recorded.grants(table.name) == CALLS["api"]
    assert app_client_recorded.denied("ApiTaskRole", table.name) == []
