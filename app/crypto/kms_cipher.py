"""``encryption=kms``: message text sealed under the conversation's data key of the epoch."""

from __future__ import annotations

from collections.abc import Sequence

from app.crypto.binding import Binding
from app.crypto.data_keys import DataKeys
from app.crypto.envelope import EnvelopeError, epoch_of, open_envelope, seal
from app.domain import SealedText, Text, UnreadableText


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
