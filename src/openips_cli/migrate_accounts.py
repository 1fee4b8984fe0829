"""Move users, API keys and webhook secrets from the jobs table to the accounts table (run once,
after deploying the stack version that adds ``AccountsTable``; until then, existing keys fail).

    python -m openips_cli.migrate_accounts --stack openips
    python -m openips_cli.migrate_accounts --table <jobs table> --accounts-table <accounts table>

Runs with your AWS credentials. Safe to run again: an item already in the accounts table is
kept as it is there, and the jobs-table copy is deleted only once the accounts table holds it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import boto3
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from openips_cli.bootstrap import add_table_arguments, tables


@dataclass
class Moved:
    users: int = 0
    keys: int = 0
    webhook_secrets: int = 0


def _legacy_items(jobs) -> list[dict]:
    # A Scan, once: these items have no index of their own in the jobs table.
    wanted = Attr("sk").is_in(["USER", "KEY", "WEBHOOK_SECRET"])
    found, kwargs = [], {"FilterExpression": wanted}
    while True:
        page = jobs.scan(**kwargs)
        found += page["Items"]
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _target(item: dict, key_of_user: dict[str, str]) -> dict:
    if item["sk"] == "WEBHOOK_SECRET":  # C#<company> → W#<company>: IAM scopes the notifier to W#
        return {**item, "pk": "W#" + item["pk"].removeprefix("C#")}
    if item["sk"] == "USER" and "key_hash" not in item:
        # Written before keys could be revoked: its one key item is its live key.
        return {**item, "key_hash": key_of_user.get(item["user_handle"], "")}
    return item


def migrate(jobs_table: str, accounts_table: str) -> Moved:
    ddb = boto3.resource("dynamodb")
    jobs, accounts = ddb.Table(jobs_table), ddb.Table(accounts_table)
    items = _legacy_items(jobs)
    key_of_user = {item["user_handle"]: item["pk"].removeprefix("K#") for item in items if item["sk"] == "KEY"}
    moved = Moved()
    for item in items:
        target = _target(item, key_of_user)
        try:
            accounts.put_item(Item=target, ConditionExpression=Attr("pk").not_exists())
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        jobs.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
        field = {"USER": "users", "KEY": "keys", "WEBHOOK_SECRET": "webhook_secrets"}[item["sk"]]
        setattr(moved, field, getattr(moved, field) + 1)
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_table_arguments(parser)
    args = parser.parse_args(argv)
    jobs, accounts = tables(parser, args)
    moved = migrate(jobs, accounts)
    print(f"moved {moved.users} users, {moved.keys} API keys, {moved.webhook_secrets} webhook secrets "
          f"from {jobs} to {accounts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
