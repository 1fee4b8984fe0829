"""Models as items, and back: the attributes each item holds beside its keys (``keys.py``).

Shared by the repositories whose transactions write another aggregate's items (a file's
completion writes its job's counters and log rows; a job's creation its first rows).
"""

from __future__ import annotations

import json
from decimal import Decimal

from openips.adapters.dynamodb import keys
from openips.adapters.dynamodb.table import clean
from openips.models.domain import Asset, Job, JobCounts, LogEntry
from openips.models.upload_job import UploadPostJob

# The job's counters, one attribute each on the job item (``ADD``-ed by the writes that count).
COUNT_ATTRS = {name: f"n_{name}" for name in JobCounts.model_fields}


def job_item(job: Job) -> dict:
    """The job's item; its options as one JSON string, its counters as ``n_<counter>``."""
    data = job.model_dump(mode="json", exclude={"counts", "options"})
    data["options"] = json.dumps(job.options.model_dump(by_alias=True, exclude_none=True, mode="json"))
    item = {**keys.job_key(job.job_handle), **data, **keys.job_index(job),
            **{attr: getattr(job.counts, name) for name, attr in COUNT_ATTRS.items()}}
    if not job.finalized:
        item |= keys.active_index(job)
    return item


def job_from_item(item: dict) -> Job:
    data = dict(item)
    data["options"] = UploadPostJob.model_validate(json.loads(data["options"]))
    data["counts"] = JobCounts(**{name: data.get(attr, 0) for name, attr in COUNT_ATTRS.items()})
    return Job.model_validate(data)


def asset_item(asset: Asset) -> dict:
    # Metadata may hold floats (doubleVal); DynamoDB takes numbers as Decimal.
    return {**keys.asset_key(asset.asset_handle), **json.loads(asset.model_dump_json(), parse_float=Decimal),
            **keys.asset_index(asset)}


def job_asset_link(job_handle: str, asset_handle: str) -> dict:
    return {**keys.job_asset_link_key(job_handle, asset_handle), "asset_handle": asset_handle}


def log_item(job_handle: str, row: LogEntry, seq: int | None = None) -> dict:
    item = {**keys.log_row_key(job_handle, row, seq), **row.model_dump(mode="json", exclude_none=True)}
    if row.aux:  # logTypeArray matches a row by its own type or by a type in its auxArray
        item["aux_types"] = row.aux_types
    return clean(item)
