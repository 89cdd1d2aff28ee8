"""A stand-in for Cognito in local development: signs Cognito-shaped access tokens with its own key.

Its tokens go through the same ``AccessTokenVerifier`` as Cognito's, so local mode exercises the
real verification path; only the key source differs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from app.auth.jwks import SIGNING_ALGORITHM, StaticKeySource
from app.local_state import create_private_file

# A URN rather than a URL: nothing should ever try to fetch keys from the local issuer.
LOCAL_ISSUER = "urn:cruddur:local-issuer"
LOCAL_CLIENT_ID = "cruddur-local-client"
KEY_FILE_NAME = "local-issuer-key.pem"
COGNITO_ACCESS_SCOPE = "aws.cognito.signin.user.admin"


def rsa_jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint of an RSA JWK: base64url SHA-256 of its canonical required members."""
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class LocalIssuer:
    """Mints access tokens for local development, signed with one persistent RSA key."""

    def __init__(self, private_key: rsa.RSAPrivateKey, issuer: str, client_id: str) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._private_key = private_key
        public_jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        self.kid = rsa_jwk_thumbprint(public_jwk)
        self._public_jwk = {**public_jwk, "kid": self.kid, "use": "sig", "alg": SIGNING_ALGORITHM}

    @classmethod
    def load_or_create(
        cls, state_dir: Path, issuer: str = LOCAL_ISSUER, client_id: str = LOCAL_CLIENT_ID
    ) -> LocalIssuer:
        """Use the key kept in ``state_dir``, generating it on first start."""
        return cls(_load_or_create_private_key(state_dir / KEY_FILE_NAME), issuer, client_id)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._public_jwk)]}

    def key_source(self) -> StaticKeySource:
        return StaticKeySource(self.jwks())

    def mint_access_token(
        self, *, sub: str, username: str, lifetime_seconds: int, now: float | None = None
    ) -> str:
        """A token with the claims and header of a Cognito access token, signed RS256."""
        issued_at = int(time.time() if now is None else now)
        claims = {
            "sub": sub,
            "iss": self.issuer,
            "client_id": self.client_id,
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "token_use": "access",
            "scope": COGNITO_ACCESS_SCOPE,
            "auth_time": issued_at,
            "exp": issued_at + lifetime_seconds,
            "iat": issued_at,
            "jti": str(uuid.uuid4()),
            "username": username,
            "version": 2,
        }
        # Cognito's header is just kid + alg; typ=None drops PyJWT's default "typ": "JWT".
        headers = {"kid": self.kid, "typ": None}
        return jwt.encode(claims, self._private_key, algorithm=SIGNING_ALGORITHM, headers=headers)


def _load_or_create_private_key(path: Path) -> rsa.RSAPrivateKey:
    with contextlib.suppress(FileNotFoundError):
        return _read_private_key(path)
    # If another process starting at the same time published its key first, everyone uses that.
    create_private_file(path, _private_key_pem(rsa.generate_private_key(65537, 2048)))
    return _read_private_key(path)


def _read_private_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    # TypeError: the key is encrypted. Either way, refuse rather than overwrite someone's file.
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path} does not hold an unencrypted PEM private key") from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return key


def _private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
