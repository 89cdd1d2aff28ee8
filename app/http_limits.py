"""uvicorn's HTTP protocol with the limits it lacks: a request head's size and time, idle opens.

uvicorn (httptools) reads a request line and headers of any size, for as long as the client
takes, and times out only connections idle after a response: a connection that sends nothing,
or one header line every few seconds, stays open, and an 8 MB header is read in full. Here:
- a new connection that sends nothing is closed after the keep-alive timeout, like an idle one;
- a request head must be complete within ``head_timeout_seconds`` of its first byte, and be at
  most ``max_head_bytes`` (431, then the connection is closed, before the head is parsed).
Idle keep-alive connections keep uvicorn's own timeout, so a load balancer's pooled
connections live as long as ``timeout_keep_alive`` says.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 31\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"Request header fields too large"
)


class BoundedHeadProtocol(HttpToolsProtocol):
    max_head_bytes: ClassVar[int]
    head_timeout_seconds: ClassVar[float]

    _reading_head = True  # the next bytes belong to a request line or headers
    _head_bytes = 0
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end + 4
            if self._head_bytes > self.max_head_bytes:
                self._head_done()
                self.transport.write(_HEAD_TOO_LARGE)
                self.transport.close()
                return
            if self._head_deadline is None:
                self._head_deadline = self.loop.call_later(
                    self.head_timeout_seconds, self._head_too_slow
                )
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_done()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True
        self._head_bytes = 0

    def _head_done(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def bounded_head_protocol(
    max_head_bytes: int, head_timeout_seconds: float
) -> type[HttpToolsProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)``, with these limits."""
    return type(
        "BoundedHeadProtocol",
        (BoundedHeadProtocol,),
        {"max_head_bytes": max_head_bytes, "head_timeout_seconds": head_timeout_seconds},
    )
