"""The message text key: rotated, kept, and usable only by the API with a conversation context."""

from __future__ import annotations

from uuid import UUID

import pytest

from app.crypto.data_keys import encryption_context
from app.settings import Settings
from tests.deploy.cfn import ACCOUNT, Rendered, load_template, render
from tests.deploy.iam_sim import Request, allowed

KMS_ACTIONS = (
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:Encrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:CreateGrant",
    "kms:DescribeKey",
)
GROUP = "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"
TABLE_ENCRYPTIONS = ("AWS_OWNED", "CUSTOMER_MANAGED")


def kms_request(action: str, resource: str, context: dict[str, str] | None) -> Request:
    """An authorisation request for a KMS call, with the keys IAM derives from its context."""
    if context is None:
        return Request(action, resource)
    derived: dict[str, list[str]] = {"kms:EncryptionContextKeys": sorted(context)}
    derived.update({f"kms:EncryptionContext:{key}": [value] for key, value in context.items()})
    return Request(action, resource, derived)


def rendered_for(encryption: str) -> Rendered:
    if encryption == "CUSTOMER_MANAGED":
        return render(
            TableEncryption=encryption, TableKmsKeyId="0123abcd-4567-89ab-cdef-0123456789ab"
        )
    return render(TableEncryption=encryption)


def test_the_key_rotates_and_outlives_the_stack() -> None:
    template_key = render().resources["MessageKey"]
    properties = template_key["Properties"]
    assert properties["EnableKeyRotation"] is True
    assert properties["KeySpec"] == "SYMMETRIC_DEFAULT"
    raw = load_template()["Resources"]["MessageKey"]
    assert (raw["DeletionPolicy"], raw["UpdateReplacePolicy"]) == ("Retain", "Retain")
    [statement] = properties["KeyPolicy"]["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}  # IAM decides


@pytest.mark.parametrize("encryption", TABLE_ENCRYPTIONS)
def test_the_api_makes_and_unwraps_data_keys_only_with_a_conversation_context(
    encryption: str,
) -> None:
    rendered = rendered_for(encryption)
    key = rendered.arn("MessageKey")
    api = rendered.statements("ApiTaskRole")
    context = encryption_context(UUID(GROUP), 12)

    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert allowed(api, kms_request(action, key, context))
        assert not allowed(api, kms_request(action, key, None))
        assert not allowed(api, kms_request(action, key, {"message_group_uuid": GROUP}))
        assert not allowed(api, kms_request(action, key, {**context, "purpose": "export"}))
        assert not allowed(api, kms_request(action, f"{key}-other", context))
    for action in set(KMS_ACTIONS) - {"kms:GenerateDataKey", "kms:Decrypt"}:
        assert not allowed(api, kms_request(action, key, context))


@pytest.mark.parametrize("encryption", TABLE_ENCRYPTIONS)
@pytest.mark.parametrize("role", ["StreamHandlerRole", "ReadOnlyRole"])
def test_the_stream_handler_and_operators_can_never_use_it_even_when_granted_more(
    encryption: str, role: str
) -> None:
    rendered = rendered_for(encryption)
    key = rendered.arn("MessageKey")
    widened = [
        *rendered.statements(role),
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
    ]
    context = encryption_context(UUID(GROUP), 12)
    for action in KMS_ACTIONS:
        assert not allowed(widened, kms_request(action, key, context))


@pytest.mark.parametrize("encryption", TABLE_ENCRYPTIONS)
def test_the_sign_up_trigger_has_no_use_of_it(encryption: str) -> None:
    rendered = rendered_for(encryption)
    key = rendered.arn("MessageKey")
    statements = rendered.statements("PostConfirmationRole")
    context = encryption_context(UUID(GROUP), 12)
    for action in KMS_ACTIONS:
        assert not allowed(statements, kms_request(action, key, context))


def test_the_api_environment_turns_encryption_on_with_the_stacks_key() -> None:
    output = render(Environment="prod").outputs["ApiEnvironment"]
    variables = dict(assignment.split("=", 1) for assignment in output.split())
    settings = Settings(
        **{name.removeprefix("CRUDDUR_").lower(): value for name, value in variables.items()},
        cursor_secret="s" * 32,
        _env_file=None,
    )
    assert settings.encryption == "kms"
    assert settings.kms_key_id == "alias/cruddur-messages-prod"
