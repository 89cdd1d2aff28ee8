"""The stored form of an encrypted value: a versioned AES-256-GCM envelope.

Layout (version 1): ``version (1 byte) | epoch (4 bytes, big-endian) | nonce (12 bytes) |
ciphertext and 16-byte tag``. The header is authenticated with the associated data, which
binds the value to where it belongs (``Binding``): moved to another item, attribute,
conversation or sender, or with any byte changed, it no longer decrypts.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.crypto.binding import Binding

VERSION = 1
NONCE_BYTES = 12
"""96 bits, fresh from the OS for every value: GCM's nonce, never reused under one key."""
TAG_BYTES = 16
_HEADER = struct.Struct(">BI")
OVERHEAD_BYTES = _HEADER.size + NONCE_BYTES + TAG_BYTES


class EnvelopeError(Exception):
    """A value that does not open: malformed, tampered with, moved, or under another key."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def epoch_of(envelope: bytes) -> int:
    """The data-key epoch an envelope was sealed under (from its header, not yet verified)."""
    if len(envelope) < OVERHEAD_BYTES:
        raise EnvelopeError("envelope_malformed")
    version, epoch = _HEADER.unpack_from(envelope)
    if version != VERSION:
        raise EnvelopeError("envelope_version_unknown")
    return int(epoch)


def seal(cipher: AESGCM, epoch: int, binding: Binding, plaintext: str) -> bytes:
    header = _HEADER.pack(VERSION, epoch)
    nonce = os.urandom(NONCE_BYTES)
    return (
        header + nonce + cipher.encrypt(nonce, plaintext.encode(), binding.associated_data(header))
    )


def open_envelope(cipher: AESGCM, binding: Binding, envelope: bytes) -> str:
    epoch_of(envelope)  # validates the header
    header = envelope[: _HEADER.size]
    nonce = envelope[_HEADER.size : _HEADER.size + NONCE_BYTES]
    try:
        plaintext = cipher.decrypt(
            nonce, envelope[_HEADER.size + NONCE_BYTES :], binding.associated_data(header)
        )
    except InvalidTag:
        raise EnvelopeError("message_undecryptable") from None
    return plaintext.decode()
