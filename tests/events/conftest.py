"""Event-stream fixtures: the API served by uvicorn on a loopback port (httpx's in-process
transport buffers whole responses, so an endless stream needs a real socket), with the local
stream worker beside it, a real Redis server for the bus, and a reader of events that never
waits without a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from httpx_sse import ServerSentEvent, aconnect_sse

from app.serve import DrainingServer
from app.settings import Settings
from scripts.redis_server import redis_server
from scripts.run_local import serving_with_worker
from tests.conftest import SignedIn

WAIT_SECONDS = 15.0
"""The longest any test waits for one event or state (a failure, not a measurement)."""


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class LiveServer:
    url: str
    server: DrainingServer
    task: asyncio.Task[None]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=WAIT_SECONDS)

    def stop(self) -> None:
        """What ``handle_exit`` does on Ctrl-C (without uvicorn re-raising the signal after
        serving, which would interrupt the test run): end the streams, then stop serving."""
        self.server.lifecycle.exiting()
        self.server.should_exit = True


def live_settings(settings: Settings, **changes: Any) -> Settings:
    """The session's settings (same table, same local issuer: its tokens work) for a server."""
    values = {
        **settings.model_dump(),
        "rate_limit_enabled": False,
        "shutdown_drain_seconds": 0,
        **changes,
    }
    return Settings(**values, _env_file=None)


@asynccontextmanager
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    """The API (and, if enabled, the stream worker) as ``make run`` runs them, on a free port."""
    sock = free_socket()
    port = sock.getsockname()[1]
    async with serving_with_worker(settings, "127.0.0.1", port) as server:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        async with asyncio.timeout(WAIT_SECONDS):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        live = LiveServer(f"http://127.0.0.1:{port}", server, task)
        try:
            yield live
        finally:
            if not task.done():
                live.stop()
            async with asyncio.timeout(WAIT_SECONDS):
                await task
    sock.close()


@pytest_asyncio.fixture
async def live(settings: Settings, table: object) -> AsyncIterator[LiveServer]:
    async with live_server(live_settings(settings)) as server:
        yield server


def is_event(sse: ServerSentEvent) -> bool:
    # httpx-sse reports id-only and comment-only frames as empty "message" events.
    return bool(sse.data)


@dataclass
class EventReader:
    """Reads one stream in the background; every wait has a timeout."""

    response: httpx.Response
    events: asyncio.Queue[ServerSentEvent] = field(default_factory=asyncio.Queue)
    last_id: str = ""
    retries: list[int] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def next(self, name: str | None = None) -> ServerSentEvent:
        """The next event (of ``name``, skipping others)."""
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                sse = await self.events.get()
                if name is None or sse.event == name:
                    return sse

    async def next_json(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = (await self.next(name)).json()
        return data

    async def wait_ended(self) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            await self.ended.wait()

    def pending(self) -> list[ServerSentEvent]:
        found = []
        while not self.events.empty():
            found.append(self.events.get_nowait())
        return found


@asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient,
    user: SignedIn | None = None,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[EventReader]:
    # Latin-1, as Starlette decodes them: a test may send any byte a client could.
    all_headers = httpx.Headers({**(user.headers if user else {}), **(headers or {})}, "latin-1")
    async with aconnect_sse(
        http, "GET", "/api/events", params=params, headers=all_headers
    ) as source:
        assert source.response.status_code == 200, (await source.response.aread()).decode()
        reader = EventReader(source.response)
        opened = asyncio.Event()

        async def pump() -> None:
            try:
                async for sse in source.aiter_sse():
                    if sse.retry is not None:
                        reader.retries.append(sse.retry)
                        opened.set()
                    if sse.id:
                        reader.last_id = sse.id
                    if is_event(sse):
                        await reader.events.put(sse)
            except httpx.HTTPError:
                pass
            finally:
                reader.ended.set()

        task = asyncio.create_task(pump())
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                await opened.wait()
            yield reader
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def eventually(check: Any) -> None:
    """Retry an async assertion until it holds (the stream worker runs in the background)."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            try:
                await check()
                return
            except AssertionError:
                await asyncio.sleep(0.05)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url
