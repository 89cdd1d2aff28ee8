"""Events to open streams: this process's connections (the hub), fed in-process or over Redis.

Each open stream is a ``Connection`` with a bounded queue. Delivery never waits: a connection
whose queue is full is closed (its client resumes with ``Last-Event-ID``), so one slow client
costs the others nothing and memory stays bounded. Events are hints; the REST endpoints are
the truth, which is why dropping a laggard's queue loses nothing a resume does not restore.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import UUID

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from app.crypto.binding import Binding

log = logging.getLogger(__name__)

CloseReason = Literal["lagged", "shutdown", "bus_lost", "session_expired"]

CHANNEL_PREFIX = "cruddur:events:"
"""Redis channel of a user: ``cruddur:events:<user_uuid>``."""
_READY_CHANNEL = f"{CHANNEL_PREFIX}ready"
"""Subscribed at start so the reader has a connection before any user subscribes."""
REDIS_TIMEOUT_SECONDS = 2.0
READ_WAIT_SECONDS = 1.0
RECONNECT_DELAY_SECONDS = 1.0
MAX_RECONNECT_DELAY_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class SealedMessage:
    """The ``message`` of an event whose publisher cannot decrypt it (the stream handler has no
    KMS): its envelope and where it may belong. The API process opens it on delivery."""

    envelope: bytes
    bindings: tuple[Binding, ...]

    def to_jsonable(self) -> dict[str, Any]:
        return {
            "envelope": base64.b64encode(self.envelope).decode("ascii"),
            "bindings": [
                {
                    "table": binding.table,
                    "pk": binding.pk,
                    "sk": binding.sk,
                    "message_group_uuid": str(binding.message_group_uuid),
                    "sender_uuid": str(binding.sender_uuid),
                    "attribute": binding.attribute,
                }
                for binding in self.bindings
            ],
        }

    @classmethod
    def from_jsonable(cls, value: dict[str, Any]) -> SealedMessage:
        bindings = tuple(
            Binding(
                table=str(binding["table"]),
                pk=str(binding["pk"]),
                sk=str(binding["sk"]),
                message_group_uuid=UUID(binding["message_group_uuid"]),
                sender_uuid=UUID(binding["sender_uuid"]),
                attribute=str(binding["attribute"]),
            )
            for binding in value["bindings"]
        )
        return cls(base64.b64decode(value["envelope"]), bindings)


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event: ``name`` is the SSE event type, ``data`` its JSON object.

    ``sealed``: set when ``data``'s ``message`` is still encrypted (it is null in ``data``);
    never sent to clients as it is.
    """

    name: str
    id: str
    data: dict[str, Any]
    sealed: SealedMessage | None = None

    def to_json(self) -> str:
        value: dict[str, Any] = {"name": self.name, "id": self.id, "data": self.data}
        if self.sealed is not None:
            value["sealed"] = self.sealed.to_jsonable()
        return json.dumps(value)

    def to_data_json(self) -> str:
        return json.dumps(self.data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        value = json.loads(text)
        sealed = value.get("sealed")
        return cls(
            name=str(value["name"]),
            id=str(value["id"]),
            data=dict(value["data"]),
            sealed=SealedMessage.from_jsonable(sealed) if sealed is not None else None,
        )


class TooManyStreams(Exception):
    """The user already has the maximum number of streams open on this process."""


class ShuttingDown(Exception):
    """The process is stopping: new streams belong on another instance."""


@dataclass(eq=False)
class Connection:
    """One open stream; ``None`` in the queue means "end the stream" (see ``reason``)."""

    user_uuid: UUID
    queue: asyncio.Queue[Event | None]
    reason: CloseReason | None = None

    def end(self, reason: CloseReason) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        while not self.queue.empty():  # make room for the end marker, whatever was pending
            self.queue.get_nowait()
        self.queue.put_nowait(None)


@dataclass
class Hub:
    """This process's open streams, by user."""

    queue_size: int
    max_streams_per_user: int
    _by_user: dict[UUID, set[Connection]] = field(default_factory=dict)
    _closing: bool = False

    @property
    def open_streams(self) -> int:
        return sum(len(connections) for connections in self._by_user.values())

    def open(self, user_uuid: UUID) -> Connection:
        if self._closing:
            raise ShuttingDown
        connections = self._by_user.setdefault(user_uuid, set())
        if len(connections) >= self.max_streams_per_user:
            raise TooManyStreams
        connection = Connection(user_uuid, asyncio.Queue(self.queue_size))
        connections.add(connection)
        return connection

    def close(self, connection: Connection) -> bool:
        """Forget the connection; True when it was the user's last one here."""
        connections = self._by_user.get(connection.user_uuid)
        if connections is None:
            return False
        connections.discard(connection)
        if connections:
            return False
        del self._by_user[connection.user_uuid]
        return True

    def has_user(self, user_uuid: UUID) -> bool:
        return user_uuid in self._by_user

    def deliver(self, user_uuid: UUID, event: Event) -> None:
        for connection in list(self._by_user.get(user_uuid, ())):
            if connection.reason is not None:
                continue
            try:
                connection.queue.put_nowait(event)
            except asyncio.QueueFull:
                log.info("event stream lagged user=%s queue=%d", user_uuid, self.queue_size)
                connection.end("lagged")

    def end_all(self, reason: CloseReason) -> None:
        for connections in self._by_user.values():
            for connection in connections:
                connection.end(reason)

    def shutdown(self) -> None:
        """End every stream (with a retry hint) and refuse new ones."""
        self._closing = True
        log.info("event streams ending for shutdown streams=%d", self.open_streams)
        self.end_all("shutdown")


class EventPublisher(Protocol):
    """Where the stream handler and the API send events for a user."""

    async def publish(self, user_uuid: UUID, event: Event) -> None: ...


class EventBus(EventPublisher, Protocol):
    """A publisher whose events reach this process's hub (and, over Redis, other processes')."""

    hub: Hub

    async def subscribe(self, user_uuid: UUID) -> Connection: ...

    async def unsubscribe(self, connection: Connection) -> None: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class InProcessBus:
    """Publisher and streams in one process: ``make run``'s API with its local stream worker."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def publish(self, user_uuid: UUID, event: Event) -> None:
        self.hub.deliver(user_uuid, event)

    async def subscribe(self, user_uuid: UUID) -> Connection:
        return self.hub.open(user_uuid)

    async def unsubscribe(self, connection: Connection) -> None:
        self.hub.close(connection)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def channel_of(user_uuid: UUID) -> str:
    return f"{CHANNEL_PREFIX}{user_uuid}"


def redis_client(url: str, retry: Retry | None = None) -> redis.Redis:
    """Without ``retry``, a command on a broken connection fails (and the connection is
    made again for the next one)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        health_check_interval=30,
        retry=retry,
    )


