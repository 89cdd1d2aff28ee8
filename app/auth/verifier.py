"""Cognito access-token verification: every failure is an ``Unauthenticated`` with a stable code."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import jwt

from app.auth.jwks import SIGNING_ALGORITHM, KeySource
from app.errors import Unauthenticated

log = logging.getLogger(__name__)

# Claims every Cognito access token carries. client_id is deliberately not here: an ID token lacks
# it, and it should be rejected as "not an access token" rather than as a generic invalid token.
REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub", "token_use"]
ACCESS_USE = "access"  # token_use of access tokens; ID tokens say "id"
# Verified tokens remembered per process: a signed-in user's token is checked with RSA once, not on
# every request. Tokens are ~1 KB, so the cache stays within a few MB.
VERIFIED_TOKEN_CACHE_SIZE = 4096

# "Bearer" (any case), one space, then a compact JWS: three non-empty base64url segments. The
# scheme spells out its cases because re.IGNORECASE makes the token's classes 6x slower to match.
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """Verified access-token claims. ``sub`` is the identity key; ``username`` is display only."""

    sub: str
    client_id: str
    username: str
    expires_at: int
    scope: str | None


def parse_bearer(authorization: str | None) -> str:
    """Extract the token from an ``Authorization: Bearer <token>`` header value."""
    if not authorization:
        raise Unauthenticated("An access token is required.", code="token_missing")
    match = _BEARER.fullmatch(authorization)
    if match is None:
        raise Unauthenticated(
            "The Authorization header must be 'Bearer <token>'.", code="token_malformed"
        )
    return match.group(1)


@dataclass(frozen=True, slots=True)
class _VerifiedToken:
    kid: str
    key: jwt.PyJWK
    claims: AccessClaims


class AccessTokenVerifier:
    """Checks a Cognito access token: signature, issuer, expiry, ``token_use``, ``client_id``.

    A token that passed is remembered until it expires, as long as the key set still holds the
    very key that verified it: a JWKS refresh that drops the key ends its tokens' acceptance.
    """

    def __init__(
        self,
        issuer: str,
        client_ids: Collection[str],
        keys: KeySource,
        leeway: float,
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = VERIFIED_TOKEN_CACHE_SIZE,
    ) -> None:
        self._issuer = issuer
        self._client_ids = frozenset(client_ids)
        self._keys = keys
        self._leeway = leeway
        self._clock = clock
        self._cache_size = cache_size
        self._verified: dict[str, _VerifiedToken] = {}

    async def verify(self, token: str) -> AccessClaims:
        """The token's claims, else ``Unauthenticated`` (``Unavailable`` if no keys are held)."""
        verified = self._verified.get(token)
        # get_signing_key raises token_unknown_kid once a refresh has removed the key.
        if verified is not None and await self._keys.get_signing_key(verified.kid) is verified.key:
            self._check_unexpired(token, verified.claims)
            return verified.claims
        kid = _unverified_kid(token)
        key = await self._keys.get_signing_key(kid)
        claims = self._access_claims(self._decode(token, key))
        self._remember(token, _VerifiedToken(kid, key, claims))
        return claims

    def _check_unexpired(self, token: str, claims: AccessClaims) -> None:
        # PyJWT's rule: expired once exp <= now - leeway.
        if claims.expires_at <= self._clock() - self._leeway:
            self._verified.pop(token, None)
            raise Unauthenticated("The access token has expired.", code="token_expired")

    def _remember(self, token: str, verified: _VerifiedToken) -> None:
        if len(self._verified) >= self._cache_size:
            self._verified.pop(next(iter(self._verified)))  # evict the oldest entry
        self._verified[token] = verified

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                # Fixed here, never taken from the token header (alg=none, HS256 confusion).
                algorithms=[SIGNING_ALGORITHM],
                issuer=self._issuer,
                leeway=self._leeway,
                options={
                    "require": REQUIRED_CLAIMS,
                    # Access tokens carry client_id, not aud; _access_claims checks it instead.
                    "verify_aud": False,
                },
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The access token has expired.", code="token_expired") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated(
                "The token was not issued by the expected issuer.", code="token_wrong_issuer"
            ) from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("The access token is invalid.", code="token_invalid") from None
        except Exception:
            # Whatever a hostile token provokes inside the library is still a rejection, not a 500.
            log.exception("unexpected error while decoding an access token")
            raise Unauthenticated("The access token is invalid.", code="token_invalid") from None

    def _access_claims(self, claims: dict[str, Any]) -> AccessClaims:
        if claims["token_use"] != ACCESS_USE:
            raise Unauthenticated("Only access tokens are accepted.", code="token_not_access")
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or client_id not in self._client_ids:
            raise Unauthenticated(
                "The token was issued to another client.", code="token_wrong_client"
            )
        sub, username, scope = claims["sub"], claims.get("username"), claims.get("scope")
        if not sub or not isinstance(username, str) or not isinstance(scope, str | None):
            raise Unauthenticated("The access token is invalid.", code="token_invalid")
        # jwt.decode has already checked that exp converts to an int.
        return AccessClaims(
            sub=sub,
            client_id=client_id,
            username=username,
            expires_at=int(claims["exp"]),
            scope=scope,
        )


def _unverified_kid(token: str) -> str:
    """The header's ``kid``, read before verification only to choose the key to verify with."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Unauthenticated("The access token is malformed.", code="token_malformed") from None
    except Exception:
        # Whatever a hostile token provokes inside the library is still a rejection, not a 500.
        log.exception("unexpected error while reading an access token header")
        raise Unauthenticated("The access token is malformed.", code="token_malformed") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthenticated("The access token names no signing key.", code="token_malformed")
    return kid
