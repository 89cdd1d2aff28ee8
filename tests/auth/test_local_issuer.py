"""The local development issuer: key persistence, and tokens the real verifier accepts."""

from __future__ import annotations

import stat
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.auth import LOCAL_CLIENT_ID, LOCAL_ISSUER, AccessClaims, AccessTokenVerifier, LocalIssuer
from app.auth.local_issuer import KEY_FILE_NAME, rsa_jwk_thumbprint
from app.errors import Unauthenticated


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> LocalIssuer:
    state_dir = tmp_path_factory.mktemp("local-state")
    return LocalIssuer.load_or_create(state_dir, LOCAL_ISSUER, LOCAL_CLIENT_ID)


def verifier_for(issuer: LocalIssuer) -> AccessTokenVerifier:
    return AccessTokenVerifier(LOCAL_ISSUER, [LOCAL_CLIENT_ID], issuer.key_source(), leeway=0)


def test_thumbprint_matches_the_rfc_7638_example() -> None:
    # RFC 7638, section 3.1.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
            "_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR"
            "0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTW"
            "hAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }

    assert rsa_jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_first_start_creates_a_private_key_file_readable_only_by_its_owner(tmp_path: Path) -> None:
    state_dir = tmp_path / "not" / "yet" / "there"

    issuer = LocalIssuer.load_or_create(state_dir, LOCAL_ISSUER, LOCAL_CLIENT_ID)

    key_file = state_dir / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key_file.read_bytes()
    assert [path.name for path in state_dir.iterdir()] == [KEY_FILE_NAME]  # no temp file left
    assert issuer.kid == issuer.jwks()["keys"][0]["kid"]


def test_later_starts_reuse_the_stored_key(tmp_path: Path) -> None:
    first = LocalIssuer.load_or_create(tmp_path, LOCAL_ISSUER, LOCAL_CLIENT_ID)
    stored = (tmp_path / KEY_FILE_NAME).read_bytes()

    second = LocalIssuer.load_or_create(tmp_path, LOCAL_ISSUER, LOCAL_CLIENT_ID)

    assert second.kid == first.kid
    assert (tmp_path / KEY_FILE_NAME).read_bytes() == stored


def test_simultaneous_first_starts_agree_on_one_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_process_key, own_key = new_rsa_key(), new_rsa_key()

    def generate_while_another_process_publishes_first(
        public_exponent: int, key_size: int
    ) -> rsa.RSAPrivateKey:
        other_pem = other_process_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (tmp_path / KEY_FILE_NAME).write_bytes(other_pem)
        return own_key

    monkeypatch.setattr(rsa, "generate_private_key", generate_while_another_process_publishes_first)

    issuer = LocalIssuer.load_or_create(tmp_path, LOCAL_ISSUER, LOCAL_CLIENT_ID)

    other_process = LocalIssuer(other_process_key, LOCAL_ISSUER, LOCAL_CLIENT_ID)
    assert issuer.kid == other_process.kid
    assert [path.name for path in tmp_path.iterdir()] == [KEY_FILE_NAME]


def test_a_corrupt_key_file_is_not_silently_replaced(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_text("not a key")

    with pytest.raises(ValueError, match="does not hold an unencrypted PEM private key"):
        LocalIssuer.load_or_create(tmp_path, LOCAL_ISSUER, LOCAL_CLIENT_ID)

    assert (tmp_path / KEY_FILE_NAME).read_text() == "not a key"


def test_jwks_publishes_the_public_key_under_its_thumbprint(issuer: LocalIssuer) -> None:

    (jwk,) = issuer.jwks()["keys"]

    assert {jwk["kty"], jwk["use"], jwk["alg"]} == {"RSA", "sig", "RS256"}
    assert jwk["kid"] == rsa_jwk_thumbprint(jwk)
    assert "d" not in jwk  # no private members


@pytest.mark.asyncio
async def test_minted_token_passes_the_access_token_verifier(issuer: LocalIssuer) -> None:
    now = time.time()

    token = issuer.mint_access_token(sub="user-1", username="alice", lifetime_seconds=600, now=now)

    assert await verifier_for(issuer).verify(token) == AccessClaims(
        sub="user-1",
        client_id=LOCAL_CLIENT_ID,
        username="alice",
        expires_at=int(now) + 600,
        scope="aws.cognito.signin.user.admin",
    )


@pytest.mark.asyncio
async def test_minted_token_expires_after_its_lifetime(issuer: LocalIssuer) -> None:
    token = issuer.mint_access_token(
        sub="user-1", username="alice", lifetime_seconds=60, now=time.time() - 61
    )

    with pytest.raises(Unauthenticated) as raised:
        await verifier_for(issuer).verify(token)

    assert raised.value.code == "token_expired"


@pytest.mark.asyncio
async def test_token_from_another_local_issuer_key_is_rejected(issuer: LocalIssuer) -> None:
    other_machine = LocalIssuer(new_rsa_key(), LOCAL_ISSUER, LOCAL_CLIENT_ID)
    token = other_machine.mint_access_token(sub="user-1", username="alice", lifetime_seconds=600)

    with pytest.raises(Unauthenticated) as raised:
        await verifier_for(issuer).verify(token)

    assert raised.value.code == "token_unknown_kid"


def test_minted_token_has_the_cognito_access_token_shape(issuer: LocalIssuer) -> None:
    now = 1_700_000_000

    token = issuer.mint_access_token(sub="user-1", username="alice", lifetime_seconds=3600, now=now)

    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": issuer.kid}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims == {
        "sub": "user-1",
        "iss": LOCAL_ISSUER,
        "client_id": LOCAL_CLIENT_ID,
        "origin_jti": claims["origin_jti"],
        "event_id": claims["event_id"],
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
        "jti": claims["jti"],
        "username": "alice",
        "version": 2,
    }
    ids = [claims["jti"], claims["origin_jti"], claims["event_id"]]
    assert all(uuid.UUID(value).version == 4 for value in ids)
    assert len(set(ids)) == 3


def test_every_minted_token_gets_a_fresh_jti(issuer: LocalIssuer) -> None:

    tokens = [
        issuer.mint_access_token(sub="user-1", username="alice", lifetime_seconds=60, now=1.0)
        for _ in range(2)
    ]

    jtis = {jwt.decode(token, options={"verify_signature": False})["jti"] for token in tokens}
    assert len(jtis) == 2
