"""The floor: the DynamoDB calls each endpoint makes, sent directly with aioboto3, no HTTP.

Same client configuration as the service (``app.ddb.open_client``), same requests (table,
index, expressions, consistency, conditions, item shapes), so the gap between an endpoint and
its floor is what the service adds: HTTP, auth, validation, (de)serialization, JSON.
tests/bench/test_floor_target.py records both sides and fails when they differ.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from botocore.exceptions import ClientError

from app.crypto.envelope import OVERHEAD_BYTES
from app.ddb import open_client
from app.domain import Message, SealedText, Text, User, pair_conversation_uuid, preview_of
from app.repositories import keys
from app.repositories.conversations import new_row_item
from app.repositories.messages import FIND_PAGE, claim_attribute, message_item
from app.repositories.schema import TTL_ATTRIBUTE
from app.repositories.sealing import PREVIEW_ATTRIBUTE, TEXT_ATTRIBUTE, stored_form
from app.repositories.table import serialize
from app.settings import Settings
from bench.patterns import (
    DELETE_MESSAGE,
    EDIT_MESSAGE,
    LIST_CONVERSATIONS,
    MESSAGE_HANDLE_EXISTING,
    MESSAGE_HANDLE_NEW,
    PAGE_LIMIT,
    READ_PAGE,
    SEND_IDEMPOTENT,
    SEND_MESSAGE,
    Pattern,
)
from bench.workload import Descriptor, UserEntry

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import TransactWriteItemTypeDef

IDEMPOTENCY_TTL_SECONDS = 86400
_NEW = "attribute_not_exists(pk)"


class FloorMismatch(Exception):
    """The data did not look as the service would need it (e.g. not a member): a bench bug."""


WRAPPED_KEY_BYTES = 184
"""About the size of a KMS-wrapped 256-bit data key."""


def _envelope_like(text: Text) -> SealedText:
    """Binary of an envelope's size for ``text`` (the floor makes no KMS or AES work)."""
    assert isinstance(text, str)
    return SealedText(bytes(len(text.encode()) + OVERHEAD_BYTES))


