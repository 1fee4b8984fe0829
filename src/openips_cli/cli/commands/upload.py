"""``openips upload``: open a job (or continue one), send the files, close it, follow it to its end."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from pathlib import Path

from openips_cli.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from openips_cli.cli.files import collect_files, default_job_name, load_options
from openips_cli.cli.follow import follow, summary
from openips_cli.cli.terminal import Output, human_size
from openips_cli.cli.transfer import FormHolder, UploadProgress, upload_all
from openips_cli.client import ApiConnectionError, ApiError, OpenIpsClient


def _left_open(job: str, why: str) -> None:
    Output.warn(f"job {job} is left open ({why}).\n"
                f"  upload more files into it:  openips upload PATH... --job {job}\n"
                f"  close it:                   openips jobs end {job}\n"
                "  (an open job also closes by itself after 30 minutes without activity)")


def cmd_upload(args: argparse.Namespace, client_factory: Callable[[], OpenIpsClient], out: Output) -> int:
    if args.job and (args.options or args.job_name or args.dest_folder):
        raise UsageError("--job continues an open job: its options, name and folder were fixed when it was opened")
    if not args.job and not args.options:
        raise UsageError("--options FILE is required (the UploadPostJob options as a JSON object)")
    if not 1 <= args.parallel <= 64:
        raise UsageError("--parallel must be between 1 and 64")
    options = load_options(Path(args.options)) if args.options else None
    files = collect_files([Path(p) for p in args.paths])
    if not files:
        raise UsageError("nothing to upload (hidden files and folders and symlinks are skipped)")
    client = client_factory()
    if args.job:
        job = args.job
        form = client.renew_upload_form(job)["upload"]
        out.info(f"continuing job {job}")
    else:
        opened = client.create_upload_job(args.job_name or default_job_name(), options or {}, args.dest_folder)
        job, form = opened["jobHandle"], opened["upload"]
        out.info(f"opened job {job}")
    sizes = {relative: path.stat().st_size for relative, path in files}
    out.info(f"uploading {len(files)} files ({human_size(sum(sizes.values()))}), {args.parallel} at a time")
    progress = UploadProgress(sizes, out.progress_console)
    cancel = threading.Event()
    try:
        try:
            refused = upload_all(FormHolder(client, job, form), files, args.parallel, progress, cancel)
        finally:
            progress.finish()  # whatever happens, the terminal gets its cursor back before anything else is said
    except KeyboardInterrupt:
        Output.warn("\ninterrupted")
        _left_open(job, f"{progress.files_done} of {len(files)} files confirmed")
        return EXIT_INTERRUPTED
    except (ApiError, ApiConnectionError) as exc:
        Output.warn(f"error: {exc}")
        _left_open(job, f"{progress.files_done} of {len(files)} files confirmed")
        return EXIT_FAILED
    client.end_upload_job(job)
    out.info(f"closed job {job}: {len(files) - len(refused)} uploaded, {len(refused)} refused")
    if args.no_wait:
        out.result({"jobHandle": job, "refused": refused}, lambda: print(job))
        return EXIT_FAILED if refused else EXIT_OK
    try:
        log = follow(client, job, out)
    except KeyboardInterrupt:
        Output.warn(f"\nstopped following; job {job} goes on: openips jobs active --job {job}")
        return EXIT_INTERRUPTED
    except (ApiError, ApiConnectionError) as exc:
        Output.warn(f"error: {exc}\nstopped following; job {job} goes on: openips jobs active --job {job}")
        return EXIT_FAILED
    out.result({"jobHandle": job, "jobLog": log, "refused": refused},
               lambda: print(summary(log) + (f"; {len(refused)} files refused by the upload form" if refused else "")))
    failed = refused or log.get("fileErrorCount", 0) or log.get("fatalError")
    return EXIT_FAILED if failed else EXIT_OK
