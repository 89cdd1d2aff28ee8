"""Router-test helpers: a second app beside the session one (other settings), and module-wide
users for read-mostly test modules, which would otherwise pay for a fresh table per test."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest_asyncio
from asgi_lifespan import LifespanManager

from app.domain import User
from app.main import create_app
from app.repositories.schema import create_table, drop_table
from app.repositories.table import Table
from app.settings import Settings
from app.state import AppState
from tests.conftest import RunningApp, SignedIn, create_user

MESSAGE_FIELDS = frozenset(
    {"uuid", "display_name", "handle", "message", "created_at", "edited_at", "deleted"}
)
"""The keys of one message as the API shows it (pattern A)."""


@dataclass(frozen=True)
class ServedApp:
    """An app started through its own lifespan, and a client speaking to it over ASGI."""

    http: httpx.AsyncClient
    state: AppState


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[ServedApp]:
    application = create_app(settings)
    async with LifespanManager(application) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield ServedApp(http, manager._state["app_state"])


def settings_like(settings: Settings, **changes: Any) -> Settings:
    """A validated copy of ``settings`` with ``changes``, never reading a developer's ``.env``.

    Extra apps never run the local stream worker: the session app's worker (if any) is enough.
    """
    values = {**settings.model_dump(), "stream_worker_enabled": False, **changes}
    return Settings(**values, _env_file=None)


def closed_loopback_url() -> str:
    """``http://127.0.0.1:<port>`` where nothing listens: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest_asyncio.fixture(scope="module")
async def module_table(running_app: RunningApp, settings: Settings) -> Table:
    """One empty table shared by a module's tests (the per-test ``table`` fixture drops it, so
    a module using this one must not use that one)."""
    table = Table(running_app.state.ddb, settings.table_name)
    await drop_table(table.client, table.name)
    await create_table(table.client, table.name)
    return table


@pytest_asyncio.fixture(scope="module")
async def http(running_app: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=running_app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def sign_up(
    running_app: RunningApp, table: Table, handle: str, display_name: str | None = None
) -> SignedIn:
    """A user with a sign-in identity, and a token from the app's own local issuer."""
    issuer = running_app.state.local_issuer
    assert issuer is not None
    user = await create_user(
        table, User(uuid4(), handle, display_name or handle.title(), cognito_sub=str(uuid4()))
    )
    assert user.cognito_sub is not None
    token = issuer.mint_access_token(sub=user.cognito_sub, username=handle, lifetime_seconds=600)
    return SignedIn(user, {"Authorization": f"Bearer {token}"})
