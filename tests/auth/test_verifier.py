"""AccessTokenVerifier and parse_bearer against real RSA keys and real PyJWT-signed tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from app.auth import AccessClaims, AccessTokenVerifier, StaticKeySource, parse_bearer
from app.errors import Unauthenticated

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool"
CLIENT_ID = "test-app-client"
KID = "test-kid"
LEEWAY = 30


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeWallClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall_clock() -> FakeWallClock:
    return FakeWallClock()


def static_keys(signing_key: rsa.RSAPrivateKey) -> StaticKeySource:
    jwk = {**RSAAlgorithm.to_jwk(signing_key.public_key(), as_dict=True), "kid": KID}
    return StaticKeySource({"keys": [{**jwk, "use": "sig", "alg": "RS256"}]})


@pytest.fixture  # per test: each gets an empty verified-token cache
def verifier(signing_key: rsa.RSAPrivateKey, wall_clock: FakeWallClock) -> AccessTokenVerifier:
    return AccessTokenVerifier(
        ISSUER,
        [CLIENT_ID, "another-app-client"],
        static_keys(signing_key),
        leeway=LEEWAY,
        clock=wall_clock,
    )


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens handed to PyJWT for signature verification, in order."""
    tokens: list[str] = []
    library_decode = jwt.decode

    def recording_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        tokens.append(token)
        return library_decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", recording_decode)
    return tokens


def cognito_access_claims(**overrides: Any) -> dict[str, Any]:
    """A Cognito-shaped access token payload; an override of None removes that claim."""
    now = int(time.time())
    claims = {
        "sub": "0b5e3f2a-user-sub",
        "iss": ISSUER,
        "client_id": CLIENT_ID,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": now,
        "iat": now,
        "exp": now + 300,
        "jti": "d1c6e0e4-jti",
        "username": "alice",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str | None = KID) -> str:
    headers = {} if kid is None else {"kid": kid}
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: bytes) -> str:
    return f"{b64url(header)}.{b64url(b'{}')}.c2lnbmF0dXJl"


