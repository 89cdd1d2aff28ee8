"""The signed-in user's real-time events (Server-Sent Events) and the tickets that open them."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

import anyio
from fastapi import APIRouter, Header, Query, Request, Response, Security
from sse_starlette import ServerSentEvent

from app.auth import parse_bearer
from app.deps import CurrentUser, ReadLimit, State, bearer_scheme, current_user
from app.errors import (
    InvalidInput,
    RateLimited,
    Unauthenticated,
    Unavailable,
    problem_responses,
)
from app.events.bus import ShuttingDown, TooManyStreams
from app.events.model import parse_position, position
from app.events.replay import ReplayLimits, replay
from app.events.stream import StreamResponse, event_stream
from app.schemas import EventTicketOut
from app.state import AppState

router = APIRouter(prefix="/api", tags=["events"])
log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 2.0
"""How long sse-starlette waits for a stream to end by itself before cancelling it."""
_TOKEN_PARAMETERS = ("access_token", "token", "id_token", "authorization")

_STREAM_DESCRIPTION = """\
`text/event-stream` of the signed-in user's events; each has an `id` and a JSON `data`:

- `message`: a new message in one of your conversations (a message item plus
  `message_group_uuid`);
- `conversation`: your row of a conversation changed or was created (a list item, with
  `unread_count`);
- `message_updated`, `message_deleted`: a message of your conversations was edited or deleted
  (the message as it now reads, in `message`'s shape; a deleted one has `deleted: true` and
  neutral text); its latest version only;
- `read`: your read marker moved (`message_group_uuid`, `read_up_to_message_uuid`,
  `unread_count`), e.g. from another tab;
- `reset` (`{}`): the server cannot replay what you missed: refetch, then follow the stream.

A comment line arrives at least every heartbeat interval (15 s by default). Authenticate with
`Authorization: Bearer` or with `?ticket=` from `POST /api/events/tickets` (for `EventSource`,
which cannot send headers); an access token in the URL is refused. Resume with the
`Last-Event-ID` header (browsers send it when they reconnect) or `?since=<event id>`: the
messages sent meanwhile and your most recent rows are replayed from the table; edits and
deletes of other messages are not, so re-read the messages you show. Events are hints; the
REST endpoints are the truth.
"""


def _limits(state: AppState) -> ReplayLimits:
    settings = state.settings
    return ReplayLimits(
        horizon=timedelta(seconds=settings.events_replay_horizon_seconds),
        overlap=timedelta(seconds=settings.events_replay_overlap_seconds),
        max_conversations=settings.events_replay_max_conversations,
        max_messages=settings.events_replay_max_messages,
    )


async def _session_expires_at(request: Request, state: AppState) -> int:
    """When the request's (already verified, so cached) access token expires."""
    claims = await state.verifier.verify(parse_bearer(request.headers.get("authorization")))
    return claims.expires_at


async def _stream_user(request: Request, state: AppState, ticket: str | None) -> tuple[UUID, int]:
    """The user, and when their session ends: the stream ends then (with a retry hint), so a
    stream never outlives the access token that opened it."""
    if any(name in request.query_params for name in _TOKEN_PARAMETERS):
        raise Unauthenticated(
            "Access tokens are never accepted in a URL; use a ticket.", code="token_in_url"
        )
    if ticket is not None:
        return await state.tickets.redeem(ticket)
    user = await current_user(request)
    return user.uuid, await _session_expires_at(request, state)


@router.post(
    "/events/tickets",
    summary="A single-use ticket that opens an event stream",
    description="Valid for seconds (`expires_in`), for one `GET /api/events?ticket=`.",
    responses=problem_responses(Unauthenticated, Unavailable, RateLimited),
    dependencies=[ReadLimit],
)
async def create_event_ticket(user: CurrentUser, state: State, request: Request) -> EventTicketOut:
    return EventTicketOut(
        ticket=state.tickets.issue(user.uuid, await _session_expires_at(request, state)),
        expires_in=state.settings.events_ticket_ttl_seconds,
    )


@router.get(
    "/events",
    summary="My real-time events (Server-Sent Events)",
    description=_STREAM_DESCRIPTION,
    response_class=Response,
    responses={
        200: {
            "description": "An endless event stream.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses(InvalidInput, Unauthenticated, RateLimited, Unavailable),
    },
)
async def stream_events(
    request: Request,
    state: State,
    response: Response,
    ticket: Annotated[
        str | None, Query(max_length=4096, description="From `POST /api/events/tickets`.")
    ] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="An event id to resume after.")
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
    _: Annotated[object, Security(bearer_scheme)] = None,
) -> Response:
    user_uuid, session_expires_at = await _stream_user(request, state, ticket)
    state.rate_limiter.hit("read", str(user_uuid), response)
    settings = state.settings
    try:
        connection = await state.bus.subscribe(user_uuid)
    except TooManyStreams:
        raise RateLimited(
            f"At most {settings.events_max_streams_per_user} open event streams per user.",
            code="too_many_streams",
            headers={"Retry-After": "5"},
        ) from None
    except ShuttingDown:
        raise Unavailable("This instance is stopping.", code="shutting_down") from None
    except Exception:
        log.exception("event bus subscribe failed")
        raise Unavailable("Events are unavailable.", code="events_unavailable") from None
    session_end = asyncio.get_running_loop().call_later(
        max(0.0, session_expires_at - time.time()), connection.end, "session_expired"
    )
    # Subscribed before reading the table: whatever is published meanwhile is queued, so the
    # replay and the live events overlap rather than leave a gap.
    log.info("event stream opened user=%s streams=%d", user_uuid, state.bus.hub.open_streams)
    now = datetime.now(UTC)
    resume_from = last_event_id or since
    opening = []
    try:
        if resume_from is not None:
            opening = await replay(
                state.messaging.conversations,
                state.messaging.messages,
                user_uuid,
                parse_position(resume_from),
                now,
                _limits(state),
            )
    except BaseException:
        session_end.cancel()
        await state.bus.unsubscribe(connection)
        raise
    return StreamResponse(
        state.bus,
        connection,
        session_end,
        event_stream(
            connection,
            opening,
            position(now),
            settings.events_retry_ms,
            state.messaging.messages.cipher,
        ),
        headers=dict(response.headers),
        ping=settings.events_heartbeat_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="heartbeat"),
        send_timeout=settings.events_send_timeout_seconds,
        shutdown_event=anyio.Event(),
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
    )
