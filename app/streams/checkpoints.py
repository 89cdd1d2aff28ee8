"""Where the local stream worker is in each shard, kept in a small JSON file across restarts."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


class CheckpointFile:
    """The last handled sequence number per (stream ARN, shard id).

    Keyed by both: moto gives every table's stream the same shard id and starting sequence
    number, so a recreated table must not inherit the old table's position.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._positions = self._load()

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            loaded = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            # Starting over only replays records, which the idempotent handler absorbs.
            log.warning(
                "stream checkpoints unreadable, starting over path=%s error=%s",
                self.path,
                type(error).__name__,
            )
            return {}
        if not isinstance(loaded, dict):
            return {}
        return {
            str(stream_arn): {str(shard): str(position) for shard, position in shards.items()}
            for stream_arn, shards in loaded.items()
            if isinstance(shards, dict)
        }

    def position(self, stream_arn: str, shard_id: str) -> str | None:
        return self._positions.get(stream_arn, {}).get(shard_id)

    def advance(self, stream_arn: str, shard_id: str, sequence_number: str) -> None:
        self._positions.setdefault(stream_arn, {})[shard_id] = sequence_number
        self._write()

    def retain(self, stream_arn: str, shard_ids: Iterable[str]) -> None:
        """Forget other streams (deleted tables) and shards no longer listed (trimmed)."""
        live = set(shard_ids)
        kept = {
            shard: position
            for shard, position in self._positions.get(stream_arn, {}).items()
            if shard in live
        }
        retained = {stream_arn: kept} if kept else {}
        if retained != self._positions:
            self._positions = retained
            self._write()

    def _write(self) -> None:
        # Temporary file + rename: a crash leaves the old or the new file, never half of one.
        # No fsync: after a power loss the worst case is a replay from the oldest record.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(descriptor, "w") as handle:
                json.dump(self._positions, handle, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        finally:
            Path(temporary).unlink(missing_ok=True)  # gone already unless writing failed
