"""``openips``: upload folders as IPS upload jobs, follow jobs, read logs, fetch assets, administer.

The entry point (the ``openips`` script, ``python -m openips_cli.main``): parse the command line,
run the command, turn what went wrong into an exit code. The commands and what they stand on are
in ``openips_cli.cli`` (its docstring is the map).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from openips_cli import config as configuration
from openips_cli.cli.arguments import build_parser
from openips_cli.cli.commands.admin import cmd_admin
from openips_cli.cli.commands.assets import cmd_assets
from openips_cli.cli.commands.jobs import cmd_jobs
from openips_cli.cli.commands.local_stack import cmd_local
from openips_cli.cli.commands.upload import cmd_upload
from openips_cli.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from openips_cli.cli.terminal import Output, PrintableStream, Screen, printable
from openips_cli.client import ApiConnectionError, ApiError, OpenIpsClient, S3Error

__all__ = ["HANDLERS", "PrintableStream", "main", "printable"]

HANDLERS = {"upload": cmd_upload, "jobs": cmd_jobs, "assets": cmd_assets, "admin": cmd_admin, "local": cmd_local}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``openips`` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    clients: list[OpenIpsClient] = []
    streams = sys.stdout, sys.stderr
    # Rich draws on the real streams (its own escapes must pass); everything else is printed escaped.
    out = Output(args.json, args.quiet, Screen.detect(*streams))
    sys.stdout, sys.stderr = PrintableStream(sys.stdout), PrintableStream(sys.stderr)  # type: ignore[assignment]

    def client_factory() -> OpenIpsClient:
        found = configuration.resolve(args.api_url, args.api_key, args.state_dir,
                                      admin=args.admin or args.command == "admin")
        clients.append(OpenIpsClient(found.api_url, found.api_key))
        return clients[-1]

    try:
        return HANDLERS[args.command](args, client_factory, out)
    except (UsageError, configuration.ConfigError) as exc:
        Output.warn(f"error: {exc}")
        return EXIT_USAGE
    except ApiError as exc:
        Output.warn(f"error: {exc.fault_type} {exc.code}: {exc.reason}")
        return EXIT_FAILED
    except (ApiConnectionError, S3Error) as exc:
        Output.warn(f"error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        Output.warn("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as other tools do.
        sys.stderr.close()
        return EXIT_FAILED
    finally:
        sys.stdout, sys.stderr = streams
        for client in clients:
            client.close()


if __name__ == "__main__":
    sys.exit(main())