async def rejection_code(verifier: AccessTokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as raised:
        await verifier.verify(token)
    return raised.value.code


@pytest.mark.asyncio
async def test_valid_access_token_is_accepted(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    claims = cognito_access_claims()

    verified = await verifier.verify(sign(claims, signing_key))

    assert verified == AccessClaims(
        sub="0b5e3f2a-user-sub",
        client_id=CLIENT_ID,
        username="alice",
        expires_at=claims["exp"],
        scope="aws.cognito.signin.user.admin",
    )


@pytest.mark.asyncio
async def test_any_configured_client_is_accepted(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    token = sign(cognito_access_claims(client_id="another-app-client"), signing_key)

    assert (await verifier.verify(token)).client_id == "another-app-client"


@pytest.mark.asyncio
async def test_unsigned_alg_none_token_is_rejected(verifier: AccessTokenVerifier) -> None:
    token = jwt.encode(cognito_access_claims(), key="", algorithm="none", headers={"kid": KID})

    assert await rejection_code(verifier, token) == "token_invalid"


@pytest.mark.asyncio
async def test_hs256_signed_with_the_public_key_is_rejected(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    # Algorithm confusion: an attacker knows the public key and uses its PEM as an HMAC secret.
    # PyJWT refuses to produce such a token, so it is assembled by hand.
    public_pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    payload = b64url(json.dumps(cognito_access_claims()).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = b64url(hmac.new(public_pem, signing_input, hashlib.sha256).digest())

    assert await rejection_code(verifier, f"{header}.{payload}.{signature}") == "token_invalid"


@pytest.mark.asyncio
async def test_token_signed_by_another_key_under_our_kid_is_rejected(
    verifier: AccessTokenVerifier,
) -> None:
    forger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert await rejection_code(verifier, sign(cognito_access_claims(), forger_key)) == (
        "token_invalid"
    )


@pytest.mark.asyncio
async def test_token_with_tampered_claims_is_rejected(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    header, _, signature = sign(cognito_access_claims(), signing_key).split(".")
    elevated = b64url(json.dumps(cognito_access_claims(sub="someone-else")).encode())

    assert await rejection_code(verifier, f"{header}.{elevated}.{signature}") == "token_invalid"


@pytest.mark.asyncio
async def test_unknown_kid_is_rejected(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    token = sign(cognito_access_claims(), signing_key, kid="not-in-the-key-set")

    assert await rejection_code(verifier, token) == "token_unknown_kid"


@pytest.mark.asyncio
async def test_token_from_another_issuer_is_rejected(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    other_pool = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool"
    token = sign(cognito_access_claims(iss=other_pool), signing_key)

    assert await rejection_code(verifier, token) == "token_wrong_issuer"


@pytest.mark.asyncio
async def test_token_expired_beyond_the_leeway_is_rejected(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    token = sign(cognito_access_claims(exp=int(time.time()) - LEEWAY - 10), signing_key)

    assert await rejection_code(verifier, token) == "token_expired"


@pytest.mark.asyncio
async def test_token_expired_within_the_leeway_is_accepted(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    expired_at = int(time.time()) - LEEWAY // 2
    token = sign(cognito_access_claims(exp=expired_at), signing_key)

    assert (await verifier.verify(token)).expires_at == expired_at


@pytest.mark.asyncio
async def test_id_token_is_rejected_as_not_an_access_token(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    # Cognito ID tokens name the app client in aud and have no client_id.
    id_token_claims = cognito_access_claims(
        token_use="id", aud=CLIENT_ID, client_id=None, scope=None, email="alice@example.com"
    )

    assert await rejection_code(verifier, sign(id_token_claims, signing_key)) == (
        "token_not_access"
    )


@pytest.mark.parametrize("client_id", ["someone-elses-client", None, 42])
@pytest.mark.asyncio
async def test_token_for_another_client_is_rejected(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey, client_id: object
) -> None:
    token = sign(cognito_access_claims(client_id=client_id), signing_key)

    assert await rejection_code(verifier, token) == "token_wrong_client"


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "sub", "token_use", "username"])
@pytest.mark.asyncio
async def test_token_missing_a_required_claim_is_rejected(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey, claim: str
) -> None:
    token = sign(cognito_access_claims(**{claim: None}), signing_key)

    assert await rejection_code(verifier, token) == "token_invalid"


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": "tomorrow"},
        {"iat": int(time.time()) + 3600},
        {"sub": 12345},
        {"sub": ""},
        {"username": ["alice"]},
        {"scope": {"admin": True}},
    ],
    ids=[
        "exp-not-a-number",
        "issued-in-the-future",
        "sub-not-a-string",
        "empty-sub",
        "username-not-a-string",
        "scope-not-a-string",
    ],
)
@pytest.mark.asyncio
async def test_token_with_ill_typed_claims_is_rejected(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey, overrides: dict[str, Any]
) -> None:
    token = sign(cognito_access_claims(**overrides), signing_key)

    assert await rejection_code(verifier, token) == "token_invalid"


@pytest.mark.asyncio
async def test_token_without_kid_is_malformed(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    token = sign(cognito_access_claims(), signing_key, kid=None)

    assert await rejection_code(verifier, token) == "token_malformed"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "!!!.???.***",
        unsigned_token(header=b"[1, 2]"),
        unsigned_token(header=b'{"kid": 7, "alg": "RS256"}'),
        # Deeply nested JSON in the header must not blow the recursion limit into a 500.
        unsigned_token(header=b"[" * 100_000),
        # Not encodable as UTF-8: PyJWT raises UnicodeEncodeError, not one of its own errors.
        "\ud800.e30.c2ln",
    ],
    ids=[
        "empty",
        "one-segment",
        "not-base64-json",
        "not-base64url",
        "header-not-an-object",
        "kid-not-a-string",
        "deeply-nested-header",
        "lone-surrogate",
    ],
)
@pytest.mark.asyncio
async def test_garbage_token_is_malformed(verifier: AccessTokenVerifier, token: str) -> None:
    assert await rejection_code(verifier, token) == "token_malformed"


@pytest.mark.asyncio
async def test_unexpected_library_error_is_still_a_401(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    def decode_that_breaks(*args: object, **kwargs: object) -> dict[str, Any]:
        raise OverflowError("a failure PyJWT does not wrap")

    monkeypatch.setattr(jwt, "decode", decode_that_breaks)

    assert await rejection_code(verifier, sign(cognito_access_claims(), signing_key)) == (
        "token_invalid"
    )


@pytest.mark.asyncio
async def test_a_verified_token_is_checked_with_rsa_once(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey, decoded: list[str]
) -> None:
    token = sign(cognito_access_claims(), signing_key)

    first = await verifier.verify(token)
    again = await verifier.verify(token)

    assert again == first
    assert decoded == [token]


@pytest.mark.asyncio
async def test_a_remembered_token_still_expires(
    verifier: AccessTokenVerifier, signing_key: rsa.RSAPrivateKey, wall_clock: FakeWallClock
) -> None:
    claims = cognito_access_claims()
    token = sign(claims, signing_key)
    await verifier.verify(token)

    wall_clock.now = claims["exp"] + LEEWAY - 1
    assert (await verifier.verify(token)).sub == claims["sub"]
    wall_clock.now = claims["exp"] + LEEWAY
    assert await rejection_code(verifier, token) == "token_expired"


@pytest.mark.asyncio
async def test_the_oldest_remembered_token_is_forgotten_first(
    signing_key: rsa.RSAPrivateKey, decoded: list[str]
) -> None:
    keys = static_keys(signing_key)
    verifier = AccessTokenVerifier(ISSUER, [CLIENT_ID], keys, leeway=0, cache_size=2)
    first, second, third = (
        sign(cognito_access_claims(sub=f"user-{n}"), signing_key) for n in range(3)
    )
    for token in (first, second, third, third, second, first):
        await verifier.verify(token)

    assert decoded == [first, second, third, first]


def test_parse_bearer_returns_the_token() -> None:
    assert parse_bearer("Bearer aaa.bbb.ccc") == "aaa.bbb.ccc"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_parse_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    assert parse_bearer(f"{scheme} a-1.b_2.c3") == "a-1.b_2.c3"


@pytest.mark.parametrize("authorization", [None, ""])
def test_parse_bearer_without_header_is_missing(authorization: str | None) -> None:
    with pytest.raises(Unauthenticated) as raised:
        parse_bearer(authorization)

    assert raised.value.code == "token_missing"
    # RFC 6750: no error attribute in the challenge when no credentials were sent at all.
    assert raised.value.headers["WWW-Authenticate"] == 'Bearer realm="cruddur"'


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer aaa.bbb.ccc extra",
        "Bearer  aaa.bbb.ccc",
        "Bearer\taaa.bbb.ccc",
        "Bearer aaa.bbb",
        "Bearer aaa.bbb.",
        "Bearer aaa.bbb.ccc.ddd",
        "Bearer aaa.b+b.ccc",
        "Bearer aaa.bbb.ccc\n",
        "Bearerx aaa.bbb.ccc",
        "aaa.bbb.ccc",
    ],
)
def test_parse_bearer_rejects_anything_but_one_bearer_jws(authorization: str) -> None:
    with pytest.raises(Unauthenticated) as raised:
        parse_bearer(authorization)

    assert raised.value.code == "token_malformed"
