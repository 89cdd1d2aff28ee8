"""One open event stream: replay first, then live events from the connection's queue."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from sse_starlette import ServerSentEvent

from app.events.bus import Connection, Event, EventBus

log = logging.getLogger(__name__)


def _frame(event: Event) -> ServerSentEvent:
    return ServerSentEvent(data=event.to_data_json(), event=event.name, id=event.id)


async def event_stream(
    bus: EventBus,
    connection: Connection,
    opening: list[Event],
    connected_at: str,
    retry_ms: int,
) -> AsyncIterator[ServerSentEvent]:
    """The frames of one stream; unsubscribes however it ends.

    First ``retry:``, then the replay (or ``reset``), then an id-only frame marking the moment
    of connection, so a client that loses the stream before any event still resumes from
    there. A stream the server ends (shutdown, lost bus) closes with a ``retry:`` hint; one
    that lagged just closes (its client is not reading anyway).
    """
    try:
        yield ServerSentEvent(retry=retry_ms, comment="stream open")
        for event in opening:
            yield _frame(event)
        yield ServerSentEvent(id=connected_at)
        while True:
            live = await connection.queue.get()
            if live is None:
                if connection.reason != "lagged":
                    yield ServerSentEvent(retry=retry_ms, comment=f"closing: {connection.reason}")
                return
            yield _frame(live)
    finally:
        await bus.unsubscribe(connection)
        log.info(
            "event stream closed user=%s reason=%s streams=%d",
            connection.user_uuid,
            connection.reason or "client",
            bus.hub.open_streams,
        )
