"""Authentication through HTTP: every way a bearer token can be wrong, local and Cognito mode.

Bad tokens are forged for a user that exists, so the one defect of each token is the only
reason it can be refused; a control test proves the forger's unmodified token is accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import ValidationError

from app.auth import LOCAL_CLIENT_ID, LOCAL_ISSUER
from app.auth.local_issuer import KEY_FILE_NAME
from app.domain import User
from app.repositories.table import Table
from app.settings import Settings
from tests.conftest import RunningApp, SignedIn, all_items, create_user
from tests.routers.conftest import (
    ServedApp,
    closed_loopback_url,
    serving,
    settings_like,
    sign_up,
)

PROBLEM_JSON = "application/problem+json"
POOL_ID = "us-east-1_Test123"
POOL_CLIENT = "client-a"
POOL_KID = "pool-key-1"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def access_claims(issuer: str, client_id: str, sub: str, /, **overrides: Any) -> dict[str, Any]:
    """Claims of a Cognito access token; an override of None removes that claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "iss": issuer,
        "client_id": client_id,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": now,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid4()),
        "username": "someone",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def rs256(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@dataclass(frozen=True)
class Forger:
    """Builds Authorization header values against the local issuer, for one existing user."""

    key: rsa.RSAPrivateKey
    kid: str
    sub: str

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return access_claims(LOCAL_ISSUER, LOCAL_CLIENT_ID, self.sub, **overrides)

    def bearer(self, **overrides: Any) -> str:
        return f"Bearer {rs256(self.claims(**overrides), self.key, self.kid)}"

    def unsigned(self, algorithm: str, signature: str) -> str:
        header = segment({"alg": algorithm, "kid": self.kid, "typ": "JWT"})
        return f"Bearer {header}.{segment(self.claims())}.{signature}"

    def hs256_with_public_key(self) -> str:
        """Algorithm confusion: an HMAC keyed with the (public) PEM the verifier holds."""
        public_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signing_input = f"{segment({'alg': 'HS256', 'kid': self.kid})}.{segment(self.claims())}"
        mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"Bearer {signing_input}.{b64url(mac)}"

    def without_kid(self) -> str:
        return f"Bearer {jwt.encode(self.claims(), self.key, algorithm='RS256')}"

    def signed_as_kid(self, kid: str) -> str:
        return f"Bearer {rs256(self.claims(), self.key, kid)}"

    def signed_by(self, other: rsa.RSAPrivateKey) -> str:
        return f"Bearer {rs256(self.claims(), other, self.kid)}"

    def tampered(self) -> str:
        """A genuine signature over other claims: the payload is swapped afterwards."""
        header, _, signature = rs256(self.claims(), self.key, self.kid).split(".")
        forged_payload = segment(self.claims(sub=str(uuid4())))
        return f"Bearer {header}.{forged_payload}.{signature}"


@dataclass(frozen=True)
class Residents:
    """The users every test of this module may rely on; tests add no users of their own."""

    table: Table
    andrew: SignedIn
    bayko: SignedIn
    no_login: User
    """A user without a sign-in identity (e.g. seeded before sign-up existed)."""


@pytest_asyncio.fixture(scope="module")
async def residents(running_app: RunningApp, module_table: Table) -> Residents:
    no_login = User(uuid4(), "no_login", "No Login", cognito_sub=None)
    await create_user(module_table, no_login)
    return Residents(
        module_table,
        await sign_up(running_app, module_table, "andrew"),
        await sign_up(running_app, module_table, "bayko"),
        no_login,
    )


@pytest.fixture(scope="module")
def forger(running_app: RunningApp, settings: Settings, residents: Residents) -> Forger:
    """Forges tokens for andrew with the local issuer's private key, read from its key file."""
    pem = (Path(settings.local_state_dir) / KEY_FILE_NAME).read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    issuer = running_app.state.local_issuer
    assert issuer is not None
    [served] = issuer.jwks()["keys"]
    assert RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)["n"] == served["n"]
    assert residents.andrew.user.cognito_sub is not None
    return Forger(key, issuer.kid, residents.andrew.user.cognito_sub)


@dataclass(frozen=True)
class Protected:
    """One protected endpoint; ``send`` issues the request with the given headers."""

    name: str
    send: Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]
    writes: bool


