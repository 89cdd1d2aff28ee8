"""Long-lived resources of one process, opened once in the lifespan and closed after it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from app.auth import AccessTokenVerifier, KeySource, LocalIssuer, RemoteKeySource
from app.auth.local_issuer import LOCAL_CLIENT_ID, LOCAL_ISSUER
from app.crypto.cipher import NoEncryption, TextCipher
from app.crypto.data_keys import DataKeyPolicy, DataKeys
from app.crypto.kms_cipher import EnvelopeEncryption
from app.ddb import open_client
from app.domain import User
from app.errors import Unavailable
from app.events.bus import EventBus, Hub, build_bus, redis_client
from app.events.tickets import TicketBook
from app.local_state import load_or_create_secret
from app.rate_limit import UserRateLimiter
from app.repositories.blocks import BlocksRepository
from app.repositories.conversations import ConversationsRepository
from app.repositories.data_keys import DataKeysRepository
from app.repositories.messages import MessagesRepository
from app.repositories.table import Table
from app.repositories.users import UsersRepository
from app.services.cursors import CursorCodec
from app.services.messaging import MessagingService, background_reads_done
from app.services.moderation import ModerationService
from app.settings import Settings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

IDENTITY_CACHE_SIZE = 100_000
JWKS_FETCH_TIMEOUT_SECONDS = 3.0


@dataclass
class IdentityCache:
    """Cognito sub -> user, each entry kept ``ttl_seconds``: a deleted user's requests fail
    at most that long after the deletion (``ddb users delete``), in every process."""

    ttl_seconds: float
    capacity: int = IDENTITY_CACHE_SIZE
    clock: Callable[[], float] = time.monotonic
    _users: dict[str, tuple[float, User]] = field(default_factory=dict)
    """Oldest entry first: each put moves its entry to the end."""

    def get(self, cognito_sub: str) -> User | None:
        entry = self._users.get(cognito_sub)
        if entry is None:
            return None
        expires_at, user = entry
        if self.clock() >= expires_at:
            del self._users[cognito_sub]
            return None
        return user

    def put(self, cognito_sub: str, user: User) -> None:
        if self.ttl_seconds <= 0:
            return
        self._users.pop(cognito_sub, None)
        if len(self._users) >= self.capacity:
            self._users.pop(next(iter(self._users)))  # evict the oldest entry
        self._users[cognito_sub] = (self.clock() + self.ttl_seconds, user)


@dataclass
class Lifecycle:
    """Shared between the server and the app: set when a shutdown signal arrives."""

    draining: bool = False
    _on_exit: list[Callable[[], None]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None

    def on_exit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on this loop when the server stops serving (see ``exiting``)."""
        self._loop = asyncio.get_running_loop()
        self._on_exit.append(callback)

    def exiting(self) -> None:
        """Called by the server, possibly from a signal handler, as it stops accepting."""
        callbacks, self._on_exit = self._on_exit, []
        if self._loop is not None:
            for callback in callbacks:
                self._loop.call_soon_threadsafe(callback)


@dataclass
class AppState:
    settings: Settings
    ddb: DynamoDBClient
    table: Table
    key_source: KeySource
    verifier: AccessTokenVerifier
    cursors: CursorCodec
    local_issuer: LocalIssuer | None
    rate_limiter: UserRateLimiter
    lifecycle: Lifecycle
    messaging: MessagingService
    """Built once: the service and its repositories only hold the shared table and cursors."""
    moderation: ModerationService
    bus: EventBus
    tickets: TicketBook
    identities: IdentityCache
    data_keys: DataKeys | None
    """With encryption=kms: the data-key cache and its KMS call counters."""
    table_ready_until: float = 0.0
    """Monotonic time until which a successful table check is reused by /readyz."""
    ready_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def table_check_fresh(self) -> bool:
        return time.monotonic() < self.table_ready_until


