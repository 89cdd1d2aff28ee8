"""Settings: defaults, CRUDDUR_* environment variables, and refusal of unsafe combinations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.settings import Settings

COGNITO = {
    "auth_mode": "cognito",
    "cognito_user_pool_id": "eu-west-2_AbC123",
    "cognito_app_client_ids": ["client-a"],
    "cursor_secret": "s" * 32,
}
COGNITO_VARIABLES = (
    "CRUDDUR_COGNITO_USER_POOL_ID",
    "CRUDDUR_COGNITO_APP_CLIENT_IDS",
    "CRUDDUR_CURSOR_SECRET",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own CRUDDUR_* variables must not change what these tests see."""
    for name in list(os.environ):
        if name.upper().startswith("CRUDDUR_"):
            monkeypatch.delenv(name)


def make(**values: Any) -> Settings:
    return Settings(**values, _env_file=None)


def refusal(**values: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        make(**values)
    return str(raised.value)


def test_defaults_are_local_development_against_the_default_table() -> None:
    settings = make()
    assert settings.table_name == "cruddur-messages"
    assert settings.aws_region == "us-east-1"
    assert settings.auth_mode == "local"
    assert settings.is_local
    assert settings.ddb_endpoint_url is None  # real AWS unless told otherwise
    assert settings.ddb_max_attempts == 3
    assert settings.cognito_app_client_ids == []
    assert settings.cursor_secret is None


def test_environment_variables_with_the_prefix_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRUDDUR_TABLE_NAME", "messages-staging")
    monkeypatch.setenv("CRUDDUR_AWS_REGION", "eu-west-2")
    monkeypatch.setenv("CRUDDUR_DDB_ENDPOINT_URL", "http://localhost:8000")
    monkeypatch.setenv("CRUDDUR_DDB_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("CRUDDUR_LOCAL_STATE_DIR", "state/dev")
    monkeypatch.setenv("TABLE_NAME", "unprefixed-is-ignored")
    settings = make()
    assert settings.table_name == "messages-staging"
    assert settings.aws_region == "eu-west-2"
    assert settings.ddb_endpoint_url == "http://localhost:8000"
    assert settings.ddb_max_attempts == 5
    assert settings.local_state_dir == Path("state/dev")


def test_cognito_mode_from_the_environment_with_comma_separated_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRUDDUR_AUTH_MODE", "cognito")
    monkeypatch.setenv("CRUDDUR_COGNITO_USER_POOL_ID", "eu-west-2_AbC123")
    monkeypatch.setenv("CRUDDUR_COGNITO_APP_CLIENT_IDS", "client-a, client-b,,client-c ")
    monkeypatch.setenv("CRUDDUR_CURSOR_SECRET", "c" * 32)
    settings = make()
    assert not settings.is_local
    assert settings.cognito_app_client_ids == ["client-a", "client-b", "client-c"]
    assert settings.cognito_issuer == "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_AbC123"
    assert settings.jwks_url == f"{settings.cognito_issuer}/.well-known/jwks.json"
    assert settings.cursor_secret is not None
    assert settings.cursor_secret.get_secret_value() == "c" * 32


def test_secrets_never_appear_in_the_settings_repr() -> None:
    settings = make(**COGNITO)
    assert "s" * 32 not in repr(settings)
    assert "s" * 32 not in str(settings.model_dump())


def test_an_env_file_is_read_when_given(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CRUDDUR_TABLE_NAME=from-env-file\n")
    settings = Settings(_env_file=env_file)
    assert settings.table_name == "from-env-file"


def test_settings_are_frozen() -> None:
    settings = make()
    with pytest.raises(ValidationError):
        settings.table_name = "something-else"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"table_name": "ab"}, "table_name"),
        ({"table_name": "has spaces"}, "table_name"),
        ({"table_name": "x" * 256}, "table_name"),
        ({"ddb_max_attempts": 0}, "ddb_max_attempts"),
        ({"ddb_max_attempts": 11}, "ddb_max_attempts"),
        ({"ddb_connect_timeout": 0}, "ddb_connect_timeout"),
        ({"aws_region": ""}, "aws_region"),
        ({"rate_limit_reads": "often"}, "rate_limit_reads"),
        ({"rate_limit_sends": "10/second;100/minute"}, "rate_limit_sends"),
        ({"auth_mode": "production"}, "auth_mode"),
        ({"cognito_user_pool_id": "no-underscore"}, "cognito_user_pool_id"),
        ({"ddb_endpoint_url": "ftp://127.0.0.1:8000"}, "ddb_endpoint_url must be an http(s) URL"),
        ({"ddb_endpoint_url": "127.0.0.1:8000"}, "ddb_endpoint_url must be an http(s) URL"),
        (
            {**COGNITO, "ddb_endpoint_url": "http://dynamodb.us-east-1.amazonaws.com"},
            "plain-http ddb_endpoint_url is only allowed on loopback",
        ),
        (
            {**COGNITO, "ddb_endpoint_url": "http://10.0.0.5:8000"},
            "plain-http ddb_endpoint_url is only allowed on loopback",
        ),
        (
            {**COGNITO, "ddb_endpoint_url": "http://localhost.evil.example:8000"},
            "plain-http ddb_endpoint_url is only allowed on loopback",
        ),
        (
            {**COGNITO, "cognito_jwks_url": "http://keys.example/jwks.json"},
            "plain-http cognito_jwks_url is only allowed on loopback",
        ),
    ],
)
def test_invalid_values_are_refused_naming_the_setting(values: dict[str, Any], named: str) -> None:
    assert named in refusal(**values)


