"""Batch set presets on DynamoDB, and the rows their runs wrote per job (``ports.PresetRepository``)."""

from __future__ import annotations

import json

from openips.adapters.dynamodb import items, keys
from openips.adapters.dynamodb.table import Table, TransactionCancelled, clean
from openips.models.domain import LogEntry
from openips.models.set_presets import SetPreset

NEW = "attribute_not_exists(pk)"


class DynamoPresets:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create(self, preset: SetPreset) -> None:
        """Store a new preset: the by-handle item and the company's listing item, at once."""
        data = preset.model_dump(mode="json")
        self.table.transact([
            self.table.put_op(clean({**keys.preset_key(preset.preset_handle), **data}), NEW),
            self.table.put_op(clean({**keys.preset_listing_key(preset.company_handle, preset.preset_handle), **data}),
                              NEW),
        ])

    def get(self, preset_handle: str) -> SetPreset | None:
        """A preset by handle (with its ``company_handle``), or None."""
        item = self.table.get(keys.preset_key(preset_handle), consistent=True)
        return SetPreset.model_validate(keys.without_keys(item)) if item else None

    def list_for_company(self, company_handle: str) -> list[SetPreset]:
        return [SetPreset.model_validate(keys.without_keys(item))
                for item in self.table.query_prefixed(keys.presets_of(company_handle), ConsistentRead=True)]

    def delete(self, preset: SetPreset) -> bool:
        """Delete both items of a preset; False when it was already gone."""
        try:
            self.table.transact([
                self.table.delete_op(keys.preset_key(preset.preset_handle), "attribute_exists(pk)"),
                self.table.delete_op(keys.preset_listing_key(preset.company_handle, preset.preset_handle)),
            ])
            return True
        except TransactionCancelled:
            return False

    def get_run(self, job_handle: str, marker: str) -> LogEntry | None:
        """The row a preset run already wrote for ``marker`` (``<preset>#<set>``) in this job."""
        item = self.table.get(keys.set_run_key(job_handle, marker), consistent=True)
        return LogEntry.model_validate(json.loads(item["row"])) if item else None

    def record_run(self, job_handle: str, marker: str, row: LogEntry) -> LogEntry:
        """Write a preset run's row once per marker (marker, log row and count at once).

        Returns the row the job log holds for the marker: ``row``, or the one an earlier run wrote.
        """
        marker_item = {**keys.set_run_key(job_handle, marker), "row": row.model_dump_json()}
        try:
            self.table.transact([
                self.table.put_op(clean(marker_item), NEW),
                self.table.update_op(keys.job_key(job_handle), "ADD n_log_rows :one",
                                     ExpressionAttributeValues={":one": 1}),
                self.table.put_op(items.log_item(job_handle, row)),
            ])
            return row
        except TransactionCancelled:
            return self.get_run(job_handle, marker) or row
