"""Users: profile, unique handle claim and Cognito identity link, written together."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from app.domain import User
from app.errors import Conflict
from app.repositories import keys
from app.repositories.table import Item, Table, TransactionCancelled

_NEW = "attribute_not_exists(pk)"


def _user_from(item: Item) -> User:
    created_at = item.get("created_at")
    return User(
        uuid=UUID(item["user_uuid"]),
        handle=item["handle"],
        display_name=item["display_name"],
        cognito_sub=item.get("cognito_sub"),
        created_at=keys.parse_timestamp(created_at) if created_at else None,
    )


class UsersRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def create(self, user: User) -> User:
        """Profile, handle claim and identity link in one transaction: all or nothing.

        Raises ``Conflict`` (``handle_taken`` / ``cognito_sub_taken`` / ``user_exists``).
        """
        created = user.created_at or datetime.now(UTC)
        stored = User(user.uuid, user.handle, user.display_name, user.cognito_sub, created)
        summary: dict[str, Any] = {
            "user_uuid": str(user.uuid),
            "handle": user.handle,
            "display_name": user.display_name,
        }
        operations = [
            self.table.put_op(
                {
                    **keys.user_key(user.uuid),
                    **summary,
                    "cognito_sub": user.cognito_sub,
                    "created_at": keys.format_timestamp(created),
                },
                condition=_NEW,
            ),
            self.table.put_op({**keys.handle_key(user.handle), **summary}, condition=_NEW),
        ]
        if user.cognito_sub:
            operations.append(
                self.table.put_op(
                    {**keys.identity_key(user.cognito_sub), **summary}, condition=_NEW
                )
            )
        try:
            await self.table.transact_write(operations)
        except TransactionCancelled as cancelled:
            if cancelled.failed(1):
                raise Conflict(
                    f"The handle {user.handle!r} is taken.", code="handle_taken"
                ) from None
            if len(operations) > 2 and cancelled.failed(2):
                raise Conflict(
                    "That identity already has a user.", code="cognito_sub_taken"
                ) from None
            raise Conflict("That user already exists.", code="user_exists") from None
        return stored

    async def get(self, user_uuid: UUID) -> User | None:
        item = await self.table.get(keys.user_key(user_uuid))
        return _user_from(item) if item else None

    async def get_by_handle(self, handle: str) -> User | None:
        item = await self.table.get(keys.handle_key(handle))
        return _user_from(item) if item else None

    async def get_by_identity(self, cognito_sub: str) -> User | None:
        item = await self.table.get(keys.identity_key(cognito_sub))
        return _user_from(item) if item else None
