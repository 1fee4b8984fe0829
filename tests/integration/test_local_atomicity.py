"""The local stack's moto server under the stack's real concurrency: atomic and isolated per request.

A ``ThreadedMotoServer`` made atomic by ``openips_cli.moto_atomic`` (as ``LocalStack.start``
does) on a free loopback port, hammered from many threads with real boto3 clients. Without
``make_atomic`` the DynamoDB, SQS and S3 hammer tests fail (checked with moto 5.2.5): cancelled
transactions put back whole-table snapshots (lost counter updates), scans and deep copies die
mid-iteration (HTTP 500), SQS hands one message to two receivers or brings a deleted one back,
and an S3 write reads a key's buffer that a concurrent overwrite just closed (HTTP 500). The other
tests guard the fix itself: a cancelled transaction leaves the table identical, a long poll lets
senders in, ``/moto-api`` dumps take every service's lock.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from openips_cli.local import free_port
from openips_cli.moto_atomic import make_atomic

THREADS = 16
# No retries: a 500 or a throttle must show up, not be papered over by botocore.
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1}, max_pool_connections=THREADS * 2,
                    connect_timeout=10, read_timeout=60)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    host = "127.0.0.1"
    server = ThreadedMotoServer(ip_address=host, port=free_port(host), verbose=False)
    server.start()
    make_atomic(server)
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def server_errors() -> Iterator[list[str]]:
    """Every 5xx moto answered during the test (botocore may retry some, hiding them otherwise)."""
    seen: list[str] = []
    yield seen
    assert seen == [], f"moto answered {len(seen)} requests with a server error: {seen[:3]}"


@pytest.fixture
def client(endpoint: str, server_errors: list[str]) -> Callable[[str], object]:
    def record(response=None, operation=None, **_: object) -> None:
        if response is not None and response[0].status_code >= 500:
            server_errors.append(f"{operation.name if operation else '?'}: {response[0].status_code}")

    def make(service: str):
        made = boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing", config=NO_RETRIES)
        made.meta.events.register("needs-retry", record)
        return made
    return make


def hammer(work: Callable[[int], None], threads: int = THREADS) -> list[BaseException]:
    """Run ``work(index)`` on ``threads`` threads started together; the exceptions they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def run(index: int) -> None:
        try:
            start.wait(timeout=30)
            work(index)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers), "a worker thread hung"
    return errors


def code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


# ------------------------------------------------------------------------------------- DynamoDB

def make_table(ddb, preload: int = 0) -> str:
    name = f"atomicity-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}])
    for start in range(0, preload, 25):
        ddb.batch_write_item(RequestItems={name: [
            {"PutRequest": {"Item": {"pk": {"S": f"bulk#{i % 97}"}, "sk": {"S": f"{i:06d}"},
                                     "payload": {"S": "x" * 64}}}}
            for i in range(start, min(start + 25, preload))]})
    return name


