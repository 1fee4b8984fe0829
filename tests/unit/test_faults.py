"""openips_cli.faults: the errors it injects are the ones botocore parses from AWS, below its retries."""

from __future__ import annotations

import hashlib

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from openips_cli import faults

# Nothing listens there: a call that the injector does not answer fails to connect.
NOWHERE = "http://127.0.0.1:9"
RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=1, read_timeout=1)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore sleeps between attempts (endpoint.py); the attempts matter here, not the waits."""
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _seconds: None)


def client(service: str, spec: str, tmp_path=None):
    session = botocore.session.get_session()
    session.register("before-send", faults.Injector(faults.parse(spec), "1", str(tmp_path) if tmp_path else None))
    return session.create_client(service, endpoint_url=NOWHERE, region_name="us-east-1", config=RETRIES,
                                 aws_access_key_id="k", aws_secret_access_key="s")


@pytest.mark.parametrize(("service", "spec", "call", "code", "status"), [
    ("dynamodb", "dynamodb:throttle:1", lambda c: c.get_item(TableName="t", Key={"pk": {"S": "a"}}),
     "ThrottlingException", 400),
    ("dynamodb", "dynamodb:provisioned:1", lambda c: c.put_item(TableName="t", Item={"pk": {"S": "a"}}),
     "ProvisionedThroughputExceededException", 400),
    ("dynamodb", "dynamodb.GetItem:500:1", lambda c: c.get_item(TableName="t", Key={"pk": {"S": "a"}}),
     "InternalServerError", 500),
    ("s3", "s3:503:1", lambda c: c.get_object(Bucket="b", Key="k"), "SlowDown", 503),
    ("s3", "s3:500:1", lambda c: c.put_object(Bucket="b", Key="k", Body=b"x"), "InternalError", 500),
    ("s3", "s3:500:1", lambda c: c.head_object(Bucket="b", Key="k"), "500", 500),
    ("sqs", "sqs:500:1", lambda c: c.send_message(QueueUrl=f"{NOWHERE}/1/q", MessageBody="m"),
     "InternalFailure", 500),
])
def test_each_fault_is_the_error_aws_returns_and_botocore_retries_it(service, spec, call, code, status):
    with pytest.raises(ClientError) as caught:
        call(client(service, spec))
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    assert error["ResponseMetadata"]["RetryAttempts"] == 2  # retryable: botocore tried all 3 attempts


def test_operation_and_text_narrow_a_rule_and_drop_loses_the_message_quietly(tmp_path):
    sqs = client("sqs", "sqs.SendMessage@JobEventsQueue:drop:1", tmp_path)
    sent = sqs.send_message(QueueUrl=f"{NOWHERE}/1/openips-JobEventsQueue", MessageBody='{"type": "JobFinished"}')
    assert sent["MD5OfMessageBody"] == hashlib.md5(b'{"type": "JobFinished"}').hexdigest()  # noqa: S324
    with pytest.raises(Exception, match="Could not connect"):  # another queue: not faulted, really sent
        sqs.send_message(QueueUrl=f"{NOWHERE}/1/openips-ProcessQueue", MessageBody="m")
    assert faults.fired(str(tmp_path)) == [("sqs", "SendMessage", "drop")]


def test_a_limit_counts_firings_across_processes_through_the_state_dir(tmp_path):
    # Two injectors stand for two worker processes sharing OPENIPS_FAULTS_DIR.
    first, second = (client("dynamodb", "dynamodb:throttle:1:1", tmp_path) for _ in range(2))
    # One firing only: the first attempt is throttled; its retries and the other's call reach the network.
    for dynamodb in (first, second):
        with pytest.raises(Exception, match="Could not connect"):
            dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})
    assert faults.fired(str(tmp_path)) == [("dynamodb", "GetItem", "throttle")]


@pytest.mark.parametrize("spec", ["dynamodb:throttle", "dynamodb:slow:0.1", "s3:throttle:0.1", "sqs:500:2",
                                  "kinesis:500:0.1", "s3:drop:1", "dynamodb:500:0.1:x"])
def test_a_bad_spec_is_refused(spec):
    with pytest.raises(faults.FaultSpecError):
        faults.parse(spec)


def test_install_from_env_hooks_the_default_session_and_every_later_session(monkeypatch):
    from botocore.handlers import BUILTIN_HANDLERS

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto3.session.Session(region_name="us-east-1"))
    monkeypatch.setattr(faults, "_installed", None)
    monkeypatch.setattr("botocore.handlers.BUILTIN_HANDLERS", list(BUILTIN_HANDLERS))  # undone after the test
    assert faults.install_from_env({}) is None
    injector = faults.install_from_env({faults.ENV_RULES: "dynamodb:throttle:1", faults.ENV_SEED: "3"})
    assert injector is faults.install_from_env({faults.ENV_RULES: "dynamodb:throttle:1"})  # once per process
    for session in (boto3.DEFAULT_SESSION, boto3.session.Session(region_name="us-east-1")):
        dynamodb = session.client("dynamodb", endpoint_url=NOWHERE, config=RETRIES)
        with pytest.raises(ClientError, match="ThrottlingException"):
            dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})
