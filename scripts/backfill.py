"""``ddb encryption backfill``: the resumable, rate-limited loop around ``EncryptionBackfill``.

The scan position is saved after every page (``<local state dir>/backfill-<table>.json``), so an
interrupted run continues where it stopped; ``--restart`` scans from the top (harmless: only
plaintext is rewritten). Pages are paced so the scan reads at most ``--items-per-second``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.crypto.cipher import TextCipher
from app.repositories.backfill import BackfillCounts, EncryptionBackfill
from app.repositories.table import Table


def checkpoint_path(state_dir: Path, table_name: str) -> Path:
    return state_dir / f"backfill-{table_name}.json"


def _load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    saved: dict[str, Any] = json.loads(path.read_text())
    return saved


def _save(path: Path, after: dict[str, Any] | None) -> None:
    """The position to resume from; removed when done, so the next run starts from the top."""
    if after is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(after))


async def backfill(
    table: Table,
    cipher: TextCipher,
    checkpoint: Path,
    *,
    page_size: int,
    items_per_second: float,
    restart: bool = False,
    report: Callable[[BackfillCounts], None] = lambda _: None,
) -> BackfillCounts:
    job = EncryptionBackfill(table, cipher)
    after = None if restart else _load(checkpoint)
    total = BackfillCounts()
    while True:
        started = time.monotonic()
        page = await job.page(limit=page_size, after=after)
        total.add(page.counts)
        report(total)
        after = page.resume_after
        _save(checkpoint, after)
        if after is None:
            return total
        pause = page.counts.scanned / items_per_second - (time.monotonic() - started)
        if pause > 0:
            await asyncio.sleep(pause)
