"""DynamoDB single-table store: the only code that talks to the jobs table.

Item types (pk / sk):

=================  ======================  =====================  ==========================
item               pk                      sk                     indexes
=================  ======================  =====================  ==========================
company            ``C#<c>``               ``COMPANY``            gsi1 ``COMPANIES`` / c
user               ``U#<u>``               ``USER``               gsi1 ``C#<c>#USERS`` / email
API key            ``K#<sha256>``          ``KEY``
job                ``J#<j>``               ``JOB``                gsi1 ``C#<c>#JOBS`` / start#j
                                                                  (``C#<c>#DELETED`` once deleted);
                                                                  active ``<c>`` / start#j (sparse)
file claim         ``J#<j>``               ``F#<claim>``
log row            ``J#<j>``               ``L#<date>#<rand>``    gsi1 ``A#<a>#LOGS`` / sk, when
                                                                  the row names an asset
job→asset link     ``J#<j>``               ``A#<a>``
asset              ``A#<a>``               ``ASSET``              gsi1 ``C#<c>#F#<folder>`` / name
asset-ID guard     ``C#<c>``               ``N#<name>``
job-name guard     ``C#<c>``               ``JN#<name>``
set preset         ``P#<p>``               ``PRESET``
preset listing     ``C#<c>``               ``P#<p>``              (a copy of the preset, so a
                                                                  company's presets are one Query)
set-run marker     ``J#<j>``               ``S#<p>#<set name>``   the row a preset run wrote for
                                                                  one set (re-runs answer it)
word index entry   ``C#<c>#W#<word>``      ``A#<a>``              an asset holding the word
                                                                  (extractSearchWords; ``?text=``)
=================  ======================  =====================  ==========================

The active-jobs index is sparse: a job carries ``activePk`` from creation until it is
finalized, so reading a company's active jobs costs in proportion to its active jobs.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

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
    User,
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

    # ---- companies, users, keys -------------------------------------------------

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

    def put_user(self, user: User, key_hash: str) -> None:
        # The user item names its one live key: a key whose hash it does not name is revoked.
        user_item = {"pk": f"U#{user.user_handle}", "sk": "USER",
                     "gsi1pk": f"C#{user.company_handle}#USERS", "gsi1sk": user.email,
                     **user.model_dump(), "key_hash": key_hash}
        key_item = {"pk": f"K#{key_hash}", "sk": "KEY", **user.model_dump()}
        self.client.transact_write_items(TransactItems=[
            {"Put": {"TableName": self.table_name, "Item": _clean(user_item),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self.table_name, "Item": _clean(key_item),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])

    def find_user_by_email(self, company_handle: str, email: str) -> User | None:
        items = self.table.query(
            IndexName=OWNER_INDEX,
            KeyConditionExpression=Key("gsi1pk").eq(f"C#{company_handle}#USERS") & Key("gsi1sk").eq(email),
        )["Items"]
        return User.model_validate(_plain(items[0])) if items else None

    def get_user_by_key_hash(self, key_hash: str) -> User | None:
        """The user a live API key belongs to: None for an unknown, revoked or replaced key, or a deleted user."""
        item = self.table.get_item(Key={"pk": f"K#{key_hash}", "sk": "KEY"}).get("Item")
        if not item:
            return None
        found = self.get_user(item["user_handle"])
        # A user written before keys could be revoked names no key: its one key item is its key.
        if found is None or (found[1] is not None and found[1] != key_hash):
            return None
        return found[0]

    def get_user(self, user_handle: str) -> tuple[User, str | None] | None:
        """A user and the hash of its live key ("" once revoked; None for a user that predates revocation)."""
        item = self.table.get_item(Key={"pk": f"U#{user_handle}", "sk": "USER"}, ConsistentRead=True).get("Item")
        if not item:
            return None
        return User.model_validate(_plain(_strip_keys(item))), item.get("key_hash")

    def replace_user_key(self, user: User, old_hash: str | None, new_hash: str | None) -> None:
        """Revoke the user's key (``new_hash`` None) or replace it, at once."""
        items: list[dict] = [{"Update": {
            "TableName": self.table_name, "Key": {"pk": f"U#{user.user_handle}", "sk": "USER"},
            "UpdateExpression": "SET key_hash = :new", "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":new": new_hash or ""}}}]
        if old_hash:
            items.append({"Delete": {"TableName": self.table_name, "Key": {"pk": f"K#{old_hash}", "sk": "KEY"}}})
        if new_hash:
            items.append({"Put": {"TableName": self.table_name, "ConditionExpression": "attribute_not_exists(pk)",
                                  "Item": {"pk": f"K#{new_hash}", "sk": "KEY", **user.model_dump()}}})
        self._transact(items)

    def delete_user(self, user: User, key_hash: str | None) -> None:
        items: list[dict] = [{"Delete": {"TableName": self.table_name,
                                         "Key": {"pk": f"U#{user.user_handle}", "sk": "USER"}}}]
        if key_hash:
            items.append({"Delete": {"TableName": self.table_name, "Key": {"pk": f"K#{key_hash}", "sk": "KEY"}}})
        self._transact(items)

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
        return self._transition(job_handle, JobState.WAITING_COORDINATOR, (JobState.WAITING_CLIENT,), now)

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

    def list_folder_assets(self, company_handle: str, folder: str) -> list[Asset]:
        items = self._query(IndexName=OWNER_INDEX,
                            KeyConditionExpression=Key("gsi1pk").eq(f"C#{company_handle}#F#{folder}"))
        return [Asset.model_validate(_plain(item)) for item in items]

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

    def list_word_asset_handles(self, company_handle: str, word: str) -> list[str]:
        items = self._query(KeyConditionExpression=Key("pk").eq(f"C#{company_handle}#W#{word}"))
        return [item["asset_handle"] for item in items]

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

    def get_webhook_secret(self, company_handle: str) -> dict | None:
        item = self.table.get_item(Key={"pk": f"C#{company_handle}", "sk": "WEBHOOK_SECRET"},
                                   ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def create_webhook_secret(self, company_handle: str, secret: str, now: datetime) -> dict:
        """The company's secret, created with ``secret`` if it has none yet (first writer wins)."""
        try:
            self.table.put_item(Item={"pk": f"C#{company_handle}", "sk": "WEBHOOK_SECRET", "secret": secret,
                                      "created_at": _iso(now)},
                                ConditionExpression=Attr("pk").not_exists())
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise _translate(exc) from exc
        found = self.get_webhook_secret(company_handle)
        assert found is not None
        return found

    def rotate_webhook_secret(self, company_handle: str, secret: str, now: datetime,
                              previous_valid_until: datetime) -> dict:
        """Replace the secret; the old one keeps signing (second ``v1=``) until ``previous_valid_until``."""
        old = self.get_webhook_secret(company_handle)
        item = {"pk": f"C#{company_handle}", "sk": "WEBHOOK_SECRET", "secret": secret, "created_at": _iso(now)}
        if old:
            item |= {"previous_secret": old["secret"], "previous_valid_until": _iso(previous_valid_until)}
        self.table.put_item(Item=item)
        return _plain(item)

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

    # ---- plumbing ---------------------------------------------------------------------------

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
