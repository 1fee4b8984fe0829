"""Issue 13 item 9, shared capacity: a pause has a limit and a growing deferral; one company's
files cannot take every worker (an in-flight limit per company, leak-proof).

The in-process stack (moto) drives the real handlers; the race runs against the local stack's
moto server made atomic (``openips_cli.moto_atomic``), as test_local_atomicity.py does.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from openips.adapters.dynamodb.quotas import DynamoQuotas
from openips.adapters.dynamodb.table import Table
from openips.models import errors
from openips.models.domain import utcnow
from openips.models.events import IncomingObject, S3Notification
from openips.services import control, processing, sweep
from openips.services.ingest import raster
from openips.services.deps import get_deps, reset_caches
from openips_cli.local import free_port
from openips_cli.moto_atomic import make_atomic
from tests.integration.test_api import other_company_key
from tests.integration.test_job_control import active, control as job_control, jpeg, quarantined, rows, while_processing

DELAY = 1  # PAUSED_FILE_DELAY_SECONDS where the test waits for deferred files


def outcomes(message: dict, now=None, *, ack: bool = True) -> list[str]:
    """ProcessFileFunction's work on one received ProcessQueue message: the outcome of each record."""
    body = message["Body"]
    found = processing.process_notification(get_deps(), S3Notification.model_validate_json(body), body, now or utcnow())
    if ack:  # acknowledged, as the handler's partial batch response would have it
        boto3.client("sqs").delete_message(QueueUrl=get_deps().settings.process_queue_url,
                                           ReceiptHandle=message["ReceiptHandle"])
    return found


def upload(stack, opened, name: str) -> dict:
    """POST one file; its ProcessQueue message, received (in flight, not yet processed)."""
    stack.post_file(opened.body["upload"], name, jpeg())
    (message,) = stack.receive("ProcessQueue")
    return message


def in_flight(company: str) -> dict[str, int]:
    """The company's slot holders as the table holds them (holder → lease end, epoch seconds)."""
    item = boto3.client("dynamodb").get_item(TableName=get_deps().settings.jobs_table, ConsistentRead=True,
                                             Key={"pk": {"S": f"C#{company}"}, "sk": {"S": "INFLIGHT"}}).get("Item")
    return {name: int(end["N"]) for name, end in (item or {}).get("holders", {}).get("M", {}).items()}


def claimed_paths(job: str) -> list[str]:
    return sorted(c.path for c in get_deps().claims.list_for_job(job))


def limit_in_flight(monkeypatch, cap: int) -> None:
    monkeypatch.setenv("MAX_FILES_IN_FLIGHT_PER_COMPANY", str(cap))
    reset_caches()


# ---- a maximum pause time -------------------------------------------------------------------------


