"""The workload the scale model is asked about: who does what, how often.

Defaults describe a plausible direct-messaging product; every field can come from a TOML or
JSON file (same names) and from command-line flags, which win.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

TIERS = (10_000, 1_000_000, 10_000_000)
"""Daily active users the model always reports."""


@dataclass(frozen=True, slots=True)
class Workload:
    daily_active_users: int = 10_000
    messages_per_user_per_day: float = 20.0
    peak_to_average: float = 3.0
    """Busiest hour's rate over the day's average rate."""
    conversations_per_user: int = 12
    """Conversations in an active user's inbox (its list page holds up to 20)."""
    message_length: tuple[tuple[int, float], ...] = (
        (20, 0.5),
        (80, 0.3),
        (300, 0.15),
        (1000, 0.05),
    )
    """(characters, share of messages) pairs; shares are normalised."""
    reads_per_send: float = 3.0
    """API reads (list + page) per message sent: the read/write mix."""
    list_share_of_reads: float = 0.4
    mark_reads_per_send: float = 0.5
    new_conversation_share: float = 0.02
    """Share of sends that open a conversation (message a handle, new pair)."""
    idempotent_share: float = 0.0
    """Share of sends that carry an Idempotency-Key."""
    messages_per_session: float = 10.0
    """Messages a conversation gets in one burst of activity ..."""
    session_seconds: float = 300.0
    """... and how long that burst lasts: the per-conversation rate the stream coalesces."""
    connected_share_at_peak: float = 0.2
    """Share of daily users holding an event stream open in the busiest hour."""
    streams_per_connected_user: float = 1.3
    """Tabs and devices per connected user."""
    months_of_history: int = 12
    """Storage is reported after this many months of growth."""

    def __post_init__(self) -> None:
        shares = {
            "list_share_of_reads": self.list_share_of_reads,
            "connected_share_at_peak": self.connected_share_at_peak,
            "new_conversation_share + idempotent_share": (
                self.new_conversation_share + self.idempotent_share
            ),
        }
        for name, share in shares.items():
            if not 0 <= share <= 1:
                raise ValueError(f"{name} must lie between 0 and 1, not {share}")
        positive = {
            "daily_active_users": self.daily_active_users,
            "messages_per_user_per_day": self.messages_per_user_per_day,
            "peak_to_average": self.peak_to_average,
            "conversations_per_user": self.conversations_per_user,
            "messages_per_session": self.messages_per_session,
            "session_seconds": self.session_seconds,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {value}")
        if not self.message_length or any(
            length <= 0 or share < 0 for length, share in self.message_length
        ):
            raise ValueError("message_length needs (characters > 0, share >= 0) pairs")

    def at(self, daily_active_users: int) -> Workload:
        return replace(self, daily_active_users=daily_active_users)

    @property
    def length_shares(self) -> list[tuple[int, float]]:
        total = sum(share for _, share in self.message_length)
        return [(length, share / total) for length, share in self.message_length]


def parse_lengths(text: str) -> tuple[tuple[int, float], ...]:
    """``"20:0.5,80:0.3"`` -> ((20, 0.5), (80, 0.3))."""
    pairs = []
    for part in text.split(","):
        length, _, share = part.partition(":")
        pairs.append((int(length), float(share or 1)))
    return tuple(pairs)


def _coerce(name: str, value: Any) -> Any:
    if name == "message_length":
        if isinstance(value, str):
            return parse_lengths(value)
        return tuple((int(length), float(share)) for length, share in value)
    kind = {f.name: f.type for f in fields(Workload)}[name]
    return int(value) if kind == "int" else float(value)


def load(path: Path | None, overrides: dict[str, Any]) -> Workload:
    """Defaults, then the file (TOML or JSON by suffix), then ``overrides`` (not None)."""
    values: dict[str, Any] = {}
    if path is not None:
        text = path.read_text()
        values = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    values.update({name: value for name, value in overrides.items() if value is not None})
    known = {f.name for f in fields(Workload)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown workload fields: {', '.join(sorted(unknown))}")
    return Workload(**{name: _coerce(name, value) for name, value in values.items()})


WORKLOAD_FIELDS = tuple(f.name for f in fields(Workload))
