"""All configuration, read once from the environment (``CRUDDUR_*``) and an optional ``.env``."""

from __future__ import annotations

import ipaddress
import sys
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOOPBACK_NAMES = {"localhost"}

ErrorFormat = Literal["problem", "spa"]


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_unsafe_url(name: str, url: str | None, *, development: bool = False) -> None:
    """Only http(s), and plain http only on loopback: keys and data must not travel in clear.

    In development (local auth) a plain-http server elsewhere is allowed: DynamoDB Local in
    docker compose is reached by its service name.
    """
    if url is None:
        return
    scheme = urlsplit(url).scheme
    if scheme not in {"http", "https"}:
        raise ValueError(f"{name} must be an http(s) URL")
    if scheme == "http" and not development and not is_loopback_url(url):
        raise ValueError(f"plain-http {name} is only allowed on loopback")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CRUDDUR_", env_file=".env", extra="ignore", frozen=True
    )

    # DynamoDB
    ddb_endpoint_url: str | None = Field(
        default=None, description="DynamoDB endpoint; unset means real AWS for the region."
    )
    aws_region: str = Field(default="us-east-1", min_length=1)
    table_name: str = Field(default="cruddur-messages", pattern=r"^[A-Za-z0-9_.-]{3,255}$")
    ddb_max_attempts: int = Field(default=3, ge=1, le=10, description="Total attempts per call.")
    ddb_connect_timeout: float = Field(default=1.0, gt=0, le=30)
    ddb_read_timeout: float = Field(default=2.0, gt=0, le=60)
    ddb_max_pool_connections: int = Field(default=64, ge=1, le=1024)

    # Authentication
    auth_mode: Literal["local", "cognito"] = "local"
    cognito_region: str | None = None
    cognito_user_pool_id: str | None = Field(default=None, pattern=r"^[\w-]+_[0-9A-Za-z]+$")
    cognito_app_client_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cognito_jwks_url: str | None = Field(
        default=None,
        description="Where to fetch the pool's signing keys, for tests and private mirrors; "
        "unset means the pool's own <issuer>/.well-known/jwks.json.",
    )
    jwks_refresh_interval_seconds: float = Field(default=30.0, ge=1)
    jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    local_state_dir: Path = Field(
        default=Path(".local"), description="Local issuer key and stream checkpoints."
    )
    local_token_lifetime_seconds: int = Field(default=3600, ge=60, le=86400)
    identity_cache_ttl_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="How long a process remembers which user a token's sub is; a deleted user "
        "is refused at most this long after the deletion (0: look it up on every request).",
    )
    cursor_secret: SecretStr | None = Field(
        default=None, description="HMAC key for pagination cursors; required with cognito auth."
    )

    # Encryption of message text (README "Encryption")
    encryption: Literal["off", "kms"] = Field(
        default="off",
        description="kms: message text and previews are stored as AES-256-GCM envelopes under "
        "per-conversation data keys from KMS; off: stored as sent. `make run` uses kms.",
    )
    kms_key_id: str = Field(
        default="alias/cruddur-messages", min_length=1, description="KMS key id, ARN or alias."
    )
    kms_endpoint_url: str | None = Field(
        default=None,
        description="KMS endpoint; unset means the DynamoDB endpoint when that is set (the "
        "embedded server serves KMS too), else real AWS.",
    )
    data_key_epoch_seconds: int = Field(
        default=30 * 86400, ge=60, description="A new data key per conversation this often."
    )
    data_key_cache_seconds: float = Field(default=300.0, gt=0, le=86400)
    data_key_cache_uses: int = Field(default=100_000, ge=1)
    data_key_cache_size: int = Field(default=10_000, ge=1)
    # The browser client (app/web): Cognito Hosted UI sign-in, and local mode's sign-in list
    cognito_hosted_ui_domain: str | None = Field(
        default=None,
        description="The Hosted UI's https origin, e.g. https://cruddur.auth.us-east-1.amazoncognito.com.",
    )
    cognito_web_client_id: str | None = Field(
        default=None, description="The app client the web client signs in with (public, no secret)."
    )
    cognito_web_redirect_uri: str | None = Field(
        default=None,
        description="Where the Hosted UI returns, e.g. https://example.com/auth/callback.",
    )
    local_sign_in_handles: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Handles the local sign-in page offers (comma-separated)."
    )

    # Behaviour
    idempotency_ttl_seconds: int = Field(default=86400, ge=60)
    message_edit_window_seconds: int = Field(
        default=900, ge=0, description="How long after sending its sender may edit a message."
    )

    # Limits and HTTP
    max_body_bytes: int = Field(
        default=16384, ge=1024, le=1048576, description="Larger request bodies are refused (413)."
    )
    rate_limit_enabled: bool = True
    rate_limit_sends: str = Field(
        default="60/minute", description="Per user and process, in the `limits` notation."
    )
    rate_limit_reads: str = Field(default="600/minute")
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://127.0.0.1:3000"],
        description="Origins the browser may call from (comma-separated).",
    )
    http_max_head_bytes: int = Field(
        default=16384,
        ge=1024,
        le=1048576,
        description="A request line and headers larger than this get 431 and a closed connection.",
    )
    http_head_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A request's line and headers must arrive within this time of its first "
        "byte, or the connection is closed.",
    )
    http_keep_alive_seconds: int = Field(
        default=5,
        ge=1,
        le=4000,
        description="An idle connection (new, or between requests) is closed after this long. "
        "Behind a load balancer, set it above the balancer's idle timeout.",
    )
    http_max_concurrency: int = Field(
        default=1000,
        ge=1,
        le=100000,
        description="Open connections (or requests in flight) beyond which requests get 503.",
    )
    hsts_max_age_seconds: int = Field(
        default=0,
        ge=0,
        le=63072000,
        description="Send Strict-Transport-Security with this max-age (0: not sent). Only for "
        "deployments whose clients reach the service over HTTPS (TLS ended in front).",
    )
    docs_enabled: bool = Field(
        default=True,
        description="Serve the OpenAPI explorer (/docs, its assets) and /openapi.json.",
    )
    error_format: ErrorFormat = Field(
        default="problem",
        description="Error bodies: RFC 9457 problem details, or (spa) the JSON array of codes "
        "the Cruddur SPA renders; a request accepting application/problem+json always gets "
        "problem details.",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="auto: readable text on a terminal in local mode, JSON lines otherwise "
        "(always with cognito auth, i.e. in production).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs, sent to the "
        "providers the deployment configures. Off, no request pays for looking them up.",
    )
    shutdown_drain_seconds: float = Field(
        default=5.0,
        ge=0,
        le=120,
        description="After SIGTERM, answer /readyz 503 this long before closing the listener.",
    )

    # Stream consumer (pattern E)
    stream_worker_enabled: bool = Field(
        default=True,
        description="Run the local stream worker beside the API; turn off where the real "
        "Lambda consumes the stream.",
    )
    sender_read_your_writes: bool = Field(
        default=True,
        description="A send moves the sender's own conversation row before answering, so "
        "their next list shows it (about 2 WCU a message amortised; see the README).",
    )
    stream_poll_interval_seconds: float = Field(
        default=0.2,
        gt=0,
        le=10,
        description="How long the local stream worker idles between polls.",
    )

    # Real-time events (GET /api/events)
    events_redis_url: str | None = Field(
        default=None,
        description="Redis/Valkey pub/sub between processes (redis:// or rediss://); unset "
        "means in-process delivery, for one process that also runs the stream worker.",
    )
    events_queue_size: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="Events buffered per open stream; a client that lets more pile up is "
        "disconnected and resumes with Last-Event-ID.",
    )
    events_heartbeat_seconds: float = Field(
        default=15.0, gt=0, le=300, description="A comment line this often on an idle stream."
    )
    events_send_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="A stream whose socket takes longer is closed."
    )
    events_ticket_ttl_seconds: int = Field(
        default=30, ge=1, le=600, description="How long a stream ticket may wait to be used."
    )
    events_max_streams_per_user: int = Field(
        default=8, ge=1, le=100_000, description="Open streams per user and process; more is 429."
    )
    events_retry_ms: int = Field(
        default=3000, ge=0, le=600_000, description="The `retry:` a stream tells clients."
    )
    events_replay_horizon_seconds: int = Field(
        default=86400,
        ge=60,
        description="A Last-Event-ID older than this gets `reset` instead of a replay.",
    )
    events_replay_overlap_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="A replay starts this long before Last-Event-ID: events are published "
        "after the stream handler ran, not in message-time order.",
    )
    events_replay_max_conversations: int = Field(
        default=20, ge=1, le=50, description="More changed conversations than this: `reset`."
    )
    events_replay_max_messages: int = Field(
        default=50, ge=1, le=50, description="More new messages in one conversation: `reset`."
    )

    @model_validator(mode="before")
    @classmethod
    def _split_comma_separated(cls, data: object) -> object:
        if isinstance(data, dict):
            for name in ("cognito_app_client_ids", "cors_allowed_origins", "local_sign_in_handles"):
                value = data.get(name)
                if isinstance(value, str):
                    data = {**data, name: [i.strip() for i in value.split(",") if i.strip()]}
        return data

    @field_validator("rate_limit_sends", "rate_limit_reads")
    @classmethod
    def _rate_limit_notation(cls, value: str) -> str:
        try:
            limits = parse_many(value)
        except ValueError:
            limits = []
        if len(limits) != 1:
            raise ValueError(f"not one rate limit: {value!r} (e.g. '60/minute')")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_combinations(self) -> Settings:
        _refuse_unsafe_url("ddb_endpoint_url", self.ddb_endpoint_url, development=self.is_local)
        _refuse_unsafe_url("cognito_jwks_url", self.cognito_jwks_url)
        _refuse_unsafe_url("kms_endpoint_url", self.kms_endpoint_url, development=self.is_local)
        if self.events_redis_url is not None and urlsplit(self.events_redis_url).scheme not in {
            "redis",
            "rediss",
        }:
            raise ValueError("events_redis_url must be a redis:// or rediss:// URL")
        self._refuse_incomplete_hosted_ui()
        if self.auth_mode == "cognito":
            missing = [
                name
                for name, value in (
                    ("CRUDDUR_COGNITO_USER_POOL_ID", self.cognito_user_pool_id),
                    ("CRUDDUR_COGNITO_APP_CLIENT_IDS", self.cognito_app_client_ids),
                    ("CRUDDUR_CURSOR_SECRET", self.cursor_secret),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"auth_mode=cognito requires {', '.join(missing)}")
        return self

    def _refuse_incomplete_hosted_ui(self) -> None:
        hosted_ui = {
            "CRUDDUR_COGNITO_HOSTED_UI_DOMAIN": self.cognito_hosted_ui_domain,
            "CRUDDUR_COGNITO_WEB_CLIENT_ID": self.cognito_web_client_id,
            "CRUDDUR_COGNITO_WEB_REDIRECT_URI": self.cognito_web_redirect_uri,
        }
        given = [name for name, value in hosted_ui.items() if value]
        if not given:
            return
        if len(given) < len(hosted_ui):
            missing = ", ".join(name for name in hosted_ui if name not in given)
            raise ValueError(f"the web client's Hosted UI sign-in also needs {missing}")
        if urlsplit(self.cognito_hosted_ui_domain or "").scheme != "https":
            raise ValueError("CRUDDUR_COGNITO_HOSTED_UI_DOMAIN must be an https:// origin")
        _refuse_unsafe_url("cognito_web_redirect_uri", self.cognito_web_redirect_uri)
        if self.cognito_web_client_id not in self.cognito_app_client_ids:
            raise ValueError(
                "CRUDDUR_COGNITO_WEB_CLIENT_ID must be one of CRUDDUR_COGNITO_APP_CLIENT_IDS"
            )

    @property
    def hosted_ui_enabled(self) -> bool:
        return self.auth_mode == "cognito" and self.cognito_hosted_ui_domain is not None

    @cached_property
    def cognito_issuer(self) -> str:
        pool = self.cognito_user_pool_id or ""
        region = self.cognito_region or pool.split("_", 1)[0] or self.aws_region
        return f"https://cognito-idp.{region}.amazonaws.com/{pool}"

    @property
    def jwks_url(self) -> str:
        return self.cognito_jwks_url or f"{self.cognito_issuer}/.well-known/jwks.json"

    @property
    def kms_endpoint(self) -> str | None:
        return self.kms_endpoint_url or self.ddb_endpoint_url

    @property
    def is_local(self) -> bool:
        return self.auth_mode == "local"


def settings_or_exit(program: str, **overrides: Any) -> Settings:
    """The settings for a command-line entry point (``overrides`` from its flags); a clear
    message and exit 2 if invalid."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "\n".join(
            f"  CRUDDUR_{'_'.join(map(str, problem['loc'])).upper() or 'SETTINGS'}: "
            f"{problem['msg']}"
            for problem in error.errors()
        )
        print(
            f"{program}: invalid configuration (environment or .env):\n{problems}", file=sys.stderr
        )
        raise SystemExit(2) from None
