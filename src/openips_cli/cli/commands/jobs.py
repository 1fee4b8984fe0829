"""``openips jobs``: active jobs, job logs and their rows, accounting checks, and job control."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from openips_cli.cli.errors import EXIT_FAILED, EXIT_OK
from openips_cli.cli.follow import DETAIL_PAGE, detail_message, summary
from openips_cli.cli.terminal import Column, Output, short_date
from openips_cli.client import OpenIpsClient

ACTIVE_COLUMNS = [Column("JOB", "handle"), Column("NAME"), Column("STATE", "word"), Column("PROGRESS", "word"),
                  Column("MESSAGE"), Column("STARTED", "date")]
LOG_COLUMNS = [Column("JOB", "handle"), Column("NAME"), Column("LOG TYPE", "word"), Column("STARTED", "date"),
               Column("ENDED", "date"), Column("FILES", "count"), Column("NEW", "count"), Column("UPD", "count"),
               Column("DUP", "count"), Column("WARN", "count", alert="yellow"), Column("ERR", "count", alert="red")]
DETAIL_COLUMNS = [Column("DATE", "date"), Column("TYPE", "word"), Column("ASSET"), Column("MESSAGE")]


def cmd_jobs(args: argparse.Namespace, client_factory: Callable[[], OpenIpsClient], out: Output) -> int:
    client = client_factory()
    if args.jobs_command == "active":
        data = client.active_jobs(job_handle=args.job, original_name=args.name)
        rows = [[j.get("jobHandle"), j.get("name"), j.get("state"), f"{j.get('progress', 0)}%",
                 j.get("progressMessage"), short_date(j.get("startDate"))] for j in data.get("jobArray", [])]
        out.result(data, lambda: out.table(ACTIVE_COLUMNS, rows, empty="no active jobs"))
    elif args.jobs_command == "logs":
        data = client.job_logs(num_rows=args.num_rows, sort_by=args.sort_by, sort_direction=args.sort_direction)
        rows = [[j.get("jobHandle"), j.get("jobName"), j.get("logType"), short_date(j.get("startDate")),
                 short_date(j.get("endDate")), j.get("totalFileCount"), j.get("fileSuccessCount"),
                 j.get("fileUpdateCount"), j.get("fileDuplicateCount"), j.get("fileWarningCount"),
                 j.get("fileErrorCount")] for j in data.get("jobLogArray", [])]
        out.result(data, lambda: out.table(LOG_COLUMNS, rows, empty="no jobs"))
    elif args.jobs_command == "details":
        data = client.job_log_details(args.job, args.types, args.per_page, args.page, locale=args.locale)
        out.result(data, lambda: print_details(out, data["jobLogArray"][0], args.page or 1,
                                               args.per_page or DETAIL_PAGE))
    elif args.jobs_command == "end":
        data = client.end_upload_job(args.job)
        out.result(data, lambda: print(f"closed job {args.job}; it ends once every uploaded file is processed"))
    elif args.jobs_command == "delete":
        data = client.delete_job(args.job)
        out.result(data, lambda: print(f"deleted job {args.job}"))
    elif args.jobs_command == "verify":
        data = client.verify_job(args.job, repair=args.repair)
        out.result(data, lambda: print(verification_text(data)))
        return EXIT_OK if data["healthy"] or data["repaired"] else EXIT_FAILED
    else:
        data = client.job_action(args.job, args.jobs_command)
        done = {"stop": "stopping", "pause": "paused", "resume": "resumed"}[args.jobs_command]
        out.result(data, lambda: print(f"{done} job {args.job}"))
    return EXIT_OK


def verification_text(data: dict) -> str:
    """``openips jobs verify``: one line per finding, the verdict first."""
    verdict = "accounting is exact" if data["healthy"] else "accounting needs repair"
    lines = [f"job {data['jobHandle']} ({data['state']}): {verdict}; {data['filesClaimed']} files claimed, "
             f"{data['filesInFlight']} in flight, {data['expectedFiles']} expected"]
    lines += [f"  drift: {d['counter']} stored {d['stored']}, recounted {d['recounted']}" for d in data["drift"]]
    lines += [f"  stalled: {f['path']} (attempt {f['attempts']}, lease ended {short_date(f['leaseUntil'])})"
              + (f": {f['lastError']}" if f.get("lastError") else "") for f in data["stalledFiles"]]
    lines += [f"  never claimed: {key}" for key in data["unclaimedUploads"]]
    lines += [f"  repaired: {what}" for what in data["repaired"]]
    if not data["healthy"] and not data["repaired"]:
        lines.append("  run `openips jobs verify --repair JOB` (an admin) to repair it; the sweeper also does")
    return "\n".join(lines)


def print_details(out: Output, log: dict, page: int, per_page: int) -> None:
    """``openips jobs details``: the job's summary, a table of its rows, and where this page is."""
    print(summary(log))
    rows = log.get("detailArray") or []
    if not rows:
        print("no log rows" + (" on this page" if page > 1 else ""))
        return
    out.table(DETAIL_COLUMNS, [[short_date(r.get("dateCreated")), r.get("logType"), r.get("assetName"),
                                detail_message(r)] for r in rows], empty="")
    first = (page - 1) * per_page + 1
    print(f"rows {first}-{first + len(rows) - 1} of {log.get('detailTotalRows', '?')} (page {page})")
