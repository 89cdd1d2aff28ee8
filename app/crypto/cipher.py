"""Message text in and out of its envelope; the repositories call this at their edge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.crypto.data_keys import DataKeys
from app.crypto.envelope import Binding, EnvelopeError, epoch_of, open_envelope, seal
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


class EnvelopeEncryption:
    """``encryption=kms``: AES-256-GCM under the conversation's data key of the epoch."""

    def __init__(self, data_keys: DataKeys) -> None:
        self.data_keys = data_keys

    async def seal(self, binding: Binding, text: str) -> Text:
        epoch, key = await self.data_keys.for_writing(binding.message_group_uuid)
        return SealedText(seal(key, epoch, binding, text))

    async def open(self, bindings: Sequence[Binding], stored: Text) -> Text:
        if not isinstance(stored, SealedText):
            return stored  # written before encryption was turned on, or already unreadable
        try:
            epoch = epoch_of(stored.envelope)
            key = await self.data_keys.for_reading(bindings[0].message_group_uuid, epoch)
        except EnvelopeError as error:
            return UnreadableText(error.code)
        failure = "message_undecryptable"
        for binding in bindings:
            try:
                return open_envelope(key, binding, stored.envelope)
            except EnvelopeError as error:
                failure = error.code
        return UnreadableText(failure)
