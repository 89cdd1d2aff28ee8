"""Messages of a conversation (pattern A) and sending (patterns C and D)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Request, Response

from app.deps import CurrentUser, Messaging, Moderation, ReadLimit, SendLimit
from app.errors import (
    Conflict,
    Forbidden,
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
from app.schemas import EditMessageRequest, MessageOut, SendMessageRequest, SentMessageOut

router = APIRouter(prefix="/api", tags=["messages"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retrying with the same key returns the original message, storing nothing.",
    ),
]


_SENT_LINKS = {
    "ReadConversation": link(
        "read_messages",
        "The conversation the message went into.",
        parameters={"message_group_uuid": "$response.body#/message_group_uuid"},
    ),
    "MarkReadUpToIt": link(
        "mark_read",
        "Mark the conversation read up to this message.",
        parameters={"message_group_uuid": "$response.body#/message_group_uuid"},
        request_body={"up_to_message_uuid": "$response.body#/uuid"},
    ),
}
_PAGE_LINKS = {
    "MarkRead": link(
        "mark_read",
        "Mark this conversation read.",
        parameters={"message_group_uuid": "$request.path.message_group_uuid"},
    ),
    "EditFirstMessage": link(
        "edit_message",
        "Edit the page's first message (if it is mine and recent).",
        parameters={
            "message_group_uuid": "$request.path.message_group_uuid",
            "message_uuid": "$response.body#/0/uuid",
        },
    ),
    "DeleteFirstMessage": link(
        "delete_message",
        "Delete the page's first message (if it is mine).",
        parameters={
            "message_group_uuid": "$request.path.message_group_uuid",
            "message_uuid": "$response.body#/0/uuid",
        },
    ),
}


def _this_message(operation: str, description: str) -> dict[str, Any]:
    return link(
        operation,
        description,
        parameters={
            "message_group_uuid": "$request.path.message_group_uuid",
            "message_uuid": "$response.body#/uuid",
        },
    )


_EDITED_LINKS = {"DeleteIt": _this_message("delete_message", "Delete the message just edited.")}
_DELETED_LINKS = {
    "EditIt": _this_message("edit_message", "Editing a deleted message: 409 message_deleted.")
}


@router.get(
    "/messages/{message_group_uuid}",
    summary="A page of a conversation's messages, oldest first within the page",
    description=(
        "The newest page unless `cursor` says otherwise. The `Link` header carries "
        '`rel="next"` (older messages) and `rel="prev"` (only messages newer than this page, '
        "for polling)."
    ),
    responses={
        **problem_responses(InvalidInput, Unauthenticated, NotFound, Unavailable, RateLimited),
        200: {"links": _PAGE_LINKS},
    },
    dependencies=[ReadLimit],
)
async def read_messages(
    message_group_uuid: UUID,
    user: CurrentUser,
    messaging: Messaging,
    request: Request,
    response: Response,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> list[MessageOut]:
    page = await messaging.read_messages(user, message_group_uuid, limit=limit, cursor=cursor)
    set_link_header(request, response, {"next": page.next, "prev": page.prev})
    return [MessageOut.of(message) for message in page.items]


@router.post(
    "/messages",
    summary="Send a message into a conversation, or to a user by handle",
    description=(
        "With `message_group_uuid`, sends into that conversation (you must be a member). "
        "With `handle`, sends to that user, starting the conversation if there is none. "
        "While either of the two blocks the other, sending is refused: 403 `blocked` to the "
        "one who blocked, the neutral 403 `cannot_message` to the other."
    ),
    responses={
        **problem_responses(
            PayloadTooLarge,
            InvalidInput,
            Unauthenticated,
            Forbidden,
            NotFound,
            Conflict,
            RateLimited,
            Unavailable,
        ),
        200: {"links": _SENT_LINKS},
    },
    dependencies=[SendLimit],
)
async def send_message(
    body: SendMessageRequest,
    user: CurrentUser,
    messaging: Messaging,
    idempotency_key: IdempotencyKey = None,
) -> SentMessageOut:
    message = await messaging.send(
        user,
        text=body.message,
        message_group_uuid=body.message_group_uuid,
        handle=body.handle,
        idempotency_key=idempotency_key,
    )
    return SentMessageOut.of(message)


_CHANGE_ERRORS = (PayloadTooLarge, InvalidInput, Unauthenticated, Forbidden, NotFound)


@router.patch(
    "/messages/{message_group_uuid}/{message_uuid}",
    summary="Edit one of my messages",
    description=(
        "Only its sender, within `CRUDDUR_MESSAGE_EDIT_WINDOW_SECONDS` of sending (409 "
        "`edit_window_closed` after; 403 `not_message_sender` for someone else's message). "
        "The message keeps its place and gains `edited_at`; conversation lists show the new "
        "text when it is the last message. The same edit again changes nothing. A deleted "
        "message is 409 `message_deleted`; while a block stands, 403 `blocked` or "
        "`cannot_message`."
    ),
    responses={
        **problem_responses(*_CHANGE_ERRORS, Conflict, RateLimited, Unavailable),
        200: {"links": _EDITED_LINKS},
    },
    dependencies=[SendLimit],
)
async def edit_message(
    message_group_uuid: UUID,
    message_uuid: UUID,
    body: EditMessageRequest,
    user: CurrentUser,
    moderation: Moderation,
) -> MessageOut:
    message = await moderation.edit(user, message_group_uuid, message_uuid, body.message)
    return MessageOut.of(message)


@router.delete(
    "/messages/{message_group_uuid}/{message_uuid}",
    summary="Delete one of my messages",
    description=(
        "Only its sender, at any time (403 `not_message_sender` otherwise). Its text is "
        "removed from the table; the message keeps its place with `deleted: true`, and a "
        "conversation list whose last message it was shows a neutral preview. Deleting again "
        "answers the same."
    ),
    responses={
        **problem_responses(*_CHANGE_ERRORS, RateLimited, Unavailable),
        200: {"links": _DELETED_LINKS},
    },
    dependencies=[SendLimit],
)
async def delete_message(
    message_group_uuid: UUID, message_uuid: UUID, user: CurrentUser, moderation: Moderation
) -> MessageOut:
    message = await moderation.delete(user, message_group_uuid, message_uuid)
    return MessageOut.of(message)