def scan_all(ddb, table: str) -> list[dict]:
    items, kwargs = [], {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_the_state_dump_takes_every_service_in_turn(client, endpoint: str) -> None:
    """``/moto-api/data.json`` (``openips local mail`` reads SES from it) while others write.

    First in the module: the dump holds every model, so it is quick while they are small."""
    import requests

    ddb = client("dynamodb")
    table = make_table(ddb, preload=200)

    def work(index: int) -> None:
        if index < 2:
            for _ in range(2):
                response = requests.get(f"{endpoint}/moto-api/data.json", timeout=60)
                assert response.status_code == 200, response.text[-500:]
                assert "dynamodb" in response.json()
            return
        local = client("dynamodb")
        for i in range(10):
            local.put_item(TableName=table, Item={"pk": {"S": f"d{index}"}, "sk": {"S": f"{i:03d}"}})

    errors = hammer(work, threads=8)
    assert errors == [], f"{len(errors)} requests failed, first: {errors[:1]!r}"


def test_counters_survive_concurrent_cancelled_transactions(client) -> None:
    """ADD updates, cancelled and committed transactions on 16 threads: not one update lost."""
    ddb = client("dynamodb")
    table = make_table(ddb, preload=2000)  # a table worth snapshotting: the old rollback copied it whole
    ddb.put_item(TableName=table, Item={"pk": {"S": "job"}, "sk": {"S": "counters"}, "n": {"N": "0"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "claim"}, "sk": {"S": "taken"}})
    rounds = 12
    tally: Counter[str] = Counter()
    tally_lock = threading.Lock()
    committed: list[str] = []

    def count(what: str, item: str | None = None) -> None:
        with tally_lock:
            tally[what] += 1
            if item:
                committed.append(item)

    def work(index: int) -> None:
        local = client("dynamodb")
        counters = {"pk": {"S": "job"}, "sk": {"S": "counters"}}
        for i in range(rounds):
            local.update_item(TableName=table, Key=counters, UpdateExpression="ADD n :one",
                              ExpressionAttributeValues={":one": {"N": "1"}})
            count("add")
            try:  # a claim somebody else holds: cancelled, as our claims and try_finish often are
                local.transact_write_items(TransactItems=[
                    {"Update": {"TableName": table, "Key": counters, "UpdateExpression": "ADD n :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                    {"Put": {"TableName": table, "Item": {"pk": {"S": "claim"}, "sk": {"S": "taken"}},
                             "ConditionExpression": "attribute_not_exists(pk)"}}])
                count("unexpected commit")
            except ClientError as exc:
                if code(exc) != "TransactionCanceledException":
                    raise
                count("cancelled")
            if i % 3 == 0:
                mine = f"{index}-{i}"
                local.transact_write_items(TransactItems=[
                    {"Update": {"TableName": table, "Key": counters, "UpdateExpression": "ADD n :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                    {"Put": {"TableName": table, "Item": {"pk": {"S": "file"}, "sk": {"S": mine}},
                             "ConditionExpression": "attribute_not_exists(pk)"}}])
                count("committed", mine)

    errors = hammer(work)
    assert errors == [], f"{len(errors)} requests failed, first: {errors[:1]!r}"
    assert tally["unexpected commit"] == 0
    assert tally["cancelled"] == THREADS * rounds
    counters = ddb.get_item(TableName=table, Key={"pk": {"S": "job"}, "sk": {"S": "counters"}},
                            ConsistentRead=True)["Item"]
    assert int(counters["n"]["N"]) == tally["add"] + tally["committed"]
    files = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": "file"}})["Items"]
    assert sorted(item["sk"]["S"] for item in files) == sorted(committed)
    assert ddb.scan(TableName=table, Select="COUNT")["Count"] == 2000 + 2 + len(committed)


def test_a_cancelled_transaction_leaves_the_table_identical(client) -> None:
    """Puts, updates and deletes before the failing check are undone; moto's reasons unchanged."""
    ddb = client("dynamodb")
    table = make_table(ddb, preload=50)
    ddb.put_item(TableName=table, Item={"pk": {"S": "job"}, "sk": {"S": "j1"}, "n": {"N": "5"},
                                        "tags": {"SS": ["a"]}, "nested": {"M": {"x": {"N": "1"}}}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "job"}, "sk": {"S": "j2"}, "state": {"S": "open"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "job"}, "sk": {"S": "j3"}, "state": {"S": "open"}})
    before = scan_all(ddb, table)

    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}, "sk": {"S": "n1"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "job"}, "sk": {"S": "j2"}, "state": {"S": "x"}}}},
            {"Update": {"TableName": table, "Key": {"pk": {"S": "job"}, "sk": {"S": "j1"}},
                        "UpdateExpression": "ADD n :one, tags :t SET nested.x = :two REMOVE #gone",
                        "ExpressionAttributeNames": {"#gone": "gone"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":t": {"SS": ["b"]}, ":two": {"N": "2"}}}},
            {"Update": {"TableName": table, "Key": {"pk": {"S": "new"}, "sk": {"S": "n2"}},
                        "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"S": "v"}}}},
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "bulk#0"}, "sk": {"S": "000000"}}}},
            {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "job"}, "sk": {"S": "j3"}},
                                "ConditionExpression": "#s = :closed",
                                "ExpressionAttributeNames": {"#s": "state"},
                                "ExpressionAttributeValues": {":closed": {"S": "closed"}},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])
    assert code(cancelled.value) == "TransactionCanceledException"
    assert cancelled.value.response["CancellationReasons"] == [{"Code": "None"}] * 5 + [
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed",
         "Item": {"pk": {"S": "job"}, "sk": {"S": "j3"}, "state": {"S": "open"}}}]
    assert scan_all(ddb, table) == before

    # A validation error after a write (two operations on one item) also undoes that write.
    with pytest.raises(ClientError) as invalid:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}, "sk": {"S": "n3"}}}},
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "job"}, "sk": {"S": "j1"}}}},
            {"Update": {"TableName": table, "Key": {"pk": {"S": "job"}, "sk": {"S": "j1"}},
                        "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"S": "v"}}}}])
    assert code(invalid.value) == "ValidationException"
    assert scan_all(ddb, table) == before

    # And one that commits, commits.
    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": table, "Key": {"pk": {"S": "job"}, "sk": {"S": "j1"}},
                    "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": table, "Key": {"pk": {"S": "job"}, "sk": {"S": "j2"}},
                    "ConditionExpression": "#s = :open", "ExpressionAttributeNames": {"#s": "state"},
                    "ExpressionAttributeValues": {":open": {"S": "open"}}}}])
    after = {(item["pk"]["S"], item["sk"]["S"]): item for item in scan_all(ddb, table)}
    assert after[("job", "j1")]["n"] == {"N": "6"}
    assert ("job", "j2") not in after
    assert len(after) == len(before) - 1


