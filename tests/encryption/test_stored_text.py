"""Message text as stored: ciphertext only, readable by both participants, bound to its place."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from app.domain import Message, preview_of
from app.repositories import keys
from app.repositories.conversations import ConversationsRepository
from app.repositories.messages import message_item
from app.repositories.table import Table
from tests.conftest import (
    LATER,
    MakeUser,
    RunningApp,
    SignedIn,
    all_items,
    message_in,
    start_conversation,
)
from tests.encryption.conftest import app_data_keys, forget_cached_keys

SECRET = "the vault code is 4711"


async def send(client: httpx.AsyncClient, sender: SignedIn, group: str, text: str) -> str:
    response = await client.post(
        "/api/messages", json={"message": text, "message_group_uuid": group}, headers=sender.headers
    )
    assert response.status_code == 200, response.text
    return str(response.json()["uuid"])


async def page(client: httpx.AsyncClient, reader: SignedIn, group: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/messages/{group}", headers=reader.headers)
    assert response.status_code == 200, response.text
    return list(response.json())


def envelope(value: object) -> bytes:
    """A stored binary attribute's bytes (boto3 wraps them in its ``Binary``)."""
    raw = getattr(value, "value", None)
    assert isinstance(raw, bytes), value
    return raw


def mentions(value: Any, text: str) -> bool:
    """Whether a stored value holds ``text`` in any form a reader of the table would see."""
    if isinstance(value, str):
        return text in value
    if isinstance(value, bytes | bytearray):
        return text.encode() in value
    if isinstance(value, set | list | tuple):
        return any(mentions(element, text) for element in value)
    if isinstance(value, dict):
        return any(mentions(element, text) for element in value.values())
    return hasattr(value, "value") and mentions(value.value, text)


async def message_items(table: Table, group: str) -> list[dict[str, Any]]:
    items = [item for item in await all_items(table) if item["pk"] == keys.message_pk(UUID(group))]
    return sorted(items, key=lambda item: str(item["sk"]))


