"""``openips``: upload folders as IPS upload jobs, follow jobs, read logs, fetch assets, administer."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from openips_cli import config as configuration
from openips_cli.client import (
    ApiConnectionError,
    ApiError,
    OpenIpsClient,
    S3Error,
    UploadCancelled,
    UploadRefused,
    download_file,
    upload_file,
)

POLL_SECONDS = 1.0
RENEW_MARGIN = timedelta(seconds=60)
FOLLOW_TYPES = ["UploadError", "UploadWarning", "FileCancel"]
DETAIL_PAGE = 1000
ROLES = ("IpsAdmin", "IpsCompanyAdmin", "IpsUser", "ImagePortalUser")
OVERWRITE_MODES = ("OverwriteFullName", "OverwriteAnyExt", "OverwriteFullNameAnyFolder", "OverwriteAnyExtAnyFolder")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad input found before anything was created on the server (exit 2)."""


# ---- formatting ------------------------------------------------------------------------


def short_date(value: Any) -> str:
    """An ISO 8601 date as ``YYYY-MM-DD HH:MM:SS`` (unchanged when it does not parse)."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return str(value)


def human_size(size: float) -> str:
    """Bytes in B, KB, MB, GB or TB (powers of 1024, one decimal above bytes)."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain-text table: columns two spaces apart, numbers right-aligned, no trailing blanks."""
    values = [list(row) for row in rows]
    cells = [[("" if v is None else str(v)) for v in row] for row in values]
    numeric = [bool(values) and all(isinstance(row[i], (int, float)) and not isinstance(row[i], bool)
                                    for row in values if row[i] is not None) for i in range(len(headers))]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str], header: bool = False) -> str:
        parts = [v.rjust(w) if numeric[i] and not header else v.ljust(w)
                 for i, (v, w) in enumerate(zip(values, widths))]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers, header=True)] + [line(row) for row in cells])


def format_progress(sent: int, total: int, files_done: int, files_total: int, width: int = 30) -> str:
    """One line of the aggregate upload bar: ``[####......]  40%  4.0 MB / 10.0 MB  2/5 files``."""
    fraction = 1.0 if total <= 0 else min(max(sent / total, 0.0), 1.0)
    filled = int(fraction * width)
    return (f"[{'#' * filled}{'.' * (width - filled)}] {fraction * 100:3.0f}%  "
            f"{human_size(sent)} / {human_size(total)}  {files_done}/{files_total} files")


class Progress:
    """The one aggregate byte progress bar, drawn on a TTY with ``\\r``; a no-op elsewhere."""

    def __init__(self, total: int, files_total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.files_total, self.stream, self.enabled = total, files_total, stream, enabled
        self.sent = self.files_done = 0
        self._lock = threading.Lock()
        self._drawn = 0.0
        self._width = 0

    def add(self, count: int) -> None:
        with self._lock:
            self.sent += count
            self._draw()

    def file_done(self) -> None:
        with self._lock:
            self.files_done += 1
            self._draw(force=True)

    def message(self, text: str) -> None:
        """Print a line above the bar without tearing it."""
        with self._lock:
            self._clear()
            print(text, file=self.stream, flush=True)
            self._draw(force=True)

    def finish(self) -> None:
        with self._lock:
            if self.enabled and self._width:
                self._draw(force=True)
                self.stream.write("\n")
                self.stream.flush()
                self._width = 0

    def _clear(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._drawn < 0.1):
            return
        self._drawn = now
        text = format_progress(self.sent, self.total, self.files_done, self.files_total)
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)


def printable(text: str) -> str:
    """``text`` with every control and invisible format character shown as an escape (``\\u001b``, ``\\u202e``).

    Names and messages come from other people's uploads and jobs: an ESC sequence in a job name
    must not rewrite the terminal of whoever lists it, nor U+202E reverse what they read.
    """
    # JSON's own escapes (``\\u001b``), so that ``--json`` output stays valid JSON through this too.
    return "".join(ch if ch in "\n\t\r" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
                   else json.dumps(ch)[1:-1] for ch in text)