def test_reads_and_scans_never_fail_under_writes(client, frequent_thread_switches) -> None:
    """Gets of missing range keys, queries and scans while other threads write: no 500."""
    ddb = client("dynamodb")
    table = make_table(ddb, preload=500)

    def work(index: int) -> None:
        local = client("dynamodb")
        for i in range(15):
            if index % 2:
                local.put_item(TableName=table, Item={"pk": {"S": f"w{index}"}, "sk": {"S": f"{i:03d}"}})
                local.get_item(TableName=table, Key={"pk": {"S": f"missing{index}-{i}"}, "sk": {"S": "x"}})
            else:
                local.scan(TableName=table, Select="COUNT")
                local.transact_get_items(TransactItems=[
                    {"Get": {"TableName": table, "Key": {"pk": {"S": "bulk#1"}, "sk": {"S": "000001"}}}}])

    errors = hammer(work)
    assert errors == [], f"{len(errors)} requests failed, first: {errors[:1]!r}"
    assert ddb.scan(TableName=table, Select="COUNT")["Count"] == 500 + (THREADS // 2) * 15


# ------------------------------------------------------------------------------------------ SQS

@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads every 10 µs instead of 5 ms: moto's check-then-act windows are microseconds
    wide, and this is what makes them show up within a test's few thousand requests."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def test_sqs_hands_each_message_to_one_receiver_and_deletes_stay_deleted(client, frequent_thread_switches) -> None:
    """Senders and receivers at once, then every receipt handle deleted at once: each message is
    received exactly once, none is lost, and none comes back after its delete."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=f"atomicity-{uuid.uuid4().hex[:8]}",
                           Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    senders, per_sender = THREADS // 2, 30
    expected = {f"{s}-{i}" for s in range(senders) for i in range(per_sender)}
    received: list[tuple[str, str]] = []  # (body, receipt handle)
    received_lock = threading.Lock()
    sending_done = threading.Event()
    senders_left = [senders]

    def send_and_receive(index: int) -> None:
        local = client("sqs")
        if index < senders:
            for i in range(per_sender):
                local.send_message(QueueUrl=url, MessageBody=f"{index}-{i}")
            with received_lock:
                senders_left[0] -= 1
                if senders_left[0] == 0:
                    sending_done.set()
            return
        empty_after_done = 0
        for _ in range(400):  # bounded: enough for every message, several times over
            messages = local.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            with received_lock:
                received.extend((m["Body"], m["ReceiptHandle"]) for m in messages)
            if messages:
                empty_after_done = 0
            elif sending_done.is_set():
                empty_after_done += 1
                if empty_after_done >= 3:
                    return

    errors = hammer(send_and_receive)
    assert errors == [], f"{len(errors)} requests failed, first: {errors[:1]!r}"
    duplicates = sorted(body for body, n in Counter(body for body, _ in received).items() if n > 1)
    assert duplicates == [], f"{len(duplicates)} messages were received twice within their visibility timeout"
    assert {body for body, _ in received} == expected, "messages lost"

    def delete(index: int) -> None:
        local = client("sqs")
        for _, handle in received[index::THREADS]:
            local.delete_message(QueueUrl=url, ReceiptHandle=handle)

    errors = hammer(delete)
    assert errors == [], f"{len(errors)} requests failed, first: {errors[:1]!r}"
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0"), \
        "deleted messages came back (they would be delivered again after their visibility timeout)"


def test_a_long_poll_does_not_keep_senders_out(client) -> None:
    """A receiver waiting (WaitTimeSeconds) on an empty queue gets the message sent meanwhile."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=f"atomicity-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    got: list[list[dict]] = []
    polling = threading.Event()

    def receive() -> None:
        polling.set()
        got.append(client("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", []))

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    polling.wait(timeout=10)
    threading.Event().wait(0.5)  # let the poll start waiting
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    receiver.join(timeout=30)
    assert [m["Body"] for m in got[0]] == ["wake up"]


def test_change_visibility_and_delayed_messages(client) -> None:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=f"atomicity-{uuid.uuid4().hex[:8]}",
                           Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
    message = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)["Messages"][0]
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []  # in flight
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, AttributeNames=["All"])["Messages"][0]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []


