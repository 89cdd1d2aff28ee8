"""Opaque, tamper-proof pagination cursors bound to one caller and one listing.

A cursor is ``base64url(payload).base64url(hmac)``; the payload names the listing (``scope``),
the caller and the conversation, so a cursor replayed elsewhere is refused, and it never
exposes DynamoDB's ``LastEvaluatedKey`` unsigned.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, TypeVar

from app.domain import Page
from app.errors import InvalidInput

T = TypeVar("T")

_SIGNATURE_BYTES = 16


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def encode(self, *, scope: str, caller: str, listing: str, position: Any) -> str:
        payload = json.dumps(
            {"s": scope, "u": caller, "l": listing, "p": position}, separators=(",", ":")
        ).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._sign(payload))}"

    def decode(self, cursor: str, *, scope: str, caller: str, listing: str) -> Any:
        """The position inside ``cursor``; ``InvalidInput`` if forged, altered or foreign."""
        invalid = InvalidInput("The cursor is not valid here.", code="cursor_invalid")
        try:
            encoded_payload, encoded_signature = cursor.split(".")
            payload = _b64decode(encoded_payload)
            signature = _b64decode(encoded_signature)
        except ValueError:
            raise invalid from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise invalid
        try:
            body = json.loads(payload)
        except ValueError:
            raise invalid from None
        if (body.get("s"), body.get("u"), body.get("l")) != (scope, caller, listing):
            raise invalid
        return body.get("p")

    def position(self, cursor: str | None, *, scope: str, caller: str, listing: str) -> Any:
        """The position inside ``cursor`` (``decode``), or None for the first page."""
        if cursor is None:
            return None
        return self.decode(cursor, scope=scope, caller=caller, listing=listing)

    def with_next(
        self, page: Page[T, Any], *, scope: str, caller: str, listing: str
    ) -> Page[T, str]:
        """``page`` with its ``next`` position signed into a cursor (for next-only listings)."""
        if page.next is None:
            return Page(page.items)
        encoded = self.encode(scope=scope, caller=caller, listing=listing, position=page.next)
        return Page(page.items, next=encoded)
