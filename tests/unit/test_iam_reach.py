"""Who can reach users, API-key hashes and webhook secrets: read from the template's IAM policies.

The functions that parse uploaded files (ProcessFile, Media, AssetImaging) run libvips, pdfium,
FFmpeg, psd-tools and Ghostscript on hostile input; none of them may hold any permission on the
accounts table, so a memory-safety bug in a parser cannot read a secret or mint a key.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from openips.adapters.dynamodb import keys
from openips_cli.provision import load_template

PARSERS = ("ProcessFileFunction", "MediaFunction", "AssetImagingFunction")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: res["Properties"] for name, res in template["Resources"].items()
            if res["Type"] == "AWS::Serverless::Function"}


def _names_accounts(value: Any) -> bool:
    return "AccountsTable" in json.dumps(value)


def _statements_on_accounts(policies: list[Any]) -> list[dict[str, Any]]:
    found = []
    for policy in policies:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if _names_accounts(statement.get("Resource")):
                found.append(statement)
    return found


def test_only_the_api_authorizer_and_notifier_can_reach_the_accounts_table(template: dict[str, Any]) -> None:
    reach = {name for name, props in _functions(template).items()
             if _names_accounts(props.get("Policies")) or _names_accounts(props.get("Environment"))}
    assert reach == {"ApiFunction", "AuthorizerFunction", "NotificationFunction", "IpsWireFunction"}
    assert not set(PARSERS) & reach
    # Not in Globals: a function gets the table's name only when it is given access.
    assert not _names_accounts(template["Globals"])


def test_the_jobs_table_policies_never_name_the_accounts_table(template: dict[str, Any]) -> None:
    for name in PARSERS + ("FinalizeJobFunction", "SweepFunction"):
        policies = _functions(template)[name]["Policies"]
        assert not _names_accounts(policies), name
        for policy in policies:  # no table wildcard that would take the accounts table in
            text = json.dumps(policy)
            assert ":table/*" not in text and '"Resource": "*"' not in text, (name, policy)


def test_the_authorizer_reads_key_and_user_items_only(template: dict[str, Any]) -> None:
    policies = _functions(template)["AuthorizerFunction"]["Policies"]
    assert all(isinstance(p, dict) and set(p) == {"Statement"} for p in policies), "no policy templates"
    (statement,) = [s for p in policies for s in p["Statement"]]
    assert statement["Action"] == "dynamodb:GetItem"
    assert statement["Resource"] == {"Fn::GetAtt": ["AccountsTable", "Arn"]}  # the table, not its indexes
    leading = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert sorted(leading) == sorted([keys.KEY_PREFIX + "*", keys.USER_PREFIX + "*"])


def test_the_ips_wire_function_reads_key_and_user_items_only(template: dict[str, Any]) -> None:
    """IpsWireFunction authenticates the authHeader (e-mail + API key). It receives uploaded files and
    writes them to S3 unread (multipart and XML parsing only, in pure Python, no native decoder), so it
    is not a parser in this module's sense; still, it reads the two item kinds it needs, nothing else."""
    props = _functions(template)["IpsWireFunction"]
    assert "Layers" not in props
    assert not any(isinstance(p, dict) and "DynamoDBCrudPolicy" in p and _names_accounts(p)
                   for p in props["Policies"])
    (statement,) = _statements_on_accounts(props["Policies"])
    assert statement["Action"] == "dynamodb:GetItem"
    assert statement["Resource"] == {"Fn::GetAtt": ["AccountsTable", "Arn"]}
    leading = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert sorted(leading) == sorted([keys.KEY_PREFIX + "*", keys.USER_PREFIX + "*"])


def test_the_notifier_reads_and_creates_webhook_secrets_only(template: dict[str, Any]) -> None:
    props = _functions(template)["NotificationFunction"]
    assert not any(isinstance(p, dict) and "DynamoDBCrudPolicy" in p and _names_accounts(p)
                   for p in props["Policies"])
    (statement,) = _statements_on_accounts(props["Policies"])
    assert sorted(statement["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem"]
    leading = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert leading == [keys.WEBHOOK_SECRET_PREFIX + "*"]


def test_routes_of_parsers_authenticate_through_the_authorizer(template: dict[str, Any]) -> None:
    api_auth = template["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]
    for name in PARSERS:
        for event in _functions(template)[name].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                authorizer = event["Properties"]["Auth"]["Authorizer"]
                assert api_auth[authorizer]["FunctionArn"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
