"""Events carry sealed text from publishers without KMS; the API opens it on delivery."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

from app.domain import Message
from app.events.bus import Event
from app.events.model import message_event, opened
from app.repositories.sealing import binding_of
from tests.conftest import MakeUser, RunningApp


async def test_a_sealed_message_event_crosses_the_bus_and_opens_on_delivery_or_says_why_not(
    make_user: MakeUser, running_app: RunningApp
) -> None:
    andrew = await make_user()
    messages = running_app.state.messaging.messages
    plain = Message(
        uuid=uuid4(),
        message_group_uuid=uuid4(),
        sender_uuid=andrew.user.uuid,
        sender_handle=andrew.user.handle,
        sender_display_name=andrew.user.display_name,
        text="sealed on the bus",
        created_at=datetime.now(UTC),
    )
    stored = await messages._sealed(plain)  # what the stream handler reads from the record
    event = message_event(stored, [binding_of(messages.table.name, stored)])

    on_the_bus = Event.from_json(event.to_json())  # as Redis carries it
    assert on_the_bus.data["message"] is None
    assert "sealed on the bus" not in on_the_bus.to_json()
    delivered = await opened(on_the_bus, messages.cipher)
    assert (delivered.data["message"], delivered.sealed) == ("sealed on the bus", None)
    assert "message_error" not in delivered.data

    assert on_the_bus.sealed is not None
    altered = bytearray(on_the_bus.sealed.envelope)
    altered[-1] ^= 1
    tampered = replace(on_the_bus, sealed=replace(on_the_bus.sealed, envelope=bytes(altered)))
    refused = await opened(tampered, messages.cipher)
    assert (refused.data["message"], refused.data["message_error"]) == (
        None,
        "message_undecryptable",
    )
