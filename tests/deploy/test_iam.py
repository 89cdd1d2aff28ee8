"""Each role grants exactly what its code calls, and its conditions confine it as intended."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from deploy.grants import ANY_RESOURCE, GRANTS, STREAM, TABLE, Grant
from tests.deploy.cfn import ACCOUNT, Rendered, render, table_arn
from tests.deploy.iam_sim import Request, allowed, leading_keys, resource_kind

ROLES = {
    "api": "ApiTaskRole",
    "stream": "StreamHandlerRole",
    "post_confirmation": "PostConfirmationRole",
}
TABLE_NAME = "cruddur-messages"
TABLE_ARN = table_arn(TABLE_NAME)
KEY_ID = "0123abcd-4567-89ab-cdef-0123456789ab"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}"
WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:PartiQLSelect",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
)


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def dynamodb_grants(statements: Iterable[Mapping[str, Any]]) -> set[Grant]:
    return {
        Grant(action, resource_kind(resource, TABLE_NAME))
        for statement in statements
        if statement["Effect"] == "Allow"
        for action in _listed(statement["Action"])
        if action.startswith("dynamodb:")
        for resource in _listed(statement["Resource"])
    }


def resource_arn(grant: Grant) -> str:
    if grant.resource == TABLE:
        return TABLE_ARN
    if grant.resource == STREAM:
        return render().arn("Table", "StreamArn")
    return grant.resource if grant.resource == ANY_RESOURCE else f"{TABLE_ARN}/{grant.resource}"


@pytest.mark.parametrize("component", sorted(ROLES))
def test_each_role_grants_exactly_the_listed_actions(component: str) -> None:
    """deploy/grants.py is the list; the replay tests check it against the calls made."""
    statements = render().statements(ROLES[component])
    assert dynamodb_grants(statements) == GRANTS[component]


def test_no_role_allows_dynamodb_data_actions_on_any_other_resource() -> None:
    rendered = render(VpcId="vpc-0abc", RouteTableIds="rtb-1")
    statements = [
        *(
            statement
            for role in [*ROLES.values(), "ReadOnlyRole"]
            for statement in rendered.statements(role)
        ),
        *rendered.properties("DynamoDbEndpoint")["PolicyDocument"]["Statement"],
    ]
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        actions = [a for a in _listed(statement["Action"]) if a.startswith("dynamodb:")]
        for action in actions:
            assert "*" not in action, statement
            if action != "dynamodb:ListStreams":  # no resource type exists for it
                assert all(
                    r.startswith(f"{TABLE_ARN}/") or r == TABLE_ARN
                    for r in _listed(statement["Resource"])
                ), statement


def test_the_stream_handler_may_touch_conversation_rows_and_nothing_else() -> None:
    statements = render().statements("StreamHandlerRole")

    for action in ("dynamodb:GetItem", "dynamodb:UpdateItem"):
        assert allowed(statements, Request(action, TABLE_ARN, leading_keys("GRP#u1")))
        for other in ("MSG#g1", "USER#u1", "HANDLE#andrew", "SUB#s1", "IDEM#u1#k"):
            assert not allowed(statements, Request(action, TABLE_ARN, leading_keys(other)))
        # ForAllValues is vacuously true without keys: the Null test closes that gap.
        assert not allowed(statements, Request(action, TABLE_ARN))
    assert not allowed(statements, Request("dynamodb:PutItem", TABLE_ARN, leading_keys("GRP#u1")))
    assert not allowed(statements, Request("dynamodb:Query", TABLE_ARN, leading_keys("GRP#u1")))


def test_the_trigger_may_only_create_users_and_only_all_items_together() -> None:
    statements = render().statements("PostConfirmationRole")

    for pk in ("USER#u1", "HANDLE#andrew", "SUB#s1"):
        in_transaction = leading_keys(pk, enclosing="TransactWriteItems")
        assert allowed(statements, Request("dynamodb:PutItem", TABLE_ARN, in_transaction))
        assert not allowed(statements, Request("dynamodb:PutItem", TABLE_ARN, leading_keys(pk)))
    for other in ("GRP#u1", "MSG#g1", "IDEM#u1#k"):
        in_transaction = leading_keys(other, enclosing="TransactWriteItems")
        assert not allowed(statements, Request("dynamodb:PutItem", TABLE_ARN, in_transaction))
    assert allowed(statements, Request("dynamodb:GetItem", TABLE_ARN, leading_keys("SUB#s1")))
    assert not allowed(statements, Request("dynamodb:GetItem", TABLE_ARN, leading_keys("USER#u1")))
    assert not allowed(
        statements, Request("dynamodb:UpdateItem", TABLE_ARN, leading_keys("USER#u1"))
    )


def test_the_read_only_role_reads_and_cannot_write_even_when_granted_more() -> None:
    statements = render().statements("ReadOnlyRole")
    for action, resource in [
        ("dynamodb:GetItem", TABLE_ARN),
        ("dynamodb:BatchGetItem", TABLE_ARN),
        ("dynamodb:DescribeTable", TABLE_ARN),
        ("dynamodb:Query", TABLE_ARN),
        ("dynamodb:Query", f"{TABLE_ARN}/index/conversation-activity-index"),
        ("dynamodb:Query", f"{TABLE_ARN}/index/message-group-sk-index"),
    ]:
        assert allowed(statements, Request(action, resource))

    # Someone later attaches AmazonDynamoDBFullAccess: the explicit Deny still wins.
    widened = [*statements, {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]
    for action in WRITES:
        assert not allowed(widened, Request(action, TABLE_ARN)), action
    assert allowed(widened, Request("dynamodb:Scan", TABLE_ARN))  # the Deny is about writes


def _kms_statements(rendered: Rendered, role: str) -> list[dict[str, Any]]:
    """Statements about the table's key (the message text key: tests/deploy/test_message_key)."""
    return [
        statement
        for statement in rendered.statements(role)
        if any(action.startswith("kms:") for action in _listed(statement["Action"]))
        and statement["Resource"] != rendered.arn("MessageKey")
    ]