# ------------------------------------------------------------------------------------------- S3

def body_for(writer: int, i: int) -> bytes:
    """A body that checks itself: a digest of the rest, then 256 KiB of a writer-specific pattern."""
    unit = f"{writer}-{i}|".encode()
    rest = (unit * (256 * 1024 // len(unit) + 1))[: 256 * 1024]
    return hashlib.sha256(rest).hexdigest().encode() + rest


def intact(body: bytes) -> bool:
    return hashlib.sha256(body[64:]).hexdigest().encode() == body[:64]


def test_s3_overwrites_reads_and_notifications(client) -> None:
    """Overwrites, GETs, HEADs, copies and lists of the same keys: whole bodies, no 500, one
    notification per PUT or copy."""
    s3, sqs = client("s3"), client("sqs")
    bucket = f"atomicity-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    queue = f"atomicity-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": [
            {"Name": "prefix", "Value": "k/"}]}}}]})
    sqs.purge_queue(QueueUrl=url)  # the s3:TestEvent
    keys = [f"k/{n}" for n in range(4)]
    for n, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=body_for(99, n))
    rounds = 8
    created: Counter[str] = Counter()
    created_lock = threading.Lock()

    def work(index: int) -> None:
        local = client("s3")
        for i in range(rounds):
            key = keys[(index + i) % len(keys)]
            if index % 4 == 0:
                local.put_object(Bucket=bucket, Key=key, Body=body_for(index, i))
                with created_lock:
                    created["put"] += 1
            elif index % 4 == 1:
                local.copy_object(Bucket=bucket, Key=keys[(index + i + 1) % len(keys)],
                                  CopySource={"Bucket": bucket, "Key": key})
                with created_lock:
                    created["copy"] += 1
            elif index % 4 == 2:
                body = local.get_object(Bucket=bucket, Key=key)["Body"].read()
                assert intact(body), f"GET {key} returned a torn body ({len(body)} bytes)"
            else:
                head = local.head_object(Bucket=bucket, Key=key)
                assert head["ContentLength"] == 64 + 256 * 1024
                listed = local.list_objects_v2(Bucket=bucket, Prefix="k/")
                assert [o["Key"] for o in listed["Contents"]] == keys

    errors = hammer(work)
    assert errors == [], f"{len(errors)} requests failed, first: {errors[:1]!r}"
    for key in keys:
        assert intact(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    events = 0
    for _ in range(50):  # bounded drain
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            break
        events += len(batch)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)])
    assert events == len(keys) + created["put"] + created["copy"]
