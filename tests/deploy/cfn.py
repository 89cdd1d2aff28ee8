"""The deployment template, loaded with cfn-lint's YAML loader and rendered for one parameter set.

Rendering evaluates the intrinsic functions the template uses (Ref, GetAtt, Sub, Join, If,
conditions) the way CloudFormation would, with made-up account values, so tests can read the
policies as concrete ARNs. An unknown function or attribute fails loudly instead of passing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"
ACCOUNT = "123456789012"
REGION = "us-east-1"

REQUIRED_PARAMETERS = {
    "LambdaArtifactBucket": "artifacts",
    "LambdaArtifactKey": "lambda-0123abcd.zip",
    "CognitoUserPoolId": "us-east-1_Example1",
    "CognitoAppClientIds": "client-one,client-two",
}


@cache
def load_template() -> dict[str, Any]:
    template: dict[str, Any] = cfn_yaml.load(str(TEMPLATE))
    return template


class _NoValue:
    """``AWS::NoValue``: the property or list item is dropped."""


NO_VALUE = _NoValue()


@dataclass(frozen=True)
class Rendered:
    resources: dict[str, dict[str, Any]]
    """Logical id -> {"Type": ..., "Properties": ...} of the resources whose condition holds."""
    physical_ids: dict[str, str]
    outputs: dict[str, Any]

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resources[logical_id]["Properties"])

    def statements(self, role: str) -> list[dict[str, Any]]:
        """Every statement of a role's inline policies."""
        return [
            statement
            for policy in self.properties(role)["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
        ]

    def arn(self, logical_id: str, attribute: str = "Arn") -> str:
        kind = self.resources[logical_id]["Type"]
        return get_att(kind, logical_id, self.physical_ids[logical_id], attribute)


def render(**parameters: str) -> Rendered:
    template = load_template()
    return _Renderer(template, {**REQUIRED_PARAMETERS, **parameters}).run()


def table_arn(table_name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table_name}"


def get_att(kind: str, logical_id: str, physical_id: str, attribute: str) -> str:
    """The attributes the template reads, as CloudFormation would return them."""
    if kind == "AWS::DynamoDB::Table":
        arn = table_arn(physical_id)
        return {"Arn": arn, "StreamArn": f"{arn}/stream/2026-01-01T00:00:00.000"}[attribute]
    if kind == "AWS::SQS::Queue":
        name = physical_id.rsplit("/", 1)[1]
        return {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}", "QueueName": name}[attribute]
    if kind == "AWS::ElastiCache::ServerlessCache":
        address = f"{physical_id.lower()}-abc123.serverless.use1.cache.amazonaws.com"
        return {"Endpoint.Address": address, "Endpoint.Port": "6379"}[attribute]
    arns = {
        "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{physical_id}:*",
        "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{physical_id}",
        "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{physical_id}",
        "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{physical_id}",
    }
    if attribute != "Arn" or kind not in arns:
        raise KeyError(f"GetAtt {logical_id}.{attribute} ({kind})")
    return arns[kind]


class _Renderer:
    def __init__(self, template: Mapping[str, Any], given: Mapping[str, str]) -> None:
        self.template = template
        self.values: dict[str, Any] = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::NoValue": NO_VALUE,
        }
        for name, spec in template["Parameters"].items():
            value = given.get(name, spec.get("Default"))
            if value is None:
                raise KeyError(f"parameter {name} has no value")
            is_list = spec["Type"] == "CommaDelimitedList"
            self.values[name] = str(value).split(",") if is_list else str(value)
        self.conditions: dict[str, bool] = {}
        for name in template.get("Conditions", {}):
            self._condition(name)
        self.resources: dict[str, dict[str, Any]] = {}
        self.physical_ids: dict[str, str] = {}

    def run(self) -> Rendered:
        active = {
            logical_id: spec
            for logical_id, spec in self.template["Resources"].items()
            if self.conditions.get(spec.get("Condition", ""), True)
        }
        # Physical names first, so Ref/GetAtt between resources resolve.
        for logical_id, spec in active.items():
            self.physical_ids[logical_id] = self._physical_id(logical_id, spec)
            self.values[logical_id] = self.physical_ids[logical_id]
        for logical_id, spec in active.items():
            self.resources[logical_id] = {
                "Type": spec["Type"],
                "Properties": self.value(spec.get("Properties", {})),
            }
        outputs = {
            name: self.value(spec["Value"])
            for name, spec in self.template["Outputs"].items()
            if self.conditions.get(spec.get("Condition", ""), True)
        }
        return Rendered(self.resources, self.physical_ids, outputs)

    def _get_att(self, logical_id: str, attribute: str) -> str:
        kind = self.template["Resources"][logical_id]["Type"]
        return get_att(kind, logical_id, self.physical_ids[logical_id], attribute)

    def _physical_id(self, logical_id: str, spec: Mapping[str, Any]) -> str:
        properties = spec.get("Properties", {})
        for name_property in ("TableName", "FunctionName", "LogGroupName", "AliasName"):
            if name_property in properties:
                return str(self.value(properties[name_property]))
        if spec["Type"] == "AWS::SQS::Queue":
            name = self.value(properties["QueueName"])
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        return logical_id

    def _condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self.conditions[name]

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.value(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(function, argument)] = node.items()
            if function == "Ref" or function.startswith("Fn::") or function == "Condition":
                return self._function(function, argument)
        rendered = {key: self.value(item) for key, item in node.items()}
        return {key: item for key, item in rendered.items() if item is not NO_VALUE}

    def _function(self, function: str, argument: Any) -> Any:
        if function == "Ref":
            return self.values[argument]
        if function == "Condition":
            return self._condition(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".")
            return self._get_att(logical_id, attribute)
        if function == "Fn::If":
            name, when_true, when_false = argument
            return self.value(when_true if self._condition(name) else when_false)
        if function == "Fn::Equals":
            left, right = (self.value(item) for item in argument)
            return left == right
        if function == "Fn::Not":
            return not self.value(argument[0])
        if function == "Fn::Join":
            separator, items = argument
            return separator.join(self.value(items))
        if function == "Fn::Split":
            separator, text = argument
            return str(self.value(text)).split(separator)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            local = {name: self.value(item) for name, item in variables.items()}
            return re.sub(r"\$\{([^}]+)\}", lambda match: self._substitute(match[1], local), text)
        raise KeyError(f"unsupported intrinsic function {function}")

    def _substitute(self, name: str, local: Mapping[str, Any]) -> str:
        if name in local:
            return str(local[name])
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self._get_att(logical_id, attribute)
        return str(self.values[name])