@pytest.mark.parametrize("encryption", ["AWS_OWNED", "AWS_MANAGED"])
def test_aws_keys_need_no_key_permissions(encryption: str) -> None:
    rendered = render(TableEncryption=encryption)

    expected = (
        {"SSEEnabled": False}
        if encryption == "AWS_OWNED"
        else {"SSEEnabled": True, "SSEType": "KMS"}
    )
    assert rendered.properties("Table")["SSESpecification"] == expected
    for role in [*ROLES.values(), "ReadOnlyRole"]:
        assert _kms_statements(rendered, role) == []


def test_a_customer_managed_key_is_used_by_the_table_and_granted_per_role() -> None:
    rendered = render(TableEncryption="CUSTOMER_MANAGED", TableKmsKeyId=KEY_ID)

    assert rendered.properties("Table")["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": KEY_ARN,
    }
    for role in ROLES.values():
        [statement] = _kms_statements(rendered, role)
        assert statement["Resource"] == KEY_ARN
        assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(statement["Action"])
    [read_only] = _kms_statements(rendered, "ReadOnlyRole")
    assert (read_only["Resource"], sorted(read_only["Action"])) == (
        KEY_ARN,
        ["kms:Decrypt", "kms:DescribeKey"],
    )


def test_the_vpc_endpoint_exists_only_with_a_vpc_and_admits_only_this_table() -> None:
    assert "DynamoDbEndpoint" not in render().resources

    endpoint = render(VpcId="vpc-0abc", RouteTableIds="rtb-1,rtb-2").properties("DynamoDbEndpoint")

    assert (endpoint["VpcEndpointType"], endpoint["ServiceName"], endpoint["RouteTableIds"]) == (
        "Gateway",
        "com.amazonaws.us-east-1.dynamodb",
        ["rtb-1", "rtb-2"],
    )
    statements = endpoint["PolicyDocument"]["Statement"]
    ours = {"aws:PrincipalAccount": [ACCOUNT]}
    for grant in GRANTS["api"]:  # everything the API does passes the endpoint
        assert allowed(statements, Request(grant.action, resource_arn(grant), ours)), grant
    assert allowed(statements, Request("dynamodb:BatchGetItem", TABLE_ARN, ours))
    other_table = table_arn("someone-elses-table")
    assert not allowed(statements, Request("dynamodb:GetItem", other_table, ours))
    assert not allowed(statements, Request("dynamodb:BatchWriteItem", TABLE_ARN, ours))
    assert not allowed(statements, Request("dynamodb:Scan", TABLE_ARN, ours))
    foreign = {"aws:PrincipalAccount": ["210987654321"]}
    assert not allowed(statements, Request("dynamodb:GetItem", TABLE_ARN, foreign))
