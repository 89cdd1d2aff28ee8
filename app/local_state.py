"""Secrets kept in the local state folder for development mode (never used in production)."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path


def create_private_file(path: Path, content: bytes) -> bytes:
    """Create ``path`` (mode 0600) unless it exists; return what it then holds.

    The content is written to a temporary file and hard-linked into place, so two processes
    starting together agree on one secret and nobody reads a half-written file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path.read_bytes()


def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    if path.exists():
        return path.read_bytes()
    return create_private_file(path, secrets.token_bytes(size))