class RedisPublisher:
    """Publish only: the stream Lambda (or a stream worker in its own process)."""

    def __init__(self, url: str) -> None:
        # A pooled connection the server closed (a restart, a failover) fails its next use:
        # once more, on a new connection, or that event would be lost. Not on a timeout, which
        # would only double the wait on an unreachable server.
        self.client = redis_client(
            url, Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        )

    async def publish(self, user_uuid: UUID, event: Event) -> None:
        await self.client.publish(channel_of(user_uuid), event.to_json())

    async def aclose(self) -> None:
        await self.client.aclose()


class RedisBus:
    """Redis pub/sub between processes: each API process subscribes to the channels of the
    users it holds streams for, and hands what arrives to its hub.

    Pub/sub is at most once; when the subscription connection breaks, every stream here is
    ended so its client resumes (and replays) instead of silently missing events.
    """

    def __init__(self, url: str, hub: Hub) -> None:
        self.hub = hub
        self._publisher = RedisPublisher(url)
        # Never retried: a broken subscription must reach the reader, which ends the streams
        # (what was published meanwhile is lost to them), not be silently made again.
        self._subscriber = redis_client(url)
        self._pubsub = self._subscriber.pubsub()
        self._reader: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def publish(self, user_uuid: UUID, event: Event) -> None:
        await self._publisher.publish(user_uuid, event)

    async def subscribe(self, user_uuid: UUID) -> Connection:
        first = not self.hub.has_user(user_uuid)
        connection = self.hub.open(user_uuid)
        if first:
            try:
                await self._pubsub.subscribe(channel_of(user_uuid))
            except RedisError:
                self.hub.close(connection)
                raise
        return connection

    async def unsubscribe(self, connection: Connection) -> None:
        if self.hub.close(connection):
            with contextlib.suppress(RedisError):
                await self._pubsub.unsubscribe(channel_of(connection.user_uuid))

    async def start(self) -> None:
        await self._pubsub.subscribe(_READY_CHANNEL)
        self._reader = asyncio.create_task(self._read(), name="events-redis-reader")

    async def _read(self) -> None:
        """Until stopped, whatever fails: a reader that ended would leave every stream here
        open but deaf. Each failure ends the streams (their clients resume and replay) and
        waits before trying again, longer after each failure in a row."""
        delay = RECONNECT_DELAY_SECONDS
        while not self._stop.is_set():
            try:
                await self._read_one()
            except (RedisError, OSError) as error:
                log.warning(
                    "event bus connection lost error=%s retry_in=%.0fs",
                    type(error).__name__,
                    delay,
                )
            except Exception:
                log.exception("event bus reader failed retry_in=%.0fs", delay)
            else:
                delay = RECONNECT_DELAY_SECONDS
                continue
            self.hub.end_all("bus_lost")
            await _sleep_unless(self._stop, delay)
            delay = min(delay * 2, MAX_RECONNECT_DELAY_SECONDS)

    async def _read_one(self) -> None:
        """Wait for one message (at most ``READ_WAIT_SECONDS``) and deliver it."""
        message = await self._pubsub.get_message(
            ignore_subscribe_messages=True, timeout=READ_WAIT_SECONDS
        )
        if message is None or message.get("type") != "message":
            return
        channel = message["channel"].decode()
        try:
            user_uuid = UUID(channel.removeprefix(CHANNEL_PREFIX))
            event = Event.from_json(message["data"])
        except (ValueError, KeyError, TypeError, AttributeError):
            # Not one of our events (JSON that is no object, say, from another version).
            log.warning("event bus message undecodable channel=%s", channel)
            return
        self.hub.deliver(user_uuid, event)

    async def aclose(self) -> None:
        self._stop.set()
        if self._reader is not None:
            await self._reader
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._subscriber.aclose()
        await self._publisher.aclose()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def build_bus(redis_url: str | None, hub: Hub) -> EventBus:
    return RedisBus(redis_url, hub) if redis_url else InProcessBus(hub)