class PrintableStream:
    """A text stream that writes ``printable(text)``: what a person reads (``--json`` escapes by itself)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class Output:
    """Where text goes: results on stdout (JSON with ``--json``), chatter and errors on stderr."""

    def __init__(self, as_json: bool, quiet: bool) -> None:
        self.as_json, self.quiet = as_json, quiet

    def result(self, data: Any, human: Callable[[], None]) -> None:
        if self.as_json:
            print(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            human()

    def info(self, text: str) -> None:
        """Human progress text: stdout normally, stderr under ``--json``, nowhere under ``-q``."""
        if not self.quiet:
            print(text, file=sys.stderr if self.as_json else sys.stdout, flush=True)

    @staticmethod
    def warn(text: str) -> None:
        print(text, file=sys.stderr, flush=True)


# ---- upload helpers ----------------------------------------------------------------------


def load_options(path: Path) -> dict:
    """The ``UploadPostJob`` options file: a JSON object, checked before anything is created."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"options file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read options file {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"options file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"options file {path} must hold a JSON object (the UploadPostJob options), "
                         f"not a JSON {type(data).__name__}")
    return data


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _walk(directory: Path, prefix: str) -> Iterable[tuple[str, Path]]:
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            # Symlinks are never followed: a link could pull in a tree outside the one named.
            if _hidden(entry.name) or entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(Path(entry.path), f"{prefix}{entry.name}/")
            elif entry.is_file(follow_symlinks=False):
                yield f"{prefix}{entry.name}", Path(entry.path)


def collect_files(paths: Sequence[Path]) -> list[tuple[str, Path]]:
    """``(relative upload path, file)`` for every PATH: a file by its base name, a folder walked."""
    found: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            entries = list(_walk(path, ""))
        elif path.is_file():
            entries = [(path.name, path)]
        elif path.exists():
            raise UsageError(f"{path} is neither a file nor a folder")
        else:
            raise UsageError(f"{path} not found")
        for relative, file in entries:
            if relative in found and found[relative] != file:
                raise UsageError(f"{found[relative]} and {file} would both be uploaded as {relative}")
            found[relative] = file
    return list(found.items())


