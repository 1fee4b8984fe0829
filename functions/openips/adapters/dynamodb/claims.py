"""File claims on DynamoDB: one per uploaded object, its lease and its completion (``ports.ClaimRepository``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr

from openips.adapters.dynamodb import items, keys
from openips.adapters.dynamodb.items import COUNT_ATTRS
from openips.adapters.dynamodb.keys import iso
from openips.adapters.dynamodb.table import (
    MAX_TRANSACTION_ITEMS,
    ConditionCheckFailed,
    Table,
    TransactionCancelled,
    clean,
)
from openips.adapters.ports import ClaimResult
from openips.models.domain import FileClaim, LogEntry
from openips.models.errors import TransientError


class DynamoClaims:
    def __init__(self, table: Table) -> None:
        self.table = table

    def claim_file(self, claim: FileClaim, now: datetime) -> ClaimResult:
        """Claim one S3 object for processing; a new claim counts as a received file."""
        item = {**keys.claim_key(claim.job_handle, claim.claim_id), **claim.model_dump(mode="json")}
        try:
            self.table.transact([
                self.table.put_op(clean(item), "attribute_not_exists(pk)"),
                self.table.update_op(keys.job_key(claim.job_handle), "ADD n_received :one SET last_activity = :now",
                                     ExpressionAttributeValues={":one": 1, ":now": iso(now)}),
            ])
            return ClaimResult("new", claim)
        except TransactionCancelled:
            pass
        existing = self.get(claim.job_handle, claim.claim_id)
        if existing is None:  # raced with a delete; let SQS try again
            raise TransientError("claim vanished")
        if existing.status == "Done":
            return ClaimResult("done", existing)
        if existing.lease_until > now:
            return ClaimResult("busy", existing)
        try:
            self.table.update(
                keys.claim_key(claim.job_handle, claim.claim_id),
                "SET lease_until = :lease, attempt_started = :now ADD attempts :one",
                Attr("lease_until").eq(iso(existing.lease_until)) & Attr("status").ne("Done"),
                ExpressionAttributeValues={":lease": iso(claim.lease_until), ":now": iso(now), ":one": 1})
        except ConditionCheckFailed:
            return ClaimResult("busy", existing)
        return ClaimResult("retry", existing.model_copy(update={"lease_until": claim.lease_until,
                                                                "attempt_started": now,
                                                                "attempts": existing.attempts + 1}))

    def hold(self, claim: FileClaim, until: datetime, error: str) -> bool:
        """Keep a failed attempt's claim until its retry is due (``until``), saying why it failed.

        A no-op (False) when the claim is no longer ours: done, or taken over by a later attempt.
        The failed attempt's external job, if it had one, is no longer the claim's.
        """
        return self._hold(claim, "SET lease_until = :until, last_error = :error REMOVE external_job",
                          {":until": iso(until), ":error": error})

    def hold_for_job(self, claim: FileClaim, until: datetime, external_job: str) -> bool:
        """Keep the claim until ``until`` while ``external_job`` (a MediaConvert job) makes its file.

        An earlier attempt's error is dropped: the claim is not failing while its job runs.
        """
        return self._hold(claim, "SET lease_until = :until, external_job = :job REMOVE last_error",
                          {":until": iso(until), ":job": external_job})

    def _hold(self, claim: FileClaim, update: str, values: dict[str, Any]) -> bool:
        try:
            self.table.update(keys.claim_key(claim.job_handle, claim.claim_id), update,
                              Attr("lease_until").eq(iso(claim.lease_until)) & Attr("status").ne("Done"),
                              ExpressionAttributeValues=values)
            return True
        except ConditionCheckFailed:
            return False

    def get(self, job_handle: str, claim_id: str) -> FileClaim | None:
        item = self.table.get(keys.claim_key(job_handle, claim_id), consistent=True)
        return FileClaim.model_validate(item) if item else None

    def list_for_job(self, job_handle: str, processing_only: bool = False) -> list[FileClaim]:
        """The job's files as claimed for processing (one Query; the in-flight ones if asked)."""
        kwargs: dict[str, Any] = {"FilterExpression": Attr("status").eq("Processing")} if processing_only else {}
        return [FileClaim.model_validate(item) for item in self.table.query_prefixed(keys.claims_of(job_handle),
                                                                                      **kwargs)]

    def record_decision(self, claim: FileClaim, outcome: str, asset_handle: str | None) -> None:
        """Remember the naming decision so a retried attempt repeats it exactly."""
        self.table.update(keys.claim_key(claim.job_handle, claim.claim_id), "SET outcome = :o, asset_handle = :a",
                          ExpressionAttributeValues={":o": outcome, ":a": asset_handle})

    def complete(self, claim: FileClaim, counts: dict[str, int], rows: list[LogEntry], asset_link: str | None,
                 count_as_done: bool = True, completed: datetime | None = None, result: str | None = None,
                 more_expected: int = 0) -> None:
        """Mark the claim done, bump the job counters and write its log rows at once.

        ``more_expected``: files this one adds to the job (archive members), which the job
        must account for before it can end.
        """
        adds = {**counts, "log_rows": len(rows)}
        if count_as_done:
            adds["done"] = adds.get("done", 0) + 1
        expr = "ADD " + ", ".join(f"{COUNT_ATTRS[k]} :{k}" for k in adds)
        values: dict[str, Any] = {f":{k}": v for k, v in adds.items()}
        if more_expected:
            expr += ", expected_files :more"
            values[":more"] = more_expected
        ops: list[dict] = [
            self.table.update_op(
                keys.claim_key(claim.job_handle, claim.claim_id),
                "SET #status = :done, completed = :at, #result = :result, #counts = :counts", "#status <> :done",
                ExpressionAttributeNames={"#status": "status", "#result": "result", "#counts": "counts"},
                ExpressionAttributeValues={":done": "Done", ":result": result,
                                           ":counts": {**adds, "more_expected": more_expected},
                                           ":at": iso(completed) if completed else None}),
            self.table.update_op(keys.job_key(claim.job_handle), expr, ExpressionAttributeValues=clean(values)),
        ]
        if asset_link:
            ops.append(self.table.put_op(clean(items.job_asset_link(claim.job_handle, asset_link))))
        # A file's rows keep their order (seq); a PDF's page rows can outnumber what one
        # transaction takes (100 items): the rest are written right after it commits.
        puts = [items.log_item(claim.job_handle, row, seq) for seq, row in enumerate(rows)]
        room = MAX_TRANSACTION_ITEMS - len(ops)
        try:
            self.table.transact(ops + [self.table.put_op(item) for item in puts[:room]])
        except TransactionCancelled:
            return  # a duplicate delivery completed it first: counted once
        self.table.write_batch(puts[room:])
