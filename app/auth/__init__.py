"""Bearer-token authentication: Cognito access tokens, or local look-alikes in development."""

from app.auth.jwks import JwksError, KeySource, RemoteKeySource, StaticKeySource
from app.auth.local_issuer import LOCAL_CLIENT_ID, LOCAL_ISSUER, LocalIssuer
from app.auth.verifier import AccessClaims, AccessTokenVerifier, parse_bearer

__all__ = [
    "LOCAL_CLIENT_ID",
    "LOCAL_ISSUER",
    "AccessClaims",
    "AccessTokenVerifier",
    "JwksError",
    "KeySource",
    "LocalIssuer",
    "RemoteKeySource",
    "StaticKeySource",
    "parse_bearer",
]
