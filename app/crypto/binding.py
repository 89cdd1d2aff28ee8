"""What an encrypted value is bound to (its associated data); no cryptography imported here,
so code that only stores or copies envelopes (the stream handler's Lambda) does not need it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a value belongs; all of it is associated data of the value's encryption.

    ``pk``/``sk`` are the key of the message item the value was written for: a conversation
    row's copy of a message's text stays bound to that message, not to the row.
    """

    table: str
    pk: str
    sk: str
    message_group_uuid: UUID
    sender_uuid: UUID
    attribute: str

    def associated_data(self, header: bytes) -> bytes:
        fields = (
            self.table,
            self.pk,
            self.sk,
            str(self.message_group_uuid),
            str(self.sender_uuid),
            self.attribute,
        )
        # Length-prefixed, so no two different bindings encode to the same bytes.
        return header + b"".join(
            len(encoded).to_bytes(2, "big") + encoded for encoded in (f.encode() for f in fields)
        )
