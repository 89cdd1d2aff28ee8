"""The HTTP side of the load generator: raw HTTP/1.1 over keep-alive connections.

Requests are encoded once up front and responses only parsed far enough (httptools, the
parser uvicorn itself uses) to read the status and find where each one ends, so the client
spends a small fraction of the service's CPU per request, like wrk would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import cast

import httptools

from bench.patterns import (
    DELETE_MESSAGE,
    EDIT_MESSAGE,
    LIST_CONVERSATIONS,
    READ_PAGE,
    SEND_IDEMPOTENT,
    SEND_MESSAGE,
    Pattern,
)
from bench.workload import Descriptor

OK_STATUS = 200  # the SPA treats only 200 as success


def _message_path(descriptor: Descriptor) -> str:
    return f"/api/messages/{descriptor['group']}/{descriptor.get('message')}"


def encode_request(
    pattern: Pattern,
    descriptor: Descriptor,
    *,
    host: str,
    token: str,
    idempotency_key: str | None = None,
) -> bytes:
    headers = [f"Host: {host}", f"Authorization: Bearer {token}", "Accept: application/json"]
    payload: dict[str, str | None] | None = None
    if pattern is LIST_CONVERSATIONS:
        head = "GET /api/message_groups"
    elif pattern is READ_PAGE:
        head = f"GET /api/messages/{descriptor['group']}"
    elif pattern is EDIT_MESSAGE:
        head, payload = f"PATCH {_message_path(descriptor)}", {"message": descriptor["text"]}
    elif pattern is DELETE_MESSAGE:
        head = f"DELETE {_message_path(descriptor)}"
    else:
        target = (
            {"message_group_uuid": descriptor["group"]}
            if pattern in (SEND_MESSAGE, SEND_IDEMPOTENT)
            else {"handle": descriptor["handle"]}
        )
        head, payload = "POST /api/messages", {"message": descriptor["text"], **target}
    body = b""
    if payload is not None:
        body = json.dumps(payload).encode()
        headers += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    if idempotency_key is not None:
        headers.append(f"Idempotency-Key: {idempotency_key}")
    return "\r\n".join([f"{head} HTTP/1.1", *headers, "", ""]).encode() + body


def encode_floor_request(pattern: Pattern, descriptor: Descriptor, *, host: str) -> bytes:
    """The HTTP floor's request (bench/http_floor.py): the pattern and its descriptor."""
    body = json.dumps(descriptor).encode()
    head = [f"POST /{pattern.name} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    return "\r\n".join([*head, f"Content-Length: {len(body)}", "", ""]).encode() + body


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._pending: asyncio.Future[int] | None = None
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self.open = True

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(error)

    def on_message_complete(self) -> None:  # httptools callback
        if not self._parser.should_keep_alive():
            self.close()
        if self._pending is not None and not self._pending.done():
            self._pending.set_result(self._parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail(exc or ConnectionResetError("connection closed by the server"))

    def _fail(self, error: Exception) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(error)

    def close(self) -> None:
        self.open = False
        if self._transport is not None:
            self._transport.close()

    async def exchange(self, request: bytes) -> int:
        """Send one request; the response's status code."""
        assert self._transport is not None
        self._pending = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._pending


class HttpTarget:
    """Drives the service: one connection per worker, reopened if the server drops it.

    With several service processes (one port each), worker ``i`` talks to port ``i % n``,
    as a balancer spreading connections evenly would."""

    def __init__(
        self,
        host: str,
        ports: Sequence[int],
        pattern: Pattern,
        requests: Sequence[Descriptor],
        tokens: Sequence[str],
        idempotency_prefix: str,
        *,
        http_floor: bool = False,
    ) -> None:
        """``http_floor``: drive bench/http_floor.py instead of the service."""
        self._host = host
        self._ports = list(ports)
        self._host_header = host
        self._pattern = pattern
        self._requests = requests
        self._tokens = tokens
        # Sends with an Idempotency-Key need a new key each time; others are encoded once.
        self._unique_keys = pattern is SEND_IDEMPOTENT and not http_floor
        self._http_floor = http_floor
        self._idempotency_prefix = idempotency_prefix
        self._sent = 0
        self._encoded = [] if self._unique_keys else [self._encode(d) for d in requests]
        self._connections: list[Connection] = []

    def _encode(self, descriptor: Descriptor, key: str | None = None) -> bytes:
        if self._http_floor:
            return encode_floor_request(self._pattern, descriptor, host=self._host_header)
        return encode_request(
            self._pattern,
            descriptor,
            host=self._host_header,
            token=self._tokens[descriptor["user"]],
            idempotency_key=key,
        )

    async def _connect(self, worker: int) -> Connection:
        loop = asyncio.get_running_loop()
        port = self._ports[worker % len(self._ports)]
        _, connection = await loop.create_connection(Connection, self._host, port)
        return connection

    async def start(self, workers: int) -> None:
        self._connections = [await self._connect(worker) for worker in range(workers)]

    async def call(self, worker: int, request: int) -> str | None:
        """None on HTTP 200, else what went wrong (``http_404``, ``ConnectionResetError``)."""
        if self._unique_keys:
            self._sent += 1
            payload = self._encode(
                self._requests[request], f"{self._idempotency_prefix}-{self._sent}"
            )
        else:
            payload = self._encoded[request]
        connection = self._connections[worker]
        try:
            if not connection.open:
                connection = self._connections[worker] = await self._connect(worker)
            status = await connection.exchange(payload)
        except OSError as error:
            return type(error).__name__
        return None if status == OK_STATUS else f"http_{status}"

    async def close(self) -> None:
        for connection in self._connections:
            connection.close()