class FloorTarget:
    def __init__(
        self,
        endpoint: str,
        table_name: str,
        pattern: Pattern,
        requests: Sequence[Descriptor],
        users: Sequence[UserEntry],
        idempotency_prefix: str,
        *,
        sealed: bool = False,
    ) -> None:
        """``sealed``: write text and preview as binary envelopes, as a service with
        ``encryption=kms`` does (their content does not matter to DynamoDB's work)."""
        self._sealed = sealed
        self._settings = Settings(
            ddb_endpoint_url=endpoint,
            table_name=table_name,
            _env_file=None,
        )
        self._table = table_name
        self._requests = requests
        self._users = [
            User(UUID(entry["uuid"]), entry["handle"], entry["display_name"]) for entry in users
        ]
        self._idempotency_prefix = idempotency_prefix
        self._sent = 0
        self._stack = AsyncExitStack()
        self._client: DynamoDBClient | None = None
        self._pattern = pattern
        self._operations: dict[Pattern, Callable[[Descriptor], Awaitable[None]]] = {
            LIST_CONVERSATIONS: self._list_conversations,
            READ_PAGE: self._read_page,
            SEND_MESSAGE: self._send_message,
            MESSAGE_HANDLE_EXISTING: self._message_handle_existing,
            MESSAGE_HANDLE_NEW: self._message_handle_new,
            SEND_IDEMPOTENT: self._send_idempotent,
            EDIT_MESSAGE: self._edit_message,
            DELETE_MESSAGE: self._delete_message,
        }

    async def start(self, workers: int) -> None:
        # The service's pool (64) is enough for every level the bench runs.
        self._client = await open_client(self._settings, self._stack)

    async def close(self) -> None:
        await self._stack.aclose()

    async def call(self, worker: int, request: int) -> str | None:
        return await self.perform(self._pattern, self._requests[request])

    async def perform(self, pattern: Pattern, request: Descriptor) -> str | None:
        """One request of ``pattern``: None, or a short name for what went wrong."""
        try:
            await self._operations[pattern](request)
        except ClientError as error:
            return str(error.response.get("Error", {}).get("Code", "ClientError"))
        except (FloorMismatch, OSError) as error:
            return type(error).__name__
        return None

    @property
    def client(self) -> DynamoDBClient:
        assert self._client is not None, "start() first"
        return self._client

    # The service's calls, one method per pattern.

    async def _list_conversations(self, request: Descriptor) -> None:
        owner = self._users[request["user"]]
        await self.client.query(
            TableName=self._table,
            IndexName=keys.ACTIVITY_INDEX,
            KeyConditionExpression="pk = :pk",
            FilterExpression="NOT contains(blocked_by, :owner)",  # rows of blocked users
            ExpressionAttributeValues={
                ":pk": {"S": keys.conversations_pk(owner.uuid)},
                ":owner": {"S": str(owner.uuid)},
            },
            ScanIndexForward=False,
            Limit=PAGE_LIMIT,
        )

    async def _membership(self, member: User, group: UUID) -> dict[str, Any] | None:
        response = await self.client.get_item(
            TableName=self._table,
            Key=serialize(keys.conversation_key(member.uuid, group)),
            ConsistentRead=True,
        )
        return response.get("Item")

    async def _read_page(self, request: Descriptor) -> None:
        reader, group = self._users[request["user"]], UUID(request["group"] or "")
        # Concurrently, as the service: one round trip.
        membership, _ = await asyncio.gather(
            self._membership(reader, group),
            self.client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": keys.message_pk(group)}},
                ScanIndexForward=False,
                Limit=PAGE_LIMIT,
                ConsistentRead=True,
            ),
        )
        if membership is None:
            raise FloorMismatch("not a member")

    def _new_message(self, sender: User, group: UUID, text: str) -> Message:
        message = Message(
            uuid4(), group, sender.uuid, sender.handle, sender.display_name, text, datetime.now(UTC)
        )
        if not self._sealed:
            return message
        return replace(message, text=_envelope_like(text), preview=_envelope_like(message.preview))

    async def _put_message(self, message: Message) -> None:
        await self.client.put_item(
            TableName=self._table, Item=serialize(message_item(message)), ConditionExpression=_NEW
        )

    async def _move_own_row(self, message: Message) -> None:
        """The sender's row moved by the send (read-your-writes, the service's default)."""
        await self.client.update_item(
            TableName=self._table,
            Key=serialize(keys.conversation_key(message.sender_uuid, message.message_group_uuid)),
            UpdateExpression="SET last_message = :preview, last_message_sk = :sk",
            ConditionExpression="attribute_exists(pk) AND "
            "(attribute_not_exists(last_message_sk) OR last_message_sk < :oldest_unread)",
            ExpressionAttributeValues=serialize(
                {
                    ":preview": stored_form(message.preview),
                    ":sk": keys.message_sk(message.created_at, message.uuid),
                    ":oldest_unread": keys.message_sk(message.created_at, message.uuid),
                }
            ),
        )

    async def _send_message(self, request: Descriptor) -> None:
        sender, group = self._users[request["user"]], UUID(request["group"] or "")
        if await self._membership(sender, group) is None:
            raise FloorMismatch("not a member")
        message = self._new_message(sender, group, request["text"] or "")
        await self._put_message(message)
        await self._move_own_row(message)

    async def _recipient(self, handle: str) -> User:
        response = await self.client.get_item(
            TableName=self._table, Key=serialize(keys.handle_key(handle)), ConsistentRead=False
        )
        item = response.get("Item")
        if item is None:
            raise FloorMismatch("no such handle")
        return User(UUID(item["user_uuid"]["S"]), item["handle"]["S"], item["display_name"]["S"])

    async def _message_handle_existing(self, request: Descriptor) -> None:
        sender = self._users[request["user"]]
        recipient = await self._recipient(request["handle"] or "")
        group = pair_conversation_uuid(sender.uuid, recipient.uuid)
        if await self._membership(sender, group) is None:
            raise FloorMismatch("no conversation yet")
        message = self._new_message(sender, group, request["text"] or "")
        await self._put_message(message)
        await self._move_own_row(message)

    def _put_op(self, item: dict[str, Any]) -> TransactWriteItemTypeDef:
        return {
            "Put": {"TableName": self._table, "Item": serialize(item), "ConditionExpression": _NEW}
        }

    def _absent_op(self, key: dict[str, str]) -> TransactWriteItemTypeDef:
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": serialize(key),
                "ConditionExpression": _NEW,
            }
        }

    async def _message_handle_new(self, request: Descriptor) -> None:
        sender = self._users[request["user"]]
        recipient = await self._recipient(request["handle"] or "")
        group = pair_conversation_uuid(sender.uuid, recipient.uuid)
        if await self._membership(sender, group) is not None:
            raise FloorMismatch("conversation already exists")
        # As MessagesRepository.add marks it: the stream handler then skips it.
        if self._sealed:
            await self._first_data_key(group)
        message = replace(
            self._new_message(sender, group, request["text"] or ""), opens_conversation=True
        )
        await self.client.transact_write_items(
            TransactItems=[
                self._put_op(message_item(message)),
                self._absent_op(keys.block_key(sender.uuid, recipient.uuid)),  # no block
                self._absent_op(keys.block_key(recipient.uuid, sender.uuid)),
                self._put_op(new_row_item(sender, recipient, message)),
                self._put_op(new_row_item(recipient, sender, message)),
            ]
        )

    async def _first_data_key(self, group: UUID) -> None:
        """A new conversation's data key, as ``DataKeys`` stores it: looked for, then put
        (the wrapped key's bytes here are a stand-in of its size: no KMS)."""
        key = serialize(keys.data_key_key(group, 0))
        await self.client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        await self.client.put_item(
            TableName=self._table,
            Item={**key, "wrapped_key": {"B": bytes(WRAPPED_KEY_BYTES)}},
            ConditionExpression=_NEW,
        )

    async def _send_idempotent(self, request: Descriptor) -> None:
        sender, group = self._users[request["user"]], UUID(request["group"] or "")
        self._sent += 1
        client_key = f"{self._idempotency_prefix}-{self._sent}"
        claim_key = keys.idempotency_key(sender.uuid, client_key)
        replay = await self.client.get_item(
            TableName=self._table, Key=serialize(claim_key), ConsistentRead=True
        )
        if "Item" in replay:
            raise FloorMismatch("idempotency key reused")
        if await self._membership(sender, group) is None:
            raise FloorMismatch("not a member")
        message = self._new_message(sender, group, request["text"] or "")
        fingerprint = hashlib.sha256(f"{group}:{message.text}".encode()).hexdigest()
        # The record the service stores: the message under renamed attributes, and a TTL.
        claim = {
            **claim_key,
            "fingerprint": fingerprint,
            **{claim_attribute(name): value for name, value in message_item(message).items()},
            TTL_ATTRIBUTE: int(time.time()) + IDEMPOTENCY_TTL_SECONDS,
        }
        # The message refers to its record, which edits and deletes keep in step.
        stored = {**message_item(message), "claim_pk": claim_key["pk"]}
        await self.client.transact_write_items(
            TransactItems=[self._put_op(stored), self._put_op(claim)]
        )
        await self._move_own_row(message)

    async def _own_message(self, request: Descriptor) -> dict[str, Any]:
        """Membership, then the message by uuid: Queries of ``FIND_PAGE``, newest first."""
        sender, group = self._users[request["user"]], UUID(request["group"] or "")
        if await self._membership(sender, group) is None:
            raise FloorMismatch("not a member")
        values = {":pk": {"S": keys.message_pk(group)}, ":uuid": {"S": request.get("message", "")}}
        start: dict[str, Any] = {}
        while True:
            response = await self.client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                FilterExpression="message_uuid = :uuid",
                ExpressionAttributeValues=values,
                ScanIndexForward=False,
                Limit=FIND_PAGE,
                ConsistentRead=True,
                **start,
            )
            if response["Items"]:
                item = response["Items"][0]
                break
            if "LastEvaluatedKey" not in response:
                raise FloorMismatch("no such message")
            start = {"ExclusiveStartKey": response["LastEvaluatedKey"]}
        if item["sender_uuid"]["S"] != str(sender.uuid) or "deleted" in item:
            raise FloorMismatch("not the sender's, or deleted: the service changes nothing")
        return item

    async def _change(
        self, item: dict[str, Any], update: str, condition: str, names: dict[str, str], values: Any
    ) -> None:
        """The message's update; the idempotency record's copy would follow (none here)."""
        response = await self.client.update_item(
            TableName=self._table,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        if "claim_pk" in response["Attributes"]:
            raise FloorMismatch("an idempotent send's record would be updated too")

    async def _edit_message(self, request: Descriptor) -> None:
        item = await self._own_message(request)
        written = request["text"] or ""
        text: Text = written
        preview: Text = preview_of(written)
        if self._sealed:
            text, preview = _envelope_like(text), _envelope_like(preview)
        await self._change(
            item,
            "SET #s0 = :v0, #s1 = :v1, #s2 = :v2",
            "attribute_exists(pk) AND attribute_not_exists(deleted)",
            {"#s0": TEXT_ATTRIBUTE, "#s1": PREVIEW_ATTRIBUTE, "#s2": "edited_at"},
            serialize(
                {
                    ":v0": stored_form(text),
                    ":v1": stored_form(preview),
                    ":v2": keys.format_timestamp(datetime.now(UTC)),
                }
            ),
        )

    async def _delete_message(self, request: Descriptor) -> None:
        item = await self._own_message(request)
        await self._change(
            item,
            "SET #s0 = :v0, #s1 = :v1 REMOVE #r0, #r1",
            "attribute_exists(pk)",
            {
                "#s0": "deleted",
                "#s1": "deleted_at",
                "#r0": TEXT_ATTRIBUTE,
                "#r1": PREVIEW_ATTRIBUTE,
            },
            serialize({":v0": True, ":v1": keys.format_timestamp(datetime.now(UTC))}),
        )
