"""The server's own limits, over real sockets: request head size and time, idle connections,
concurrency. Small counts and short limits keep the test within seconds; nothing is timed: each
check waits (with a generous bound) for the server to answer or close."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest_asyncio

from app.serve import DrainingServer, build_server
from app.settings import Settings

HEAD_TIMEOUT = 1.0
KEEP_ALIVE = 1
MAX_HEAD = 4096
MAX_CONCURRENCY = 4
BOUND = 10.0  # seconds to wait for something the server should do well before


@pytest_asyncio.fixture
async def server(settings: Settings) -> AsyncIterator[DrainingServer]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    limited = settings.model_copy(
        update={
            "http_head_timeout_seconds": HEAD_TIMEOUT,
            "http_keep_alive_seconds": KEEP_ALIVE,
            "http_max_head_bytes": MAX_HEAD,
            "http_max_concurrency": MAX_CONCURRENCY,
        }
    )
    running = build_server(limited, "127.0.0.1", port)
    serving = asyncio.create_task(running.serve())
    while not running.started:  # noqa: ASYNC110 - uvicorn exposes only this flag
        await asyncio.sleep(0.02)
    yield running
    running.should_exit = True
    await asyncio.wait_for(serving, BOUND)


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(server: DrainingServer) -> Connection:
    [listener] = server.servers[0].sockets
    host, port = listener.getsockname()[:2]
    return await asyncio.open_connection(host, port)


async def closed_by_server(connection: Connection) -> bytes:
    """Everything the server sent until it closed the connection."""
    reader, writer = connection
    try:
        return await asyncio.wait_for(reader.read(), BOUND)
    finally:
        writer.close()


def get(path: str, *extra: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: test", *extra, "", ""]
    return "\r\n".join(lines).encode()


async def status_of(server: DrainingServer, request: bytes) -> int:
    reader, writer = await connect(server)
    writer.write(request)
    status_line = await asyncio.wait_for(reader.readline(), BOUND)
    writer.close()
    return int(status_line.split()[1])


async def test_an_oversize_head_gets_431_and_the_connection_closes(server: DrainingServer) -> None:
    reader, writer = await connect(server)
    writer.write(get("/livez", "Authorization: Bearer " + "x" * 8 * MAX_HEAD))
    answer = await closed_by_server((reader, writer))
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert await status_of(server, get("/livez", "Authorization: Bearer " + "x" * 100)) == 200


async def test_silent_and_trickling_connections_are_closed(server: DrainingServer) -> None:
    silent = [await connect(server) for _ in range(2)]
    trickling = [await connect(server) for _ in range(2)]

    async def trickle(connection: Connection) -> bool:
        """Sends a header line every 0.2 s for up to 5x the head timeout; True if cut off."""
        reader, writer = connection
        writer.write(b"GET /livez HTTP/1.1\r\n")
        for n in range(int(5 * HEAD_TIMEOUT / 0.2)):
            await asyncio.sleep(0.2)
            if reader.at_eof() or writer.is_closing():
                return True
            try:
                writer.write(f"X-Slow-{n}: 1\r\n".encode())
                await writer.drain()
            except ConnectionError:
                return True
            if await _closed_soon(reader):
                return True
        return False

    silent_answers = await asyncio.gather(*(closed_by_server(c) for c in silent))
    assert silent_answers == [b"", b""]  # closed without a word, like an idle keep-alive
    assert await asyncio.gather(*(trickle(c) for c in trickling)) == [True, True]
    assert await status_of(server, get("/livez")) == 200


async def _closed_soon(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 0.01) == b""
    except TimeoutError:
        return False


async def test_beyond_the_concurrency_limit_requests_get_503(server: DrainingServer) -> None:
    held = [await connect(server) for _ in range(MAX_CONCURRENCY)]
    assert await status_of(server, get("/livez")) == 503
    for _, writer in held:
        writer.close()
    for _ in range(100):  # the server notices the closes on its next loop turns
        if await status_of(server, get("/livez")) == 200:
            break
        await asyncio.sleep(0.05)
    assert await status_of(server, get("/livez")) == 200
