"""Key sources: JWKS parsing, and RemoteKeySource against a fake Cognito JWKS endpoint."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from app.auth import AccessTokenVerifier, JwksError, RemoteKeySource, StaticKeySource
from app.errors import Unauthenticated, Unavailable

JWKS_URL = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool/.well-known/jwks.json"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool"
CLIENT_ID = "test-app-client"
REFRESH_INTERVAL = 30.0


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def current_key() -> rsa.RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture(scope="module")
def rotated_key() -> rsa.RSAPrivateKey:
    return new_rsa_key()


def public_jwk(key: rsa.RSAPrivateKey, kid: str, **members: str) -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256", **members}


def access_token(key: rsa.RSAPrivateKey, kid: str) -> str:
    now = int(time.time())
    claims = {
        "sub": "user-sub",
        "iss": ISSUER,
        "client_id": CLIENT_ID,
        "token_use": "access",
        "iat": now,
        "exp": now + 300,
        "username": "alice",
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


class FakeClock:
    """Stands in for time.monotonic so tests can step past the refresh interval instantly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeJwksEndpoint:
    """Cognito's JWKS endpoint: serves ``jwks``, or fails the way ``failure`` says; counts calls."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks = jwks
        self.failure: str | None = None
        self.requests = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        # Yield to the event loop, as a real network round trip would, so lookups can overlap.
        await asyncio.sleep(0.01)
        match self.failure:
            case None:
                return httpx.Response(200, json=self.jwks)
            case "connect_error":
                raise httpx.ConnectError("connection refused", request=request)
            case "timeout":
                raise httpx.ReadTimeout("read timed out", request=request)
            case "server_error":
                return httpx.Response(500, text="Internal Server Error")
            case "not_json":
                return httpx.Response(200, text="<html>maintenance</html>")
            case "no_usable_keys":
                return httpx.Response(200, json={"keys": [{"kty": "RSA", "alg": ["RS256"]}]})
            case "unexpected_error":
                raise RuntimeError("a failure outside httpx's own exception hierarchy")
        raise AssertionError(f"unknown failure {self.failure}")


OUTAGES = [
    "connect_error",
    "timeout",
    "server_error",
    "not_json",
    "no_usable_keys",
    "unexpected_error",
]


@pytest.fixture
def endpoint(current_key: rsa.RSAPrivateKey) -> FakeJwksEndpoint:
    return FakeJwksEndpoint({"keys": [public_jwk(current_key, "current")]})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def source(endpoint: FakeJwksEndpoint, clock: FakeClock) -> AsyncIterator[RemoteKeySource]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint.handle)) as http:
        yield RemoteKeySource(JWKS_URL, http, REFRESH_INTERVAL, clock=clock)


def verifier_for(source: RemoteKeySource) -> AccessTokenVerifier:
    return AccessTokenVerifier(ISSUER, [CLIENT_ID], source, leeway=0)


async def unknown_kid_code(source: RemoteKeySource, kid: str) -> str:
    with pytest.raises(Unauthenticated) as raised:
        await source.get_signing_key(kid)
    return raised.value.code


# --- parsing a key set ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_static_source_serves_only_rs256_signature_keys(
    current_key: rsa.RSAPrivateKey,
) -> None:
    ec_jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True)
    keys = StaticKeySource(
        {
            "keys": [
                public_jwk(current_key, "good"),
                public_jwk(current_key, "encryption", use="enc"),
                public_jwk(current_key, "rs512", alg="RS512"),
                {**ec_jwk, "kid": "elliptic", "use": "sig"},
                {k: v for k, v in public_jwk(current_key, "x").items() if k != "kid"},
                "not-a-key",
            ]
        }
    )

    assert (await keys.get_signing_key("good")).key_id == "good"
    for kid in ["encryption", "rs512", "elliptic", "x"]:
        with pytest.raises(Unauthenticated) as raised:
            await keys.get_signing_key(kid)
        assert raised.value.code == "token_unknown_kid"


@pytest.mark.parametrize(
    "jwks",
    [
        {},
        {"keys": []},
        {"keys": "nope"},
        {"keys": [{"kty": "RSA", "alg": ["RS256"], "kid": "odd"}]},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]},
    ],
    ids=["no-keys-member", "empty", "keys-not-a-list", "alg-not-a-string", "symmetric-only"],
)
def test_static_source_refuses_a_key_set_without_usable_keys(jwks: dict[str, Any]) -> None:
    with pytest.raises(JwksError):
        StaticKeySource(jwks)


# --- RemoteKeySource --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_keys_are_fetched_once_and_then_served_from_cache(
    source: RemoteKeySource, endpoint: FakeJwksEndpoint, current_key: rsa.RSAPrivateKey
) -> None:
    assert not source.loaded

    await source.ensure_loaded()
    verifier = verifier_for(source)
    for _ in range(3):
        assert (await verifier.verify(access_token(current_key, "current"))).sub == "user-sub"

    assert source.loaded
    assert endpoint.requests == 1


@pytest.mark.asyncio
async def test_first_lookup_loads_the_key_set_lazily(
    source: RemoteKeySource, endpoint: FakeJwksEndpoint
) -> None:
    assert (await source.get_signing_key("current")).key_id == "current"
    assert endpoint.requests == 1


@pytest.mark.asyncio
async def test_concurrent_unknown_kids_share_one_fetch(
    source: RemoteKeySource, endpoint: FakeJwksEndpoint, clock: FakeClock
) -> None:
    await source.ensure_loaded()
    clock.advance(REFRESH_INTERVAL)  # a refresh is allowed again
    kids = [str(uuid.uuid4()) for _ in range(5)]

    results = await asyncio.gather(
        *(source.get_signing_key(kids[i % 5]) for i in range(20)), return_exceptions=True
    )

    assert endpoint.requests == 2  # the initial load plus a single shared refresh
    assert all(isinstance(result, Unauthenticated) for result in results)
    assert {result.code for result in results if isinstance(result, Unauthenticated)} == {
        "token_unknown_kid"
    }


@pytest.mark.asyncio
async def test_concurrent_lookups_of_a_rotated_kid_all_wait_for_the_one_refresh(
    source: RemoteKeySource,
    endpoint: FakeJwksEndpoint,
    clock: FakeClock,
    rotated_key: rsa.RSAPrivateKey,
) -> None:
    await source.ensure_loaded()
    endpoint.jwks = {"keys": [public_jwk(rotated_key, "rotated")]}
    clock.advance(REFRESH_INTERVAL)

    keys = await asyncio.gather(*(source.get_signing_key("rotated") for _ in range(20)))

    assert {key.key_id for key in keys} == {"rotated"}
    assert endpoint.requests == 2


@pytest.mark.asyncio
async def test_unknown_kids_refresh_at_most_once_per_interval(
    source: RemoteKeySource, endpoint: FakeJwksEndpoint, clock: FakeClock
) -> None:
    await source.ensure_loaded()

    clock.advance(REFRESH_INTERVAL - 1)
    assert await unknown_kid_code(source, "made-up-1") == "token_unknown_kid"
    assert endpoint.requests == 1  # throttled: no fetch within the interval

    clock.advance(1)
    assert await unknown_kid_code(source, "made-up-2") == "token_unknown_kid"
    assert await unknown_kid_code(source, "made-up-3") == "token_unknown_kid"
    assert endpoint.requests == 2  # one fetch once the interval has passed


@pytest.mark.asyncio
async def test_rotated_key_is_accepted_after_one_refresh(
    source: RemoteKeySource,
    endpoint: FakeJwksEndpoint,
    clock: FakeClock,
    current_key: rsa.RSAPrivateKey,
    rotated_key: rsa.RSAPrivateKey,
) -> None:
    await source.ensure_loaded()
    endpoint.jwks = {
        "keys": [public_jwk(rotated_key, "rotated"), public_jwk(current_key, "current")]
    }
    clock.advance(REFRESH_INTERVAL)
    verifier = verifier_for(source)

    claims = await verifier.verify(access_token(rotated_key, "rotated"))
    await verifier.verify(access_token(current_key, "current"))

    assert claims.sub == "user-sub"
    assert endpoint.requests == 2


@pytest.mark.asyncio
async def test_key_removed_from_the_set_stops_verifying_after_a_refresh(
    source: RemoteKeySource,
    endpoint: FakeJwksEndpoint,
    clock: FakeClock,
    current_key: rsa.RSAPrivateKey,
    rotated_key: rsa.RSAPrivateKey,
) -> None:
    verifier = verifier_for(source)
    token = access_token(current_key, "current")
    await verifier.verify(token)  # verified, and remembered by the verifier
    endpoint.jwks = {"keys": [public_jwk(rotated_key, "rotated")]}
    clock.advance(REFRESH_INTERVAL)
    await source.get_signing_key("rotated")  # triggers the refresh

    assert await unknown_kid_code(source, "current") == "token_unknown_kid"
    with pytest.raises(Unauthenticated) as raised:
        await verifier.verify(token)
    assert raised.value.code == "token_unknown_kid"


@pytest.mark.parametrize("outage", OUTAGES)
@pytest.mark.asyncio
async def test_outage_keeps_serving_cached_keys_and_rejects_unknown_kids(
    source: RemoteKeySource,
    endpoint: FakeJwksEndpoint,
    clock: FakeClock,
    current_key: rsa.RSAPrivateKey,
    rotated_key: rsa.RSAPrivateKey,
    outage: str,
) -> None:
    await source.ensure_loaded()
    endpoint.failure = outage
    clock.advance(REFRESH_INTERVAL)
    verifier = verifier_for(source)

    with pytest.raises(Unauthenticated) as raised:
        await verifier.verify(access_token(rotated_key, "rotated"))
    cached = await verifier.verify(access_token(current_key, "current"))

    assert raised.value.code == "token_unknown_kid"
    assert raised.value.status == 401
    assert endpoint.requests == 2  # the refresh was attempted, and failed
    assert cached.sub == "user-sub"
    assert source.loaded


@pytest.mark.parametrize("outage", OUTAGES)
@pytest.mark.asyncio
async def test_never_loaded_and_outage_is_unavailable(
    source: RemoteKeySource, endpoint: FakeJwksEndpoint, current_key: rsa.RSAPrivateKey, outage: str
) -> None:
    endpoint.failure = outage

    with pytest.raises(Unavailable) as at_start_up:
        await source.ensure_loaded()
    with pytest.raises(Unavailable) as on_request:
        await verifier_for(source).verify(access_token(current_key, "current"))

    assert at_start_up.value.code == on_request.value.code == "jwks_unavailable"
    assert on_request.value.status == 503
    assert not source.loaded
    assert endpoint.requests == 1  # the retry on request was throttled


@pytest.mark.asyncio
async def test_recovers_once_the_endpoint_is_back(
    source: RemoteKeySource, endpoint: FakeJwksEndpoint, clock: FakeClock
) -> None:
    endpoint.failure = "connect_error"
    with pytest.raises(Unavailable):
        await source.ensure_loaded()

    endpoint.failure = None
    clock.advance(REFRESH_INTERVAL)
    await source.ensure_loaded()

    assert source.loaded
    assert (await source.get_signing_key("current")).key_id == "current"
    assert endpoint.requests == 2