def test_a_job_paused_past_the_limit_is_ended_by_the_sweeper_with_every_file_accounted_for(stack, monkeypatch):
    monkeypatch.setenv("PAUSED_FILE_DELAY_SECONDS", str(DELAY))
    reset_caches()
    opened = stack.open_job("held")
    job = opened.body["jobHandle"]
    stack.post_file(opened.body["upload"], "first.jpg", jpeg())
    stack.drain()
    assert job_control(stack, job, "pause").status == 200
    for name in ("second.jpg", "third.jpg"):  # uploaded while paused: they wait in the queue, unclaimed
        stack.post_file(opened.body["upload"], name, jpeg())
    stack.drain()
    assert claimed_paths(job) == ["first.jpg"]

    deps = get_deps()
    paused_at = deps.jobs.get(job).last_activity  # pauseJob set it (as it sets paused_at)
    limit = timedelta(days=3)  # MaxPauseSeconds by default
    # A form renewed while paused (it moves last_activity) does not stretch the pause.
    deps.jobs.touch(job, paused_at + limit)
    assert sweep.sweep(deps, paused_at + limit - timedelta(minutes=5)) == {}
    assert active(stack, job)["state"] == "WaitingCoordinator"

    # When the sweeper passes after the limit, the pause ends as a stopJob would end it
    assert sweep.sweep(deps, paused_at + limit + timedelta(hours=1)) == {"pause_expired": 1}
    assert active(stack, job)["state"] == "Stopping"
    time.sleep(DELAY + 0.2)
    stack.drain()

    # Then the job has ended with every file accounted for: the one done, the waiting ones cancelled and kept
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileSuccessCount"], log["fileErrorCount"]) == \
        ("EndUpload", 3, 1, 2)
    (why,) = [r for r in rows(stack, job, "UploadWarning") if "MaxPauseSeconds" in r["logMessage"]]
    assert why["logMessage"] == (
        "Job held was paused for 73 hours, longer than the limit of 72 hours (MaxPauseSeconds): it was stopped, "
        "and its files that had not started are cancelled")
    cancelled = rows(stack, job, "FileCancel")
    assert sorted(r["logMessage"].split(" ")[0] for r in cancelled) == ["second.jpg", "third.jpg"]
    assert all("stopped by MaxPauseSeconds before its processing started" in r["logMessage"] for r in cancelled)
    assert quarantined(stack) == ["second.jpg", "third.jpg"]
    (end,) = rows(stack, job, "EndUpload")  # (the sweep's row is dated at its future now: last here)
    assert "stopped by MaxPauseSeconds" in end["logMessage"]
    verified = stack.call("GET", f"/v1/jobs/{job}/accounting").body
    assert verified["healthy"] is True and verified["counters"] == verified["recounted"]
    assert active(stack, job) is None
    assert sweep.sweep(deps, paused_at + limit * 2) == {}


def test_the_deferral_of_a_paused_file_grows_with_the_pause(stack):
    deps = get_deps()  # the defaults: 30 s at first
    opened = stack.open_job()
    job = opened.body["jobHandle"]
    assert job_control(stack, job, "pause").status == 200
    message = upload(stack, opened, "waiting.jpg")
    obj = IncomingObject.from_record(S3Notification.model_validate_json(message["Body"]).records[0])
    paused_at = deps.jobs.get(job).last_activity  # pauseJob set it (as it sets paused_at)

    delays = []
    for after in (0, 60, 600, 3600, 6 * 3600, 3 * 24 * 3600 - 60):
        with pytest.raises(errors.RetryLater) as wait:
            processing.process_object(deps, obj, paused_at + timedelta(seconds=after))
        assert wait.value.outcome == "Paused"
        delays.append(wait.value.seconds)
    assert delays == [30, 30, 60, 360, 900, 900]  # 30 s at first, a tenth of the pause, at most SQS's 900 s
    assert claimed_paths(job) == []  # never claimed: neither counted nor started

    # Over the whole allowed pause a waiting file comes back some 300 times, not 8,640 (every 30 s).
    paused, turns = 0, 0
    while paused < deps.settings.max_pause_seconds:
        paused += processing.paused_delay(deps, deps.jobs.get(job), paused_at + timedelta(seconds=paused))
        turns += 1
    assert turns < 400


# ---- per-company fairness --------------------------------------------------------------------------


