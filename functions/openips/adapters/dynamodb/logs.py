"""Job-log rows on DynamoDB (``ports.LogRepository``); rows are written by the transactions that log them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from openips.adapters.dynamodb import keys
from openips.adapters.dynamodb.keys import OWNER_INDEX
from openips.adapters.dynamodb.table import Table
from openips.models.domain import LogEntry


class DynamoLogs:
    def __init__(self, table: Table) -> None:
        self.table = table

    def count(self, job_handle: str) -> int:
        """How many log rows the job holds (a COUNT query: no row is read out)."""
        where = keys.logs_of(job_handle)
        return self.table.count(KeyConditionExpression=Key("pk").eq(where.pk) & Key("sk").begins_with(where.sk_prefix))

    def query(self, job_handle: str, log_types: list[str] | None, newest_first: bool) -> Iterator[LogEntry]:
        kwargs: dict[str, Any] = {"ScanIndexForward": not newest_first}
        if log_types:
            condition = Attr("log_type").is_in(log_types)
            for log_type in log_types:
                condition |= Attr("aux_types").contains(log_type)
            kwargs["FilterExpression"] = condition
        for item in self.table.query_prefixed(keys.logs_of(job_handle), **kwargs):
            yield LogEntry.model_validate(item)

    def query_for_asset(self, asset_handle: str) -> Iterator[tuple[str, LogEntry]]:
        """(job handle, row) of every log row that named the asset, newest first."""
        for item in self.table.query(IndexName=OWNER_INDEX, ScanIndexForward=False,
                                     KeyConditionExpression=Key("gsi1pk").eq(keys.asset_logs_partition(asset_handle))):
            yield keys.job_of_row(item["pk"]), LogEntry.model_validate(item)
