"""Cognito access-token verification: every failure is an ``Unauthenticated`` with a stable code."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
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

# "Bearer" (any case), one space, then a compact JWS: three non-empty base64url segments.
_BEARER = re.compile(r"bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)", re.IGNORECASE)


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


class AccessTokenVerifier:
    """Checks a Cognito access token: signature, issuer, expiry, ``token_use``, ``client_id``."""

    def __init__(
        self, issuer: str, client_ids: Collection[str], keys: KeySource, leeway: float
    ) -> None:
        self._issuer = issuer
        self._client_ids = frozenset(client_ids)
        self._keys = keys
        self._leeway = leeway

    async def verify(self, token: str) -> AccessClaims:
        """The token's claims, else ``Unauthenticated`` (``Unavailable`` if no keys are held)."""
        key = await self._keys.get_signing_key(_unverified_kid(token))
        return self._access_claims(self._decode(token, key))

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
