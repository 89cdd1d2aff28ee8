"""Cognito post-confirmation trigger: a confirmed sign-up becomes a Cruddur user.

The profile, the handle claim and the identity link are written in one transaction
(``UsersRepository.create``), so a refused sign-up leaves nothing behind. The user's uuid is
derived from the Cognito ``sub``: when Cognito invokes the trigger again for the same
confirmation, the retry meets the user the first attempt created and succeeds without a
duplicate.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid5

from app.domain import User
from app.errors import Conflict
from app.lambda_runtime import LambdaRuntime
from app.repositories.users import UsersRepository
from app.schemas import HANDLE_PATTERN

log = logging.getLogger(__name__)

SIGN_UP = "PostConfirmation_ConfirmSignUp"
USER_NAMESPACE = UUID("363a760c-ce1c-40d7-8af2-3970a497c974")
"""Fixed forever: a user's uuid is uuid5(USER_NAMESPACE, cognito sub)."""


class SignUpRefused(Exception):
    """Cognito fails the confirmation and shows this message to the person signing up."""


def user_uuid_for(cognito_sub: str) -> UUID:
    return uuid5(USER_NAMESPACE, cognito_sub)


def user_from_event(event: Mapping[str, Any]) -> User:
    """The user a confirmation describes: handle from ``preferred_username``, else the username."""
    attributes: Mapping[str, str] = event["request"]["userAttributes"]
    cognito_sub = attributes["sub"]
    handle = attributes.get("preferred_username") or event["userName"]
    if re.fullmatch(HANDLE_PATTERN, handle) is None:
        raise SignUpRefused(
            f"{handle!r} cannot be a handle: choose a preferred_username of 1 to 32 letters, "
            "digits or underscores."
        )
    display_name = attributes.get("name", "").strip() or handle
    return User(user_uuid_for(cognito_sub), handle, display_name, cognito_sub=cognito_sub)


async def register(users: UsersRepository, user: User) -> None:
    assert user.cognito_sub is not None
    try:
        await users.create(user)
    except Conflict as conflict:
        # Read only on this rare path. Cognito retries only after an attempt failed or ran
        # past its 5 s limit, so an eventually consistent read sees what that attempt wrote.
        if await users.get_by_identity(user.cognito_sub) is not None:
            log.info("post-confirmation retried, user exists user_uuid=%s", user.uuid)
            return
        if conflict.code == "handle_taken":
            raise SignUpRefused(
                f"The handle {user.handle!r} is already taken: sign up with another "
                "preferred_username."
            ) from None
        raise
    log.info("post-confirmation user created user_uuid=%s", user.uuid)


_runtime: LambdaRuntime[UsersRepository] = LambdaRuntime(UsersRepository)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """AWS Lambda entry point; Cognito expects the event back when the trigger succeeds."""
    if event.get("triggerSource") != SIGN_UP:
        return event  # ConfirmForgotPassword confirms an existing user: nothing to create
    user = user_from_event(event)
    _runtime.run(lambda users: register(users, user))
    return event
