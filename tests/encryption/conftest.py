"""KMS failing on demand: a ``before-send`` hook on the app's KMS client answers for KMS.

As for DynamoDB (tests/faults), botocore treats the hook's answer as the service's, so the
client's real standard-mode retries run before the error surfaces.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from aiobotocore.awsrequest import AioAWSResponse
from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders
from botocore.exceptions import EndpointConnectionError

from app.crypto.data_keys import DataKeys
from tests.conftest import RunningApp

FAST_MAX_BACKOFF_SECONDS = 0.02
THROTTLED = "ThrottlingException"
UNREACHABLE = "EndpointConnectionError"


class _Body:
    def __init__(self, content: bytes) -> None:
        self._content = content

    async def read(self) -> bytes:
        return self._content


@dataclass
class KmsFaults:
    """Every KMS request fails with ``kind`` while ``kind`` is set; attempts are counted."""

    data_keys: DataKeys
    kind: str | None = None
    attempts: Counter[str] = field(default_factory=Counter)

    def fail(self, kind: str | None) -> None:
        """From now on (None: heal); the key cache is emptied, so the next use asks KMS, and
        attempts are counted afresh."""
        self.kind = kind
        self.attempts.clear()
        forget_cached_keys(self.data_keys)

    async def before_send(self, request: AWSPreparedRequest, **_: Any) -> AioAWSResponse | None:
        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else str(target)).rpartition(".")[
            2
        ]
        self.attempts[operation] += 1
        if self.kind is None:
            return None
        if self.kind == UNREACHABLE:
            raise EndpointConnectionError(endpoint_url=request.url)
        content = json.dumps({"__type": self.kind, "message": "injected fault"}).encode()
        headers = HTTPHeaders()
        headers["content-type"] = "application/x-amz-json-1.1"
        headers["content-length"] = str(len(content))
        return AioAWSResponse(request.url, 400, headers, _Body(content))


def forget_cached_keys(data_keys: DataKeys) -> None:
    """As in a process that has not used them yet: the next use of each key asks KMS (the app
    itself drops a key only when its time or uses run out)."""
    data_keys._cache.clear()


def app_data_keys(running_app: RunningApp) -> DataKeys:
    data_keys = running_app.state.data_keys
    assert data_keys is not None, "the suite runs with encryption=kms"
    return data_keys


@pytest_asyncio.fixture
async def kms_faults(running_app: RunningApp) -> AsyncIterator[KmsFaults]:
    data_keys = app_data_keys(running_app)
    faults = KmsFaults(data_keys)
    events: Any = data_keys.kms.meta.events  # botocore's stubs know only sync hooks
    retry = next(
        handler.__self__
        for handler in events._emitter._handlers.prefix_search("needs-retry.kms.Decrypt")
        if hasattr(getattr(handler, "__self__", None), "_retry_quota")
    )
    backoff = retry._retry_policy._retry_backoff
    max_backoff = backoff._max_backoff
    backoff._max_backoff = FAST_MAX_BACKOFF_SECONDS
    events.register("before-send.kms", faults.before_send)
    try:
        yield faults
    finally:
        events.unregister("before-send.kms", faults.before_send)
        backoff._max_backoff = max_backoff
        quota = retry._retry_quota._quota
        quota.release(quota._max_capacity)
