"""The template lints clean, and its table is the one the code creates locally."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID, uuid4

from cfnlint import api as cfn_lint

from app.domain import Message, User, pair_conversation_uuid
from app.repositories import keys
from app.repositories.conversations import ConversationsRepository, new_row_item
from app.repositories.messages import message_item
from app.repositories.schema import TTL_ATTRIBUTE, table_definition
from app.repositories.table import serialize
from app.settings import Settings
from app.streams.handler import handle_event
from deploy.build_lambda import HANDLER_MODULES, PYTHON_VERSION
from tests.deploy.cfn import ACCOUNT, TEMPLATE, load_template, render

TABLE_SHAPE = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
)


def test_cfn_lint_finds_nothing_including_informational_checks() -> None:
    config = cfn_lint.ManualArgs(regions=["us-east-1", "eu-west-1"], include_checks=["I"])
    matches = cfn_lint.lint(TEMPLATE.read_text(encoding="utf-8"), config=config)
    assert [str(match) for match in matches] == []


def _normalised(value: Any) -> Any:
    """Order-insensitive where DynamoDB is: lists of definitions compare as sorted sets."""
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted((_normalised(item) for item in value), key=json.dumps)
    return value


def test_table_keys_indexes_and_stream_are_exactly_the_code_s_schema() -> None:
    table = render(TableName="cruddur-messages-prod").properties("Table")
    expected = table_definition("cruddur-messages-prod")

    assert table["TableName"] == expected["TableName"]
    for shape in TABLE_SHAPE:
        assert _normalised(table[shape]) == _normalised(expected[shape]), shape
    stream = expected["StreamSpecification"]
    assert stream["StreamEnabled"] is True
    assert table["StreamSpecification"] == {"StreamViewType": stream["StreamViewType"]}
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_table_is_protected_against_loss() -> None:
    table = render(RecoveryPeriodDays="7").properties("Table")

    assert table["DeletionProtectionEnabled"] is True
    assert table["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True,
        "RecoveryPeriodInDays": "7",
    }
    # A stack deletion or a replacing update leaves the table (and its data) in place.
    resource = load_template()["Resources"]["Table"]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_functions_run_the_packaged_handlers_on_the_packaged_platform() -> None:
    rendered = render(TableName="cruddur-messages-prod", LogRetentionDays="14")
    functions = {
        "StreamHandlerFunction": "StreamHandlerLogGroup",
        "PostConfirmationFunction": "PostConfirmationLogGroup",
    }
    handlers = set()
    for function, log_group in functions.items():
        properties = rendered.properties(function)
        handlers.add(properties["Handler"])
        assert properties["Runtime"] == f"python{PYTHON_VERSION}"
        assert properties["Architectures"] == ["arm64"]  # build_lambda's default platform
        assert properties["Environment"]["Variables"] == {
            "CRUDDUR_TABLE_NAME": "cruddur-messages-prod",
            "CRUDDUR_AWS_REGION": "us-east-1",
        }
        assert properties["LoggingConfig"]["LogGroup"] == rendered.physical_ids[log_group]
        assert rendered.properties(log_group)["RetentionInDays"] == "14"
    assert handlers == {f"{module}.handler" for module in HANDLER_MODULES}
    # Cognito waits 5 s for a trigger; a longer timeout would only hide a failed sign-up.
    assert rendered.properties("PostConfirmationFunction")["Timeout"] <= 5


def test_the_stream_mapping_retries_until_records_expire_and_parks_them_in_a_queue() -> None:
    rendered = render()
    mapping = rendered.properties("StreamEventSourceMapping")

    assert mapping["EventSourceArn"] == rendered.arn("Table", "StreamArn")
    assert mapping["FunctionName"] == rendered.physical_ids["StreamHandlerFunction"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    # Transient failures are retried for as long as the stream keeps the records (24 h):
    # -1 is "infinite" for both; poison records never reach the mapping's retries, the
    # handler sets them aside itself.
    assert mapping["MaximumRetryAttempts"] == -1
    assert mapping["MaximumRecordAgeInSeconds"] == -1
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["DestinationConfig"] == {
        "OnFailure": {"Destination": rendered.arn("StreamFailureQueue")}
    }
    assert rendered.properties("StreamFailureQueue")["SqsManagedSseEnabled"] is True


def _filter_accepts(pattern: Any, record: Any) -> bool:
    """Lambda event filtering for the pattern forms the template uses (values, prefix,
    exists on a leaf)."""
    if isinstance(pattern, dict):
        return isinstance(record, dict) and all(
            key in record and _filter_accepts(sub, record[key]) for key, sub in pattern.items()
        )
    return any(
        (record.startswith(rule["prefix"]) if "prefix" in rule else rule["exists"])
        if isinstance(rule, dict)
        else record == rule
        for rule in pattern
    )


def _filters_accept(filters: list[dict[str, str]], record: Any) -> bool:
    """A mapping's filters are ORed."""
    return any(_filter_accepts(json.loads(rule["Pattern"]), record) for rule in filters)


def _record(event_name: str, item: dict[str, Any]) -> dict[str, Any]:
    keys = {"pk": item["pk"], "sk": item["sk"]}
    return {
        "eventName": event_name,
        "dynamodb": {"Keys": serialize(keys), "NewImage": serialize(item), "SequenceNumber": "1"},
    }


class _RecordingConversations:
    """Stands in for ConversationsRepository: notes which messages the handler applies."""

    def __init__(self) -> None:
        self.applied: list[Message] = []

    async def apply_messages(self, message_group_uuid: UUID, messages: list[Message]) -> None:
        self.applied += messages

    async def apply_changes(self, message_group_uuid: UUID, changed: list[Message]) -> None:
        self.applied += changed


