"""Structured JSON logs with the request id of the request being served.

One event per line; never tokens or message text (handlers log codes and counts, not bodies).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from app.settings import Settings

SDK_LOGGERS = ("botocore", "aiobotocore", "boto3", "aioboto3", "urllib3")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request id (None outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


_RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}
_UNREADABLE_EXTRAS = {"color_message"}  # uvicorn's copy of the message with ANSI colours


class TextFormatter(logging.Formatter):
    """One readable line: time, level, logger, message, then the record's extras as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {
            key: value
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and key not in _UNREADABLE_EXTRAS
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            extras["request_id"] = request_id
        return " ".join([line, *(f"{key}={value}" for key, value in extras.items())])


def text_logs(settings: Settings) -> bool:
    """Readable text only for a person at a terminal in development; JSON lines otherwise."""
    if settings.log_format != "auto":
        return settings.log_format == "text"
    return settings.is_local and sys.stderr.isatty()


def configure_logging(settings: Settings) -> None:
    """Process-wide logging; called by the entry points, never by ``create_app``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if text_logs(settings):
        handler.setFormatter(TextFormatter())
    else:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # uvicorn's own handlers would print a second, unstructured copy of each line.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs each request
    # The AWS SDK logs whole requests (message text included) at DEBUG: never let it.
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # httpx logs every request it makes (JWKS fetches, readiness probes) at INFO: noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
