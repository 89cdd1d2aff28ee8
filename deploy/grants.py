"""The DynamoDB actions each deployed component needs, and on which of the table's resources.

Stated by hand, checked twice by ``tests/deploy``: each role in ``template.yaml`` grants exactly
these (test_iam.py), and the calls each component really makes on the embedded server, recorded
by the replay tests (test_iam_replay.py), need exactly these too. A DynamoDB call added to the
code therefore fails a replay test until this list and the template's role both name it.
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE = "table"
STREAM = "stream"
ANY_RESOURCE = "*"
ACTIVITY_INDEX = "index/conversation-activity-index"
CONVERSATION_INDEX = "index/message-group-sk-index"

TRANSACTION_ITEMS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
"""TransactWriteItems is authorised per item, as the single-item action of each item's kind."""


@dataclass(frozen=True, order=True)
class Grant:
    action: str
    """An IAM action, e.g. ``dynamodb:Query``."""
    resource: str
    """``table``, ``index/<name>``, ``stream`` (the table's), or ``*``."""


STREAM_POLLING = frozenset(
    {
        Grant("dynamodb:DescribeStream", STREAM),
        Grant("dynamodb:GetRecords", STREAM),
        Grant("dynamodb:GetShardIterator", STREAM),
        # ListStreams names no resource type, so IAM only accepts it on "*" (no item data).
        Grant("dynamodb:ListStreams", ANY_RESOURCE),
    }
)
"""What Lambda's event source mapping does with the stream handler's role, not our code."""

CALLS: dict[str, frozenset[Grant]] = {
    "api": frozenset(
        {
            Grant("dynamodb:GetItem", TABLE),  # membership, users, idempotency records
            Grant("dynamodb:PutItem", TABLE),  # sends, blocks; the transactions' Puts
            Grant("dynamodb:ConditionCheckItem", TABLE),  # no block, in a new conversation
            Grant("dynamodb:UpdateItem", TABLE),  # read markers, edits, tombstones, block flags
            Grant("dynamodb:DeleteItem", TABLE),  # unblock
            Grant("dynamodb:Query", TABLE),  # a conversation's messages
            Grant("dynamodb:Query", ACTIVITY_INDEX),  # my conversations, newest first
            Grant("dynamodb:DescribeTable", TABLE),  # readiness
        }
    ),
    "stream": frozenset(
        {
            Grant("dynamodb:Query", CONVERSATION_INDEX),  # a conversation's rows
            Grant("dynamodb:UpdateItem", TABLE),  # move each row forward
            Grant("dynamodb:GetItem", TABLE),  # late or duplicate deliveries
            Grant("dynamodb:PutItem", TABLE),  # records that can never apply, set aside
            Grant("dynamodb:Query", TABLE),  # recount a conversation's messages (MSG# only)
        }
    ),
    "post_confirmation": frozenset(
        {
            Grant("dynamodb:PutItem", TABLE),  # profile, handle, identity: one transaction
            Grant("dynamodb:GetItem", TABLE),  # Cognito's retry finds the user
        }
    ),
}
"""What each component's own code calls (the replay tests record exactly this)."""

GRANTS: dict[str, frozenset[Grant]] = {
    **CALLS,
    "stream": CALLS["stream"] | STREAM_POLLING,
}
"""What each component's role grants: its calls, plus what the platform does with the role."""
