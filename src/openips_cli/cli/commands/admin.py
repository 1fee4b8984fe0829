"""``openips admin``: companies, users and their API keys (IpsAdmin; local.json's adminApiKey by default)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from openips_cli.cli.errors import EXIT_OK
from openips_cli.cli.terminal import Output
from openips_cli.client import OpenIpsClient


def cmd_admin(args: argparse.Namespace, client_factory: Callable[[], OpenIpsClient], out: Output) -> int:
    client = client_factory()
    if args.admin_command == "create-company":
        data = client.create_company(args.name, args.overwrite_mode, True if args.retain_publish_state else None)
        out.result(data, lambda: print(data["companyHandle"]))
    elif args.admin_command == "revoke-key":
        data = client.revoke_key(args.user)
        out.result(data, lambda: print(f"revoked the API key of {args.user}; it has no key until `new-key`"))
    elif args.admin_command == "delete-user":
        data = client.delete_user(args.user)
        out.result(data, lambda: print(f"deleted user {args.user} and its API key"))
    else:
        data = client.create_user(args.company, args.email, args.role) if args.admin_command == "create-user" \
            else client.issue_key(args.user)
        Output.warn("warning: the API key is shown only this once (the server keeps a hash); store it now")
        out.result(data, lambda: print(f"user     {data['userHandle']}\napi key  {data['apiKey']}"))
    return EXIT_OK
