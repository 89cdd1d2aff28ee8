"""Stream tickets: what a browser's ``EventSource`` (which cannot send headers) puts in the URL.

A ticket is short-lived, single-use and bound to one user, so the access token itself never
appears in a URL (where proxies and logs keep it). It is signed, so any instance can check it;
its single use is remembered in this process, or in Redis when the bus runs there, so that
behind a load balancer a ticket cannot be used once per instance.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from uuid import UUID

import redis.asyncio as redis
from redis.exceptions import RedisError

from app.errors import Unauthenticated, Unavailable

_SIGNATURE_BYTES = 16
_USED_PREFIX = "cruddur:events:ticket:"


def ticket_invalid() -> Unauthenticated:
    return Unauthenticated("The stream ticket is invalid, expired or used.", code="ticket_invalid")


class TicketBook:
    def __init__(self, secret: bytes, ttl_seconds: int, shared: redis.Redis | None = None) -> None:
        # A key of its own: a cursor signature must never pass for a ticket's.
        self._key = hmac.new(secret, b"cruddur events ticket", hashlib.sha256).digest()
        self.ttl_seconds = ttl_seconds
        self._shared = shared
        self._used: dict[str, float] = {}
        self._expiry_order: deque[tuple[float, str]] = deque()

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:_SIGNATURE_BYTES]).decode().rstrip("=")

    def issue(self, user_uuid: UUID, session_expires_at: int) -> str:
        """A ticket for ``user_uuid``, whose stream ends when the access token that asked for
        it expires (``session_expires_at``, epoch seconds)."""
        expires_at = int(time.time()) + self.ttl_seconds
        payload = f"{user_uuid.hex}.{expires_at}.{session_expires_at}.{secrets.token_hex(16)}"
        return f"{payload}.{self._sign(payload)}"

    async def redeem(self, ticket: str) -> tuple[UUID, int]:
        """The ticket's user and session end; ``ticket_invalid`` if forged, expired or used."""
        # Ours are ASCII; compare_digest cannot even compare other text (a TypeError).
        if not ticket.isascii():
            raise ticket_invalid()
        payload, _, signature = ticket.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise ticket_invalid()
        # Signed by us, so well formed; a forgery never gets this far.
        user_hex, expires_text, session_text, nonce = payload.split(".")
        expires_at = int(expires_text)
        if expires_at < time.time() or not await self._first_use(nonce, expires_at):
            raise ticket_invalid()
        return UUID(hex=user_hex), int(session_text)

    async def _first_use(self, nonce: str, expires_at: int) -> bool:
        if self._shared is not None:
            try:
                stored = await self._shared.set(
                    f"{_USED_PREFIX}{nonce}", 1, nx=True, exat=expires_at + 1
                )
            except RedisError:
                raise Unavailable(
                    "Stream tickets are unavailable.", code="events_unavailable"
                ) from None
            return bool(stored)
        now = time.time()
        while self._expiry_order and self._expiry_order[0][0] < now:
            self._used.pop(self._expiry_order.popleft()[1], None)
        if nonce in self._used:
            return False
        self._used[nonce] = expires_at
        self._expiry_order.append((expires_at, nonce))
        return True
