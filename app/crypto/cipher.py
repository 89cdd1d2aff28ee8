"""Message text in and out of its envelope; the repositories call this at their edge.

``EnvelopeEncryption`` (``app.crypto.kms_cipher``) is the real one; this module imports no
cryptography, so the stream handler's package does without it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.crypto.binding import Binding
from app.domain import SealedText, Text, UnreadableText


class TextCipher(Protocol):
    async def seal(self, binding: Binding, text: str) -> Text:
        """What to store for ``text`` bound to ``binding``."""
        ...

    async def open(self, bindings: Sequence[Binding], stored: Text) -> Text:
        """Plain text, or why it cannot be read; ``bindings``: where it may belong (any)."""
        ...


class NoEncryption:
    """``encryption=off``: text is stored as it is; sealed values cannot be opened here."""

    async def seal(self, binding: Binding, text: str) -> Text:
        return text

    async def open(self, bindings: Sequence[Binding], stored: Text) -> Text:
        if isinstance(stored, SealedText):
            return UnreadableText("encryption_off")
        return stored
