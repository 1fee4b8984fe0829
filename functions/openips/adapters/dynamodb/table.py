"""One DynamoDB table as the repositories use it: reads page by page, writes with conditions.

Every call goes through here, so errors are translated in one place:

* a failed condition → ``ConditionFailed`` (``ports``); a transaction cancelled by one →
  ``TransactionCancelled``, which carries each item's cancellation code;
* throttling, a transaction conflict, an internal error → ``TransientError`` (SQS retries);
* anything else is raised as boto3 raised it.

Items come back with DynamoDB's ``Decimal`` numbers made ``int`` (or ``float`` when they have a
fraction), which is what the models take.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from openips.adapters.dynamodb.keys import Prefixed
from openips.adapters.paging import InvalidPageToken, KeyShape
from openips.adapters.ports import ConditionFailed
from openips.models.errors import TransientError

MAX_TRANSACTION_ITEMS = 100  # DynamoDB TransactWriteItems
MAX_BATCH_GET_KEYS = 100  # DynamoDB BatchGetItem

RETRYABLE = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException",
    "RequestLimitExceeded", "InternalServerError", "TransactionConflictException",
})


class TransactionCancelled(ConditionFailed):
    """A transaction a condition cancelled; ``reasons``: each item's code (``ConditionalCheckFailed``, ``None``…)."""

    def __init__(self, reasons: list[str | None]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"


class ConditionCheckFailed(ConditionFailed):
    """A single write's condition failed; ``item``: the item as it was, when asked for (``ALL_OLD``)."""

    def __init__(self, item: dict | None) -> None:
        super().__init__("conditional check failed")
        self.item = item


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the models want int."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def clean(item: dict) -> dict:
    """An item without its None values (attributes left out rather than stored as NULL)."""
    return {k: v for k, v in item.items() if v is not None}


def translate(exc: ClientError) -> Exception:
    """The exception a repository raises for a ClientError."""
    code = exc.response["Error"]["Code"]
    if code in RETRYABLE:
        return TransientError(f"DynamoDB: {code}")
    if code == "ConditionalCheckFailedException":
        return ConditionCheckFailed(exc.response.get("Item"))
    if code == "TransactionCanceledException":
        reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons") or []]
        if "ConditionalCheckFailed" in reasons:
            return TransactionCancelled(reasons)
        if "TransactionConflict" in reasons or "ThrottlingError" in reasons:
            return TransientError(f"DynamoDB: {code} {reasons}")
    return exc


class Table:
    """A boto3 Table resource (``resource``) and its client (``client``), with errors translated."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.resource = boto3.resource("dynamodb").Table(name)
        # The resource's client serializes Python values itself (transactions, batch gets).
        self.client = self.resource.meta.client

    # ---- single items ----------------------------------------------------------------------

    def get(self, key: dict, consistent: bool = False) -> dict | None:
        with _translated():
            item = self.resource.get_item(Key=key, **({"ConsistentRead": True} if consistent else {})).get("Item")
        return plain(item) if item else None

    def put(self, item: dict, condition: Any = None, **kwargs: Any) -> None:
        if condition is not None:
            kwargs["ConditionExpression"] = condition
        with _translated():
            self.resource.put_item(Item=item, **kwargs)

    def update(self, key: dict, expression: str, condition: Any = None, **kwargs: Any) -> dict:
        """UpdateItem; the ``Attributes`` DynamoDB returned (``ReturnValues``), made plain."""
        if condition is not None:
            kwargs["ConditionExpression"] = condition
        with _translated():
            response = self.resource.update_item(Key=key, UpdateExpression=expression, **kwargs)
        return plain(response.get("Attributes") or {})

    def delete(self, key: dict) -> None:
        with _translated():
            self.resource.delete_item(Key=key)

    # ---- queries -------------------------------------------------------------------------------

    def query(self, **kwargs: Any) -> Iterator[dict]:
        """Every item a Query matches, page after page as they are consumed."""
        for page in self.pages(**kwargs):
            yield from page["Items"]

    def pages(self, **kwargs: Any) -> Iterator[dict]:
        """Each page of a Query (``Items`` made plain, ``Count``, ``ScannedCount``)."""
        while True:
            with _translated():
                page = self.resource.query(**kwargs)
            yield {**page, "Items": [plain(item) for item in page.get("Items", [])]}
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def query_prefixed(self, where: Prefixed, **kwargs: Any) -> Iterator[dict]:
        """The items of one partition whose sort key starts with the prefix."""
        return self.query(KeyConditionExpression=Key("pk").eq(where.pk) & Key("sk").begins_with(where.sk_prefix),
                          **kwargs)

    def count(self, **kwargs: Any) -> int:
        """Items a Query matches, counted page by page without reading them out."""
        return sum(page["Count"] for page in self.pages(Select="COUNT", **kwargs))

    def query_from(self, shape: KeyShape, after: str | None, chunk: int, **kwargs: Any) -> Iterator[dict]:
        """The items of a listing after the page token ``after``, read ``chunk`` at a time as they are consumed."""
        kwargs["Limit"] = chunk
        start = shape.start_key(after)
        first = True
        while True:
            if start:
                kwargs["ExclusiveStartKey"] = start
            try:
                page = self.resource.query(**kwargs)
            except ClientError as exc:
                # DynamoDB refuses a start key outside the query's key range (another date range).
                if first and after is not None and exc.response["Error"]["Code"] == "ValidationException":
                    raise InvalidPageToken("does not continue this listing") from exc
                raise translate(exc) from exc
            first = False
            yield from (plain(item) for item in page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def batch_get(self, keys: list[dict], consistent: bool = False) -> Iterator[dict]:
        """The items of ``keys`` that exist (BatchGetItem, 100 keys a call, unprocessed keys asked again)."""
        for start in range(0, len(keys), MAX_BATCH_GET_KEYS):
            wanted: dict[str, Any] = {"Keys": keys[start:start + MAX_BATCH_GET_KEYS]}
            if consistent:
                wanted["ConsistentRead"] = True
            request = {self.name: wanted}
            while request:
                with _translated():
                    response = self.client.batch_get_item(RequestItems=request)
                yield from (plain(item) for item in response["Responses"].get(self.name, []))
                request = response.get("UnprocessedKeys") or {}

    # ---- writes of several items ------------------------------------------------------------------

    def write_batch(self, puts: Iterable[dict] = (), deletes: Iterable[dict] = ()) -> None:
        """Put and delete items, 25 a request (not atomic: each item is written once)."""
        with _translated(), self.resource.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for item in puts:
                batch.put_item(Item=item)
            for key in deletes:
                batch.delete_item(Key=key)

    def transact(self, items: list[dict]) -> None:
        """TransactWriteItems: all or nothing; ``TransactionCancelled`` when a condition failed."""
        with _translated():
            self.client.transact_write_items(TransactItems=items)

    def put_op(self, item: dict, condition: str | None = None, **kwargs: Any) -> dict:
        return {"Put": {"TableName": self.name, "Item": item, **_condition(condition), **kwargs}}

    def update_op(self, key: dict, expression: str, condition: str | None = None, **kwargs: Any) -> dict:
        return {"Update": {"TableName": self.name, "Key": key, "UpdateExpression": expression,
                           **_condition(condition), **kwargs}}

    def delete_op(self, key: dict, condition: str | None = None) -> dict:
        return {"Delete": {"TableName": self.name, "Key": key, **_condition(condition)}}


def _condition(condition: str | None) -> dict:
    return {"ConditionExpression": condition} if condition is not None else {}


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        raise translate(exc) from exc