def test_a_company_at_its_limit_waits_while_another_companys_file_is_processed(stack, monkeypatch):
    limit_in_flight(monkeypatch, 1)
    # back at once: the drain below takes it
    monkeypatch.setattr(processing, "THROTTLED_DELAY_SECONDS", (0, 0), raising=False)
    mine = stack.open_job("mine")
    rival = other_company_key(stack)
    theirs = stack.open_job("theirs", key=rival)
    a1, a2 = upload(stack, mine, "a1.jpg"), upload(stack, mine, "a2.jpg")
    b1 = upload(stack, theirs, "b1.jpg")
    claims = get_deps().claims
    meanwhile: dict[str, object] = {}

    def while_a1_is_in_flight():
        meanwhile["a2"] = outcomes(a2)
        meanwhile["claimed"] = claimed_paths(mine.body["jobHandle"])
        meanwhile["b1"] = outcomes(b1)
        meanwhile["holders"] = len(in_flight(stack.company))

    while_processing(monkeypatch, while_a1_is_in_flight)
    assert outcomes(a1) == ["UploadSuccess"]

    # While a1 held the company's one slot, a2 was deferred unclaimed (no attempt spent) and the
    # other company's b1 was processed
    assert meanwhile == {"a2": ["Throttled"], "claimed": ["a1.jpg"], "b1": ["UploadSuccess"], "holders": 1}
    assert in_flight(stack.company) == {}  # completing a1 gave its slot back

    # a2 comes back and is processed; both jobs end with every file
    for opened, key in ((mine, "default"), (theirs, rival)):
        assert stack.call("POST", f"/v1/upload-jobs/{opened.body['jobHandle']}/end", key=key).status == 202
    stack.drain()
    for opened, key, files in ((mine, "default", 2), (theirs, rival, 1)):
        log = stack.call("GET", f"/v1/jobs/{opened.body['jobHandle']}/log-details", key=key).body["jobLogArray"][0]
        assert (log["logType"], log["totalFileCount"], log["fileSuccessCount"]) == ("EndUpload", files, files)
    assert {c.path: c.attempts for c in claims.list_for_job(mine.body["jobHandle"])} == {"a1.jpg": 1, "a2.jpg": 1}


def test_a_crashed_holders_slot_ends_with_its_lease_and_is_pruned(stack, monkeypatch):
    limit_in_flight(monkeypatch, 1)
    opened = stack.open_job()
    job = opened.body["jobHandle"]
    a1, a2 = upload(stack, opened, "a1.jpg"), upload(stack, opened, "a2.jpg")
    deps = get_deps()
    lease = timedelta(seconds=deps.settings.file_lease_seconds)
    now = utcnow()

    # The invocation processing a1 dies after completing it, before it gives its slot back
    with monkeypatch.context() as crash:
        crash.setattr(type(deps.quotas), "release_inflight_slot", lambda self, company, holder: False)
        assert outcomes(a1, now) == ["UploadSuccess"]
    (held,) = in_flight(stack.company).values()
    assert held == int((now + lease).timestamp())

    # While its lease runs, the company is at its limit: a2 waits, unclaimed
    assert outcomes(a2, now + timedelta(seconds=60), ack=False) == ["Throttled"]
    assert claimed_paths(job) == ["a1.jpg"]
    # Once it has ended, the dead holder is pruned and a2 takes the slot
    assert outcomes(a2, now + lease + timedelta(seconds=1)) == ["UploadSuccess"]
    assert in_flight(stack.company) == {}
    stack.call("POST", f"/v1/upload-jobs/{job}/end")
    stack.drain()  # the deferred copy of a2 is a duplicate delivery now
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileSuccessCount"]) == ("EndUpload", 2, 2)


def test_every_way_out_of_processing_gives_the_slot_back(stack, monkeypatch):
    limit_in_flight(monkeypatch, 1)  # one leaked slot and the next file would be Throttled
    opened = stack.open_job()
    bad, good = upload(stack, opened, "bad.jpg"), upload(stack, opened, "good.jpg")
    holding: list[int] = []

    def broken(*args, **kwargs):
        holding.append(len(in_flight(stack.company)))
        raise RuntimeError("decoder crashed")

    with monkeypatch.context() as patched:
        patched.setattr(raster, "optimize", broken)
        assert outcomes(bad, ack=False) == ["Retrying"]  # failed attempt: retried after a delay
    assert holding == [1]  # it held its company's slot while it ran
    assert in_flight(stack.company) == {}
    assert outcomes(bad, ack=False) == ["Busy"]  # its retry is not due: the claim is held
    assert in_flight(stack.company) == {}
    assert outcomes(good, ack=False) == ["UploadSuccess"]
    assert outcomes(good) == ["DuplicateDelivery"]
    assert in_flight(stack.company) == {}


