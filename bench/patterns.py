"""The access patterns the benchmark measures, and where each can run."""

from __future__ import annotations

from dataclasses import dataclass

PAGE_LIMIT = 20
"""The endpoints' default page size, which the benchmark's reads use."""


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    title: str
    contract: str
    """Its letter in shared/CONTRACT.md section 3."""
    needs_transactions: bool
    fresh_targets: bool = False
    """Each request consumes a target (a pair with no conversation yet): lists never cycle."""


LIST_CONVERSATIONS = Pattern("list_conversations", "list my conversations", "B", False)
READ_PAGE = Pattern("read_page", "read a conversation page", "A", False)
SEND_MESSAGE = Pattern("send_message", "send into a conversation", "C", False)
MESSAGE_HANDLE_EXISTING = Pattern(
    "message_handle_existing", "message a handle, existing conversation", "D", False
)
MESSAGE_HANDLE_NEW = Pattern(
    "message_handle_new", "message a handle, new conversation", "D", True, fresh_targets=True
)
SEND_IDEMPOTENT = Pattern(
    "send_idempotent", "send with an Idempotency-Key", "C", needs_transactions=True
)

PATTERNS = (
    LIST_CONVERSATIONS,
    READ_PAGE,
    SEND_MESSAGE,
    MESSAGE_HANDLE_EXISTING,
    MESSAGE_HANDLE_NEW,
    SEND_IDEMPOTENT,
)
BY_NAME = {pattern.name: pattern for pattern in PATTERNS}
