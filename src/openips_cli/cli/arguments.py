"""The ``openips`` command line: its commands, their arguments, and the flags every command takes."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = "``openips``: upload folders as IPS upload jobs, follow jobs, read logs, fetch assets, administer."
ROLES = ("IpsAdmin", "IpsCompanyAdmin", "IpsUser", "ImagePortalUser")
OVERWRITE_MODES = ("OverwriteFullName", "OverwriteAnyExt", "OverwriteFullNameAnyFolder", "OverwriteAnyExtAnyFolder")


def _add_globals(parser: argparse.ArgumentParser, top: bool) -> None:
    # Sub-parsers repeat the global flags with SUPPRESS defaults so they work after the command too.
    default = (lambda value: value) if top else (lambda _: argparse.SUPPRESS)
    parser.add_argument("--api-url", default=default(None), help="API base URL (or OPENIPS_API_URL)")
    parser.add_argument("--api-key", default=default(None), help="API key (or OPENIPS_API_KEY)")
    parser.add_argument("--state-dir", default=default(None),
                        help="local stack state folder holding local.json (or OPENIPS_STATE_DIR; default .openips)")
    parser.add_argument("--admin", action="store_true", default=default(False),
                        help="use local.json's adminApiKey instead of apiKey")
    parser.add_argument("--json", action="store_true", default=default(False), help="print the raw API JSON")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False), help="print less")


def build_parser() -> argparse.ArgumentParser:
    """The whole ``openips`` command line."""
    parser = argparse.ArgumentParser(prog="openips", description=DESCRIPTION)
    _add_globals(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(group: Any, name: str, help_text: str) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text, description=help_text)
        _add_globals(sub, top=False)
        return sub

    upload = command(commands, "upload", "upload files and folders as one upload job and follow it")
    upload.add_argument("paths", nargs="+", metavar="PATH", help="files and folders (folders are walked)")
    upload.add_argument("--options", help="JSON file with the UploadPostJob options")
    upload.add_argument("--dest-folder", help="IPS folder the files go to")
    upload.add_argument("--job-name", help="job name (default upload-<UTC yyyymmdd-HHMMSS>)")
    upload.add_argument("--job", help="upload into this open job instead of opening a new one")
    upload.add_argument("--parallel", type=int, default=4, help="files uploaded at a time (default 4)")
    upload.add_argument("--no-wait", action="store_true", help="exit once the job is closed, without following it")

    jobs = command(commands, "jobs", "list, inspect and control jobs")
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True, metavar="JOBS_COMMAND")
    active = command(jobs_commands, "active", "jobs that are still running or open")
    active.add_argument("--job", help="only this job handle")
    active.add_argument("--name", help="only jobs with this original name")
    logs = command(jobs_commands, "logs", "one summary row per job, newest first")
    logs.add_argument("--num-rows", type=int)
    logs.add_argument("--sort-by", help="JobName, LogType, StartDate, FileErrorCount, …")
    direction = logs.add_mutually_exclusive_group()
    direction.add_argument("--descending", dest="sort_direction", action="store_const", const="Descending")
    direction.add_argument("--ascending", dest="sort_direction", action="store_const", const="Ascending")
    details = command(jobs_commands, "details", "a job's log rows")
    details.add_argument("job", metavar="JOB")
    details.add_argument("--type", dest="types", action="extend", nargs="+", metavar="LOG_TYPE",
                         help="only these log types, e.g. UploadError UploadWarning")
    details.add_argument("--page", type=int)
    details.add_argument("--per-page", type=int)
    details.add_argument("--locale", help="language of the messages, e.g. en-US or ko-KR (default: the job's)")
    verify = command(jobs_commands, "verify", "check a job's counters against its files and rows (exit 1: drift)")
    verify.add_argument("job", metavar="JOB")
    verify.add_argument("--repair", action="store_true",
                        help="re-send files no attempt will finish, fix drifted counters, end the job if it can")
    for name, help_text in (("stop", "stop a job"), ("pause", "pause a job"), ("resume", "resume a paused job"),
                            ("end", "close an open upload job (no more files)"), ("delete", "delete a job")):
        command(jobs_commands, name, help_text).add_argument("job", metavar="JOB")

    assets = command(commands, "assets", "look at and download assets")
    assets_commands = assets.add_subparsers(dest="assets_command", required=True, metavar="ASSETS_COMMAND")
    command(assets_commands, "get", "one asset").add_argument("asset", metavar="ASSET")
    listing = command(assets_commands, "list", "find assets")
    which = listing.add_mutually_exclusive_group(required=True)
    which.add_argument("--job", help="assets created or updated by this job")
    which.add_argument("--folder", help="assets in this folder")
    which.add_argument("--name", help="assets with this name (asset ID)")
    listing.add_argument("--type", help="only this asset type, e.g. Image")
    download = command(assets_commands, "download", "download an asset's master, optimized image, mask and thumbnail")
    download.add_argument("asset", metavar="ASSET")
    download.add_argument("--to", default=".", metavar="DIR", help="folder to write to (default: here)")

    admin = command(commands, "admin", "companies and users (IpsAdmin; uses local.json's adminApiKey)")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True, metavar="ADMIN_COMMAND")
    company = command(admin_commands, "create-company", "create a company")
    company.add_argument("name", metavar="NAME")
    company.add_argument("--overwrite-mode", choices=OVERWRITE_MODES)
    company.add_argument("--retain-publish-state", action="store_true")
    user = command(admin_commands, "create-user", "create a user and print its API key once")
    user.add_argument("--company", required=True, help="company handle")
    user.add_argument("--email", required=True)
    user.add_argument("--role", required=True, choices=ROLES)
    for name, help_text in (("new-key", "issue a new API key for a user (printed once; the old one stops working)"),
                            ("revoke-key", "revoke a user's API key at once"),
                            ("delete-user", "delete a user and its API key")):
        command(admin_commands, name, help_text).add_argument("user", metavar="USER_HANDLE")

    local = command(commands, "local", "the local stack")
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="LOCAL_COMMAND")
    up = command(local_commands, "up", "run the local stack in the foreground and write <state-dir>/local.json")
    up.add_argument("--port", type=int, default=3000)
    up.add_argument("--host", default="127.0.0.1", help="address to listen on: loopback unless --allow-remote")
    up.add_argument("--allow-remote", action="store_true",
                    help="allow a non-loopback --host (plain HTTP, reachable from the network)")
    up.add_argument("--workers", type=int, default=4, help="files processed at once (default 4)")
    up.add_argument("--sweep-seconds", type=int, default=None,
                    help="run the sweeper this often instead of the template's schedule")
    mail = command(local_commands, "mail", "show the e-mails the running local stack sent (moto's SES)")
    mail.add_argument("--to", help="only mails to this address")
    mail.add_argument("--last", type=int, help="only the last N mails")
    return parser