@asynccontextmanager
async def open_state(
    settings: Settings,
    lifecycle: Lifecycle,
    bus: EventBus | None = None,
    on_message_stored: Callable[[], None] | None = None,
) -> AsyncIterator[AppState]:
    """``bus``: one shared with an in-process stream worker (``make run``); by default the
    settings choose (Redis when configured, else in-process). ``on_message_stored`` wakes
    that worker."""
    async with AsyncExitStack() as stack:
        ddb = await open_client(settings, stack)
        # Closed after the page reads answered early (strangers') have finished with it.
        stack.push_async_callback(background_reads_done)
        local_issuer = None
        key_source: KeySource
        if settings.is_local:
            local_issuer = LocalIssuer.load_or_create(
                settings.local_state_dir, LOCAL_ISSUER, LOCAL_CLIENT_ID
            )
            key_source = local_issuer.key_source()
            verifier = AccessTokenVerifier(
                LOCAL_ISSUER, [LOCAL_CLIENT_ID], key_source, settings.jwt_leeway_seconds
            )
            cursor_secret = load_or_create_secret(settings.local_state_dir / "cursor-secret")
        else:
            http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=JWKS_FETCH_TIMEOUT_SECONDS)
            )
            key_source = RemoteKeySource(
                settings.jwks_url,
                http,
                settings.jwks_refresh_interval_seconds,
            )
            verifier = AccessTokenVerifier(
                settings.cognito_issuer,
                settings.cognito_app_client_ids,
                key_source,
                settings.jwt_leeway_seconds,
            )
            assert settings.cursor_secret is not None  # enforced by Settings
            cursor_secret = settings.cursor_secret.get_secret_value().encode()
        with contextlib.suppress(Unavailable):  # an outage at start-up shows in /readyz
            await key_source.ensure_loaded()
        table = Table(ddb, settings.table_name)
        data_keys = await open_data_keys(settings, stack, table)
        cipher = cipher_of(data_keys)
        cursors = CursorCodec(cursor_secret)
        if bus is None:
            bus = build_bus(
                settings.events_redis_url,
                Hub(settings.events_queue_size, settings.events_max_streams_per_user),
            )
            await bus.start()
            stack.push_async_callback(bus.aclose)
        lifecycle.on_exit(bus.hub.shutdown)
        shared = None
        if settings.events_redis_url:
            shared = redis_client(settings.events_redis_url)
            stack.push_async_callback(shared.aclose)
        messaging = MessagingService(
            UsersRepository(table),
            ConversationsRepository(table, cipher),
            MessagesRepository(table, cipher),
            cursors,
            settings.idempotency_ttl_seconds,
            publisher=bus,
            on_stored=on_message_stored,
            sender_read_your_writes=settings.sender_read_your_writes,
        )
        yield AppState(
            settings=settings,
            ddb=ddb,
            table=table,
            key_source=key_source,
            verifier=verifier,
            cursors=cursors,
            local_issuer=local_issuer,
            rate_limiter=UserRateLimiter(settings),
            lifecycle=lifecycle,
            identities=IdentityCache(settings.identity_cache_ttl_seconds),
            messaging=messaging,
            moderation=ModerationService(
                messaging, BlocksRepository(table), cursors, settings.message_edit_window_seconds
            ),
            data_keys=data_keys,
            bus=bus,
            tickets=TicketBook(cursor_secret, settings.events_ticket_ttl_seconds, shared),
        )


def cipher_of(data_keys: DataKeys | None) -> TextCipher:
    return NoEncryption() if data_keys is None else EnvelopeEncryption(data_keys)


async def open_data_keys(
    settings: Settings, stack: AsyncExitStack, table: Table
) -> DataKeys | None:
    """The KMS client and data-key cache with encryption=kms (the stream handler has none)."""
    if settings.encryption == "off":
        return None
    kms = await open_client(settings, stack, "kms")
    policy = DataKeyPolicy(
        epoch_seconds=settings.data_key_epoch_seconds,
        cache_seconds=settings.data_key_cache_seconds,
        cache_uses=settings.data_key_cache_uses,
        cache_size=settings.data_key_cache_size,
    )
    return DataKeys(kms, settings.kms_key_id, DataKeysRepository(table), policy)
