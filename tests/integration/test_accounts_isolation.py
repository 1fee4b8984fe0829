"""Issue 13 item 8: parsers hold no keys. Users, API-key hashes and webhook secrets live in the
accounts table, which the functions that parse uploads cannot reach (IAM: tests/unit/test_iam_reach.py);
the one HTTP route served by a parser authenticates through AuthorizerFunction."""

from __future__ import annotations

import boto3

from openips.handlers import imaging_api
from openips_cli.inprocess import LambdaContext, http_api_event

SECRET_ATTRIBUTES = {"key_hash", "secret", "previous_secret"}


def _items(table: str) -> list[dict]:
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page["Items"]]


def test_the_jobs_table_holds_no_user_key_or_secret(stack):
    user = stack.call("POST", "/v1/admin/users", {"companyHandle": stack.company, "email": "new@acme.example",
                                                  "role": "IpsUser"})
    assert user.status == 201, user.body
    assert stack.call("POST", f"/v1/admin/users/{user.body['userHandle']}/api-key").status == 201
    assert stack.call("GET", f"/v1/admin/companies/{stack.company}/webhook-secret").status == 200
    assert stack.call("POST", f"/v1/admin/companies/{stack.company}/webhook-secret/rotate").status == 200

    jobs = _items(stack.resources.names["JobsTable"])
    assert jobs, "the jobs table holds the companies"
    leaked = [item["pk"]["S"] for item in jobs
              if item["pk"]["S"].startswith(("U#", "K#", "W#")) or SECRET_ATTRIBUTES & set(item)]
    assert leaked == []
    kinds = {item["pk"]["S"][:2] for item in _items(stack.resources.names["AccountsTable"])}
    assert kinds == {"U#", "K#", "W#"}


def test_the_parser_route_answers_through_the_authorizer_with_ips_faults(stack):
    path = "/v1/assets/a-unknown/auto-crop-rect"
    known = stack.call("GET", path, query={"type": "Color"})  # a valid key gets as far as the asset
    assert known.status == 404 and known.body["fault"]["type"] != "authenticationFault", known.body
    missing = stack.call("GET", path, key=None)
    assert (missing.status, missing.fault_code, missing.body["fault"]["type"]) == (401, 10000, "authenticationFault")
    wrong = stack.call("GET", path, key="oips_not-a-key")
    assert (wrong.status, wrong.fault_code) == (401, 10001)


def test_a_revoked_key_stops_working_on_the_parser_route_at_once(stack):
    created = stack.call("POST", "/v1/admin/users", {"companyHandle": stack.company, "email": "r@acme.example",
                                                     "role": "IpsUser"})
    handle, key = created.body["userHandle"], created.body["apiKey"]
    path = "/v1/assets/a-unknown/auto-crop-rect"
    assert stack.call("GET", path, key=key, query={"type": "Color"}).status == 404
    assert stack.call("DELETE", f"/v1/admin/users/{handle}/api-key").status == 200
    assert stack.call("GET", path, key=key, query={"type": "Color"}).status == 401


def test_the_parser_function_never_reads_keys_itself(stack):
    """Invoked without the authorizer's verdict, AssetImagingFunction refuses even a valid key: it
    has no way to look one up (on AWS its role cannot read the accounts table)."""
    event = http_api_event("GET", "/v1/assets/a-unknown/auto-crop-rect",
                           {"authorization": f"Bearer {stack.key}"}, None, None, "203.0.113.7")
    result = imaging_api.lambda_handler(event, LambdaContext(function_name="AssetImagingFunction"))
    assert result["statusCode"] == 401


def test_an_upgrade_moves_existing_keys_and_secrets_and_they_keep_working(stack):
    """Items as the previous version wrote them, in the jobs table: a user from before revocation
    (no ``key_hash``), its key item, and a webhook secret under the company's key."""
    from openips.services import auth
    from openips_cli import migrate_accounts

    jobs = boto3.resource("dynamodb").Table(stack.resources.names["JobsTable"])
    legacy_key = "oips_legacy-key-from-the-previous-version"
    user = {"user_handle": "u-legacy", "company_handle": stack.company, "email": "old@acme.example",
            "role": "IpsCompanyAdmin"}
    jobs.put_item(Item={"pk": "U#u-legacy", "sk": "USER", "gsi1pk": f"C#{stack.company}#USERS",
                        "gsi1sk": user["email"], **user})
    jobs.put_item(Item={"pk": f"K#{auth.hash_key(legacy_key)}", "sk": "KEY", **user})
    jobs.put_item(Item={"pk": f"C#{stack.company}", "sk": "WEBHOOK_SECRET", "secret": "whsec_old",
                        "created_at": "2026-01-01T00:00:00Z"})
    assert stack.call("GET", "/v1/jobs/active", key=legacy_key).status == 401  # before the migration

    names = stack.resources.names
    moved = migrate_accounts.migrate(names["JobsTable"], names["AccountsTable"])
    assert (moved.users, moved.keys, moved.webhook_secrets) == (1, 1, 1)
    assert stack.call("GET", "/v1/jobs/active", key=legacy_key).status == 200
    secret = stack.call("GET", f"/v1/admin/companies/{stack.company}/webhook-secret", key=legacy_key)
    assert secret.body["webhookSecret"] == "whsec_old"
    assert not [i for i in _items(names["JobsTable"]) if i["sk"]["S"] in ("USER", "KEY", "WEBHOOK_SECRET")]
    again = migrate_accounts.migrate(names["JobsTable"], names["AccountsTable"])  # a second run is harmless
    assert (again.users, again.keys, again.webhook_secrets) == (0, 0, 0)
    assert stack.call("GET", "/v1/jobs/active", key=legacy_key).status == 200
