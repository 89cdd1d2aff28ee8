"""Fixtures: a real DynamoDB-speaking server on loopback (moto, or DDB_ENDPOINT), the app
through its own lifespan, and signed-in users with tokens from the local issuer."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.types import ASGIApp

from app.ddb import open_client
from app.domain import Message, User, pair_conversation_uuid
from app.main import create_app
from app.repositories.conversations import new_row_item
from app.repositories.messages import message_item
from app.repositories.schema import create_table, drop_table
from app.repositories.table import Table, deserialize
from app.repositories.users import UsersRepository, user_items
from app.settings import Settings
from app.state import AppState
from scripts.embedded import EmbeddedDynamoDB
from scripts.kms_key import ensure_key

DDB_TARGET = os.environ.get("DDB_TARGET", "moto")
"""Which DynamoDB-compatible server the suite runs against: ``moto`` or ``dynalite``."""
TRANSACTIONS_AVAILABLE = DDB_TARGET != "dynalite"


@pytest.fixture(scope="session")
def ddb_endpoint() -> Iterator[str]:
    if url := os.environ.get("DDB_ENDPOINT"):
        yield url
    elif DDB_TARGET == "dynalite":
        with dynalite_server() as url:
            yield url
    else:
        server = EmbeddedDynamoDB()
        server.start()
        yield server.endpoint
        server.stop()


@pytest.fixture(scope="session")
def kms_endpoint(ddb_endpoint: str) -> Iterator[str]:
    """The suite runs with encryption=kms: moto serves KMS on the embedded server's port; beside
    another DynamoDB (dynalite has no KMS) an embedded moto server is started for KMS only."""
    if DDB_TARGET == "moto" and not os.environ.get("DDB_ENDPOINT"):
        yield ddb_endpoint
        return
    server = EmbeddedDynamoDB()
    server.start()
    yield server.endpoint
    server.stop()


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-state")


@pytest.fixture(scope="session")
def settings(ddb_endpoint: str, kms_endpoint: str, state_dir: Path) -> Settings:
    return Settings(
        ddb_endpoint_url=ddb_endpoint,
        table_name="cruddur-messages-test",
        local_state_dir=state_dir,
        encryption="kms",
        kms_endpoint_url=kms_endpoint,
        _env_file=None,
    )


@pytest_asyncio.fixture(scope="session")
async def kms_key(settings: Settings) -> str:
    """The customer master key the suite's data keys are made under (an alias)."""
    await ensure_key(settings)
    return settings.kms_key_id


@dataclass(frozen=True)
class RunningApp:
    """The app as a server would run it: ``asgi`` carries the lifespan's state to requests."""

    app: FastAPI
    asgi: ASGIApp
    state: AppState


@pytest_asyncio.fixture(scope="session")
async def running_app(settings: Settings, kms_key: str) -> AsyncIterator[RunningApp]:
    application = create_app(settings)
    async with LifespanManager(application) as manager:
        state: AppState = manager._state["app_state"]
        yield RunningApp(application, manager.app, state)


_current_table: list[Table] = []
"""The test's table, for setup helpers that have no fixture parameter."""


@pytest_asyncio.fixture
async def table(running_app: RunningApp, settings: Settings) -> AsyncIterator[Table]:
    """A fresh, empty table for each test (small tables keep moto's queries fast)."""
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        await drop_table(client, settings.table_name)
        await create_table(client, settings.table_name)
        _current_table[:] = [Table(client, settings.table_name)]
        yield _current_table[0]
        _current_table.clear()


async def create_user(table: Table, user: User) -> User:
    """Through the repository's transaction; on a server without transactions (dynalite) the
    same items, one conditional put each, so the other tests can run there too."""
    if TRANSACTIONS_AVAILABLE:
        return await UsersRepository(table).create(user)
    stored = replace(user, created_at=datetime.now(UTC))
    for item in user_items(stored):
        await table.put(item, condition="attribute_not_exists(pk)")
    return stored


@pytest_asyncio.fixture
async def client(running_app: RunningApp, table: Table) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=running_app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@dataclass(frozen=True)
class SignedIn:
    user: User
    headers: dict[str, str]


MakeUser = Callable[..., Awaitable[SignedIn]]


@pytest_asyncio.fixture
async def make_user(client: httpx.AsyncClient, table: Table) -> MakeUser:
    async def make(handle: str | None = None, display_name: str | None = None) -> SignedIn:
        handle = handle or f"user_{uuid4().hex[:10]}"
        user = await create_user(
            table, User(uuid4(), handle, display_name or handle.title(), cognito_sub=str(uuid4()))
        )
        response = await client.post("/api/dev/tokens", json={"handle": handle})
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        return SignedIn(user, {"Authorization": f"Bearer {token}"})

    return make


async def all_items(table: Table) -> list[dict[str, object]]:
    """Every item in the table (tests only: small tables), to prove nothing else was written."""
    paginator = table.client.get_paginator("scan")
    items: list[dict[str, object]] = []
    async for page in paginator.paginate(TableName=table.name):
        items.extend(deserialize(item) for item in page.get("Items", []))
    return items


async def start_conversation(
    client: httpx.AsyncClient, sender: SignedIn, recipient: SignedIn, text: str = "hello"
) -> str:
    """Pattern D through HTTP; without transactions, the items its transaction would write."""
    if not TRANSACTIONS_AVAILABLE:
        return str(await _write_conversation(sender.user, recipient.user, text))
    response = await client.post(
        "/api/messages",
        json={"message": text, "handle": recipient.user.handle},
        headers=sender.headers,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["message_group_uuid"])


LATER = datetime(2030, 1, 1, tzinfo=UTC)
"""Well after any message a test sends through the API."""


def message_in(
    group: UUID, sender: User, text: str, *, at: datetime, opens_conversation: bool = False
) -> Message:
    return Message(
        uuid=uuid4(),
        message_group_uuid=group,
        sender_uuid=sender.uuid,
        sender_handle=sender.handle,
        sender_display_name=sender.display_name,
        text=text,
        created_at=at,
        opens_conversation=opens_conversation,
    )


async def _write_conversation(sender: User, recipient: User, text: str) -> UUID:
    [table] = _current_table
    group = pair_conversation_uuid(sender.uuid, recipient.uuid)
    opener = message_in(group, sender, text, at=datetime.now(UTC), opens_conversation=True)
    for item in (
        message_item(opener),
        new_row_item(sender, recipient, opener),
        new_row_item(recipient, sender, opener),
    ):
        await table.put(item, condition="attribute_not_exists(pk)")
    return group


def wait_until_serving(
    url: str,
    process: subprocess.Popen[bytes],
    name: str,
    *,
    timeout: float = 15,
    ready: Callable[[httpx.Response], bool] = lambda _: True,
) -> None:
    """Until ``url`` answers (and the answer is ``ready``); fails when the process exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready(httpx.get(url, timeout=1)):
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.05)


@contextmanager
def dynalite_server() -> Iterator[str]:
    """dynalite (npm, in memory) on a free loopback port; `npm ci` installs it."""
    binary = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "dynalite"
    with socket.socket() as probe:  # dynalite cannot pick a port itself (--port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(  # noqa: S603 - our pinned dev dependency
        [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(endpoint, process, "dynalite")
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=5)
