"""The one exception hierarchy of the service, rendered as RFC 9457 problem details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

PROBLEM_JSON = "application/problem+json"

ValidationCode = Literal[
    "message_blank",
    "message_exceed_max_chars_1024",
    "message_group_uuid_blank",
    "message_group_uuid_invalid",
    "user_reciever_handle_blank",
    "handle_invalid",
    "message_target_missing",
    "message_target_ambiguous",
    "text_unstorable",
]
"""The codes our request validators answer 422 with (the SPA's spellings where it has them);
the validation handler passes these through and calls any other pydantic error
``validation_failed``. Declared here only: ``invalid_field`` accepts nothing else."""
VALIDATION_CODES: frozenset[str] = frozenset(get_args(ValidationCode))


def invalid_field(code: ValidationCode, message: str) -> PydanticCustomError:
    """The error a request validator raises; its type becomes the answer's ``code``."""
    return PydanticCustomError(code, message)


class ProblemDetails(BaseModel):
    """RFC 9457 body; ``code`` is the stable machine-readable member clients switch on."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", examples=["about:blank"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    code: str = Field(examples=["message_group_not_found"])
    detail: str | None = Field(default=None, examples=["No such conversation."])


class ServiceError(Exception):
    """Base of every error a client may see; subclasses fix the HTTP status."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.code = code or self.default_code
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def problem(self) -> ProblemDetails:
        return ProblemDetails(
            title=self.title, status=self.status, code=self.code, detail=self.detail, **self.extra
        )


class InvalidInput(ServiceError):
    status = 422
    title = "Unprocessable Content"
    default_code = "validation_failed"


class Unauthenticated(ServiceError):
    status = 401
    title = "Unauthorized"
    default_code = "unauthenticated"

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        # RFC 6750: say which scheme is expected and, for a bad token, that it was invalid.
        challenge = 'Bearer realm="cruddur"'
        if code != "token_missing":
            challenge += ', error="invalid_token"'
        super().__init__(detail, code=code, headers={"WWW-Authenticate": challenge})


class NotFound(ServiceError):
    status = 404
    title = "Not Found"
    default_code = "not_found"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"
    default_code = "forbidden"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"
    default_code = "conflict"


class PayloadTooLarge(ServiceError):
    status = 413
    title = "Content Too Large"
    default_code = "body_too_large"


class RateLimited(ServiceError):
    status = 429
    title = "Too Many Requests"
    default_code = "rate_limited"


class Unavailable(ServiceError):
    status = 503
    title = "Service Unavailable"
    default_code = "service_unavailable"

    def __init__(
        self, detail: str | None = None, *, code: str | None = None, retry_after: int = 1
    ) -> None:
        super().__init__(detail, code=code, headers={"Retry-After": str(retry_after)})


# Edit, delete and block (issue 16): the codes, declared once, with the status each answers.
def message_not_found() -> NotFound:
    # Only members get this far: they may learn that a message is not in their conversation.
    return NotFound("No such message in this conversation.", code="message_not_found")


def not_message_sender() -> Forbidden:
    return Forbidden("Only its sender can change a message.", code="not_message_sender")


def edit_window_closed(window_seconds: int) -> Conflict:
    return Conflict(
        f"A message can be edited for {window_seconds} seconds after it was sent.",
        code="edit_window_closed",
    )


def message_deleted() -> Conflict:
    return Conflict("The message was deleted.", code="message_deleted")


def blocked() -> Forbidden:
    """To the participant who blocked: they know, and unblocking is theirs to do."""
    return Forbidden("You blocked this user; unblock them to send.", code="blocked")


def cannot_message() -> Forbidden:
    """To the blocked participant: neutral, it names no block (see README, "Block")."""
    return Forbidden("This user cannot receive messages from you.", code="cannot_message")


def block_self() -> InvalidInput:
    return InvalidInput("You cannot block yourself.", code="block_self")


def problem_responses(*errors: type[ServiceError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the errors a route can return."""
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        responses[error.status] = {
            "model": ProblemDetails,
            "description": error.title,
            # FastAPI files `model` under application/json; the body is sent as problem+json.
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
    return responses
