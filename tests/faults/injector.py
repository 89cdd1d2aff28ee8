"""Fault injection for aioboto3 DynamoDB clients, through botocore's event hooks.

A ``before-send`` hook may answer a request itself: botocore then treats that answer as
DynamoDB's, and its retry handler (standard mode, ``total_max_attempts``) decides whether to
send again exactly as it would for a real error; an exception raised by the hook is handled as
one raised by the HTTP session. So the real retry logic runs, offline and deterministically.

``FaultInjector.fail`` adds a rule: which operation(s), which kind of fault, for how many
matching attempts (then requests pass through), only for requests whose body matches a
predicate, and with what probability (seeded). ``after_send`` rules let DynamoDB apply the
request and then lose its answer: "stored, but the client never heard back".
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx
from aiobotocore.awsrequest import AioAWSResponse
from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

Predicate = Callable[[Mapping[str, Any]], bool]

ERROR_TYPE_PREFIX = "com.amazonaws.dynamodb.v20120810#"


class FaultKind(Enum):
    """What the client gets instead of DynamoDB's answer."""

    THROTTLED = "ProvisionedThroughputExceededException"
    THROTTLING = "ThrottlingException"
    INTERNAL_ERROR = "InternalServerError"
    TRANSACTION_THROTTLED = "TransactionCanceledException"
    """TransactWriteItems only: cancelled, one item's reason ``ThrottlingError``."""
    CONNECTION_ERROR = "EndpointConnectionError"
    READ_TIMEOUT = "ReadTimeoutError"
    EXPIRED_ITERATOR = "ExpiredIteratorException"
    """DynamoDB Streams' GetRecords: the shard iterator is older than 15 minutes."""


@dataclass(frozen=True, slots=True)
class Injection:
    operation: str
    kind: FaultKind
    after_send: bool


def body_contains(text: str) -> Predicate:
    """Matches requests whose JSON body mentions ``text`` anywhere (a key, a value...)."""
    return lambda body: text in json.dumps(body)


@dataclass(eq=False)
class Fault:
    """One rule. ``matched`` counts the attempts it applied to, injected or passed through."""

    kinds: tuple[FaultKind, ...]
    operations: frozenset[str] | None
    times: int | None
    when: Predicate | None
    after_send: bool
    rate: float
    matched: int = 0
    injected: int = 0

    def applies_to(self, operation: str, body: Callable[[], Mapping[str, Any]]) -> bool:
        if self.operations is not None and operation not in self.operations:
            return False
        return self.when is None or self.when(body())

    def fires(self, rng: random.Random) -> bool:
        if self.times is not None and self.injected >= self.times:
            return False
        return self.rate >= 1 or rng.random() < self.rate

    def stop(self) -> None:
        """Let every further request through (a persistent fault healing)."""
        self.times = self.injected


@dataclass
class _Call:
    """Injections into one API call (all its attempts); set per task by ``before-call``."""

    injected: int = 0


_current_call: ContextVar[_Call | None] = ContextVar("fault_current_call", default=None)
_current_scope: ContextVar[list[Injection] | None] = ContextVar("fault_scope", default=None)


class _StaticBody:
    """The ``raw`` of an ``AioAWSResponse``: all botocore needs is ``await raw.read()``."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    async def read(self) -> bytes:
        return self._content


def operation_of(request: AWSPreparedRequest) -> str:
    target = request.headers.get("X-Amz-Target", "")
    if isinstance(target, bytes):
        target = target.decode()
    return str(target).rpartition(".")[2]


def _body_bytes(request: AWSPreparedRequest) -> bytes:
    """DynamoDB's JSON bodies are never streamed: botocore holds them as bytes (or str)."""
    body = request.body
    if isinstance(body, str):
        return body.encode()
    return bytes(body) if isinstance(body, bytes | bytearray) else b""


def _decoded_body(request: AWSPreparedRequest) -> dict[str, Any]:
    loaded = json.loads(_body_bytes(request) or b"{}")
    return loaded if isinstance(loaded, dict) else {}


def _error_body(kind: FaultKind, request: AWSPreparedRequest) -> dict[str, Any]:
    error: dict[str, Any] = {"__type": ERROR_TYPE_PREFIX + kind.value, "message": "injected fault"}
    if kind is FaultKind.TRANSACTION_THROTTLED:
        # As DynamoDB reports it: one reason per item, here the last item throttled.
        items = _decoded_body(request).get("TransactItems", [])
        reasons: list[dict[str, str]] = [{"Code": "None"} for _ in items]
        if reasons:
            reasons[-1] = {"Code": "ThrottlingError", "Message": "Throughput exceeds capacity"}
        error["CancellationReasons"] = reasons
    return error


def fake_answer(kind: FaultKind, request: AWSPreparedRequest) -> AioAWSResponse:
    """The response (or the exception) DynamoDB's side of the wire would give for ``kind``."""
    if kind is FaultKind.CONNECTION_ERROR:
        raise EndpointConnectionError(endpoint_url=request.url)
    if kind is FaultKind.READ_TIMEOUT:
        raise ReadTimeoutError(endpoint_url=request.url)
    content = json.dumps(_error_body(kind, request)).encode()
    headers = HTTPHeaders()
    headers["x-amzn-requestid"] = "injected-fault"
    headers["content-type"] = "application/x-amz-json-1.0"
    headers["content-length"] = str(len(content))
    status = 500 if kind is FaultKind.INTERNAL_ERROR else 400
    return AioAWSResponse(request.url, status, headers, _StaticBody(content))


