"""Create the first ``IpsAdmin`` of a deployed stack and print its API key (shown once).

    python -m openips_cli.bootstrap --stack openips --email you@example.com
    python -m openips_cli.bootstrap --table openips-JobsTable-XYZ --email you@example.com

Runs with your AWS credentials (it writes to the jobs and accounts tables directly), which is
what makes it safe: only someone who can already write the tables can mint the first key.
"""

from __future__ import annotations

import argparse
import os
import sys

import boto3


def table_from_stack(stack: str, output_key: str = "JobsTableName") -> str:
    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == output_key:
            return output["OutputValue"]
    raise SystemExit(f"stack {stack} has no {output_key} output; pass --table and --accounts-table")


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack`` (its outputs name both tables), or ``--table`` with ``--accounts-table``."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="CloudFormation stack name (reads its table outputs)")
    where.add_argument("--table", help="the jobs table name (with --accounts-table)")
    parser.add_argument("--accounts-table", help="the accounts table name (with --table)")


def tables(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[str, str]:
    """(jobs table, accounts table) from the arguments ``add_table_arguments`` declared."""
    if args.table and not args.accounts_table:
        parser.error("--table needs --accounts-table")
    return (args.table or table_from_stack(args.stack),
            args.accounts_table or table_from_stack(args.stack, "AccountsTableName"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_table_arguments(parser)
    parser.add_argument("--email", required=True, help="email of the administrator")
    parser.add_argument("--company-name", default="openips", help="name of the administrators' company")
    args = parser.parse_args(argv)

    os.environ["JOBS_TABLE"], os.environ["ACCOUNTS_TABLE"] = tables(parser, args)
    from openips.adapters.dynamodb.factory import accounts_table, jobs_table
    from openips.services import auth

    user, api_key = auth.bootstrap_admin(jobs_table(os.environ["JOBS_TABLE"]).companies,
                                         accounts_table(os.environ["ACCOUNTS_TABLE"]), args.email, args.company_name)
    print(f"IpsAdmin {user.email} ({user.user_handle}) in company {user.company_handle}", file=sys.stderr)
    print("API key (shown once, store it now):", file=sys.stderr)
    print(api_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