async def test_sent_text_is_stored_as_ciphertext_and_both_participants_read_it(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    await send(client, andrew, group, SECRET)

    items = await all_items(table)
    assert not [item for item in items if mentions(item, SECRET)]
    [*_, stored] = await message_items(table, group)
    assert envelope(stored["message"])  # binary: never taken for plaintext
    assert envelope(stored["preview"])
    for reader in (andrew, bayko):
        assert [m["message"] for m in await page(client, reader, group)][-1] == SECRET
        assert "message_error" not in (await page(client, reader, group))[-1]


@pytest.mark.transactions
async def test_a_new_conversations_rows_hold_ciphertext_and_the_list_opens_it(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, SECRET)

    rows = [item for item in await all_items(table) if item.get("message_group_uuid") == group]
    assert len(rows) == 2
    assert not [row for row in rows if mentions(row, SECRET)]
    [opener] = await message_items(table, group)
    # Rows copy the preview's envelope, bound to the preview attribute, never the text's.
    assert {envelope(row["last_message"]) for row in rows} == {envelope(opener["preview"])}
    assert envelope(opener["preview"]) != envelope(opener["message"])
    for reader in (andrew, bayko):
        listed = await client.get("/api/message_groups", headers=reader.headers)
        assert [c["message"] for c in listed.json()] == [SECRET]


async def test_the_senders_row_gets_the_stored_preview_envelope_and_the_list_opens_it(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    """Read-your-writes writes the very value the stream handler copies: the message item's
    sealed preview (a long text's preview is its start and an ellipsis)."""
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    long_secret = SECRET + " " + "x" * 300
    await send(client, andrew, group, long_secret)

    [*_, stored] = await message_items(table, group)
    row = await table.get(keys.conversation_key(andrew.user.uuid, UUID(group)), consistent=True)
    assert row is not None
    assert envelope(row["last_message"]) == envelope(stored["preview"])
    listed = (await client.get("/api/message_groups", headers=andrew.headers)).json()
    assert [c["message"] for c in listed] == [preview_of(long_secret)]
    assert listed[0]["message"].endswith("\u2026")


async def test_summary_repair_copies_the_stored_preview_envelope_without_a_cipher(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    """Repair (``ddb summaries repair``) needs no KMS: it copies the stored envelope."""
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    await send(client, andrew, group, SECRET)  # no stream worker here: bayko's row is behind
    [*_, stored] = await message_items(table, group)
    bayko_key = keys.conversation_key(bayko.user.uuid, UUID(group))

    assert await ConversationsRepository(table).repair_row(bayko.user.uuid, UUID(group))

    row = await table.get(bayko_key, consistent=True)
    assert row is not None
    assert envelope(row["last_message"]) == envelope(stored["preview"])
    listed = (await client.get("/api/message_groups", headers=bayko.headers)).json()
    assert [(c["message"], c["unread_count"]) for c in listed] == [(SECRET, 2)]


async def test_ciphertext_swapped_between_two_messages_does_not_decrypt(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    await send(client, andrew, group, "first secret")
    await send(client, andrew, group, "second secret")
    *_, first, second = await message_items(table, group)
    for item, other in ((first, second), (second, first)):
        await table.put({**item, "message": envelope(other["message"])})

    shown = await page(client, bayko, group)

    assert [m.get("message_error") for m in shown[-2:]] == ["message_undecryptable"] * 2
    assert [m["message"] for m in shown[-2:]] == [None, None]
    assert shown[0]["message"] == "hello"  # the page is served; only the swapped fail


async def test_ciphertext_moved_to_another_conversation_or_altered_does_not_decrypt(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko, carol = await make_user(), await make_user(), await make_user()
    with_bayko = await start_conversation(client, andrew, bayko, "hello bayko")
    with_carol = await start_conversation(client, andrew, carol, "hello carol")
    await send(client, andrew, with_bayko, "for bayko only")
    await send(client, andrew, with_carol, "for carol")
    *_, for_bayko = await message_items(table, with_bayko)
    *_, for_carol = await message_items(table, with_carol)
    sealed = envelope(for_bayko["message"])
    await table.put({**for_carol, "message": sealed})
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    await table.put({**for_bayko, "message": bytes(tampered)})

    assert (await page(client, carol, with_carol))[-1]["message_error"] == "message_undecryptable"
    assert (await page(client, bayko, with_bayko))[-1]["message_error"] == "message_undecryptable"


async def test_an_unknown_envelope_version_is_reported_not_guessed(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    await send(client, andrew, group, SECRET)
    *_, stored = await message_items(table, group)
    await table.put({**stored, "message": b"\x02" + envelope(stored["message"])[1:]})

    [*_, shown] = await page(client, bayko, group)
    assert shown["message"] is None
    assert shown["message_error"] == "envelope_version_unknown"


async def test_a_wrapped_key_under_another_conversations_context_does_not_decrypt(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table, running_app: RunningApp
) -> None:
    """KMS binds a wrapped data key to its conversation: copied to another, KMS refuses it."""
    andrew, bayko, carol = await make_user(), await make_user(), await make_user()
    with_bayko = await start_conversation(client, andrew, bayko, "hello bayko")
    with_carol = await start_conversation(client, andrew, carol, "hello carol")
    await send(client, andrew, with_bayko, "one")
    await send(client, andrew, with_carol, "two")
    key_items = {
        str(item["pk"]): item
        for item in await all_items(table)
        if str(item["pk"]).startswith("DATAKEY#")
    }
    bayko_key = key_items[f"DATAKEY#{with_bayko}"]
    carol_key = key_items[f"DATAKEY#{with_carol}"]
    await table.put({**carol_key, "wrapped_key": envelope(bayko_key["wrapped_key"])})
    forget_cached_keys(app_data_keys(running_app))  # read carol's key from the table again

    [*_, shown] = await page(client, carol, with_carol)
    assert shown["message"] is None
    assert shown["message_error"] == "data_key_undecryptable"
    assert (await page(client, bayko, with_bayko))[-1]["message"] == "one"


async def test_messages_stored_before_encryption_stay_readable(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    legacy: Message = message_in(UUID(group), bayko.user, "written in 2025", at=LATER)
    await table.put(message_item(legacy))

    [*_, shown] = await page(client, andrew, group)
    assert shown["message"] == "written in 2025"


@pytest.mark.transactions
async def test_a_rows_copy_of_another_message_does_not_decrypt(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    """A row's text is bound to the message its ``last_message_sk`` names: a stale or foreign
    copy (here: the row pointed at a new message, still holding the old text) is refused."""
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "the opener")
    later = message_in(UUID(group), bayko.user, "later", at=LATER)
    rows = [item for item in await all_items(table) if item.get("message_group_uuid") == group]
    for row in rows:
        await table.put({**row, "last_message_sk": keys.message_sk(later.created_at, later.uuid)})

    listed = await client.get("/api/message_groups", headers=andrew.headers)

    assert listed.status_code == 200
    [shown] = listed.json()
    assert (shown["message"], shown["message_error"]) == (None, "message_undecryptable")
