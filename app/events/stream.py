"""One open event stream: replay first, then live events from the connection's queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from app.crypto.cipher import TextCipher
from app.events.bus import Connection, Event, EventBus
from app.events.model import opened

log = logging.getLogger(__name__)


async def _frame(event: Event, cipher: TextCipher) -> ServerSentEvent:
    shown = await opened(event, cipher)
    return ServerSentEvent(data=shown.to_data_json(), event=shown.name, id=shown.id)


async def event_stream(
    connection: Connection,
    opening: list[Event],
    connected_at: str,
    retry_ms: int,
    cipher: TextCipher,
) -> AsyncIterator[ServerSentEvent]:
    """The frames of one stream.

    First ``retry:``, then the replay (or ``reset``), then an id-only frame marking the moment
    of connection, so a client that loses the stream before any event still resumes from
    there. Sealed text is opened here, per delivery (``cipher``: the API's, with its data-key
    cache). A stream the server ends (shutdown, lost bus) closes with a ``retry:`` hint; one
    that lagged just closes (its client is not reading anyway).
    """
    yield ServerSentEvent(retry=retry_ms, comment="stream open")
    for event in opening:
        yield await _frame(event, cipher)
    yield ServerSentEvent(id=connected_at)
    while True:
        live = await connection.queue.get()
        if live is None:
            if connection.reason != "lagged":
                yield ServerSentEvent(retry=retry_ms, comment=f"closing: {connection.reason}")
            return
        yield await _frame(live, cipher)


class StreamResponse(EventSourceResponse):
    """Unsubscribes however the response ends: also when it fails before the generator ever
    ran (a generator that never started runs no ``finally``), which would leak the slot."""

    def __init__(
        self,
        bus: EventBus,
        connection: Connection,
        session_end: asyncio.TimerHandle,
        content: AsyncIterator[ServerSentEvent],
        **options: Any,
    ) -> None:
        super().__init__(content, **options)
        self._bus = bus
        self._connection = connection
        self._session_end = session_end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._session_end.cancel()
            await self._bus.unsubscribe(self._connection)
            log.info(
                "event stream closed user=%s reason=%s streams=%d",
                self._connection.user_uuid,
                self._connection.reason or "client",
                self._bus.hub.open_streams,
            )
