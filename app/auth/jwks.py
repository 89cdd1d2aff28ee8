"""Where token signing keys come from: a fixed key set (local issuer) or Cognito's JWKS endpoint."""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt

from app.errors import Unauthenticated, Unavailable

log = logging.getLogger(__name__)

# The verifier only ever accepts RS256, so any other key could never verify a token.
SIGNING_ALGORITHM = "RS256"


class JwksError(Exception):
    """A JWKS document could not be fetched or held no usable signing key."""


class KeySource(ABC):
    """Looks up the public key that signed a token, by the ``kid`` in the token's header."""

    @abstractmethod
    async def get_signing_key(self, kid: str) -> jwt.PyJWK:
        """Return the key for ``kid``; raise ``Unauthenticated(code="token_unknown_kid")``."""

    @abstractmethod
    async def ensure_loaded(self) -> None:
        """Make sure a key set is held (start-up, readiness); raise ``Unavailable`` if not."""

    @property
    @abstractmethod
    def loaded(self) -> bool:
        """Whether a key set is held, so tokens can be verified right now."""


def _signing_keys_by_kid(jwks: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The RS256 signature keys of a JWKS document by kid; ``JwksError`` if there are none."""
    try:
        key_set = jwt.PyJWKSet.from_dict(dict(jwks))
    # PyJWT lets a TypeError through for some malformed members (e.g. a list as "alg").
    except (jwt.PyJWTError, TypeError, ValueError) as error:
        raise JwksError(f"unusable JWKS: {error}") from error
    keys = {
        key.key_id: key
        for key in key_set
        if isinstance(key.key_id, str)
        and key.key_id
        and key.key_type == "RSA"
        and key.public_key_use in (None, "sig")
        and key.algorithm_name == SIGNING_ALGORITHM
    }
    if not keys:
        raise JwksError("the JWKS holds no RS256 signature key with a kid")
    return keys


def _unknown_kid() -> Unauthenticated:
    return Unauthenticated("The token was signed by an unknown key.", code="token_unknown_kid")


class StaticKeySource(KeySource):
    """A key set fixed at construction, e.g. the local development issuer's own key."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = _signing_keys_by_kid(jwks)

    async def get_signing_key(self, kid: str) -> jwt.PyJWK:
        try:
            return self._keys[kid]
        except KeyError:
            raise _unknown_kid() from None

    async def ensure_loaded(self) -> None:
        return None

    @property
    def loaded(self) -> bool:
        return True


class RemoteKeySource(KeySource):
    """Cognito's JWKS, cached by ``kid`` and refreshed only when a token names an unknown ``kid``.

    Refreshes are throttled to one per ``refresh_interval`` seconds, whoever asks, so a flood of
    tokens with made-up ``kid``s costs at most one fetch per interval. A failed refresh keeps the
    cached keys: an unknown ``kid`` is then rejected, never let through.

    Having no key set at all is a 503 (``jwks_unavailable``), not a 401: the client's token may be
    perfectly valid and we simply cannot check it yet, so it should retry rather than sign in again.
    The throttle applies to the first load too: after a failed attempt, lookups answer 503 until
    the interval has passed.
    """

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        refresh_interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._http = http
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._last_fetch_started: float | None = None
        # Serialises refreshes so concurrent lookups of unknown kids share one fetch.
        self._refresh_lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return bool(self._keys)

    async def ensure_loaded(self) -> None:
        if not self.loaded:
            await self._refresh_unless_throttled()
        if not self.loaded:
            raise Unavailable("Token signing keys are not available yet.", code="jwks_unavailable")

    async def get_signing_key(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is None:
            # Cognito may have rotated its keys since the last fetch.
            await self._refresh_unless_throttled()
            key = self._keys.get(kid)
        if key is not None:
            return key
        if not self.loaded:
            raise Unavailable("Token signing keys are not available yet.", code="jwks_unavailable")
        raise _unknown_kid()

    async def _refresh_unless_throttled(self) -> None:
        async with self._refresh_lock:
            # Re-checked under the lock: whoever waited behind a fetch must not start another.
            now = self._clock()
            started = self._last_fetch_started
            if started is not None and now - started < self._refresh_interval:
                return
            # Set before fetching so a failing endpoint is throttled too, not hammered.
            self._last_fetch_started = now
            try:
                self._keys = await self._fetch()
            except JwksError as error:
                log.warning(
                    "JWKS refresh from %s failed, keeping cached keys: %s", self._url, error
                )
            except Exception:
                # A refresh must never turn a token check into a 500: keep the cached keys.
                log.exception("JWKS refresh from %s failed unexpectedly", self._url)

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        try:
            response = await self._http.get(self._url)
        except httpx.HTTPError as error:
            raise JwksError(f"request failed: {error!r}") from error
        if response.status_code != httpx.codes.OK:
            raise JwksError(f"unexpected status {response.status_code}")
        try:
            document = response.json()
        except (ValueError, RecursionError) as error:
            raise JwksError("response is not JSON") from error
        if not isinstance(document, dict):
            raise JwksError("response is not a JSON object")
        return _signing_keys_by_kid(document)