def default_job_name(now: datetime | None = None) -> str:
    """``upload-<UTC yyyymmdd-HHMMSS>``."""
    return "upload-" + (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")


def _expiration(form: dict) -> datetime:
    value = datetime.fromisoformat(str(form["expiration"]).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class FormHolder:
    """The job's presigned form, renewed once for every uploader when it is about to expire."""

    def __init__(self, client: OpenIpsClient, job: str, form: dict) -> None:
        self.client, self.job, self.form = client, job, form
        self._lock = threading.Lock()

    def get(self) -> dict:
        with self._lock:
            if _expiration(self.form) - datetime.now(timezone.utc) < RENEW_MARGIN:
                self.form = self.client.renew_upload_form(self.job)["upload"]
            return self.form


def _upload_all(holder: FormHolder, files: list[tuple[str, Path]], parallel: int, progress: Progress,
                cancel: threading.Event) -> list[dict]:
    """Upload every file, ``parallel`` at a time; returns the refusals."""
    refused: list[dict] = []

    def one(relative: str, path: Path) -> None:
        form = holder.get()
        size = path.stat().st_size
        if size > int(form.get("maxFileSize") or size):
            raise UploadRefused("EntityTooLarge", f"{size} bytes is over the job's maxFileSize "
                                                  f"of {form['maxFileSize']} (not sent)")
        upload_file(form, relative, path, progress.add, cancel=cancel)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="upload") as pool:
        pending: dict[Future, str] = {pool.submit(one, rel, path): rel for rel, path in files}
        try:
            while pending:
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    relative = pending.pop(future)
                    error = future.exception()
                    if isinstance(error, UploadCancelled):
                        continue
                    if isinstance(error, S3Error):
                        refused.append({"file": relative, "code": error.code, "message": error.message})
                        progress.message(f"refused: {relative}: {error.code}: {error.message}")
                    elif isinstance(error, OSError):
                        refused.append({"file": relative, "code": "LocalFileError", "message": str(error)})
                        progress.message(f"refused: {relative}: LocalFileError: {error}")
                    elif error is not None:
                        raise error
                    progress.file_done()
        except BaseException:
            # Stop queued files and make in-flight bodies fail at their next read.
            cancel.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return refused


def _row_key(row: dict) -> tuple:
    return row.get("logType"), row.get("dateCreated"), row.get("logMessage"), row.get("assetHandle")


class DetailFollower:
    """New error and warning rows of a job's log, each reported once."""

    def __init__(self, client: OpenIpsClient, job: str) -> None:
        self.client, self.job = client, job
        self.seen: set[tuple] = set()
        self.rows: list[dict] = []
        self.log: dict = {}
        self._full_pages = 0

    def poll(self, from_start: bool = False) -> list[dict]:
        """Rows not seen yet; pages already full are skipped unless ``from_start``."""
        page = 1 if from_start else self._full_pages + 1
        new: list[dict] = []
        while True:
            log = self.client.job_log_details(self.job, FOLLOW_TYPES, DETAIL_PAGE, page)["jobLogArray"][0]
            self.log = log
            rows = log.get("detailArray") or []
            for row in rows:
                if _row_key(row) not in self.seen:
                    self.seen.add(_row_key(row))
                    new.append(row)
            if len(rows) < DETAIL_PAGE:
                break
            self._full_pages = max(self._full_pages, page)
            page += 1
        self.rows += new
        return new


def _follow(client: OpenIpsClient, job: str, out: Output) -> dict:
    """Poll the job until it leaves the active list; returns its final log with every error/warning row."""
    details = DetailFollower(client, job)
    last_message = None
    while True:
        active = client.active_jobs(job_handle=job).get("jobArray") or []
        for row in details.poll(from_start=not active):
            out.info(_detail_line(row))
        if not active:
            break
        state = active[0]
        message = (state.get("state"), state.get("progressMessage"))
        if message != last_message:
            last_message = message
            out.info(f"{state.get('state')} {state.get('progress', 0)}%: {state.get('progressMessage', '')}")
        time.sleep(POLL_SECONDS)
    return {**details.log, "detailArray": details.rows, "detailTotalRows": len(details.rows)}


def _detail_message(row: dict) -> str:
    aux = "; ".join(a.get("logMessage", "") for a in row.get("auxArray") or [])
    return row.get("logMessage", "") + (f" ({aux})" if aux else "")


def _detail_line(row: dict) -> str:
    return f"{row.get('logType', ''):<14} {_detail_message(row)}"


def _summary(log: dict) -> str:
    return (f"job {log.get('jobHandle')} ({log.get('jobName')}): {log.get('logType')}: "
            f"{log.get('totalFileCount', 0)} files: {log.get('fileSuccessCount', 0)} new, "
            f"{log.get('fileUpdateCount', 0)} updated, {log.get('fileDuplicateCount', 0)} duplicates, "
            f"{log.get('fileWarningCount', 0)} warnings, {log.get('fileErrorCount', 0)} errors"
            + (", FATAL ERROR" if log.get("fatalError") else ""))


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
    total = sum(path.stat().st_size for _, path in files)
    out.info(f"uploading {len(files)} files ({human_size(total)}), {args.parallel} at a time")
    progress = Progress(total, len(files), sys.stderr, enabled=sys.stderr.isatty() and not out.quiet)
    cancel = threading.Event()
    try:
        refused = _upload_all(FormHolder(client, job, form), files, args.parallel, progress, cancel)
    except KeyboardInterrupt:
        progress.finish()
        Output.warn("\ninterrupted")
        _left_open(job, f"{progress.files_done} of {len(files)} files confirmed")
        return EXIT_INTERRUPTED
    except (ApiError, ApiConnectionError) as exc:
        progress.finish()
        Output.warn(f"error: {exc}")
        _left_open(job, f"{progress.files_done} of {len(files)} files confirmed")
        return EXIT_FAILED
    progress.finish()
    client.end_upload_job(job)
    out.info(f"closed job {job}: {len(files) - len(refused)} uploaded, {len(refused)} refused")
    if args.no_wait:
        out.result({"jobHandle": job, "refused": refused}, lambda: print(job))
        return EXIT_FAILED if refused else EXIT_OK
    try:
        log = _follow(client, job, out)
    except KeyboardInterrupt:
        Output.warn(f"\nstopped following; job {job} goes on: openips jobs active --job {job}")
        return EXIT_INTERRUPTED
    except (ApiError, ApiConnectionError) as exc:
        Output.warn(f"error: {exc}\nstopped following; job {job} goes on: openips jobs active --job {job}")
        return EXIT_FAILED
    out.result({"jobHandle": job, "jobLog": log, "refused": refused},
               lambda: print(_summary(log) + (f"; {len(refused)} files refused by the upload form" if refused else "")))
    failed = refused or log.get("fileErrorCount", 0) or log.get("fatalError")
    return EXIT_FAILED if failed else EXIT_OK


# ---- jobs, assets, admin ---------------------------------------------------------------------


def cmd_jobs(args: argparse.Namespace, client_factory: Callable[[], OpenIpsClient], out: Output) -> int:
    client = client_factory()
    if args.jobs_command == "active":
        data = client.active_jobs(job_handle=args.job, original_name=args.name)
        rows = [[j.get("jobHandle"), j.get("name"), j.get("state"), f"{j.get('progress', 0)}%",
                 j.get("progressMessage"), short_date(j.get("startDate"))] for j in data.get("jobArray", [])]
        out.result(data, lambda: print(format_table(["JOB", "NAME", "STATE", "PROGRESS", "MESSAGE", "STARTED"], rows)
                                       if rows else "no active jobs"))
    elif args.jobs_command == "logs":
        data = client.job_logs(num_rows=args.num_rows, sort_by=args.sort_by, sort_direction=args.sort_direction)
        rows = [[j.get("jobHandle"), j.get("jobName"), j.get("logType"), short_date(j.get("startDate")),
                 short_date(j.get("endDate")), j.get("totalFileCount"), j.get("fileSuccessCount"),
                 j.get("fileUpdateCount"), j.get("fileDuplicateCount"), j.get("fileWarningCount"),
                 j.get("fileErrorCount")] for j in data.get("jobLogArray", [])]
        headers = ["JOB", "NAME", "LOG TYPE", "STARTED", "ENDED", "FILES", "NEW", "UPD", "DUP", "WARN", "ERR"]
        out.result(data, lambda: print(format_table(headers, rows) if rows else "no jobs"))
    elif args.jobs_command == "details":
        data = client.job_log_details(args.job, args.types, args.per_page, args.page, locale=args.locale)
        out.result(data, lambda: _print_details(data["jobLogArray"][0], args.page or 1, args.per_page or DETAIL_PAGE))
    elif args.jobs_command == "end":
        data = client.end_upload_job(args.job)
        out.result(data, lambda: print(f"closed job {args.job}; it ends once every uploaded file is processed"))
    elif args.jobs_command == "delete":
        data = client.delete_job(args.job)
        out.result(data, lambda: print(f"deleted job {args.job}"))
    elif args.jobs_command == "verify":
        data = client.verify_job(args.job, repair=args.repair)
        out.result(data, lambda: print(_verification_text(data)))
        return EXIT_OK if data["healthy"] or data["repaired"] else EXIT_FAILED
    else:
        data = client.job_action(args.job, args.jobs_command)
        done = {"stop": "stopping", "pause": "paused", "resume": "resumed"}[args.jobs_command]
        out.result(data, lambda: print(f"{done} job {args.job}"))
    return EXIT_OK


def _verification_text(data: dict) -> str:
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


def _print_details(log: dict, page: int, per_page: int) -> None:
    print(_summary(log))
    rows = log.get("detailArray") or []
    if not rows:
        print("no log rows" + (" on this page" if page > 1 else ""))
        return
    print(format_table(["DATE", "TYPE", "ASSET", "MESSAGE"], [
        [short_date(r.get("dateCreated")), r.get("logType"), r.get("assetName"), _detail_message(r)]
        for r in rows]))
    first = (page - 1) * per_page + 1
    print(f"rows {first}-{first + len(rows) - 1} of {log.get('detailTotalRows', '?')} (page {page})")


def _safe_name(name: str) -> str:
    """A server-given name reduced to one path component, so downloads stay inside --to."""
    cleaned = PurePosixPath(name.replace("\\", "/")).name
    return cleaned if cleaned not in ("", ".", "..") else "unnamed"


def cmd_assets(args: argparse.Namespace, client_factory: Callable[[], OpenIpsClient], out: Output) -> int:
    client = client_factory()
    if args.assets_command == "get":
        data = client.get_asset(args.asset)
        out.result(data, lambda: print(_asset_text(data)))
    elif args.assets_command == "list":
        data = client.find_all_assets(folder=args.folder, name=args.name, job_handle=args.job, asset_type=args.type)
        rows = [[a.get("assetHandle"), a.get("name"), a.get("type"), a.get("folder"), a.get("fileName"),
                 human_size(a.get("fileSize") or 0), _pixels(a), a.get("publishState")]
                for a in data.get("assetArray", [])]
        headers = ["ASSET", "NAME", "TYPE", "FOLDER", "FILE", "SIZE", "PIXELS", "PUBLISH"]
        out.result(data, lambda: print(format_table(headers, rows) if rows else "no assets"))
    else:
        asset = client.get_asset(args.asset)
        target = Path(args.to)
        target.mkdir(parents=True, exist_ok=True)
        written = []
        name = _safe_name(asset.get("name") or asset["assetHandle"])
        for kind in ("master", "optimized", "mask"):
            entry = (asset.get("files") or {}).get(kind)
            if not entry or not entry.get("url"):
                continue
            suffix = PurePosixPath(entry.get("key", "")).suffix or ".tif"
            file_name = {"master": _safe_name(asset.get("fileName") or name), "optimized": f"{name}.tif",
                         "mask": f"{name}-mask{suffix}"}[kind]
            size = download_file(entry["url"], target / file_name)
            written.append({"kind": kind, "path": str(target / file_name), "size": size})
            out.info(f"{kind:<9} {target / file_name} ({human_size(size)})")
        out.result({"assetHandle": asset["assetHandle"], "written": written}, lambda: None)
    return EXIT_OK


def _pixels(asset: dict) -> str:
    return f"{asset['width']}x{asset['height']}" if asset.get("width") and asset.get("height") else ""


def _asset_text(a: dict) -> str:
    files = a.get("files") or {}
    rows = [("asset", a.get("assetHandle")), ("name", a.get("name")), ("type", a.get("type")),
            ("folder", a.get("folder")), ("file", a.get("fileName")),
            ("size", f"{human_size(a.get('fileSize') or 0)} ({a.get('fileSize')} bytes)"), ("pixels", _pixels(a)),
            ("publish", a.get("publishState")), ("created", short_date(a.get("created"))),
            ("updated", short_date(a.get("updated"))), ("created by", a.get("createdJobHandle")),
            ("updated by", a.get("updatedJobHandle")), ("keywords", ", ".join(a.get("xmpKeywords") or [])),
            ("parent", a.get("parentHandle")), ("children", ", ".join(a.get("children") or []))]
    rows += [(kind, (files.get(kind) or {}).get("key")) for kind in ("master", "optimized", "mask")]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows if v not in (None, ""))


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


