"""Finalize steps and webhook attempts on DynamoDB (``ports.StepRepository``).

One marker item per job and step, taken with a conditional write (a lease, so a crashed
holder's step can be taken over) and finished together with the log rows it wrote.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr

from openips.adapters.dynamodb import items, keys
from openips.adapters.dynamodb.keys import iso
from openips.adapters.dynamodb.table import ConditionCheckFailed, Table, TransactionCancelled, clean
from openips.adapters.ports import StepState
from openips.models.domain import LogEntry


class DynamoSteps:
    def __init__(self, table: Table) -> None:
        self.table = table

    def claim(self, job_handle: str, step: str, now: datetime, lease_seconds: int) -> StepState:
        """"new" (ours now), "done" (finished before) or "busy" (another holder's lease is live)."""
        now_ms = int(now.timestamp() * 1000)
        try:
            self.table.put(
                {**keys.step_key(job_handle, step), "status": "Running",
                 "lease_until_ms": now_ms + lease_seconds * 1000, "claimed_at": iso(now)},
                Attr("pk").not_exists() | (Attr("status").eq("Running") & Attr("lease_until_ms").lt(now_ms)))
            return "new"
        except ConditionCheckFailed:
            pass
        step_item = self.get(job_handle, step)
        return "done" if step_item and step_item.get("status") == "Done" else "busy"

    def get(self, job_handle: str, step: str) -> dict | None:
        item = self.table.get(keys.step_key(job_handle, step), consistent=True)
        return keys.without_keys(item) if item else None

    def finish(self, job_handle: str, step: str, rows: list[LogEntry], **fields: Any) -> bool:
        """Mark the step done and write its log rows at once; False if it was already done."""
        fields = {k: v for k, v in fields.items() if v is not None}
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": value for i, value in enumerate(fields.values())}
        sets = ", ".join(["#status = :done", *(f"#f{i} = :f{i}" for i in range(len(fields)))])
        ops = [self.table.update_op(keys.step_key(job_handle, step), f"SET {sets}",
                                    "attribute_not_exists(#status) OR #status <> :done",
                                    ExpressionAttributeNames={"#status": "status", **names},
                                    ExpressionAttributeValues=clean({":done": "Done", **values}))]
        if rows:
            ops.append(self.table.update_op(keys.job_key(job_handle), "ADD n_log_rows :n",
                                            ExpressionAttributeValues={":n": len(rows)}))
            ops += [self.table.put_op(items.log_item(job_handle, row)) for row in rows]
        try:
            self.table.transact(ops)
            return True
        except TransactionCancelled:
            return False

    def set_fields(self, job_handle: str, step: str, **fields: Any) -> None:
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": value for i, value in enumerate(fields.values())}
        self.table.update(keys.step_key(job_handle, step),
                          "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                          ExpressionAttributeNames=names, ExpressionAttributeValues=clean(values))