async def _handler_acts_on(record: dict[str, Any]) -> bool:
    conversations = _RecordingConversations()
    await handle_event({"Records": [record]}, cast(ConversationsRepository, conversations))
    return bool(conversations.applied)


async def test_only_message_inserts_and_changes_invoke_the_stream_handler() -> None:
    """The mapping's filter lets through exactly the records the handler acts on."""
    andrew, bayko = (User(uuid4(), handle, handle.title()) for handle in ("andrew", "bayko"))
    group = pair_conversation_uuid(andrew.uuid, bayko.uuid)
    now = datetime.now(UTC)
    message = Message(uuid4(), group, andrew.uuid, "andrew", "Andrew", "hi", now)
    edited = replace(message, text="hi!", preview="hi!", edited_at=now)
    row = new_row_item(bayko, andrew, message)
    user = {**keys.user_key(andrew.uuid), "handle": "andrew"}
    records = [
        _record("INSERT", message_item(message)),
        _record("MODIFY", message_item(edited)),  # an edit
        _record("MODIFY", message_item(replace(message, deleted=True))),  # a delete
        _record("MODIFY", message_item(replace(edited, deleted=True))),  # an edited one's
        _record("MODIFY", message_item(message)),  # the backfill sealing it in place
        _record("INSERT", row),  # a new conversation's rows
        _record("MODIFY", row),  # the handler's own summary updates
        _record("INSERT", user),
        _record("REMOVE", user),
    ]
    filters = render().properties("StreamEventSourceMapping")["FilterCriteria"]["Filters"]

    accepted = [_filters_accept(filters, record) for record in records]
    assert accepted == [await _handler_acts_on(record) for record in records]
    assert accepted == [True, True, True, True, False, False, False, False, False]


def test_the_api_environment_output_is_a_valid_production_configuration() -> None:
    output = render(TableName="cruddur-messages-prod").outputs["ApiEnvironment"]
    variables = dict(assignment.split("=", 1) for assignment in output.split())

    settings = Settings(
        _env_file=None,
        cursor_secret="s" * 32,  # from a secret store, never a stack output
        **{name.removeprefix("CRUDDUR_").lower(): value for name, value in variables.items()},
    )
    assert (settings.auth_mode, settings.table_name) == ("cognito", "cruddur-messages-prod")
    assert settings.cognito_app_client_ids == ["client-one", "client-two"]
    assert (
        settings.cognito_issuer == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example1"
    )
    assert settings.cors_allowed_origins == []  # no browser origin unless one is named


def test_the_api_environment_output_carries_the_cors_origins() -> None:
    output = render(CorsAllowedOrigins="https://cruddur.example,https://www.cruddur.example")
    variables = dict(
        assignment.split("=", 1) for assignment in output.outputs["ApiEnvironment"].split()
    )
    assert variables["CRUDDUR_CORS_ALLOWED_ORIGINS"] == (
        "https://cruddur.example,https://www.cruddur.example"
    )


def test_only_the_configured_user_pool_may_invoke_the_trigger() -> None:
    permission = render().properties("PostConfirmationInvokedByUserPool")

    assert permission["Principal"] == "cognito-idp.amazonaws.com"
    assert permission["SourceArn"] == (
        f"arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/us-east-1_Example1"
    )


def test_the_events_bus_option_wires_the_cache_into_the_handler_and_the_api() -> None:
    off = render()
    assert "EventsCache" not in off.resources
    assert "CRUDDUR_EVENTS_REDIS_URL" not in off.outputs["ApiEnvironment"]
    handler_off = off.properties("StreamHandlerFunction")
    assert "VpcConfig" not in handler_off
    assert "CRUDDUR_EVENTS_REDIS_URL" not in handler_off["Environment"]["Variables"]

    on = render(
        EventsBus="valkey",
        VpcId="vpc-0123456789abcdef0",
        RouteTableIds="rtb-0123456789abcdef0",
        PrivateSubnetIds="subnet-0123456789abcdef0,subnet-0123456789abcdef1",
    )
    cache = on.properties("EventsCache")
    assert (cache["Engine"], cache["SecurityGroupIds"]) == ("valkey", ["EventsCacheSecurityGroup"])
    handler = on.properties("StreamHandlerFunction")
    url = handler["Environment"]["Variables"]["CRUDDUR_EVENTS_REDIS_URL"]
    assert url.startswith("rediss://")  # serverless caches are TLS only
    assert url.endswith(":6379/0")
    assert handler["VpcConfig"] == {
        "SubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        "SecurityGroupIds": ["EventsClientSecurityGroup"],
    }
    assert "DynamoDbEndpoint" in on.resources  # the handler reaches DynamoDB from the VPC
    ingress = on.properties("EventsCacheSecurityGroup")["SecurityGroupIngress"]
    assert [(rule["FromPort"], rule["SourceSecurityGroupId"]) for rule in ingress] == [
        (6379, "EventsClientSecurityGroup")
    ]
    variables = dict(item.split("=", 1) for item in on.outputs["ApiEnvironment"].split())
    assert variables["CRUDDUR_EVENTS_REDIS_URL"] == url
    settings = Settings(
        _env_file=None,
        cursor_secret="s" * 32,
        **{name.removeprefix("CRUDDUR_").lower(): value for name, value in variables.items()},
    )
    assert (settings.events_redis_url, settings.stream_worker_enabled) == (url, False)
