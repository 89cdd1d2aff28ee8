"""Fixtures: a real DynamoDB-speaking server on loopback (moto, or DDB_ENDPOINT), the app
through its own lifespan, and signed-in users with tokens from the local issuer."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.types import ASGIApp

from app.ddb import open_client
from app.domain import User
from app.main import create_app
from app.repositories.schema import create_table, drop_table
from app.repositories.table import Table, deserialize
from app.repositories.users import UsersRepository
from app.settings import Settings
from app.state import AppState
from scripts.embedded import EmbeddedDynamoDB


@pytest.fixture(scope="session")
def ddb_endpoint() -> Iterator[str]:
    if url := os.environ.get("DDB_ENDPOINT"):
        yield url
        return
    server = EmbeddedDynamoDB()
    server.start()
    yield server.endpoint
    server.stop()


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-state")


@pytest.fixture(scope="session")
def settings(ddb_endpoint: str, state_dir: Path) -> Settings:
    return Settings(
        ddb_endpoint_url=ddb_endpoint,
        table_name="cruddur-messages-test",
        local_state_dir=state_dir,
        _env_file=None,  # type: ignore[call-arg]
    )


@dataclass(frozen=True)
class RunningApp:
    """The app as a server would run it: ``asgi`` carries the lifespan's state to requests."""

    app: FastAPI
    asgi: ASGIApp
    state: AppState


@pytest_asyncio.fixture(scope="session")
async def running_app(settings: Settings) -> AsyncIterator[RunningApp]:
    application = create_app(settings)
    async with LifespanManager(application) as manager:
        state: AppState = manager._state["app_state"]
        yield RunningApp(application, manager.app, state)


@pytest_asyncio.fixture
async def table(running_app: RunningApp, settings: Settings) -> AsyncIterator[Table]:
    """A fresh, empty table for each test (small tables keep moto's queries fast)."""
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        await drop_table(client, settings.table_name)
        await create_table(client, settings.table_name)
        yield Table(client, settings.table_name)


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
        user = await UsersRepository(table).create(
            User(uuid4(), handle, display_name or handle.title(), cognito_sub=str(uuid4()))
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
    response = await client.post(
        "/api/messages",
        json={"message": text, "handle": recipient.user.handle},
        headers=sender.headers,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["message_group_uuid"])