async def _list_groups(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await http.get("/api/message_groups", headers=headers)


async def _send_to_bayko(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await http.post(
        "/api/messages", json={"message": "let me in", "handle": "bayko"}, headers=headers
    )


ENDPOINTS = [
    Protected("GET /api/message_groups", _list_groups, writes=False),
    Protected("POST /api/messages", _send_to_bayko, writes=True),
]

STRANGER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)

BAD_CREDENTIALS: list[tuple[str, Callable[[Forger], str | None], str]] = [
    ("missing", lambda f: None, "token_missing"),
    ("empty", lambda f: "", "token_missing"),
    ("basic_scheme", lambda f: "Basic dXNlcjpwYXNz", "token_malformed"),
    ("bearer_without_token", lambda f: "Bearer", "token_malformed"),
    ("two_segments", lambda f: "Bearer a.b", "token_malformed"),
    ("not_base64_json", lambda f: "Bearer a.b.c", "token_malformed"),
    ("alg_none_unsigned", lambda f: f.unsigned("none", ""), "token_malformed"),
    ("alg_none_with_signature", lambda f: f.unsigned("none", "c2ln"), "token_invalid"),
    ("hs256_with_public_key", lambda f: f.hs256_with_public_key(), "token_invalid"),
    ("no_kid", lambda f: f.without_kid(), "token_malformed"),
    ("unknown_kid", lambda f: f.signed_as_kid("rotated-away-kid"), "token_unknown_kid"),
    ("signed_by_another_key", lambda f: f.signed_by(STRANGER_KEY), "token_invalid"),
    ("tampered_payload", lambda f: f.tampered(), "token_invalid"),
    ("wrong_issuer", lambda f: f.bearer(iss="https://evil.example/pool"), "token_wrong_issuer"),
    ("expired", lambda f: f.bearer(exp=int(time.time()) - 3600), "token_expired"),
    ("no_exp", lambda f: f.bearer(exp=None), "token_invalid"),
    (
        "id_token",
        lambda f: f.bearer(token_use="id", aud=LOCAL_CLIENT_ID, client_id=None),
        "token_not_access",
    ),
    ("wrong_client", lambda f: f.bearer(client_id="someone-elses-app"), "token_wrong_client"),
    ("user_unknown", lambda f: f.bearer(sub=str(uuid4())), "user_unknown"),
]


def assert_unauthorized(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert (problem["status"], problem["code"]) == (401, code)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    # RFC 6750: no error attribute when no credentials were sent at all.
    assert ('error="invalid_token"' in challenge) == (code != "token_missing")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
@pytest.mark.parametrize(
    ("authorization", "code"),
    [pytest.param(build, code, id=name) for name, build, code in BAD_CREDENTIALS],
)
async def test_bad_credentials_are_401_and_write_nothing(
    http: httpx.AsyncClient,
    residents: Residents,
    forger: Forger,
    endpoint: Protected,
    authorization: Callable[[Forger], str | None],
    code: str,
) -> None:
    value = authorization(forger)
    headers = {} if value is None else {"Authorization": value}
    before = await all_items(residents.table)

    response = await endpoint.send(http, headers)

    assert_unauthorized(response, code)
    token = (value or "").partition(" ")[2]
    if token.count(".") == 2:  # never echo a token back (it may be someone's real one)
        assert token not in response.text
    assert await all_items(residents.table) == before


@pytest.mark.parametrize(
    "endpoint",
    # The first message to bayko creates the conversation: a transaction.
    [pytest.param(e, marks=pytest.mark.transactions) if e.writes else e for e in ENDPOINTS],
    ids=lambda e: e.name,
)
async def test_control_the_forgers_own_valid_token_is_accepted(
    http: httpx.AsyncClient, residents: Residents, forger: Forger, endpoint: Protected
) -> None:
    before = await all_items(residents.table)
    response = await endpoint.send(http, {"Authorization": forger.bearer()})
    assert response.status_code == 200, response.text
    assert (await all_items(residents.table) != before) == endpoint.writes


@pytest.mark.parametrize("handle", ["nobody_here", "no_login"])
async def test_dev_token_for_a_handle_without_identity_is_404(
    http: httpx.AsyncClient, residents: Residents, handle: str
) -> None:
    response = await http.post("/api/dev/tokens", json={"handle": handle})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "user_not_found"


@pytest.mark.parametrize("handle", ["no spaces!", "", "x" * 33, "dots.are.out"])
async def test_dev_token_for_an_invalid_handle_is_422(
    http: httpx.AsyncClient, residents: Residents, handle: str
) -> None:
    response = await http.post("/api/dev/tokens", json={"handle": handle})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "handle_invalid"


async def test_jwks_serves_the_public_key_only_and_verifies_dev_tokens(
    http: httpx.AsyncClient, residents: Residents
) -> None:
    response = await http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    [key] = response.json()["keys"]
    assert {"d", "p", "q", "dp", "dq", "qi"}.isdisjoint(key)
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")

    minted = await http.post("/api/dev/tokens", json={"handle": "ANDREW"})
    assert minted.status_code == 200, minted.text
    token = minted.json()["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    claims = jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["RS256"], options={"verify_aud": False}
    )
    assert claims["sub"] == residents.andrew.user.cognito_sub
    assert (claims["token_use"], claims["client_id"]) == ("access", LOCAL_CLIENT_ID)


# --- Production (Cognito) mode ------------------------------------------------------------


@dataclass
class JwksServer:
    """A loopback HTTP server standing in for Cognito's JWKS endpoint; records request paths."""

    document: dict[str, Any]
    requested: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/{POOL_ID}/.well-known/jwks.json"

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requested.append(self.path)
                body = json.dumps(owner.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def pool_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_server(pool_key: rsa.RSAPrivateKey) -> Iterator[JwksServer]:
    public = RSAAlgorithm.to_jwk(pool_key.public_key(), as_dict=True)
    server = JwksServer({"keys": [{**public, "kid": POOL_KID, "alg": "RS256", "use": "sig"}]})
    server.start()
    yield server
    server.stop()


def cognito_settings(settings: Settings, jwks_url: str) -> Settings:
    return settings_like(
        settings,
        auth_mode="cognito",
        cognito_user_pool_id=POOL_ID,
        cognito_app_client_ids=[POOL_CLIENT],
        cursor_secret="x" * 32,
        cognito_jwks_url=jwks_url,
    )


@pytest_asyncio.fixture(scope="module")
async def cognito_app(settings: Settings, jwks_server: JwksServer) -> AsyncIterator[ServedApp]:
    async with serving(cognito_settings(settings, jwks_server.url)) as served:
        yield served


def pool_token(key: rsa.RSAPrivateKey, who: SignedIn, **overrides: Any) -> dict[str, str]:
    assert who.user.cognito_sub is not None
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"
    claims = access_claims(issuer, POOL_CLIENT, who.user.cognito_sub, **overrides)
    return {"Authorization": f"Bearer {rs256(claims, key, POOL_KID)}"}


@pytest.mark.transactions
async def test_cognito_access_token_is_accepted_with_keys_fetched_over_http(
    cognito_app: ServedApp,
    jwks_server: JwksServer,
    pool_key: rsa.RSAPrivateKey,
    residents: Residents,
) -> None:
    headers = pool_token(pool_key, residents.andrew)
    response = await cognito_app.http.get("/api/me", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["uuid"] == str(residents.andrew.user.uuid)
    assert f"/{POOL_ID}/.well-known/jwks.json" in jwks_server.requested

    before = await all_items(residents.table)
    sent = await cognito_app.http.post(
        "/api/messages", json={"message": "from prod", "handle": "bayko"}, headers=headers
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["handle"] == "andrew"
    assert len(await all_items(residents.table)) > len(before)


async def test_cognito_token_for_another_app_client_is_401(
    cognito_app: ServedApp, pool_key: rsa.RSAPrivateKey, residents: Residents
) -> None:
    headers = pool_token(pool_key, residents.andrew, client_id="client-b")
    response = await cognito_app.http.get("/api/message_groups", headers=headers)
    assert_unauthorized(response, "token_wrong_client")


async def test_cognito_token_with_the_pool_key_but_another_issuer_is_401(
    cognito_app: ServedApp, pool_key: rsa.RSAPrivateKey, residents: Residents
) -> None:
    headers = pool_token(pool_key, residents.andrew, iss=LOCAL_ISSUER)
    response = await cognito_app.http.get("/api/message_groups", headers=headers)
    assert_unauthorized(response, "token_wrong_issuer")


async def test_local_dev_tokens_are_refused_in_cognito_mode(
    cognito_app: ServedApp, residents: Residents
) -> None:
    # A genuine token of the local issuer, which the session app would accept.
    response = await cognito_app.http.get("/api/message_groups", headers=residents.andrew.headers)
    assert_unauthorized(response, "token_unknown_kid")


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/api/dev/tokens"), ("GET", "/.well-known/jwks.json")]
)
async def test_development_routes_do_not_exist_in_cognito_mode(
    cognito_app: ServedApp, residents: Residents, method: str, path: str
) -> None:
    response = await cognito_app.http.request(method, path, json={"handle": "andrew"})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "not_found"
    schema = (await cognito_app.http.get("/openapi.json")).json()
    assert path not in schema["paths"]


async def test_cognito_mode_is_ready_once_keys_are_loaded(
    cognito_app: ServedApp, residents: Residents
) -> None:
    response = await cognito_app.http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["token_keys"] == "ok"


async def test_jwks_down_at_start_up_is_not_ready_and_answers_503_not_401(
    settings: Settings, pool_key: rsa.RSAPrivateKey, residents: Residents
) -> None:
    jwks_url = f"{closed_loopback_url()}/{POOL_ID}/.well-known/jwks.json"
    async with serving(cognito_settings(settings, jwks_url)) as served:
        ready = await served.http.get("/readyz")
        me = await served.http.get("/api/me", headers=pool_token(pool_key, residents.andrew))

    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["token_keys"] == "jwks_unavailable"
    assert ready.json()["checks"]["table"] == "ok"
    # The token may be perfectly valid: the client should retry, not sign in again.
    assert me.status_code == 503
    assert me.headers["content-type"] == PROBLEM_JSON
    assert me.json()["code"] == "jwks_unavailable"
    assert int(me.headers["retry-after"]) >= 1


def test_cognito_mode_refuses_to_start_without_pool_settings(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    for name in ("USER_POOL_ID", "APP_CLIENT_IDS"):
        monkeypatch.delenv(f"CRUDDUR_COGNITO_{name}", raising=False)
    monkeypatch.delenv("CRUDDUR_CURSOR_SECRET", raising=False)
    with pytest.raises(ValidationError) as raised:
        settings_like(settings, auth_mode="cognito")
    message = str(raised.value)
    for variable in (
        "CRUDDUR_COGNITO_USER_POOL_ID",
        "CRUDDUR_COGNITO_APP_CLIENT_IDS",
        "CRUDDUR_CURSOR_SECRET",
    ):
        assert variable in message
