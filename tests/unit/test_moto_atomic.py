"""openips_cli.moto_atomic on moto's models directly: the undo log, the lock, the install checks."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.exceptions import MultipleTransactionsException, TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend

from openips_cli import moto_atomic
from openips_cli.moto_atomic import MotoInternalsChanged, ServiceLock, make_atomic, patch_moto


def backend_with(table: str, range_key: bool = True, streams: bool = False, items: int = 0) -> DynamoDBBackend:
    patch_moto()
    backend = DynamoDBBackend("us-east-1", "123456789012")
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attr = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attr.append({"AttributeName": "sk", "AttributeType": "S"})
    backend.create_table(table, schema=schema, throughput=None, attr=attr, global_indexes=None, indexes=None,
                         streams={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"} if streams else None,
                         billing_mode="PAY_PER_REQUEST", sse_specification=None, tags=[],
                         deletion_protection_enabled=False, warm_throughput=None)
    for i in range(items):
        backend.put_item(table, key(f"bulk{i}", "0", range_key) | {"n": {"N": str(i)}})
    return backend


def key(pk: str, sk: str = "0", range_key: bool = True) -> dict[str, Any]:
    return {"pk": {"S": pk}} | ({"sk": {"S": sk}} if range_key else {})


def dump(backend: DynamoDBBackend, table: str) -> list[dict]:
    return sorted((item.to_json()["Attributes"] for item in backend.get_table(table).all_items()),
                  key=lambda attrs: str(sorted(attrs.items())))


def refuse_deep_copies(backend: DynamoDBBackend, table: str) -> None:
    def refuse(memo: object) -> None:
        raise AssertionError("a transaction deep-copied the whole table")

    backend.get_table(table).__deepcopy__ = refuse  # copy.deepcopy looks it up on the instance


@pytest.mark.parametrize("range_key", [True, False])
def test_a_cancelled_transaction_is_undone_item_by_item(range_key: bool) -> None:
    backend = backend_with("t", range_key=range_key, streams=True, items=200)
    backend.put_item("t", key("a", range_key=range_key) | {"n": {"N": "1"}, "s": {"SS": ["x"]}})
    refuse_deep_copies(backend, "t")
    before = dump(backend, "t")
    records = len(backend.get_table("t").stream_shard.items)

    with pytest.raises(TransactionCanceledException) as cancelled:
        backend.transact_write_items([
            {"Put": {"TableName": "t", "Item": key("new", range_key=range_key) | {"v": {"S": "v"}}}},
            {"Update": {"TableName": "t", "Key": key("a", range_key=range_key),
                        "UpdateExpression": "ADD n :one, s :y", "ExpressionAttributeValues": {
                            ":one": {"N": "1"}, ":y": {"SS": ["y"]}}}},
            {"Update": {"TableName": "t", "Key": key("created", range_key=range_key),
                        "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"S": "v"}}}},
            {"Delete": {"TableName": "t", "Key": key("bulk7", range_key=range_key)}},
            {"ConditionCheck": {"TableName": "t", "Key": key("bulk8", range_key=range_key),
                                "ConditionExpression": "attribute_not_exists(pk)"}}])
    assert '"CancellationReasons": [{"Code": "None"}, {"Code": "None"}, {"Code": "None"}, {"Code": "None"}, ' \
           '{"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}]' \
        in cancelled.value.description
    assert dump(backend, "t") == before
    assert len(backend.get_table("t").stream_shard.items) == records  # no records of undone writes

    with pytest.raises(MultipleTransactionsException):
        backend.transact_write_items([
            {"Delete": {"TableName": "t", "Key": key("a", range_key=range_key)}},
            {"Put": {"TableName": "t", "Item": key("a", range_key=range_key)}}])
    assert dump(backend, "t") == before

    backend.transact_write_items([
        {"Update": {"TableName": "t", "Key": key("a", range_key=range_key),
                    "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": "t", "Key": key("bulk7", range_key=range_key)}}])
    assert backend.get_item("t", key("a", range_key=range_key)).to_json()["Attributes"]["n"] == {"N": "2"}
    assert backend.get_item("t", key("bulk7", range_key=range_key)) is None
    assert len(dump(backend, "t")) == len(before) - 1


def test_a_failure_reported_as_a_reason_is_undone_too() -> None:
    """An operation on a missing table cancels (moto's reason text), undoing the others."""
    backend = backend_with("t")
    before = dump(backend, "t")
    with pytest.raises(TransactionCanceledException) as cancelled:
        backend.transact_write_items([
            {"Put": {"TableName": "t", "Item": key("x")}},
            {"Put": {"TableName": "missing", "Item": key("y")}}])
    assert '"Code": "ResourceNotFoundException"' in cancelled.value.description
    assert dump(backend, "t") == before


def test_the_service_lock_is_reentrant_and_steps_aside_while_suspended() -> None:
    lock = ServiceLock("test")
    entered = threading.Event()

    def other() -> None:
        with lock:
            entered.set()

    with lock, lock:
        assert lock.held()
        thread = threading.Thread(target=other, daemon=True)
        thread.start()
        assert not entered.wait(0.1)
        with lock.suspended():
            assert not lock.held()
            assert entered.wait(10)  # the other thread got in while we waited
        assert lock.held()
    assert not lock.held()
    thread.join(10)
    with lock.suspended():  # not held: a no-op
        pass
    with pytest.raises(RuntimeError):
        lock.release()


def test_install_refuses_what_it_does_not_know() -> None:
    with pytest.raises(MotoInternalsChanged):
        make_atomic(object())


def test_install_fails_loudly_when_a_patched_internal_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.s3 import notifications

    monkeypatch.delattr(notifications, "_send_sqs_message")
    with pytest.raises(MotoInternalsChanged, match="_send_sqs_message"):
        moto_atomic._patch_s3_notifications()


def test_a_query_start_key_outside_the_key_conditions_is_refused_as_dynamodb_refuses_it() -> None:
    patch_moto()  # the local stack's patches, of which this one
    with mock_aws():
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}])
        for sk in ("a", "b", "c", "d"):
            table.put_item(Item={"pk": "p", "sk": sk})
        within = Key("pk").eq("p") & Key("sk").between("b", "d")
        page = table.query(KeyConditionExpression=within, ExclusiveStartKey={"pk": "p", "sk": "b"})
        assert [item["sk"] for item in page["Items"]] == ["c", "d"]
        for start, condition in (({"pk": "p", "sk": "a"}, within),  # before the range
                                 ({"pk": "q", "sk": "c"}, within),  # another partition
                                 ({"pk": "p", "sk": "a"}, Key("pk").eq("p") & Key("sk").begins_with("c"))):
            with pytest.raises(ClientError) as refused:
                table.query(KeyConditionExpression=condition, ExclusiveStartKey=start)
            assert refused.value.response["Error"]["Code"] == "ValidationException"
            assert refused.value.response["Error"]["Message"] == moto_atomic.OUTSIDE_BOUNDARIES