def test_an_invalid_environment_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRUDDUR_DDB_MAX_ATTEMPTS", "three")
    assert "ddb_max_attempts" in refusal()


def test_cognito_mode_without_anything_names_every_missing_variable() -> None:
    message = refusal(auth_mode="cognito")
    for variable in COGNITO_VARIABLES:
        assert variable in message


@pytest.mark.parametrize(
    "missing", ["cognito_user_pool_id", "cognito_app_client_ids", "cursor_secret"]
)
def test_cognito_mode_names_exactly_the_missing_variable(missing: str) -> None:
    values = {name: value for name, value in COGNITO.items() if name != missing}
    message = refusal(**values)
    for variable in COGNITO_VARIABLES:
        assert (variable in message) == (variable == f"CRUDDUR_{missing.upper()}")


def test_an_empty_client_list_from_the_environment_counts_as_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRUDDUR_COGNITO_APP_CLIENT_IDS", " , ")
    values = {name: value for name, value in COGNITO.items() if name != "cognito_app_client_ids"}
    assert "CRUDDUR_COGNITO_APP_CLIENT_IDS" in refusal(**values)


@pytest.mark.parametrize(
    "url",
    [
        "https://dynamodb.us-east-1.amazonaws.com",
        "https://vpce-123.dynamodb.eu-west-2.vpce.amazonaws.com",
        "http://127.0.0.1:8000",
        "http://localhost:4566",
        "http://[::1]:8000",
    ],
)
def test_https_and_loopback_http_endpoints_are_accepted(url: str) -> None:
    assert make(ddb_endpoint_url=url).ddb_endpoint_url == url


def test_local_mode_allows_plain_http_to_a_named_development_server() -> None:
    # DynamoDB Local under docker compose is reached by its service name, not loopback.
    url = "http://dynamodb-local:8000"
    assert make(ddb_endpoint_url=url).ddb_endpoint_url == url
    assert "only allowed on loopback" in refusal(**COGNITO, ddb_endpoint_url=url)


def test_the_jwks_url_can_point_at_a_loopback_or_https_mirror() -> None:
    local = make(**COGNITO, cognito_jwks_url="http://127.0.0.1:9000/jwks.json")
    assert local.jwks_url == "http://127.0.0.1:9000/jwks.json"
    mirror = make(**COGNITO, cognito_jwks_url="https://keys.internal.example/jwks.json")
    assert mirror.jwks_url == "https://keys.internal.example/jwks.json"


def test_cognito_region_overrides_the_pool_prefix() -> None:
    settings = make(**COGNITO, cognito_region="us-west-2")
    assert settings.cognito_issuer.startswith("https://cognito-idp.us-west-2.amazonaws.com/")


@pytest.mark.parametrize("module", ["app.serve", "scripts.run_local", "app.streams.worker"])
def test_entry_points_refuse_bad_configuration_with_a_clear_message(module: str) -> None:
    result = subprocess.run(  # noqa: S603 - our own modules
        [sys.executable, "-m", module],
        env={"PATH": "/usr/bin:/bin", "CRUDDUR_TABLE_NAME": "x", "CRUDDUR_DDB_MAX_ATTEMPTS": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr
    assert "CRUDDUR_TABLE_NAME" in result.stderr
    assert "CRUDDUR_DDB_MAX_ATTEMPTS" in result.stderr
    assert "Traceback" not in result.stderr
