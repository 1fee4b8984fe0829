"""Issue 13 item 9 (shared capacity), part 2: one job's finalize never fails or delays the other
jobs of its batch; and the new limits are template parameters with the settings' defaults.

The handler is driven as Lambda drives it, with a context whose remaining time the fake
finalize uses up; no AWS is reached (finalize itself and the queue are stand-ins).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from openips.handlers import finalize_job as handler
from openips.settings import Settings
from openips_cli.inprocess import LambdaContext, sqs_lambda_event
from openips_cli.provision import load_template


class Clock(LambdaContext):
    """A Lambda context whose remaining time is what the fake finalize left."""

    def __init__(self, left_ms: dict[str, int]) -> None:
        super().__init__(function_name="FinalizeJobFunction")
        self.left = left_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.left["ms"]


def batch(*jobs: str) -> dict:
    messages = [{"MessageId": f"m-{job}", "ReceiptHandle": f"r-{job}", "MD5OfBody": "x",
                 "Body": json.dumps({"type": "JobFinished", "jobHandle": job, "companyHandle": "c-1"})}
                for job in jobs]
    return sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:JobEventsQueue")


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Fake finalize (each job costs its time, ``j-slow`` 70 s and then raises) and a fake queue."""
    state = SimpleNamespace(left={"ms": 120_000}, started=[], resent=[])

    def finalize(deps, job_handle: str) -> bool:
        state.started.append(job_handle)
        if job_handle == "j-slow":
            state.left["ms"] -= 70_000
            raise RuntimeError("the webhook chain hung, then failed")
        state.left["ms"] -= 1_000
        return True

    monkeypatch.setattr(handler, "finalize_job", finalize)
    monkeypatch.setattr(handler, "get_deps", lambda: SimpleNamespace(
        events=SimpleNamespace(send_again=state.resent.append)))
    return state


def test_a_slow_failing_finalize_neither_fails_nor_delays_the_next_jobs_of_its_batch(world):
    # Given a batch whose first job's finalize takes 70 of the invocation's 120 s and then raises
    result = handler.lambda_handler(batch("j-slow", "j-a", "j-b"), Clock(world.left))

    # Then only that job's record fails; the others are not started in the 50 s left (the old
    # handler started them, and the timeout would have failed all three) but handed on at
    # once as new messages, acknowledged: no receive spent, no visibility timeout to wait.
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-j-slow"}]}
    assert world.started == ["j-slow"]
    assert [json.loads(body)["jobHandle"] for body in world.resent] == ["j-a", "j-b"]
    assert all(json.loads(body)["type"] == "JobFinished" for body in world.resent)


def test_with_time_left_a_failing_finalize_fails_its_own_record_only(world):
    world.left["ms"] = 900_000
    result = handler.lambda_handler(batch("j-a", "j-slow", "j-b"), Clock(world.left))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-j-slow"}]}
    assert world.started == ["j-a", "j-slow", "j-b"] and world.resent == []


def test_the_first_record_always_starts(world):
    world.left["ms"] = 10_000  # whatever is left, an invocation makes progress
    assert handler.lambda_handler(batch("j-a", "j-b"), Clock(world.left)) == {"batchItemFailures": []}
    assert world.started == ["j-a"] and [json.loads(b)["jobHandle"] for b in world.resent] == ["j-b"]


def test_a_hand_on_that_cannot_be_sent_is_a_failed_record(world, monkeypatch):
    def broken(body: str) -> None:
        raise ConnectionError("SQS unreachable")

    monkeypatch.setattr(handler, "get_deps", lambda: SimpleNamespace(events=SimpleNamespace(send_again=broken)))
    result = handler.lambda_handler(batch("j-slow", "j-a"), Clock(world.left))
    # SQS brings it back after its visibility timeout, as any failed record
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["m-j-a", "m-j-slow"]
    assert world.started == ["j-slow"]


def test_the_template_gives_finalize_one_job_per_invocation_and_lets_it_hand_records_on():
    resources = load_template()["Resources"]
    finalize = resources["FinalizeJobFunction"]["Properties"]
    (event,) = [e["Properties"] for e in finalize["Events"].values() if e["Type"] == "SQS"]
    assert event["BatchSize"] == 1
    sends = [p["SQSSendMessagePolicy"]["QueueName"] for p in finalize["Policies"] if "SQSSendMessagePolicy" in p]
    assert {"Fn::GetAtt": ["JobEventsQueue", "QueueName"]} in sends
    assert handler.START_RESERVE_MS < int(finalize["Timeout"]) * 1000


def test_the_new_limits_are_template_parameters_with_the_settings_defaults():
    template = load_template()
    params = template["Parameters"]
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    fields = Settings.model_fields
    assert env["MAX_PAUSE_SECONDS"] == {"Ref": "MaxPauseSeconds"}
    assert env["MAX_FILES_IN_FLIGHT_PER_COMPANY"] == {"Ref": "MaxFilesInFlightPerCompany"}
    assert params["MaxPauseSeconds"]["Default"] == fields["max_pause_seconds"].default == 3 * 24 * 3600
    in_flight = params["MaxFilesInFlightPerCompany"]["Default"]
    assert in_flight == fields["max_files_in_flight_per_company"].default
    assert in_flight == params["MaxFileConcurrency"]["Default"] // 2  # one company leaves half for the others
