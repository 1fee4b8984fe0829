"""Jobs on DynamoDB: the job item, its name guard, its state changes and counters (``ports.JobRepository``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from openips.adapters.dynamodb import items, keys
from openips.adapters.dynamodb.items import COUNT_ATTRS, job_from_item, job_item
from openips.adapters.dynamodb.keys import ACTIVE_INDEX, OWNER_INDEX, iso, sort_time
from openips.adapters.dynamodb.table import ConditionCheckFailed, Table, TransactionCancelled, clean
from openips.adapters.paging import Position
from openips.models.domain import Job, JobClock, JobCounts, JobState, LogEntry

NEW = "attribute_not_exists(pk)"


class DynamoJobs:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create(self, job: Job, rows: list[LogEntry]) -> bool:
        guard = {**keys.job_name_guard_key(job.company_handle, job.name), "job_handle": job.job_handle}
        ops = [self.table.put_op(item, NEW) for item in (guard, clean(job_item(job)))]
        ops += [self.table.put_op(items.log_item(job.job_handle, row)) for row in rows]
        try:
            self.table.transact(ops)
            return True
        except TransactionCancelled:
            return False

    def get(self, job_handle: str) -> Job | None:
        item = self.table.get(keys.job_key(job_handle), consistent=True)
        return job_from_item(item) if item else None

    def get_many(self, job_handles: set[str]) -> dict[str, Job]:
        """BatchGetItem, 100 keys a call."""
        found = (job_from_item(item) for item in self.table.batch_get([keys.job_key(h) for h in sorted(job_handles)]))
        return {job.job_handle: job for job in found}

    def query_active(self, company_handle: str) -> tuple[list[Job], int]:
        """Active jobs of one company from the sparse index, with the items DynamoDB read."""
        jobs: list[Job] = []
        scanned = 0
        for page in self.table.pages(IndexName=ACTIVE_INDEX, KeyConditionExpression=Key("activePk").eq(company_handle)):
            scanned += page["ScannedCount"]
            jobs += [job_from_item(item) for item in page["Items"]]
        return jobs, scanned

    def count_active(self, company_handle: str) -> int:
        """A COUNT on the sparse index: no item read out."""
        return self.table.count(IndexName=ACTIVE_INDEX, KeyConditionExpression=Key("activePk").eq(company_handle))

    def iter_active_clocks(self, company_handle: str) -> Iterator[JobClock]:
        """Page by page, without the jobs' options."""
        for item in self.table.query(
                IndexName=ACTIVE_INDEX, KeyConditionExpression=Key("activePk").eq(company_handle),
                ProjectionExpression=", ".join(f"#{name}" for name in JobClock.model_fields),
                ExpressionAttributeNames={f"#{name}": name for name in JobClock.model_fields}):
            yield JobClock.model_validate(item)

    def query_company(self, company_handle: str, start: datetime | None, end: datetime | None,
                      newest_first: bool) -> Iterator[Job]:
        cond = Key("gsi1pk").eq(keys.company_jobs_partition(company_handle))
        if start and end:
            cond &= Key("gsi1sk").between(sort_time(start), sort_time(end) + "~")
        elif start:
            cond &= Key("gsi1sk").gte(sort_time(start))
        elif end:
            cond &= Key("gsi1sk").lte(sort_time(end) + "~")
        for item in self.table.query(IndexName=OWNER_INDEX, KeyConditionExpression=cond,
                                     ScanIndexForward=not newest_first):
            yield job_from_item(item)

    def iter_by_start(self, company_handle: str, start: datetime | None, end: datetime | None,
                      newest_first: bool, after: str | None, chunk: int) -> Iterator[tuple[Job | None, Position]]:
        """Read ``chunk`` at a time as the caller consumes them, so a page costs what it shows."""
        shape = keys.jobs_by_start(company_handle, newest_first)
        partition = shape.fixed["gsi1pk"]
        low = sort_time(start) if start else None  # sort keys are UTC: compare like with like
        high = sort_time(end) + "~" if end else None
        if low and high and low > high:
            return
        cond = Key("gsi1pk").eq(partition)
        if low and high:
            cond &= Key("gsi1sk").between(low, high)
        elif low or high:
            cond &= Key("gsi1sk").gte(low) if low else Key("gsi1sk").lte(high)
        for item in self.table.query_from(shape, after, chunk, IndexName=OWNER_INDEX, KeyConditionExpression=cond,
                                          ScanIndexForward=not newest_first):
            yield job_from_item(item), shape.position(item)

    def iter_by_name(self, company_handle: str, descending: bool, after: str | None,
                     chunk: int) -> Iterator[tuple[Job | None, Position]]:
        """Every job has its job-name guard (written with it, never removed; names never change),
        and the guards of a company are sorted by name: a page reads its guards, then its jobs."""
        shape = keys.jobs_by_name(company_handle, descending)
        guards = self.table.query_from(shape, after, chunk, ScanIndexForward=not descending,
                                       KeyConditionExpression=Key("pk").eq(shape.fixed["pk"])
                                       & Key("sk").begins_with(shape.prefixed["sk"]))
        while batch := list(islice(guards, chunk)):
            jobs = self.get_many({guard["job_handle"] for guard in batch})
            for guard in batch:
                yield jobs.get(guard["job_handle"]), shape.position(guard)

    def named_from(self, company_handle: str, original_name: str, limit: int) -> tuple[list[Job], bool]:
        """A job is named ``original_name`` or ``original_name`` plus a suffix: its guard sorts from there."""
        guard = keys.job_name_guard_key(company_handle, original_name)
        guards = list(islice(self.table.query(Limit=limit + 1, KeyConditionExpression=Key("pk").eq(guard["pk"])
                                              & Key("sk").begins_with(guard["sk"])), limit + 1))
        found = self.get_many({guard["job_handle"] for guard in guards[:limit]})
        return [job for job in found.values() if job.original_name == original_name], len(guards) > limit

    def touch(self, job_handle: str, now: datetime) -> None:
        self.table.update(keys.job_key(job_handle), "SET last_activity = :now",
                          ExpressionAttributeValues={":now": iso(now)})

    def close(self, job_handle: str, expected_files: int, reason: str, now: datetime) -> bool:
        try:
            self.table.update(
                keys.job_key(job_handle),
                # ADD: archive members extracted before the close are expected already.
                "SET closed = :t, close_reason = :r, closed_at = :now, last_activity = :now ADD expected_files :n",
                Attr("closed").eq(False) & Attr("state").ne(JobState.DONE.value),
                ExpressionAttributeValues={":t": True, ":r": reason, ":now": iso(now), ":n": expected_files})
            return True
        except ConditionCheckFailed:
            return False

    def try_finish(self, job: Job, now: datetime, end_row: LogEntry, force: bool = False) -> bool:
        """Exactly-one finisher: the conditional update that wins writes ``EndUpload``.

        The update is conditioned on the very counts ``job`` holds, which ``end_row`` reports:
        if any file's counters landed after ``job`` was read, nothing is written (False), and
        the caller reads again. ``force`` (the sweeper's grace expiry) drops the wait for
        expected files that never produced an event; files in flight still hold the job open.
        """
        counted = {name: getattr(job.counts, name) for name in COUNT_ATTRS if name != "log_rows"}
        condition = " AND ".join(["#closed = :t", "#state <> :done", "n_done = n_received",
                                  "expected_files = :expected",
                                  *(f"{COUNT_ATTRS[name]} = :c_{name}" for name in counted)])
        if not force:
            condition += " AND n_received >= expected_files"
        try:
            self.table.transact([
                self.table.update_op(
                    keys.job_key(job.job_handle), "SET #state = :done, end_date = :now ADD n_log_rows :one", condition,
                    ExpressionAttributeNames={"#state": "state", "#closed": "closed"},
                    ExpressionAttributeValues=clean(
                        {":t": True, ":done": JobState.DONE.value, ":now": iso(now), ":one": 1,
                         ":expected": job.expected_files, **{f":c_{k}": v for k, v in counted.items()}})),
                self.table.put_op(items.log_item(job.job_handle, end_row)),
            ])
            return True
        except TransactionCancelled:
            return False

    def pause(self, job_handle: str, now: datetime) -> bool:
        """pauseJob: False unless the job was running (not paused, stopping or ended)."""
        # paused_at: how long the pause has lasted (deferral backoff, MaxPauseSeconds), whatever
        # else moves last_activity meanwhile (a renewed form, a file that was in flight).
        return self._transition(job_handle, JobState.WAITING_COORDINATOR, (JobState.WAITING_CLIENT,), now,
                                "paused_at = :now")

    def resume(self, job_handle: str, now: datetime) -> bool:
        """resumeJob: False unless the job was paused; the idle timer starts again now."""
        return self._transition(job_handle, JobState.WAITING_CLIENT, (JobState.WAITING_COORDINATOR,), now)

    def stop(self, job: Job, by: str, now: datetime, delete: bool = False) -> bool:
        """Mark the job ``Stopping`` (and deleted); False once it has ended."""
        sets = "stopped_by = if_not_exists(stopped_by, :by)"
        values: dict[str, Any] = {":by": by}
        if delete:
            # Moving the job to another gsi1 partition drops it from getJobLogs' Query.
            sets += ", deleted = :t, gsi1pk = :hidden"
            values |= {":t": True, ":hidden": keys.company_jobs_partition(job.company_handle, deleted=True)}
        return self._transition(job.job_handle, JobState.STOPPING,
                                (JobState.WAITING_CLIENT, JobState.WAITING_COORDINATOR, JobState.STOPPING),
                                now, sets, values)

    def _transition(self, job_handle: str, to: JobState, from_states: tuple[JobState, ...], now: datetime,
                    sets: str = "", values: dict[str, Any] | None = None) -> bool:
        allowed = {f":from{i}": state.value for i, state in enumerate(from_states)}
        try:
            self.table.update(
                keys.job_key(job_handle), "SET #state = :to, last_activity = :now" + (f", {sets}" if sets else ""),
                f"#state IN ({', '.join(allowed)})", ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":to": to.value, ":now": iso(now), **allowed, **(values or {})})
            return True
        except ConditionCheckFailed:
            return False

    def stop_paused(self, job: Job, by: str, now: datetime, row: LogEntry) -> bool:
        """Stop a job paused since ``job.paused_at`` (MaxPauseSeconds) as stopJob does, logging ``row`` with it.

        False (nothing written) when it was resumed, paused again, stopped or ended since ``job`` was read.
        """
        values: dict[str, Any] = {":paused": JobState.WAITING_COORDINATOR.value, ":to": JobState.STOPPING.value,
                                  ":by": by, ":now": iso(now), ":one": 1}
        condition = "#state = :paused AND "
        if job.paused_at is not None:
            condition += "paused_at = :since"
            values[":since"] = iso(job.paused_at)
        else:  # paused before paused_at was recorded
            condition += "attribute_not_exists(paused_at)"
        try:
            self.table.transact([
                self.table.update_op(
                    keys.job_key(job.job_handle),
                    "SET #state = :to, stopped_by = if_not_exists(stopped_by, :by), last_activity = :now "
                    "ADD n_log_rows :one", condition,
                    ExpressionAttributeNames={"#state": "state"}, ExpressionAttributeValues=clean(values)),
                self.table.put_op(items.log_item(job.job_handle, row)),
            ])
            return True
        except TransactionCancelled:
            return False

    def count_late_file(self, job_handle: str) -> int:
        """Count one more file that arrived after the job ended; returns how many have."""
        attributes = self.table.update(keys.job_key(job_handle), "ADD late_files :one",
                                       ExpressionAttributeValues={":one": 1}, ReturnValues="UPDATED_NEW")
        return int(attributes["late_files"])

    def mark_finalized(self, job_handle: str) -> bool:
        """Record that the job's finalize work ran (it leaves the active index); False if it already had."""
        try:
            self.table.update(keys.job_key(job_handle), "SET finalized = :t REMOVE activePk, activeSk",
                              Attr("finalized").eq(False) & Attr("state").eq(JobState.DONE.value),
                              ExpressionAttributeValues={":t": True})
            return True
        except ConditionCheckFailed:
            return False

    def repair_counts(self, job: Job, counts: JobCounts, row: LogEntry) -> bool:
        """False (nothing written) when a counter moved since ``job`` was read."""
        names = [name for name in COUNT_ATTRS if name != "log_rows"]
        sets = ", ".join(f"{COUNT_ATTRS[n]} = :new_{n}" for n in names)
        condition = " AND ".join(f"{COUNT_ATTRS[n]} = :old_{n}" for n in [*names, "log_rows"])
        values = {**{f":new_{n}": getattr(counts, n) for n in names},
                  **{f":old_{n}": getattr(job.counts, n) for n in [*names, "log_rows"]},
                  ":rows": counts.log_rows + 1, ":one": 1}
        try:
            self.table.transact([
                self.table.update_op(keys.job_key(job.job_handle),
                                     f"SET {sets}, n_log_rows = :rows ADD repairs :one", condition,
                                     ExpressionAttributeValues=clean(values)),
                self.table.put_op(items.log_item(job.job_handle, row)),
            ])
            return True
        except TransactionCancelled:
            return False

    def note_repair(self, job_handle: str, row: LogEntry) -> None:
        """Log a repair that changed no counter (files re-sent), and count it against the job's repairs."""
        self.table.transact([
            self.table.update_op(keys.job_key(job_handle), "ADD n_log_rows :one, repairs :one",
                                 ExpressionAttributeValues={":one": 1}),
            self.table.put_op(items.log_item(job_handle, row)),
        ])
