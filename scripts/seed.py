"""Demo data, written through the same repository code the API uses; running it twice is a no-op."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from app.crypto.cipher import TextCipher
from app.domain import Message, User, pair_conversation_uuid
from app.repositories.conversations import ConversationsRepository
from app.repositories.messages import ConversationExists, MessagesRepository
from app.repositories.table import Table
from app.repositories.users import UsersRepository
from scripts.seed_dialogue import DIALOGUE

SEED_NAMESPACE = uuid5(NAMESPACE_URL, "https://cruddur.com/seed")
DIALOGUE_STARTS_AT = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
DIALOGUE_STEP = timedelta(seconds=47)

DEMO_USERS = (
    ("andrewbrown", "Andrew Brown"),
    ("bayko", "Bayko"),
    ("londo", "Londo Mollari"),
    ("altbrown", "Andrew Brown (alt)"),
)


async def _stored_message_uuids(messages: MessagesRepository, group: UUID) -> set[UUID]:
    stored: set[UUID] = set()
    position = None
    while True:
        page = await messages.page(group, limit=100, next=position)
        stored.update(message.uuid for message in page.items)
        if page.next is None:
            return stored
        position = page.next


def demo_user(handle: str, display_name: str) -> User:
    """Deterministic ids, so the seed converges on the same data every time."""
    return User(
        uuid=uuid5(SEED_NAMESPACE, f"user:{handle}"),
        handle=handle,
        display_name=display_name,
        cognito_sub=str(uuid5(SEED_NAMESPACE, f"sub:{handle}")),
    )


@dataclass
class SeedReport:
    users_created: int = 0
    messages_created: int = 0

    def __str__(self) -> str:
        return f"{self.users_created} users and {self.messages_created} messages created"


async def seed(table: Table, cipher: TextCipher | None = None) -> SeedReport:
    report = SeedReport()
    users_repo = UsersRepository(table)
    users: dict[str, User] = {}
    for handle, display_name in DEMO_USERS:
        existing = await users_repo.get_by_handle(handle)
        if existing is None:
            existing = await users_repo.create(demo_user(handle, display_name))
            report.users_created += 1
        users[handle] = existing
    report.messages_created = await _seed_dialogue(
        table, cipher, users["andrewbrown"], users["bayko"]
    )
    return report


async def _seed_dialogue(table: Table, cipher: TextCipher | None, first: User, second: User) -> int:
    by_handle = {first.handle: first, second.handle: second}
    group = pair_conversation_uuid(first.uuid, second.uuid)
    messages = [
        Message(
            uuid=uuid5(SEED_NAMESPACE, f"message:{group}:{index}"),
            message_group_uuid=group,
            sender_uuid=by_handle[handle].uuid,
            sender_handle=handle,
            sender_display_name=by_handle[handle].display_name,
            text=text,
            created_at=DIALOGUE_STARTS_AT + index * DIALOGUE_STEP,
        )
        for index, (handle, text) in enumerate(DIALOGUE)
    ]
    messages_repo = MessagesRepository(table, cipher)
    stored = await _stored_message_uuids(messages_repo, group)
    added: list[Message] = []  # as stored: the rows copy their text, sealed or not
    opener, *rest = messages
    if opener.uuid not in stored:
        opener_sender = by_handle[opener.sender_handle]
        opener_recipient = second if opener_sender is first else first
        with contextlib.suppress(ConversationExists):
            added.append(
                await messages_repo.add(opener, new_conversation=(opener_sender, opener_recipient))
            )
    for message in rest:
        if message.uuid not in stored:
            added.append(await messages_repo.add(message))
    conversations = ConversationsRepository(table)
    # The stream worker would do this too; the seed must not depend on it running.
    await conversations.apply_messages(group, added)
    for user in (first, second):
        await conversations.mark_read(user.uuid, group)
    return len(added)
