"""``openips local``: run the local stack in the foreground, and read the mails it sent.

Named ``local_stack`` so that it never reads as ``openips_cli.local``, the stack itself, which it
imports only when called (the stack needs moto; an installation without it still has the client).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
from collections.abc import Callable
from typing import Any

from openips_cli import config as configuration
from openips_cli.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from openips_cli.cli.terminal import Output
from openips_cli.client import OpenIpsClient


def cmd_local(args: argparse.Namespace, _: Callable[[], OpenIpsClient], out: Output) -> int:
    try:
        from openips_cli import local
    except ImportError as exc:
        Output.warn(f"error: the local stack is not available in this installation ({exc})")
        return EXIT_FAILED
    if args.local_command == "mail":
        return _local_mail(args, local, out)
    if not is_loopback(args.host):
        if not args.allow_remote:
            Output.warn(f"error: --host {args.host} is not a loopback address: the local stack is a development "
                        "emulator over plain HTTP; pass --allow-remote to listen there anyway")
            return EXIT_USAGE
        Output.warn(f"WARNING: listening on {args.host}: anyone who can reach it can call the API (with an API key) "
                    "and the S3 front (with the credentials in local.json), unencrypted. moto stays on 127.0.0.1.")
    return local.run(port=args.port, state_dir=configuration.state_dir(args.state_dir, os.environ), host=args.host,
                     workers=args.workers, sweep_seconds=args.sweep_seconds)


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _local_mail(args: argparse.Namespace, local: Any, out: Output) -> int:
    """``openips local mail``: the mails the running local stack sent (moto's SES)."""
    directory = configuration.state_dir(args.state_dir, os.environ)
    endpoint = configuration.read_local(directory).get("awsEndpointUrl")
    if not endpoint:
        Output.warn(f"error: no local stack is running ({directory / configuration.LOCAL_FILE} not found)")
        return EXIT_FAILED
    mails = local.sent_mail(endpoint)
    if args.to:
        mails = [m for m in mails if args.to in json.dumps(m.get("destinations"))]
    if args.last:
        mails = mails[-args.last:]

    def human() -> None:
        if not mails:
            print("no mail sent")
        for mail in mails:
            to = ", ".join(a for addresses in (mail.get("destinations") or {}).values() for a in addresses)
            print(f"From:    {mail['source']}\nTo:      {to}\nSubject: {mail['subject']}\n\n{mail['body']}")
            print("-" * 72)

    out.result(mails, human)
    return EXIT_OK
