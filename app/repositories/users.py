"""Users: profile, unique handle claim and Cognito identity link, written together."""

from __future__ import annotations

from dataclasses import replace
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


def user_items(user: User) -> list[Item]:
    """The items that make a user: profile, handle claim and (with a sub) the identity link.

    Written together by ``UsersRepository.create``; bulk loaders write the same items.
    """
    # Every item carries the summary, so any one GetItem (by handle, by sub) gives the user.
    summary: dict[str, Any] = {
        "user_uuid": str(user.uuid),
        "handle": user.handle,
        "display_name": user.display_name,
        "created_at": keys.format_timestamp(user.created_at) if user.created_at else None,
    }
    items = [
        {**keys.user_key(user.uuid), **summary, "cognito_sub": user.cognito_sub},
        {**keys.handle_key(user.handle), **summary},
    ]
    if user.cognito_sub:
        items.append({**keys.identity_key(user.cognito_sub), **summary})
    return items


class UsersRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def create(self, user: User) -> User:
        """Profile, handle claim and identity link in one transaction: all or nothing.

        Raises ``Conflict`` (``handle_taken`` / ``cognito_sub_taken`` / ``user_exists``).
        """
        stored = replace(user, created_at=user.created_at or datetime.now(UTC))
        items = user_items(stored)
        operations = [self.table.put_op(item, condition=_NEW) for item in items]
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

    async def delete(self, handle: str) -> User | None:
        """Remove the identity link, the profile and the handle claim; None if no such handle.

        One by one, in that order, so a deletion that stops half-way is finished by running it
        again (the handle claim, removed last, still leads to the rest). Conversations and
        messages stay: the other participants keep their history.
        """
        claim = await self.table.get(keys.handle_key(handle), consistent=True)
        if claim is None:
            return None
        user = _user_from(claim)
        profile = await self.table.get(keys.user_key(user.uuid), consistent=True)
        if profile is not None and profile.get("cognito_sub"):
            await self.table.delete(keys.identity_key(profile["cognito_sub"]))
        await self.table.delete(keys.user_key(user.uuid))
        await self.table.delete(keys.handle_key(handle))
        return user
