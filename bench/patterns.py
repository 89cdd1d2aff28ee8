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
    """Its letter in shared/CONTRACT.md section 3; empty for the routes added since."""
    needs_transactions: bool
    fresh_targets: bool = False
    """Each request consumes a target (a pair with no conversation yet, a message to delete):
    lists never cycle."""
    recent_targets: bool = False
    """Each request changes one of the caller's messages, sent just before: before every run
    the phase writes them, dated then, as the newest of their conversations (bench/workload.py
    ``recent_targets``)."""


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

EDIT_MESSAGE = Pattern("edit_message", "edit a message I just sent", "", False, recent_targets=True)
"""``PATCH /api/messages/{group}/{message}`` by its sender, under the service's production edit
window: the targets are written, dated now, right before each run, so every edit is inside the
window (a run longer than it would count 409s) and its message is among the newest of its
conversation (found by one Query page), as an edit of a message just sent is. Each target is
edited in turn with two texts, so a cycled list never repeats the text it holds (which would
change nothing)."""
DELETE_MESSAGE = Pattern(
    "delete_message",
    "delete a message I just sent",
    "",
    False,
    fresh_targets=True,
    recent_targets=True,
)
"""``DELETE /api/messages/{group}/{message}`` by its sender: targets written as for edits, each
deleted once (deleting it again changes nothing); deleting an older message costs one more
Query per ``FIND_PAGE`` newer messages (the capacity rows price the recent case)."""

PATTERNS = (
    LIST_CONVERSATIONS,
    READ_PAGE,
    SEND_MESSAGE,
    MESSAGE_HANDLE_EXISTING,
    MESSAGE_HANDLE_NEW,
    SEND_IDEMPOTENT,
    EDIT_MESSAGE,
    DELETE_MESSAGE,
)
BY_NAME = {pattern.name: pattern for pattern in PATTERNS}