def test_moto_evaluates_the_slot_conditions_as_dynamodb_does(stack):
    """size() of a map counts its entries, attribute_exists() sees a map entry; a missing map is
    guarded (moto raises on size() of a missing attribute where DynamoDB fails the condition)."""
    store = get_deps().quotas
    now = utcnow()
    until = now + timedelta(seconds=60)
    assert store.take_inflight_slot("c-probe", "h1", until, 2, now)  # no item yet: the map is made
    assert store.take_inflight_slot("c-probe", "h2", until, 2, now)
    assert not store.take_inflight_slot("c-probe", "h3", until, 2, now)  # two entries: full
    assert store.take_inflight_slot("c-probe", "h1", until, 2, now)  # a holder's retried request: still its slot
    assert store.take_inflight_slot("c-probe", "h3", until, 3, now)
    assert sorted(store.inflight_holders("c-probe")) == ["h1", "h2", "h3"]
    assert store.release_inflight_slot("c-probe", "h2") and not store.release_inflight_slot("c-probe", "h2")
    assert not store.release_inflight_slot("c-nothing", "h1")  # no item at all: nothing to give back
    # A renewed entry is not pruned: the removal is conditioned on the lease end it saw
    key = {"pk": {"S": "C#c-probe"}, "sk": {"S": "INFLIGHT"}}
    with pytest.raises(ClientError) as refused:
        boto3.client("dynamodb").update_item(
            TableName=get_deps().settings.jobs_table, Key=key, UpdateExpression="REMOVE holders.#id",
            ConditionExpression="holders.#id = :end", ExpressionAttributeNames={"#id": "h1"},
            ExpressionAttributeValues={":end": {"N": "1"}})
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert sorted(store.inflight_holders("c-probe")) == ["h1", "h3"]


# ---- the race, on the local stack's atomic moto server ---------------------------------------------

THREADS = 16


@pytest.fixture
def atomic_moto(monkeypatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port("127.0.0.1"), verbose=False)
    server.start()
    make_atomic(server)
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_racing_takers_never_exceed_the_cap_and_never_prune_a_live_holder(atomic_moto):
    table = f"capacity-{uuid.uuid4().hex[:8]}"
    boto3.client("dynamodb").create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    # Built here: boto3's session is not thread-safe to build from.
    stores = [DynamoQuotas(Table(table)) for _ in range(THREADS)]
    cap, rounds, now = 3, 8, utcnow()
    lease = now + timedelta(seconds=960)
    for i in range(cap):  # a full company of crashed invocations, their leases over: pruned during the race
        assert stores[0].take_inflight_slot("c-race", f"dead{i}", now - timedelta(seconds=1), cap, now)
    lock = threading.Lock()
    held, tally = [0, 0], Counter()  # [holding now, most ever]
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        store = stores[index]
        try:
            start.wait(timeout=30)
            for i in range(rounds):
                holder = f"t{index}-{i}"
                if not store.take_inflight_slot("c-race", holder, lease, cap, now):
                    tally["refused"] += 1
                    continue
                with lock:
                    held[0] += 1
                    held[1] = max(held[1], held[0])
                    tally["taken"] += 1
                entries = store.inflight_holders("c-race")
                assert holder in entries and len(entries) <= cap, entries
                time.sleep(0.002)
                with lock:
                    held[0] -= 1
                assert store.release_inflight_slot("c-race", holder), f"{holder}'s live slot was pruned"
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(THREADS)]
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # moto's check-then-act windows are microseconds wide
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
    finally:
        sys.setswitchinterval(before)
    assert not any(worker.is_alive() for worker in workers), "a worker thread hung"
    assert failures == [], f"{len(failures)} workers failed, first: {failures[:1]!r}"
    assert 1 <= held[1] <= cap and tally["taken"] >= rounds and tally["refused"] > 0
    assert tally["taken"] + tally["refused"] == THREADS * rounds
    assert stores[0].inflight_holders("c-race") == {}  # the dead pruned, every live one released