@dataclass
class _Attached:
    client: Any
    handler: Any
    max_backoff: float


def standard_retry_handler(client: Any) -> Any:
    """The client's standard-mode retry handler: botocore keeps it only as a hook."""
    # Private botocore structures, read-only except for the two fields tests reset.
    handlers = client.meta.events._emitter._handlers.prefix_search("needs-retry.dynamodb.GetItem")
    for handler in handlers:
        owner = getattr(handler, "__self__", None)
        if owner is not None and hasattr(owner, "_retry_quota"):
            return owner
    raise LookupError("the client has no standard-mode retry handler")


@dataclass
class FaultInjector:
    """Makes DynamoDB clients fail on demand; ``close()`` unhooks it from every client."""

    seed: int = 0
    rules: list[Fault] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    """Every attempt seen, per operation, faulted or not."""
    injections: list[Injection] = field(default_factory=list)
    absorbed: int = 0
    """Injected faults whose API call still succeeded (the SDK's retries absorbed them)."""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._attached: list[_Attached] = []
        self._http: httpx.AsyncClient | None = None

    # Rules

    def fail(
        self,
        operation: str | Collection[str] | None,
        kind: FaultKind | Sequence[FaultKind] = FaultKind.THROTTLED,
        *,
        times: int | None = None,
        when: Predicate | None = None,
        after_send: bool = False,
        rate: float = 1.0,
    ) -> Fault:
        """Fail matching attempts of ``operation`` (None: any) ``times`` times (None: always).

        With several ``kind``s, each injection picks one at random (seeded).
        """
        operations = None
        if operation is not None:
            operations = frozenset({operation} if isinstance(operation, str) else operation)
        kinds = (kind,) if isinstance(kind, FaultKind) else tuple(kind)
        fault = Fault(kinds, operations, times, when, after_send, rate)
        self.rules.append(fault)
        return fault

    def heal(self) -> None:
        """Stop injecting; counts are kept."""
        for rule in self.rules:
            rule.stop()

    @property
    def injected(self) -> int:
        return len(self.injections)

    def by_kind(self) -> Counter[str]:
        """Injections per kind; a lost answer (``after_send``) counts as ``<KIND> after send``."""
        return Counter(
            f"{i.kind.name} after send" if i.after_send else i.kind.name for i in self.injections
        )

    @contextmanager
    def scope(self) -> Iterator[list[Injection]]:
        """Collects the injections made in this task (and tasks it starts) during the block."""
        collected: list[Injection] = []
        token = _current_scope.set(collected)
        try:
            yield collected
        finally:
            _current_scope.reset(token)

    # Hooks

    def attach(self, client: Any, *, max_backoff: float | None = None) -> None:
        """Hook ``client``; refill its retry quota, and cap its retry backoff if asked.

        A full quota makes each test independent of the faults earlier tests injected into
        the same (session-wide) client; the cap only shortens sleeps, never the attempts.
        """
        handler = standard_retry_handler(client)
        backoff = handler._retry_policy._retry_backoff
        attached = _Attached(client, handler, backoff._max_backoff)
        self._refill_quota(handler)
        if max_backoff is not None:
            backoff._max_backoff = max_backoff
        events = client.meta.events
        events.register("before-call.dynamodb", self._before_call)
        events.register("before-send.dynamodb", self._before_send)
        events.register("after-call.dynamodb", self._after_call)
        self._attached.append(attached)

    async def close(self) -> None:
        for attached in self._attached:
            events = attached.client.meta.events
            events.unregister("before-call.dynamodb", self._before_call)
            events.unregister("before-send.dynamodb", self._before_send)
            events.unregister("after-call.dynamodb", self._after_call)
            attached.handler._retry_policy._retry_backoff._max_backoff = attached.max_backoff
            self._refill_quota(attached.handler)
        self._attached.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @staticmethod
    def _refill_quota(handler: Any) -> None:
        quota = handler._retry_quota._quota
        quota.release(quota._max_capacity)

    def _before_call(self, **_: Any) -> None:
        _current_call.set(_Call())

    def _after_call(self, http_response: Any, **_: Any) -> None:
        call = _current_call.get()
        if call is not None and call.injected and http_response.status_code < 300:
            self.absorbed += call.injected
            call.injected = 0

    async def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AioAWSResponse | None:
        operation = operation_of(request)
        self.attempts[operation] += 1
        decoded: list[dict[str, Any]] = []

        def body() -> dict[str, Any]:
            if not decoded:
                decoded.append(_decoded_body(request))
            return decoded[0]

        chosen: Fault | None = None
        for rule in self.rules:
            if rule.applies_to(operation, body):
                rule.matched += 1
                if chosen is None and rule.fires(self._rng):
                    rule.injected += 1
                    chosen = rule
        if chosen is None:
            return None
        kind = self._rng.choice(chosen.kinds)
        self._record(Injection(operation, kind, chosen.after_send))
        if chosen.after_send:
            await self._deliver(request)
        return fake_answer(kind, request)

    def _record(self, injection: Injection) -> None:
        self.injections.append(injection)
        call = _current_call.get()
        if call is not None:
            call.injected += 1
        scope = _current_scope.get()
        if scope is not None:
            scope.append(injection)

    async def _deliver(self, request: AWSPreparedRequest) -> None:
        """Send the (already signed) request for real, and read the whole answer."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10)
        headers = dict(request.headers.items())
        response = await self._http.request(
            request.method, request.url, headers=headers, content=_body_bytes(request)
        )
        await response.aread()
