"""DynamoDB single-table store: the only code that talks to the jobs table.

Users, API keys and webhook secrets are in the accounts table (``adapters/accounts.py``).

Item types (pk / sk):

=================  ======================  =====================  ==========================
item               pk                      sk                     indexes
=================  ======================  =====================  ==========================
company            ``C#<c>``               ``COMPANY``            gsi1 ``COMPANIES`` / c
job                ``J#<j>``               ``JOB``                gsi1 ``C#<c>#JOBS`` / start#j
                                                                  (``C#<c>#DELETED`` once deleted);
                                                                  active ``<c>`` / start#j (sparse)
file claim         ``J#<j>``               ``F#<claim>``
log row            ``J#<j>``               ``L#<date>#<rand>``    gsi1 ``A#<a>#LOGS`` / sk, when
                                                                  the row names an asset
job→asset link     ``J#<j>``               ``A#<a>``
asset              ``A#<a>``               ``ASSET``              gsi1 ``C#<c>#F#<folder>`` / name
asset-ID guard     ``C#<c>``               ``N#<name>``
job-name guard     ``C#<c>``               ``JN#<name>``          one per job, kept: getJobLogs
                                                                  by name pages through them
set preset         ``P#<p>``               ``PRESET``
preset listing     ``C#<c>``               ``P#<p>``              (a copy of the preset, so a
                                                                  company's presets are one Query)
set-run marker     ``J#<j>``               ``S#<p>#<set name>``   the row a preset run wrote for
                                                                  one set (re-runs answer it)
word index entry   ``C#<c>#W#<word>``      ``A#<a>``              an asset holding the word
                                                                  (extractSearchWords; ``?text=``)
in-flight slots    ``C#<c>``               ``INFLIGHT``           ``holders``: holder id → lease
                                                                  end (epoch s), the company's
                                                                  files being processed
mail quota day     ``C#<c>``               ``MAIL#<yyyy-mm-dd>``  ``mails``, ``resends`` counted
                                                                  that UTC day (TTL ``expiresAt``)
mail counted       ``J#<j>``               ``M#<step>``           the step's mail took its place
=================  ======================  =====================  ==========================

The active-jobs index is sparse: a job carries ``activePk`` from creation until it is
finalized, so reading a company's active jobs costs in proportion to its active jobs.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from openips.adapters.paging import InvalidPageToken, KeyShape, Position
from openips.models.domain import (
    Asset,
    Company,
    FileClaim,
    Job,
    JobClock,
    JobCounts,
    JobState,
    LogEntry,
    LogType,
)
from openips.models.errors import TransientError
from openips.models.projects import Project
from openips.models.set_presets import SetPreset
from openips.models.upload_job import UploadPostJob

ACTIVE_INDEX = "ActiveJobsIndex"
MAX_TRANSACTION_ITEMS = 100  # DynamoDB TransactWriteItems
OWNER_INDEX = "ByOwnerIndex"

_COUNT_ATTRS = {name: f"n_{name}" for name in JobCounts.model_fields}
_RETRYABLE = {
    "ProvisionedThroughputExceededException", "ThrottlingException",
    "RequestLimitExceeded", "InternalServerError", "TransactionConflictException",
}


def _job_key(job_handle: str) -> dict:
    return {"pk": f"J#{job_handle}", "sk": "JOB"}


def _asset_key(asset_handle: str) -> dict:
    return {"pk": f"A#{asset_handle}", "sk": "ASSET"}


def _name_key(company_handle: str, name: str) -> dict:
    return {"pk": f"C#{company_handle}", "sk": f"N#{name}"}


def _claim_key(job_handle: str, claim_id: str) -> dict:
    return {"pk": f"J#{job_handle}", "sk": f"F#{claim_id}"}


def _inflight_key(company_handle: str) -> dict:
    return {"pk": f"C#{company_handle}", "sk": "INFLIGHT"}


def _company_jobs_pk(company_handle: str, deleted: bool = False) -> str:
    return f"C#{company_handle}#DELETED" if deleted else f"C#{company_handle}#JOBS"


def _asset_logs_pk(asset_handle: str) -> str:
    return f"A#{asset_handle}#LOGS"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the models want int."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _strip_keys(item: dict) -> dict:
    return {k: v for k, v in item.items() if k not in ("pk", "sk", "gsi1pk", "gsi1sk")}


def _clean(item: dict) -> dict:
    # The resource's client serializes Python values itself; it only refuses None.
    return {k: v for k, v in item.items() if v is not None}


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def _is_cancelled_by_condition(exc: ClientError) -> bool:
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        return False
    reasons = exc.response.get("CancellationReasons") or []
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)


def _translate(exc: ClientError) -> Exception:
    if exc.response["Error"]["Code"] in _RETRYABLE:
        return TransientError(f"DynamoDB: {exc.response['Error']['Code']}")
    return exc


@dataclass(frozen=True)
class ClaimResult:
    """What ``claim_file`` found: a new file, a retry of ours, finished, or in flight elsewhere."""

    status: str  # "new" | "retry" | "done" | "busy"
    claim: FileClaim


@dataclass(frozen=True)
class LogPage:
    rows: list[LogEntry]
    total: int


class JobStore:
    """Typed operations on the jobs table; conditional writes enforce every invariant."""

    def __init__(self, table_name: str) -> None:
        self.table = boto3.resource("dynamodb").Table(table_name)
        self.client = self.table.meta.client
        self.table_name = table_name

    # ---- companies -------------------------------------------------

    def put_company(self, company: Company) -> None:
        item = {"pk": f"C#{company.company_handle}", "sk": "COMPANY",
                "gsi1pk": "COMPANIES", "gsi1sk": company.company_handle,
                **company.model_dump()}
        self.table.put_item(Item=item, ConditionExpression=Attr("pk").not_exists())

    def replace_company(self, company: Company) -> None:
        item = {"pk": f"C#{company.company_handle}", "sk": "COMPANY",
                "gsi1pk": "COMPANIES", "gsi1sk": company.company_handle, **company.model_dump()}
        self.table.put_item(Item=_clean(item), ConditionExpression=Attr("pk").exists())

    def get_company(self, company_handle: str) -> Company | None:
        item = self.table.get_item(Key={"pk": f"C#{company_handle}", "sk": "COMPANY"}).get("Item")
        return Company.model_validate(_plain(item)) if item else None

    def list_company_handles(self) -> list[str]:
        return [item["gsi1sk"] for item in self._query(
            IndexName=OWNER_INDEX, KeyConditionExpression=Key("gsi1pk").eq("COMPANIES"))]

    # ---- jobs -------------------------------------------------------------------

    def _job_item(self, job: Job) -> dict:
        data = job.model_dump(mode="json", exclude={"counts", "options"})
        data["options"] = json.dumps(job.options.model_dump(by_alias=True, exclude_none=True, mode="json"))
        sort = f"{_iso(job.start_date)}#{job.job_handle}"
        item = {**_job_key(job.job_handle), **data,
                "gsi1pk": _company_jobs_pk(job.company_handle, job.deleted), "gsi1sk": sort,
                **{attr: getattr(job.counts, name) for name, attr in _COUNT_ATTRS.items()}}
        if not job.finalized:
            item |= {"activePk": job.company_handle, "activeSk": sort}
        return item

    @staticmethod
    def _job_from_item(item: dict) -> Job:
        data = _plain(item)
        data["options"] = UploadPostJob.model_validate(json.loads(data["options"]))
        data["counts"] = JobCounts(**{name: data.get(attr, 0) for name, attr in _COUNT_ATTRS.items()})
        return Job.model_validate(data)

    def create_job(self, job: Job, rows: list[LogEntry]) -> bool:
        """Create the job and claim its name in the company; False when the name is taken."""
        guard = {"pk": f"C#{job.company_handle}", "sk": f"JN#{job.name}", "job_handle": job.job_handle}
        new = "attribute_not_exists(pk)"
        items = [{"Put": {"TableName": self.table_name, "Item": item, "ConditionExpression": new}}
                 for item in (guard, _clean(self._job_item(job)))]
        items += [self._log_put(job.job_handle, row) for row in rows]
        try:
            self._transact(items, conditional=True)
            return True
        except _ConditionFailed:
            return False

    def get_job(self, job_handle: str) -> Job | None:
        item = self.table.get_item(Key=_job_key(job_handle), ConsistentRead=True).get("Item")
        return self._job_from_item(item) if item else None

    def query_active_jobs(self, company_handle: str) -> tuple[list[Job], int]:
        """Active jobs of one company from the sparse index, with the items DynamoDB read."""
        jobs: list[Job] = []
        scanned = 0
        kwargs: dict[str, Any] = {"IndexName": ACTIVE_INDEX,
                                  "KeyConditionExpression": Key("activePk").eq(company_handle)}
        while True:
            page = self.table.query(**kwargs)
            scanned += page["ScannedCount"]
            jobs += [self._job_from_item(item) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return jobs, scanned
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def count_active_jobs(self, company_handle: str) -> int:
        """How many jobs of the company have not ended (a COUNT on the sparse index: no item read out)."""
        return self._count(IndexName=ACTIVE_INDEX, KeyConditionExpression=Key("activePk").eq(company_handle))

    def iter_active_clocks(self, company_handle: str) -> Iterator[JobClock]:
        """What the sweeper needs of each active job, page by page, without the jobs' options."""
        kwargs: dict[str, Any] = {
            "IndexName": ACTIVE_INDEX, "KeyConditionExpression": Key("activePk").eq(company_handle),
            "ProjectionExpression": ", ".join(f"#{name}" for name in JobClock.model_fields),
            "ExpressionAttributeNames": {f"#{name}": name for name in JobClock.model_fields}}
        while True:
            page = self.table.query(**kwargs)
            yield from (JobClock.model_validate(_plain(item)) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def query_company_jobs(self, company_handle: str, start: datetime | None,
                           end: datetime | None, newest_first: bool) -> Iterator[Job]:
        cond = Key("gsi1pk").eq(_company_jobs_pk(company_handle))
        if start and end:
            cond &= Key("gsi1sk").between(_iso(start), _iso(end) + "~")
        elif start:
            cond &= Key("gsi1sk").gte(_iso(start))
        elif end:
            cond &= Key("gsi1sk").lte(_iso(end) + "~")
        for item in self._query(IndexName=OWNER_INDEX, KeyConditionExpression=cond,
                                ScanIndexForward=not newest_first):
            yield self._job_from_item(item)

    def iter_company_jobs(self, company_handle: str, start: datetime | None, end: datetime | None,
                          newest_first: bool, after: str | None, chunk: int) -> Iterator[tuple[Job | None, Position]]:
        """The company's jobs (deleted ones left out) by start date, from the page token ``after`` on.

        Read ``chunk`` at a time as the caller consumes them, so a page costs what it shows.
        """
        partition = _company_jobs_pk(company_handle)
        shape = KeyShape(f"jobs-by-start-{'desc' if newest_first else 'asc'}",
                         {"gsi1pk": partition, "sk": "JOB"}, {"gsi1sk": "", "pk": "J#"})
        low = _iso(start.astimezone(UTC)) if start else None  # sort keys are UTC: compare like with like
        high = _iso(end.astimezone(UTC)) + "~" if end else None
        if low and high and low > high:
            return
        cond = Key("gsi1pk").eq(partition)
        if low and high:
            cond &= Key("gsi1sk").between(low, high)
        elif low or high:
            cond &= Key("gsi1sk").gte(low) if low else Key("gsi1sk").lte(high)
        for item in self._query_from(shape, after, chunk, IndexName=OWNER_INDEX, KeyConditionExpression=cond,
                                     ScanIndexForward=not newest_first):
            yield self._job_from_item(item), shape.position(item)

    def iter_jobs_by_name(self, company_handle: str, descending: bool, after: str | None,
                          chunk: int) -> Iterator[tuple[Job | None, Position]]:
        """Every job of the company, deleted ones too, in name order, from the page token ``after`` on.

        Every job has its job-name guard (written with it, never removed; names never change),
        and the guards of a company are sorted by name: a page reads its guards, then its jobs.
        """
        shape = KeyShape(f"jobs-by-name-{'desc' if descending else 'asc'}",
                         {"pk": f"C#{company_handle}"}, {"sk": "JN#"})
        guards = self._query_from(shape, after, chunk, ScanIndexForward=not descending,
                                  KeyConditionExpression=Key("pk").eq(f"C#{company_handle}")
                                  & Key("sk").begins_with("JN#"))
        while batch := list(islice(guards, chunk)):
            jobs = self.get_jobs({guard["job_handle"] for guard in batch})
            for guard in batch:
                yield jobs.get(guard["job_handle"]), shape.position(guard)

    def touch_job(self, job_handle: str, now: datetime) -> None:
        self.table.update_item(Key=_job_key(job_handle), UpdateExpression="SET last_activity = :now",
                               ExpressionAttributeValues={":now": _iso(now)})

    def close_job(self, job_handle: str, expected_files: int, reason: str, now: datetime) -> bool:
        """Mark an open job closed; False when it was already closed or finished."""
        try:
            self.table.update_item(
                Key=_job_key(job_handle),
                # ADD: archive members extracted before the close are expected already.
                UpdateExpression=("SET closed = :t, close_reason = :r, closed_at = :now, "
                                  "last_activity = :now ADD expected_files :n"),
                ConditionExpression=Attr("closed").eq(False) & Attr("state").ne(JobState.DONE.value),
                ExpressionAttributeValues={":t": True, ":r": reason, ":now": _iso(now), ":n": expected_files},
            )
            return True
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise _translate(exc) from exc

    def try_finish(self, job: Job, now: datetime, end_row: LogEntry, force: bool = False) -> bool:
        """Exactly-one finisher: the conditional update that wins writes ``EndUpload``.

        The update is conditioned on the very counts ``job`` holds, which ``end_row`` reports:
        if any file's counters landed after ``job`` was read, nothing is written (False), and
        the caller reads again. ``force`` (the sweeper's grace expiry) drops the wait for
        expected files that never produced an event; files in flight still hold the job open.
        """
        counted = {name: getattr(job.counts, name) for name in _COUNT_ATTRS if name != "log_rows"}
        condition = " AND ".join(["#closed = :t", "#state <> :done", "n_done = n_received",
                                  "expected_files = :expected",
                                  *(f"{_COUNT_ATTRS[name]} = :c_{name}" for name in counted)])
        if not force:
            condition += " AND n_received >= expected_files"
        try:
            self._transact([
                {"Update": {
                    "TableName": self.table_name, "Key": _clean(_job_key(job.job_handle)),
                    "UpdateExpression": "SET #state = :done, end_date = :now ADD n_log_rows :one",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#state": "state", "#closed": "closed"},
                    "ExpressionAttributeValues": _clean(
                        {":t": True, ":done": JobState.DONE.value, ":now": _iso(now), ":one": 1,
                         ":expected": job.expected_files, **{f":c_{k}": v for k, v in counted.items()}}),
                }},
                self._log_put(job.job_handle, end_row),
            ], conditional=True)
            return True
        except _ConditionFailed:
            return False

    def get_jobs(self, job_handles: set[str]) -> dict[str, Job]:
        """Several jobs by handle (BatchGetItem, 100 keys a call)."""
        found: dict[str, Job] = {}
        handles = sorted(job_handles)
        for start in range(0, len(handles), 100):
            request = {self.table_name: {"Keys": [_job_key(h) for h in handles[start:start + 100]]}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table_name, []):
                    job = self._job_from_item(item)
                    found[job.job_handle] = job
                request = response.get("UnprocessedKeys") or {}
        return found

    def pause_job(self, job_handle: str, now: datetime) -> bool:
        """pauseJob: False unless the job was running (not paused, stopping or ended)."""
        # paused_at: how long the pause has lasted (deferral backoff, MaxPauseSeconds), whatever
        # else moves last_activity meanwhile (a renewed form, a file that was in flight).
        return self._transition(job_handle, JobState.WAITING_COORDINATOR, (JobState.WAITING_CLIENT,), now,
                                "paused_at = :now")

    def resume_job(self, job_handle: str, now: datetime) -> bool:
        """resumeJob: False unless the job was paused; the idle timer starts again now."""
        return self._transition(job_handle, JobState.WAITING_CLIENT, (JobState.WAITING_COORDINATOR,), now)

    def stop_job(self, job: Job, by: str, now: datetime, delete: bool = False) -> bool:
        """Mark the job ``Stopping`` (and deleted); False once it has ended."""
        sets = "stopped_by = if_not_exists(stopped_by, :by)"
        values: dict[str, Any] = {":by": by}
        if delete:
            # Moving the job to another gsi1 partition drops it from getJobLogs' Query.
            sets += ", deleted = :t, gsi1pk = :hidden"
            values |= {":t": True, ":hidden": _company_jobs_pk(job.company_handle, deleted=True)}
        return self._transition(job.job_handle, JobState.STOPPING,
                                (JobState.WAITING_CLIENT, JobState.WAITING_COORDINATOR, JobState.STOPPING),
                                now, sets, values)

    def _transition(self, job_handle: str, to: JobState, from_states: tuple[JobState, ...], now: datetime,
                    sets: str = "", values: dict[str, Any] | None = None) -> bool:
        allowed = {f":from{i}": state.value for i, state in enumerate(from_states)}
        try:
            self.table.update_item(
                Key=_job_key(job_handle),
                UpdateExpression="SET #state = :to, last_activity = :now" + (f", {sets}" if sets else ""),
                ConditionExpression=f"#state IN ({', '.join(allowed)})",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":to": to.value, ":now": _iso(now), **allowed, **(values or {})},
            )
            return True
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise _translate(exc) from exc

    def reserve_extraction(self, claim: FileClaim, company_handle: str, day: str, members: int, size: int,
                           job_limits: tuple[int, int], company_limits: tuple[int, int]) -> str | None:
        """Count an archive's members and bytes against its job's and its company's daily budget.

        Once per archive claim (a marker item makes a retry a no-op). Returns None when
        reserved, else which budget it would exceed: "job" or "company".
        """
        marker = {"pk": f"J#{claim.job_handle}", "sk": f"R#{claim.claim_id}", "members": members, "bytes": size}
        budget_key = {"pk": f"C#{company_handle}", "sk": f"EXTRACTED#{day}"}
        within = "(attribute_not_exists(#m) OR #m <= :max_m) AND (attribute_not_exists(#b) OR #b <= :max_b)"
        names = {"#m": "extracted_members", "#b": "extracted_bytes"}

        def add(key: dict, limits: tuple[int, int], extra: dict | None = None) -> dict:
            return {"Update": {
                "TableName": self.table_name, "Key": key, "ConditionExpression": within,
                "UpdateExpression": "ADD #m :m, #b :b" + (" SET expiresAt = :ttl" if extra else ""),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {":m": members, ":b": size, ":max_m": limits[0] - members,
                                              ":max_b": limits[1] - size, **(extra or {})}}}
        ttl = int(datetime.fromisoformat(day).timestamp()) + 3 * 86400  # budget items expire with their day
        items = [{"Put": {"TableName": self.table_name, "Item": marker,
                          "ConditionExpression": "attribute_not_exists(pk)"}},
                 add(_job_key(claim.job_handle), job_limits), add(budget_key, company_limits, {":ttl": ttl})]
        try:
            self.client.transact_write_items(TransactItems=items)
            return None
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
            if exc.response["Error"]["Code"] != "TransactionCanceledException" or "ConditionalCheckFailed" not in reasons:
                raise _translate(exc) from exc
            if reasons[0] == "ConditionalCheckFailed":
                return None  # this archive reserved its members on an earlier attempt
            return "job" if reasons[1] == "ConditionalCheckFailed" else "company"

    def count_late_file(self, job_handle: str) -> int:
        """Count one more file that arrived after the job ended; returns how many have."""
        response = self.table.update_item(Key=_job_key(job_handle), UpdateExpression="ADD late_files :one",
                                          ExpressionAttributeValues={":one": 1}, ReturnValues="UPDATED_NEW")
        return int(response["Attributes"]["late_files"])

    def mark_finalized(self, job_handle: str) -> bool:
        """Record that the job's finalize work ran; False if it already had."""
        try:
            self.table.update_item(
                Key=_job_key(job_handle),
                UpdateExpression="SET finalized = :t REMOVE activePk, activeSk",
                ConditionExpression=Attr("finalized").eq(False) & Attr("state").eq(JobState.DONE.value),
                ExpressionAttributeValues={":t": True},
            )
            return True
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise _translate(exc) from exc

    # ---- files --------------------------------------------------------------------

    def claim_file(self, claim: FileClaim, now: datetime) -> ClaimResult:
        """Claim one S3 object for processing; a new claim counts as a received file."""
        item = {**_claim_key(claim.job_handle, claim.claim_id), **claim.model_dump(mode="json")}
        try:
            self._transact([
                {"Put": {"TableName": self.table_name, "Item": _clean(item),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Update": {"TableName": self.table_name, "Key": _clean(_job_key(claim.job_handle)),
                            "UpdateExpression": "ADD n_received :one SET last_activity = :now",
                            "ExpressionAttributeValues": _clean({":one": 1, ":now": _iso(now)})}},
            ], conditional=True)
            return ClaimResult("new", claim)
        except _ConditionFailed:
            pass
        existing = self.get_claim(claim.job_handle, claim.claim_id)
        if existing is None:  # raced with a delete; let SQS try again
            raise TransientError("claim vanished")
        if existing.status == "Done":
            return ClaimResult("done", existing)
        if existing.lease_until > now:
            return ClaimResult("busy", existing)
        try:
            self.table.update_item(
                Key=_claim_key(claim.job_handle, claim.claim_id),
                UpdateExpression="SET lease_until = :lease, attempt_started = :now ADD attempts :one",
                ConditionExpression=Attr("lease_until").eq(_iso(existing.lease_until)) & Attr("status").ne("Done"),
                ExpressionAttributeValues={":lease": _iso(claim.lease_until), ":now": _iso(now), ":one": 1},
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return ClaimResult("busy", existing)
            raise _translate(exc) from exc
        return ClaimResult("retry", existing.model_copy(update={"lease_until": claim.lease_until, "attempt_started": now,
                                                                  "attempts": existing.attempts + 1}))

    def hold_claim(self, claim: FileClaim, until: datetime, error: str) -> bool:
        """Keep a failed attempt's claim until its retry is due (``until``), saying why it failed.

        A no-op (False) when the claim is no longer ours: done, or taken over by a later attempt.
        """
        try:
            self.table.update_item(
                Key=_claim_key(claim.job_handle, claim.claim_id),
                UpdateExpression="SET lease_until = :until, last_error = :error",
                ConditionExpression=Attr("lease_until").eq(_iso(claim.lease_until)) & Attr("status").ne("Done"),
                ExpressionAttributeValues={":until": _iso(until), ":error": error},
            )
            return True
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise _translate(exc) from exc

    def list_claims(self, job_handle: str, processing_only: bool = False) -> list[FileClaim]:
        """The job's files as claimed for processing (one Query; the in-flight ones if asked)."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(f"J#{job_handle}") & Key("sk").begins_with("F#")}
        if processing_only:
            kwargs["FilterExpression"] = Attr("status").eq("Processing")
        return [FileClaim.model_validate(_plain(item)) for item in self._query(**kwargs)]

    def get_claim(self, job_handle: str, claim_id: str) -> FileClaim | None:
        item = self.table.get_item(Key=_claim_key(job_handle, claim_id), ConsistentRead=True).get("Item")
        return FileClaim.model_validate(_plain(item)) if item else None

    def record_decision(self, claim: FileClaim, outcome: str, asset_handle: str | None) -> None:
        """Remember the naming decision so a retried attempt repeats it exactly."""
        self.table.update_item(
            Key=_claim_key(claim.job_handle, claim.claim_id),
            UpdateExpression="SET outcome = :o, asset_handle = :a",
            ExpressionAttributeValues={":o": outcome, ":a": asset_handle},
        )

    def complete_file(self, claim: FileClaim, counts: dict[str, int], rows: list[LogEntry],
                      asset_link: str | None, count_as_done: bool = True,
                      completed: datetime | None = None, result: str | None = None,
                      more_expected: int = 0) -> None:
        """Mark the claim done, bump the job counters and write its log rows at once.

        ``more_expected``: files this one adds to the job (archive members), which the job
        must account for before it can end.
        """
        adds = {**counts, "log_rows": len(rows)}
        if count_as_done:
            adds["done"] = adds.get("done", 0) + 1
        expr = "ADD " + ", ".join(f"{_COUNT_ATTRS[k]} :{k}" for k in adds)
        values = {f":{k}": v for k, v in adds.items()}
        if more_expected:
            expr += ", expected_files :more"
            values[":more"] = more_expected
        items: list[dict] = [
            {"Update": {"TableName": self.table_name,
                        "Key": _clean(_claim_key(claim.job_handle, claim.claim_id)),
                        "UpdateExpression": "SET #status = :done, completed = :at, #result = :result, #counts = :counts",
                        "ConditionExpression": "#status <> :done",
                        "ExpressionAttributeNames": {"#status": "status", "#result": "result", "#counts": "counts"},
                        "ExpressionAttributeValues": {":done": "Done", ":result": result,
                                                      ":counts": {**adds, "more_expected": more_expected},
                                                      ":at": _iso(completed) if completed else None}}},
            {"Update": {"TableName": self.table_name, "Key": _clean(_job_key(claim.job_handle)),
                        "UpdateExpression": expr, "ExpressionAttributeValues": _clean(values)}},
        ]
        if asset_link:
            items.append({"Put": {"TableName": self.table_name, "Item": _clean(
                {"pk": f"J#{claim.job_handle}", "sk": f"A#{asset_link}", "asset_handle": asset_link})}})
        # A file's rows keep their order (seq); a PDF's page rows can outnumber what one
        # transaction takes (100 items): the rest are written right after it commits.
        puts = [self._log_put(claim.job_handle, row, seq) for seq, row in enumerate(rows)]
        room = MAX_TRANSACTION_ITEMS - len(items)
        try:
            self._transact(items + puts[:room], conditional=True)
        except _ConditionFailed:
            return  # a duplicate delivery completed it first: counted once
        with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for put in puts[room:]:
                batch.put_item(Item=put["Put"]["Item"])

    def repair_counts(self, job: Job, counts: JobCounts, row: LogEntry) -> bool:
        """Set the job's counters to ``counts`` and log ``row`` saying so, if they are still ``job``'s.

        False (nothing written) when a counter moved since ``job`` was read.
        """
        names = [name for name in _COUNT_ATTRS if name != "log_rows"]
        sets = ", ".join(f"{_COUNT_ATTRS[n]} = :new_{n}" for n in names)
        condition = " AND ".join(f"{_COUNT_ATTRS[n]} = :old_{n}" for n in [*names, "log_rows"])
        values = {**{f":new_{n}": getattr(counts, n) for n in names},
                  **{f":old_{n}": getattr(job.counts, n) for n in [*names, "log_rows"]},
                  ":rows": counts.log_rows + 1, ":one": 1}
        try:
            self._transact([
                {"Update": {"TableName": self.table_name, "Key": _clean(_job_key(job.job_handle)),
                            "UpdateExpression": f"SET {sets}, n_log_rows = :rows ADD repairs :one",
                            "ConditionExpression": condition, "ExpressionAttributeValues": _clean(values)}},
                self._log_put(job.job_handle, row),
            ], conditional=True)
            return True
        except _ConditionFailed:
            return False

    def note_repair(self, job_handle: str, row: LogEntry) -> None:
        """Log a repair that changed no counter (files re-sent), and count it against the job's repairs."""
        self._transact([
            {"Update": {"TableName": self.table_name, "Key": _clean(_job_key(job_handle)),
                        "UpdateExpression": "ADD n_log_rows :one, repairs :one",
                        "ExpressionAttributeValues": _clean({":one": 1})}},
            self._log_put(job_handle, row),
        ])

    # ---- log rows -------------------------------------------------------------------

    def count_log_rows(self, job_handle: str) -> int:
        """How many log rows the job holds (a COUNT query: no row is read out)."""
        return self._count(KeyConditionExpression=Key("pk").eq(f"J#{job_handle}") & Key("sk").begins_with("L#"))

    def _log_put(self, job_handle: str, row: LogEntry, seq: int | None = None) -> dict:
        # Rows of one millisecond keep the job's story in order: begin, files, end; and the
        # rows of one file (``seq``: a PDF, its pages, its catalog) keep theirs.
        rank = {LogType.BEGIN_UPLOAD: 0, LogType.END_UPLOAD: 9}.get(row.log_type, 5)
        order = f"{seq:04d}" if seq is not None else ""
        sk = f"L#{_iso(row.date_created)}#{rank}{order}{secrets.token_hex(4)}"
        item = {"pk": f"J#{job_handle}", "sk": sk, **row.model_dump(mode="json", exclude_none=True)}
        if row.aux:  # logTypeArray matches a row by its own type or by a type in its auxArray
            item["aux_types"] = row.aux_types
        if row.asset_handle:  # getAssetJobLogs: the asset's rows across jobs, by date
            item |= {"gsi1pk": _asset_logs_pk(row.asset_handle), "gsi1sk": sk}
        return {"Put": {"TableName": self.table_name, "Item": _clean(item)}}

    def add_log_rows(self, job_handle: str, rows: list[LogEntry]) -> None:
        values = _clean({":n": len(rows)})
        self._transact([
            {"Update": {"TableName": self.table_name, "Key": _clean(_job_key(job_handle)),
                        "UpdateExpression": "ADD n_log_rows :n", "ExpressionAttributeValues": values}},
            *[self._log_put(job_handle, row) for row in rows],
        ])

    def query_log_rows(self, job_handle: str, log_types: list[str] | None, newest_first: bool
                       ) -> Iterator[LogEntry]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(f"J#{job_handle}") & Key("sk").begins_with("L#"),
            "ScanIndexForward": not newest_first,
        }
        if log_types:
            condition = Attr("log_type").is_in(log_types)
            for log_type in log_types:
                condition |= Attr("aux_types").contains(log_type)
            kwargs["FilterExpression"] = condition
        for item in self._query(**kwargs):
            yield LogEntry.model_validate(_plain(item))

    def query_asset_log_rows(self, asset_handle: str) -> Iterator[tuple[str, LogEntry]]:
        """(job handle, row) of every log row that named the asset, newest first."""
        for item in self._query(IndexName=OWNER_INDEX, ScanIndexForward=False,
                                KeyConditionExpression=Key("gsi1pk").eq(_asset_logs_pk(asset_handle))):
            yield item["pk"].removeprefix("J#"), LogEntry.model_validate(_plain(item))

    # ---- assets -------------------------------------------------------------------------

    def _asset_item(self, asset: Asset) -> dict:
        # Metadata may hold floats (doubleVal); DynamoDB takes numbers as Decimal.
        return {**_asset_key(asset.asset_handle), **json.loads(asset.model_dump_json(), parse_float=Decimal),
                "gsi1pk": f"C#{asset.company_handle}#F#{asset.folder}", "gsi1sk": asset.name}

    def get_asset(self, asset_handle: str) -> Asset | None:
        item = self.table.get_item(Key=_asset_key(asset_handle), ConsistentRead=True).get("Item")
        return Asset.model_validate(_plain(item)) if item else None

    def find_asset_by_name(self, company_handle: str, name: str) -> Asset | None:
        guard = self.table.get_item(Key=_name_key(company_handle, name), ConsistentRead=True).get("Item")
        return self.get_asset(guard["asset_handle"]) if guard else None

    def _job_link_put(self, asset: Asset) -> dict:
        """The job→asset link of the job that last wrote the asset (``GET /v1/assets?jobHandle=``)."""
        link = {"pk": f"J#{asset.updated_job_handle}", "sk": f"A#{asset.asset_handle}",
                "asset_handle": asset.asset_handle}
        return {"Put": {"TableName": self.table_name, "Item": link}}

    def create_asset(self, asset: Asset) -> bool:
        """Create the asset, claim its company-unique ID and link it to its job; False if the ID is taken."""
        guard = {**_name_key(asset.company_handle, asset.name), "asset_handle": asset.asset_handle}
        try:
            self._transact([
                {"Put": {"TableName": self.table_name, "Item": _clean(guard),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": self.table_name, "Item": _clean(self._asset_item(asset)),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                self._job_link_put(asset),
            ], conditional=True)
            return True
        except _ConditionFailed:
            return False

    def replace_asset(self, asset: Asset) -> None:
        """Write an existing asset anew, and link it to the job that wrote it (pages, layers, sets alike)."""
        self._transact([
            {"Put": {"TableName": self.table_name, "Item": _clean(self._asset_item(asset)),
                     "ConditionExpression": "attribute_exists(pk)"}},
            self._job_link_put(asset),
        ])

    def list_job_assets(self, job_handle: str) -> list[Asset]:
        """Every asset the job created or updated, whatever made it (file, page, layer, set, member)."""
        links = self._query(KeyConditionExpression=Key("pk").eq(f"J#{job_handle}") & Key("sk").begins_with("A#"))
        assets = [self.get_asset(link["asset_handle"]) for link in links]
        return [a for a in assets if a is not None]

    def get_assets(self, asset_handles: set[str]) -> dict[str, Asset]:
        """Several assets by handle (BatchGetItem, 100 keys a call)."""
        found: dict[str, Asset] = {}
        handles = sorted(asset_handles)
        for start in range(0, len(handles), 100):
            request = {self.table_name: {"Keys": [_asset_key(h) for h in handles[start:start + 100]],
                                         "ConsistentRead": True}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table_name, []):
                    asset = Asset.model_validate(_plain(item))
                    found[asset.asset_handle] = asset
                request = response.get("UnprocessedKeys") or {}
        return found

    def iter_job_assets(self, job_handle: str, after: str | None,
                        chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        """``list_job_assets`` page by page: from the page token ``after`` on, ``chunk`` links at a time."""
        shape = KeyShape("assets-of-job", {"pk": f"J#{job_handle}"}, {"sk": "A#"})
        return self._iter_linked_assets(shape, after, chunk)

    def iter_folder_assets(self, company_handle: str, folder: str, after: str | None,
                           chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        """The folder's assets by name, from the page token ``after`` on, ``chunk`` at a time."""
        partition = f"C#{company_handle}#F#{folder}"
        shape = KeyShape("assets-in-folder", {"gsi1pk": partition, "sk": "ASSET"}, {"gsi1sk": "", "pk": "A#"})
        for item in self._query_from(shape, after, chunk, IndexName=OWNER_INDEX,
                                     KeyConditionExpression=Key("gsi1pk").eq(partition)):
            yield Asset.model_validate(_plain(item)), shape.position(item)

    # ---- word index (pdfOptions.extractSearchWords, GET /v1/assets?text=) -------------------

    def index_asset_words(self, company_handle: str, asset_handle: str, old: list[str], new: list[str]) -> None:
        """Make the index hold exactly ``new`` for the asset: put the added words, delete the dropped ones."""
        added, dropped = set(new) - set(old), set(old) - set(new)
        with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for word in sorted(added):
                batch.put_item(Item={"pk": f"C#{company_handle}#W#{word}", "sk": f"A#{asset_handle}",
                                     "asset_handle": asset_handle})
            for word in sorted(dropped):
                batch.delete_item(Key={"pk": f"C#{company_handle}#W#{word}", "sk": f"A#{asset_handle}"})

    def iter_assets_with_word(self, company_handle: str, word: str, after: str | None,
                              chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        """The assets the index lists under ``word``, from the page token ``after`` on, ``chunk`` at a time."""
        shape = KeyShape("assets-with-word", {"pk": f"C#{company_handle}#W#{word}"}, {"sk": "A#"})
        return self._iter_linked_assets(shape, after, chunk)

    # ---- set presets and sets ----------------------------------------------------------

    @staticmethod
    def _preset_items(preset: SetPreset) -> tuple[dict, dict]:
        data = preset.model_dump(mode="json")
        return ({"pk": f"P#{preset.preset_handle}", "sk": "PRESET", **data},
                {"pk": f"C#{preset.company_handle}", "sk": f"P#{preset.preset_handle}", **data})

    def put_set_preset(self, preset: SetPreset) -> None:
        """Store a new preset: the by-handle item and the company's listing item, at once."""
        by_handle, listed = self._preset_items(preset)
        self._transact([
            {"Put": {"TableName": self.table_name, "Item": _clean(by_handle),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self.table_name, "Item": _clean(listed),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])

    def get_set_preset(self, preset_handle: str) -> SetPreset | None:
        """A preset by handle (with its ``company_handle``), or None."""
        item = self.table.get_item(Key={"pk": f"P#{preset_handle}", "sk": "PRESET"},
                                   ConsistentRead=True).get("Item")
        return SetPreset.model_validate(_strip_keys(_plain(item))) if item else None

    def list_set_presets(self, company_handle: str) -> list[SetPreset]:
        items = self._query(KeyConditionExpression=Key("pk").eq(f"C#{company_handle}")
                            & Key("sk").begins_with("P#"), ConsistentRead=True)
        return [SetPreset.model_validate(_strip_keys(_plain(item))) for item in items]

    def delete_set_preset(self, preset: SetPreset) -> bool:
        """Delete both items of a preset; False when it was already gone."""
        try:
            self._transact([
                {"Delete": {"TableName": self.table_name,
                            "Key": {"pk": f"P#{preset.preset_handle}", "sk": "PRESET"},
                            "ConditionExpression": "attribute_exists(pk)"}},
                {"Delete": {"TableName": self.table_name,
                            "Key": {"pk": f"C#{preset.company_handle}", "sk": f"P#{preset.preset_handle}"}}},
            ], conditional=True)
            return True
        except _ConditionFailed:
            return False

    def update_set_members(self, asset: Asset, old_members: list[str]) -> bool:
        """Replace a set asset's item if its members are still ``old_members``; False if not."""
        try:
            self._transact([
                {"Put": {"TableName": self.table_name, "Item": _clean(self._asset_item(asset)),
                         "ConditionExpression": "attribute_exists(pk) AND members = :old",
                         "ExpressionAttributeValues": {":old": old_members}}},
                self._job_link_put(asset),
            ], conditional=True)
            return True
        except _ConditionFailed:
            return False

    def get_set_run(self, job_handle: str, marker: str) -> LogEntry | None:
        """The row a preset run already wrote for ``marker`` (``<preset>#<set>``) in this job."""
        item = self.table.get_item(Key={"pk": f"J#{job_handle}", "sk": f"S#{marker}"},
                                   ConsistentRead=True).get("Item")
        return LogEntry.model_validate(json.loads(item["row"])) if item else None

    def record_set_run(self, job_handle: str, marker: str, row: LogEntry) -> LogEntry:
        """Write a preset run's row once per marker (marker, log row and count at once).

        Returns the row the job log holds for the marker: ``row``, or the one an earlier
        run wrote.
        """
        marker_item = {"pk": f"J#{job_handle}", "sk": f"S#{marker}", "row": row.model_dump_json()}
        try:
            self._transact([
                {"Put": {"TableName": self.table_name, "Item": _clean(marker_item),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Update": {"TableName": self.table_name, "Key": _clean(_job_key(job_handle)),
                            "UpdateExpression": "ADD n_log_rows :one",
                            "ExpressionAttributeValues": _clean({":one": 1})}},
                self._log_put(job_handle, row),
            ], conditional=True)
            return row
        except _ConditionFailed:
            return self.get_set_run(job_handle, marker) or row

    # ---- notifications ----
    # Finalize steps and webhook attempts: one marker item per job and step, ``J#<j>`` /
    # ``X#<step>``, taken with a conditional write (a lease, so a crashed holder's step can
    # be taken over) and finished together with the log rows it wrote. Webhook secrets:
    # ``C#<c>`` / ``WEBHOOK_SECRET`` (never on the company item, so never in its reads).

    def claim_step(self, job_handle: str, step: str, now: datetime, lease_seconds: int) -> str:
        """"new" (ours now), "done" (finished before) or "busy" (another holder's lease is live)."""
        now_ms = int(now.timestamp() * 1000)
        try:
            self.table.put_item(
                Item={"pk": f"J#{job_handle}", "sk": f"X#{step}", "status": "Running",
                      "lease_until_ms": now_ms + lease_seconds * 1000, "claimed_at": _iso(now)},
                ConditionExpression=Attr("pk").not_exists()
                | (Attr("status").eq("Running") & Attr("lease_until_ms").lt(now_ms)),
            )
            return "new"
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise _translate(exc) from exc
        step_item = self.get_step(job_handle, step)
        return "done" if step_item and step_item.get("status") == "Done" else "busy"

    def get_step(self, job_handle: str, step: str) -> dict | None:
        item = self.table.get_item(Key={"pk": f"J#{job_handle}", "sk": f"X#{step}"},
                                   ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def finish_step(self, job_handle: str, step: str, rows: list[LogEntry], **fields: Any) -> bool:
        """Mark the step done and write its log rows at once; False if it was already done."""
        fields = {k: v for k, v in fields.items() if v is not None}
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": value for i, value in enumerate(fields.values())}
        sets = ", ".join(["#status = :done", *(f"#f{i} = :f{i}" for i in range(len(fields)))])
        items: list[dict] = [{"Update": {
            "TableName": self.table_name, "Key": {"pk": f"J#{job_handle}", "sk": f"X#{step}"},
            "UpdateExpression": f"SET {sets}",
            "ConditionExpression": "attribute_not_exists(#status) OR #status <> :done",
            "ExpressionAttributeNames": {"#status": "status", **names},
            "ExpressionAttributeValues": _clean({":done": "Done", **values}),
        }}]
        if rows:
            items.append({"Update": {"TableName": self.table_name, "Key": _clean(_job_key(job_handle)),
                                     "UpdateExpression": "ADD n_log_rows :n",
                                     "ExpressionAttributeValues": _clean({":n": len(rows)})}})
            items += [self._log_put(job_handle, row) for row in rows]
        try:
            self._transact(items, conditional=True)
            return True
        except _ConditionFailed:
            return False

    def set_step_fields(self, job_handle: str, step: str, **fields: Any) -> None:
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": value for i, value in enumerate(fields.values())}
        self.table.update_item(Key={"pk": f"J#{job_handle}", "sk": f"X#{step}"},
                               UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                               ExpressionAttributeNames=names, ExpressionAttributeValues=_clean(values))

    # ---- projects ---------------------------------------------------------------------------

    def create_project(self, project: Project) -> bool:
        """Create the project; False if the company already has a project of that name."""
        guard = {"pk": f"C#{project.company_handle}", "sk": f"PN#{project.name.casefold()}",
                 "project_handle": project.project_handle}
        item = {"pk": f"P#{project.project_handle}", "sk": "PROJECT", **project.model_dump(mode="json"),
                "gsi1pk": f"C#{project.company_handle}#PROJECTS", "gsi1sk": project.name.casefold()}
        try:
            self._transact([{"Put": {"TableName": self.table_name, "Item": new,
                                     "ConditionExpression": "attribute_not_exists(pk)"}} for new in (guard, item)],
                           conditional=True)
            return True
        except _ConditionFailed:
            return False

    def get_project(self, project_handle: str) -> Project | None:
        item = self.table.get_item(Key={"pk": f"P#{project_handle}", "sk": "PROJECT"}, ConsistentRead=True).get("Item")
        return Project.model_validate(_plain(item)) if item else None

    def list_projects(self, company_handle: str) -> list[Project]:
        items = self._query(IndexName=OWNER_INDEX,
                            KeyConditionExpression=Key("gsi1pk").eq(f"C#{company_handle}#PROJECTS"))
        return [Project.model_validate(_plain(item)) for item in items]

    def link_project_assets(self, project_handles: list[str], asset_handle: str) -> None:
        """Project → asset links (idempotent puts), so a project lists its assets with a Query."""
        with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for handle in project_handles:
                batch.put_item(Item={"pk": f"P#{handle}", "sk": f"A#{asset_handle}", "asset_handle": asset_handle})

    def list_project_asset_handles(self, project_handle: str) -> list[str]:
        links = self._query(KeyConditionExpression=Key("pk").eq(f"P#{project_handle}") & Key("sk").begins_with("A#"))
        return [link["asset_handle"] for link in links]

    def iter_project_assets(self, project_handle: str, after: str | None,
                            chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        """The project's assets, from the page token ``after`` on, ``chunk`` links at a time."""
        shape = KeyShape("assets-of-project", {"pk": f"P#{project_handle}"}, {"sk": "A#"})
        return self._iter_linked_assets(shape, after, chunk)

    def delete_project(self, project: Project) -> None:
        """Remove the project, its name guard and its links; its assets stop naming it."""
        for asset_handle in self.list_project_asset_handles(project.project_handle):
            asset = self.get_asset(asset_handle)
            if asset is not None and project.project_handle in asset.project_handles:
                kept = [h for h in asset.project_handles if h != project.project_handle]
                self.table.update_item(Key=_asset_key(asset_handle), UpdateExpression="SET project_handles = :kept",
                                       ExpressionAttributeValues={":kept": kept})
            self.table.delete_item(Key={"pk": f"P#{project.project_handle}", "sk": f"A#{asset_handle}"})
        self._transact([
            {"Delete": {"TableName": self.table_name, "Key": {"pk": f"P#{project.project_handle}", "sk": "PROJECT"}}},
            {"Delete": {"TableName": self.table_name,
                        "Key": {"pk": f"C#{project.company_handle}", "sk": f"PN#{project.name.casefold()}"}}},
        ])

    # ---- pause limit and shared capacity (docs/security.md) ----------------------------------

    def stop_paused_job(self, job: Job, by: str, now: datetime, row: LogEntry) -> bool:
        """Stop a job paused since ``job.paused_at`` (MaxPauseSeconds) as stopJob does, logging ``row`` with it.

        False (nothing written) when it was resumed, paused again, stopped or ended since ``job`` was read.
        """
        values: dict[str, Any] = {":paused": JobState.WAITING_COORDINATOR.value, ":to": JobState.STOPPING.value,
                                  ":by": by, ":now": _iso(now), ":one": 1}
        condition = "#state = :paused AND "
        if job.paused_at is not None:
            condition += "paused_at = :since"
            values[":since"] = _iso(job.paused_at)
        else:  # paused before paused_at was recorded
            condition += "attribute_not_exists(paused_at)"
        try:
            self._transact([
                {"Update": {"TableName": self.table_name, "Key": _clean(_job_key(job.job_handle)),
                            "UpdateExpression": ("SET #state = :to, stopped_by = if_not_exists(stopped_by, :by), "
                                                 "last_activity = :now ADD n_log_rows :one"),
                            "ConditionExpression": condition, "ExpressionAttributeNames": {"#state": "state"},
                            "ExpressionAttributeValues": _clean(values)}},
                self._log_put(job.job_handle, row),
            ], conditional=True)
            return True
        except _ConditionFailed:
            return False

    def take_inflight_slot(self, company_handle: str, holder: str, until: datetime, cap: int,
                           now: datetime) -> bool:
        """Hold one of the company's ``cap`` in-flight slots until ``until``; False when all are held.

        One item per company maps each holder to its lease's end. A take is one conditional
        UpdateItem (a retried request of the same holder succeeds again). When it fails, holders
        whose lease ended (an invocation that crashed before releasing) are removed, each only if
        it is unchanged, and the take is tried again.
        """
        key = _inflight_key(company_handle)
        deadline = int(now.timestamp())
        for _ in range(3):
            try:
                self.table.update_item(
                    Key=key, UpdateExpression="SET holders.#id = :until",
                    # attribute_exists(holders) before size(): DynamoDB fails a size() of a missing
                    # attribute, moto raises on it (tests/integration/test_shared_capacity.py).
                    ConditionExpression=("attribute_exists(holders.#id) OR "
                                         "(attribute_exists(holders) AND size(holders) < :cap)"),
                    ExpressionAttributeNames={"#id": holder},
                    ExpressionAttributeValues={":until": int(until.timestamp()), ":cap": cap},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD")
                return True
            except ClientError as exc:
                if not _is_condition_failure(exc):
                    raise _translate(exc) from exc
                old = exc.response.get("Item") or {}
            if "holders" not in old:  # the company's first file: the map is made once
                self.table.update_item(Key=key, UpdateExpression="SET holders = if_not_exists(holders, :none)",
                                       ExpressionAttributeValues={":none": {}})
                continue
            held = {name: int(value["N"]) for name, value in old["holders"].get("M", {}).items()}
            expired = {name: end for name, end in held.items() if end <= deadline}
            if not expired:
                return False
            for name, end in expired.items():
                self._remove_holder(key, name, end)
        return False

    def release_inflight_slot(self, company_handle: str, holder: str) -> bool:
        """Give the slot back; False when it was not held (pruned after its lease ended)."""
        return self._remove_holder(_inflight_key(company_handle), holder, None)

    def inflight_holders(self, company_handle: str) -> dict[str, datetime]:
        """The company's slot holders and when their leases end."""
        item = self.table.get_item(Key=_inflight_key(company_handle), ConsistentRead=True).get("Item") or {}
        return {name: datetime.fromtimestamp(int(end), UTC) for name, end in (item.get("holders") or {}).items()}

    def _remove_holder(self, key: dict, holder: str, lease_end: int | None) -> bool:
        values = {":end": lease_end} if lease_end is not None else None
        try:
            self.table.update_item(
                Key=key, UpdateExpression="REMOVE holders.#id",
                ConditionExpression="holders.#id = :end" if values else "attribute_exists(holders.#id)",
                ExpressionAttributeNames={"#id": holder}, **({"ExpressionAttributeValues": values} if values else {}))
            return True
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False  # released, renewed or pruned by someone else meanwhile
            raise _translate(exc) from exc

    # ---- mail and re-send quotas (services/mail_policy.py) ------------------------------------
    # One item per company and UTC day, ``C#<c>`` / ``MAIL#<day>``: ``mails`` handed to SES and
    # ``resends`` requested, each counted with a conditional ADD (never read, then written), so two
    # requests at once cannot both take the last place. It expires (TTL) three days after its day.

    def _company_day_add(self, company_handle: str, day: str, counter: str, limit: int) -> dict:
        expires_at = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) + 3 * 86400
        return {"Update": {
            "TableName": self.table_name, "Key": {"pk": f"C#{company_handle}", "sk": f"MAIL#{day}"},
            "UpdateExpression": "ADD #n :one SET expiresAt = :ttl",
            "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
            "ExpressionAttributeNames": {"#n": counter},
            "ExpressionAttributeValues": {":one": 1, ":limit": limit, ":ttl": expires_at}}}

    def reserve_resend(self, job_handle: str, company_handle: str, day: str, per_job: int,
                       per_company_day: int) -> str | None:
        """Count one re-send request of the job; None when counted, else the quota it would pass: "job" or "company"."""
        if per_job <= 0 or per_company_day <= 0:  # a missing counter passes its condition: 0 is decided here
            return "job" if per_job <= 0 else "company"
        per_job_add = {"Update": {
            "TableName": self.table_name, "Key": _job_key(job_handle),
            "UpdateExpression": "ADD resend_requests :one",
            "ConditionExpression": "attribute_exists(pk) AND (attribute_not_exists(resend_requests) "
                                   "OR resend_requests < :limit)",
            "ExpressionAttributeValues": {":one": 1, ":limit": per_job}}}
        reasons = self._transact_reasons([per_job_add,
                                          self._company_day_add(company_handle, day, "resends", per_company_day)])
        if reasons is None:
            return None
        return "job" if reasons[0] == "ConditionalCheckFailed" else "company"

    def reserve_mail(self, job_handle: str, step: str, company_handle: str, day: str, per_company_day: int) -> bool:
        """Count the mail of step ``X#<step>`` against its company's day, once; False when the quota is used up.

        A marker ``J#<j>`` / ``M#<step>`` remembers the count, so a step taken over after a crash is not
        counted twice (it lives beside the step's item, which a takeover rewrites).
        """
        if per_company_day <= 0:
            return False
        marker = {"Put": {"TableName": self.table_name,
                          "Item": {"pk": f"J#{job_handle}", "sk": f"M#{step}", "counted_on": day},
                          "ConditionExpression": "attribute_not_exists(pk)"}}
        count_mail = self._company_day_add(company_handle, day, "mails", per_company_day)
        reasons = self._transact_reasons([marker, count_mail])
        return reasons is None or reasons[0] == "ConditionalCheckFailed"  # counted by an earlier attempt of the step

    def _transact_reasons(self, items: list[dict]) -> list[str | None] | None:
        """None when the transaction is written; else each item's cancellation code (a condition failed)."""
        try:
            self.client.transact_write_items(TransactItems=items)
            return None
        except ClientError as exc:
            if not _is_cancelled_by_condition(exc):
                raise _translate(exc) from exc
            return [reason.get("Code") for reason in exc.response.get("CancellationReasons") or []]

    # ---- plumbing ---------------------------------------------------------------------------

    def _query_from(self, shape: KeyShape, after: str | None, chunk: int, **kwargs: Any) -> Iterator[dict]:
        """The items of a listing after the page token ``after``, read ``chunk`` at a time as they are consumed."""
        kwargs["Limit"] = chunk
        start = shape.start_key(after)
        first = True
        while True:
            if start:
                kwargs["ExclusiveStartKey"] = start
            try:
                page = self.table.query(**kwargs)
            except ClientError as exc:
                # DynamoDB refuses a start key outside the query's key range (another date range).
                if first and after is not None and exc.response["Error"]["Code"] == "ValidationException":
                    raise InvalidPageToken("does not continue this listing") from exc
                raise _translate(exc) from exc
            first = False
            yield from page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def _iter_linked_assets(self, shape: KeyShape, after: str | None,
                            chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        """Assets named by link items (``asset_handle``) of one partition: a Query, then a BatchGet, per chunk."""
        links = self._query_from(shape, after, chunk, KeyConditionExpression=Key("pk").eq(shape.fixed["pk"])
                                 & Key("sk").begins_with(shape.prefixed["sk"]))
        while batch := list(islice(links, chunk)):
            assets = self.get_assets({link["asset_handle"] for link in batch})
            for link in batch:
                yield assets.get(link["asset_handle"]), shape.position(link)

    def _query(self, **kwargs: Any) -> Iterator[dict]:
        while True:
            page = self.table.query(**kwargs)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _count(self, **kwargs: Any) -> int:
        """Items a Query matches, counted page by page without reading them out."""
        kwargs["Select"] = "COUNT"
        total = 0
        while True:
            page = self.table.query(**kwargs)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _transact(self, items: list[dict], conditional: bool = False) -> None:
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if conditional and _is_cancelled_by_condition(exc):
                raise _ConditionFailed from exc
            raise _translate(exc) from exc


class _ConditionFailed(Exception):
    pass


@lru_cache(maxsize=4)
def get_job_store(table_name: str) -> JobStore:
    return JobStore(table_name)
