"""The signed-in user's conversations (pattern B) and their read markers."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Request, Response

from app.deps import CurrentUser, Messaging, ReadLimit
from app.errors import (
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    Unavailable,
    problem_responses,
)
from app.routers.openapi_links import link
from app.routers.pagination import Cursor, Limit, set_link_header
from app.schemas import ConversationOut, MarkReadRequest, ReadStateOut

router = APIRouter(prefix="/api", tags=["conversations"])


_FIRST_CONVERSATION = "$response.body#/0/uuid"
_LISTING_LINKS = {
    "ReadFirstConversation": link(
        "read_messages",
        "The messages of the most recently active conversation.",
        parameters={"message_group_uuid": _FIRST_CONVERSATION},
    ),
    "MarkFirstConversationRead": link(
        "mark_read",
        "Mark the most recently active conversation read.",
        parameters={"message_group_uuid": _FIRST_CONVERSATION},
    ),
    "ReplyInFirstConversation": link(
        "send_message",
        "Send a message into the most recently active conversation.",
        request_body={"message_group_uuid": _FIRST_CONVERSATION},
    ),
    "FirstCorrespondent": link(
        "user_short",
        "The other participant of the most recently active conversation.",
        parameters={"handle": "$response.body#/0/handle"},
    ),
}
_READ_STATE_LINKS = {
    "ReadConversation": link(
        "read_messages",
        "The conversation just marked read.",
        parameters={"message_group_uuid": "$response.body#/message_group_uuid"},
    ),
}


@router.get(
    "/message_groups",
    summary="My conversations, newest activity first",
    description=(
        "More pages through the `Link` header's `rel=\"next\"`. Each entry's `message` is a "
        "bounded preview of the last message (160 characters and an ellipsis at most). Your "
        "own sends show at once; the other participant's arrive through the stream, usually "
        "within a second."
    ),
    responses={
        **problem_responses(InvalidInput, Unauthenticated, Unavailable, RateLimited),
        200: {"links": _LISTING_LINKS},
    },
    dependencies=[ReadLimit],
)
async def list_conversations(
    user: CurrentUser,
    messaging: Messaging,
    request: Request,
    response: Response,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> list[ConversationOut]:
    page = await messaging.list_conversations(user, limit=limit, cursor=cursor)
    set_link_header(request, response, {"next": page.next})
    return [ConversationOut.of(conversation) for conversation in page.items]


@router.post(
    "/message_groups/{message_group_uuid}/read",
    summary="Mark a conversation read, up to the latest or a given message",
    responses={
        **problem_responses(
            PayloadTooLarge, InvalidInput, Unauthenticated, NotFound, Unavailable, RateLimited
        ),
        200: {"links": _READ_STATE_LINKS},
    },
    dependencies=[ReadLimit],
)
async def mark_read(
    message_group_uuid: UUID,
    user: CurrentUser,
    messaging: Messaging,
    body: Annotated[MarkReadRequest | None, Body()] = None,
) -> ReadStateOut:
    up_to = body.up_to_message_uuid if body else None
    conversation = await messaging.mark_read(user, message_group_uuid, up_to)
    return ReadStateOut.of(conversation)