def cmd_local(args: argparse.Namespace, _: Callable[[], OpenIpsClient], out: Output) -> int:
    try:
        from openips_cli import local
    except ImportError as exc:
        Output.warn(f"error: the local stack is not available in this installation ({exc})")
        return EXIT_FAILED
    if args.local_command == "mail":
        return _local_mail(args, local, out)
    if not _is_loopback(args.host):
        if not args.allow_remote:
            Output.warn(f"error: --host {args.host} is not a loopback address: the local stack is a development "
                        "emulator over plain HTTP; pass --allow-remote to listen there anyway")
            return EXIT_USAGE
        Output.warn(f"WARNING: listening on {args.host}: anyone who can reach it can call the API (with an API key) "
                    "and the S3 front (with the credentials in local.json), unencrypted. moto stays on 127.0.0.1.")
    return local.run(port=args.port, state_dir=configuration.state_dir(args.state_dir, os.environ), host=args.host,
                     workers=args.workers, sweep_seconds=args.sweep_seconds)


def _is_loopback(host: str) -> bool:
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


# ---- argument parsing ------------------------------------------------------------------------


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
    parser = argparse.ArgumentParser(prog="openips", description=__doc__)
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
    download = command(assets_commands, "download", "download an asset's master, optimized image and mask")
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


HANDLERS = {"upload": cmd_upload, "jobs": cmd_jobs, "assets": cmd_assets, "admin": cmd_admin, "local": cmd_local}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``openips`` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    out = Output(args.json, args.quiet)
    clients: list[OpenIpsClient] = []
    streams = sys.stdout, sys.stderr
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
