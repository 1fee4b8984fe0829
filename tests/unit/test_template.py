"""Static checks of template.yaml (and the build files next to it).

No network, no AWS, no pyvips: the template is read with a YAML loader that understands the
CloudFormation short-form tags (!Ref, !Sub, !GetAtt, ...) and turns them into their long
forms ({"Ref": ...}, {"Fn::Sub": ...}), so the assertions below look at plain dicts.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from openips_cli.provision import load_template, message_passes, sqs_mappings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

FUNCTIONS = {
    "ApiFunction": "api",
    "ProcessFileFunction": "process_file",
    "MediaFunction": "process_media",
    "TranscodeFunction": "transcode",
    "MediaConvertEventsFunction": "mediaconvert_events",
    "FinalizeJobFunction": "finalize_job",
    "SweepFunction": "sweep",
    "AssetImagingFunction": "imaging_api",
    "NotificationFunction": "notify",
    "AuthorizerFunction": "authorize",
    "IpsWireFunction": "ips_wire",
    "DeliveryFunction": "delivery",
}

COMMON_ENV = {
    "JOBS_TABLE",
    "INCOMING_BUCKET",
    "ASSETS_BUCKET",
    "JOB_EVENTS_QUEUE_URL",
    "PROCESS_QUEUE_URL",
    "MEDIA_QUEUE_URL",
    "TRANSCODE_QUEUE_URL",
    "JOB_IDLE_TIMEOUT_SECONDS",
    "MAX_OPEN_JOBS_PER_COMPANY",
    "MAX_FILES_IN_FLIGHT_PER_COMPANY",
    "MAX_PAUSE_SECONDS",
    "MAX_FILE_SIZE_BYTES",
    "MAX_IMAGE_PIXELS",
    "UPLOAD_FORM_TTL_SECONDS",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "NOTIFICATION_QUEUE_URL",
    "SENDER_EMAIL",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def props(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    assert logical_id in resources, f"missing resource {logical_id}"
    return resources[logical_id].get("Properties", {})


def function_timeout(template: dict[str, Any], logical_id: str) -> int:
    fn = template["Resources"][logical_id]["Properties"]
    return int(fn.get("Timeout", template["Globals"]["Function"]["Timeout"]))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- tests


def test_loader_understands_short_form_tags(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("a: !Ref X\nb: !GetAtt Q.Arn\nc: !If [C, !Ref Y, !Ref AWS::NoValue]\nd: !Sub 'x-${Z}'\n")
    doc = load_template(path)
    assert doc == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["Q", "Arn"]},
        "c": {"Fn::If": ["C", {"Ref": "Y"}, {"Ref": "AWS::NoValue"}]},
        "d": {"Fn::Sub": "x-${Z}"},
    }


def test_transform_and_runtime(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "python3.12"
    assert glob["Architectures"] == [{"Ref": "Architecture"}]
    assert glob["CodeUri"] == "functions/"
    assert glob["Tracing"] == "Active"
    params = template["Parameters"]
    assert params["Architecture"]["Default"] == "arm64"
    assert set(params["Architecture"]["AllowedValues"]) == {"arm64", "x86_64"}
    assert params["AlarmTopicArn"]["Default"] == ""


def test_handlers_are_openips_handler_modules(resources: dict[str, Any]) -> None:
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert set(functions) == set(FUNCTIONS), "unexpected set of functions"
    handlers = {k: v["Properties"]["Handler"] for k, v in functions.items()}
    print("handlers:", json.dumps(handlers, indent=2))
    for logical_id, module in FUNCTIONS.items():
        assert handlers[logical_id] == f"openips.handlers.{module}.lambda_handler"


def test_common_environment(template: dict[str, Any], resources: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(env) == COMMON_ENV
    assert env["JOBS_TABLE"] == {"Ref": "JobsTable"}
    assert env["INCOMING_BUCKET"] == {"Ref": "IncomingBucket"}
    assert env["ASSETS_BUCKET"] == {"Ref": "AssetsBucket"}
    assert env["JOB_EVENTS_QUEUE_URL"] == {"Ref": "JobEventsQueue"}
    assert env["PROCESS_QUEUE_URL"] == {"Ref": "ProcessQueue"}
    assert env["MEDIA_QUEUE_URL"] == {"Ref": "MediaQueue"}
    assert env["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert env["POWERTOOLS_SERVICE_NAME"] == env["POWERTOOLS_METRICS_NAMESPACE"] == "openips"
    extra = props(resources, "ProcessFileFunction")["Environment"]["Variables"]
    assert extra == {"MALLOC_ARENA_MAX": "2", "VIPS_CONCURRENCY": "2",
                     "CDN_DISTRIBUTION_ID": {"Ref": "DeliveryDistribution"}}


def test_api_function_has_no_layers(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert "Layers" not in template["Globals"]["Function"]
    assert "Layers" not in props(resources, "ApiFunction")
    events = props(resources, "ApiFunction")["Events"]
    assert set(events) == {"Proxy", "UploadPage"}  # the API, and the upload page at the root
    event = events["Proxy"]
    assert event["Type"] == "HttpApi"
    assert event["Properties"]["ApiId"] == {"Ref": "HttpApi"}
    assert event["Properties"]["Path"] == "/{proxy+}"
    assert event["Properties"]["Method"].upper() == "ANY"


def test_api_function_cold_starts_from_a_snapstart_snapshot(template: dict[str, Any],
                                                            resources: dict[str, Any]) -> None:
    fn = props(resources, "ApiFunction")
    assert fn["SnapStart"] == {"ApplyOn": {"Ref": "ApiSnapStart"}}
    assert template["Parameters"]["ApiSnapStart"]["Default"] == "PublishedVersions"
    assert set(template["Parameters"]["ApiSnapStart"]["AllowedValues"]) == {"PublishedVersions", "None"}
    # SnapStart applies to published versions only: the HTTP API must invoke one, through the alias.
    assert fn["AutoPublishAlias"]
    assert template["Globals"]["Function"]["Runtime"] >= "python3.12"  # SnapStart's first Python runtime
    # What SnapStart does not support on a function.
    assert "ProvisionedConcurrencyConfig" not in fn and "FileSystemConfigs" not in fn
    assert fn.get("EphemeralStorage", {}).get("Size", 512) <= 512


def test_ips_wire_function_serves_scene7_without_layers(resources: dict[str, Any]) -> None:
    fn = props(resources, "IpsWireFunction")
    assert "Layers" not in fn  # it receives files, never decodes them
    (event,) = fn["Events"].values()
    assert event["Type"] == "HttpApi" and event["Properties"]["ApiId"] == {"Ref": "HttpApi"}
    assert event["Properties"]["Path"] == "/scene7/{proxy+}" and event["Properties"]["Method"].upper() == "ANY"
    assert "Auth" not in event["Properties"]  # the caller is in the body (authHeader)
    by_action = {a: s for s in _statements(fn["Policies"]) for a in as_list(s["Action"])}
    assert by_action["s3:PutObject"]["Resource"]["Fn::Sub"].endswith("${IncomingBucket}/incoming/*")
    assert "s3:GetObject" not in by_action and "s3:DeleteObject" not in by_action
    # API Gateway HTTP API: 10 MB payload; Lambda: 6 MB per synchronous invocation, base64 adds 4/3.
    assert int(fn["Environment"]["Variables"]["IPS_WIRE_MAX_BODY_BYTES"]) * 4 // 3 < 6 * 1024 * 1024 - 64 * 1024


def test_process_file_function_uses_imaging_layer(resources: dict[str, Any]) -> None:
    fn = props(resources, "ProcessFileFunction")
    assert {"Ref": "ImagingLayer"} in fn["Layers"]
    assert fn["MemorySize"] == 2048
    assert fn["EphemeralStorage"]["Size"] == 10240
    layer = resources["ImagingLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/imaging"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"


@pytest.mark.parametrize(
    ("queue", "function"),
    [("ProcessQueue", "ProcessFileFunction"), ("MediaQueue", "MediaFunction"),
     ("JobEventsQueue", "FinalizeJobFunction"), ("NotificationQueue", "NotificationFunction")],
)
def test_visibility_timeout_is_six_times_function_timeout(
    template: dict[str, Any], resources: dict[str, Any], queue: str, function: str
) -> None:
    visibility = int(props(resources, queue)["VisibilityTimeout"])
    timeout = function_timeout(template, function)
    assert visibility >= 6 * timeout, f"{queue} VisibilityTimeout {visibility} < 6 x {function} Timeout {timeout}"


@pytest.mark.parametrize(("queue", "dlq"), [("ProcessQueue", "ProcessDLQ"), ("MediaQueue", "MediaDLQ"),
                                           ("JobEventsQueue", "JobEventsDLQ"),
                                           ("NotificationQueue", "NotificationDLQ")])
def test_queues_redrive_to_their_dlq(resources: dict[str, Any], queue: str, dlq: str) -> None:
    redrive = props(resources, queue)["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq, "Arn"]}
    assert int(redrive["maxReceiveCount"]) == 5
    assert resources[dlq]["Type"] == "AWS::SQS::Queue"


def _sqs_event(resources: dict[str, Any], function: str) -> dict[str, Any]:
    events = props(resources, function)["Events"]
    sqs = [e["Properties"] for e in events.values() if e["Type"] == "SQS"]
    assert len(sqs) == 1, f"{function} must have exactly one SQS event"
    return sqs[0]


def test_process_file_sqs_event(resources: dict[str, Any]) -> None:
    event = _sqs_event(resources, "ProcessFileFunction")
    assert event["Queue"] == {"Fn::GetAtt": ["ProcessQueue", "Arn"]}
    assert event["BatchSize"] == 1  # one file per invocation (see the template comment)
    assert "ReportBatchItemFailures" in event["FunctionResponseTypes"]
    filters = event["FilterCriteria"]["Filters"]
    assert any("ObjectCreated" in f["Pattern"] for f in filters)

    patterns = tuple(json.loads(f["Pattern"]) for f in filters)
    created = json.dumps({"Records": [{"eventName": "ObjectCreated:Post", "s3": {"object": {"key": "incoming%2Fa.jpg"}}}]})
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})
    removed = json.dumps({"Records": [{"eventName": "ObjectRemoved:Delete"}]})
    assert message_passes(patterns, created)
    assert not message_passes(patterns, test_event)
    assert not message_passes(patterns, removed)


def test_media_function_has_pyav_beside_pyvips_and_its_own_queue(template: dict[str, Any],
                                                                  resources: dict[str, Any]) -> None:
    """Videos (docs/formats-video.md): PyAV does not fit beside ProcessFileFunction's layers."""
    fn = props(resources, "MediaFunction")
    assert fn["Layers"] == [{"Ref": "ImagingLayer"}, {"Ref": "MediaLayer"}]
    assert {"Ref": "MediaLayer"} not in props(resources, "ProcessFileFunction")["Layers"]
    assert function_timeout(template, "MediaFunction") == 900
    assert fn["EphemeralStorage"]["Size"] == 10240
    layer = resources["MediaLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/media"
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": {"Ref": "Architecture"}}
    event = _sqs_event(resources, "MediaFunction")
    assert event["Queue"] == {"Fn::GetAtt": ["MediaQueue", "Arn"]}
    assert event["BatchSize"] == 1 and "ReportBatchItemFailures" in event["FunctionResponseTypes"]
    created = json.dumps({"Records": [{"eventName": "ObjectCreated:Post",
                                       "s3": {"object": {"key": "incoming%2Fa.mp4"}}}]})
    assert message_passes(tuple(json.loads(f["Pattern"]) for f in event["FilterCriteria"]["Filters"]), created)
    # Nothing but ProcessFileFunction (and MediaFunction's own deferrals) feeds MediaQueue: no S3 notification.
    assert "MediaQueue" not in json.dumps(props(resources, "IncomingBucket"))
    makefile = (ROOT / "layers" / "media" / "Makefile").read_text(encoding="utf-8")
    assert "build-MediaLayer:" in makefile and "LAYER_ARCH" in makefile and "--only-binary=:all:" in makefile
    requirements = (ROOT / "layers" / "media" / "requirements.txt").read_text(encoding="utf-8")
    assert 'av==19.0.2; python_version >= "3.12"' in requirements


def test_finalize_and_sweep_events(resources: dict[str, Any]) -> None:
    event = _sqs_event(resources, "FinalizeJobFunction")
    assert event["Queue"] == {"Fn::GetAtt": ["JobEventsQueue", "Arn"]}
    assert event["BatchSize"] == 1  # one job per invocation: a crash or timeout takes no other job's finalize
    assert "ReportBatchItemFailures" in event["FunctionResponseTypes"]
    (sweep,) = props(resources, "SweepFunction")["Events"].values()
    assert sweep["Type"] == "Schedule"
    assert sweep["Properties"]["Schedule"] == "rate(5 minutes)"


def test_jobs_table_keys_and_indexes(resources: dict[str, Any]) -> None:
    table = props(resources, "JobsTable")
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}

    def keys(schema: list[dict[str, str]]) -> dict[str, str]:
        return {k["KeyType"]: k["AttributeName"] for k in schema}

    assert keys(table["KeySchema"]) == {"HASH": "pk", "RANGE": "sk"}
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"ByOwnerIndex", "ActiveJobsIndex"}
    assert keys(indexes["ByOwnerIndex"]["KeySchema"]) == {"HASH": "gsi1pk", "RANGE": "gsi1sk"}
    assert keys(indexes["ActiveJobsIndex"]["KeySchema"]) == {"HASH": "activePk", "RANGE": "activeSk"}
    assert all(i["Projection"]["ProjectionType"] == "ALL" for i in indexes.values())
    defined = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert defined == dict.fromkeys(["pk", "sk", "gsi1pk", "gsi1sk", "activePk", "activeSk"], "S")


def test_incoming_bucket_notifies_process_queue(resources: dict[str, Any]) -> None:
    bucket = resources["IncomingBucket"]
    assert bucket["DependsOn"] in ("ProcessQueuePolicy", ["ProcessQueuePolicy"])
    configs = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    # Uploads, and the members of archives extracted back into their job (unCompressOptions).
    assert [c["Filter"]["S3Key"]["Rules"] for c in configs] == [
        [{"Name": "prefix", "Value": "incoming/"}], [{"Name": "prefix", "Value": "extracted/"}]]
    for config in configs:
        assert config["Event"] == "s3:ObjectCreated:*"
        assert config["Queue"] == {"Fn::GetAtt": ["ProcessQueue", "Arn"]}
    # The upload page's POSTs, from the origins the UploadPageOrigins parameter names (docs/web-ui.md).
    (cors,) = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
    assert cors["AllowedMethods"] == ["POST"]
    assert cors["AllowedOrigins"] == {"Ref": "UploadPageOrigins"}


def test_the_upload_page_is_served_by_the_api_function_at_the_root(template: dict[str, Any],
                                                                   resources: dict[str, Any]) -> None:
    events = resources["ApiFunction"]["Properties"]["Events"]
    assert events["UploadPage"]["Properties"] == {"ApiId": {"Ref": "HttpApi"}, "Path": "/", "Method": "GET"}
    parameter = template["Parameters"]["UploadPageOrigins"]
    assert parameter["Type"] == "CommaDelimitedList" and parameter["Default"] == "*"
    pattern = re.compile(parameter["AllowedPattern"])
    assert all(pattern.fullmatch(o) for o in ("*", "https://abc.execute-api.eu-west-1.amazonaws.com",
                                             "http://127.0.0.1:3000"))
    assert not any(pattern.fullmatch(o) for o in ("https://x.example/path", "javascript:alert(1)", ""))


@pytest.mark.parametrize("bucket", ["IncomingBucket", "AssetsBucket"])
def test_buckets_are_private_and_encrypted(resources: dict[str, Any], bucket: str) -> None:
    p = props(resources, bucket)
    block = p["PublicAccessBlockConfiguration"]
    assert all(block[k] is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    (rule,) = p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_assets_bucket_versioned_with_noncurrent_expiry(resources: dict[str, Any]) -> None:
    p = props(resources, "AssetsBucket")
    assert p["VersioningConfiguration"]["Status"] == "Enabled"
    rules = p["LifecycleConfiguration"]["Rules"]
    assert any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") == 30 for r in rules)


def test_process_queue_policy_is_scoped_to_the_bucket_and_account(resources: dict[str, Any]) -> None:
    policy = props(resources, "ProcessQueuePolicy")
    assert policy["Queues"] == [{"Ref": "ProcessQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    conditions = statement["Condition"]
    source_arn = conditions["ArnLike"]["aws:SourceArn"]
    assert conditions["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    # the ARN is built from the same expression as the bucket's name (no reference to the
    # bucket itself: that would be a circular dependency through DependsOn)
    bucket_name = props(resources, "IncomingBucket")["BucketName"]["Fn::Sub"]
    assert source_arn == {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{bucket_name}"}
    text = json.dumps(policy)
    assert '"IncomingBucket"' not in text and "${IncomingBucket" not in text


def _statements(policies: list[Any]) -> list[dict[str, Any]]:
    found = []
    for policy in policies:
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(as_list(policy["Statement"]))
    return found


def _is_wildcard_resource(resource: Any) -> bool:
    """True for "*", every bucket ("arn:...:s3:::*") or every table ("...:table/*")."""
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        resource = resource["Fn::Sub"]
        if isinstance(resource, list):
            resource = resource[0]
    if not isinstance(resource, str):
        return False  # a Ref/GetAtt of one of our own resources
    return resource == "*" or resource.endswith(":s3:::*") or ":table/*" in resource


@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_least_privilege_policies(resources: dict[str, Any], function: str) -> None:
    policies = props(resources, function).get("Policies")
    assert isinstance(policies, list) and policies, f"{function} needs an explicit Policies list"
    for policy in policies:
        assert not isinstance(policy, str), f"{function}: managed policy {policy!r} is not least privilege"
        if isinstance(policy, dict) and "DynamoDBCrudPolicy" in policy:
            tables = [{"Ref": "JobsTable"}] + ([{"Ref": "AccountsTable"}] if function == "ApiFunction" else [])
            assert policy["DynamoDBCrudPolicy"]["TableName"] in tables, f"{function}: {policy}"
        if isinstance(policy, dict) and "SQSSendMessagePolicy" in policy:
            queue = policy["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"]
            # Only ProcessFileFunction (files that must wait) and SweepFunction (files an accounting repair
            # re-sends) send to ProcessQueue; ProcessFile and MediaFunction (videos that wait) write to
            # MediaQueue; only the API (re-send requests), finalize (first attempt) and NotificationFunction
            # (next attempts) write to NotificationQueue.
            # The API's repair route (POST /v1/jobs/{j}/accounting/repair, admins) re-sends lost files too.
            resend = function in ("ProcessFileFunction", "SweepFunction", "ApiFunction")
            allowed = ["JobEventsQueue"] + (["ProcessQueue"] if resend else [])
            if function in ("ProcessFileFunction", "MediaFunction"):
                allowed.append("MediaQueue")
            if function in ("ApiFunction", "FinalizeJobFunction", "NotificationFunction"):
                allowed.append("NotificationQueue")
            # Renditions: queued by MediaFunction, deferred by TranscodeFunction, re-sent by the sweeper's repair;
            # whatever stops a job (API, IPS wire, the sweeper's pause limit) asks for their MediaConvert jobs' cancel.
            if function in ("MediaFunction", "TranscodeFunction", "SweepFunction", "ApiFunction", "IpsWireFunction"):
                allowed.append("TranscodeQueue")
            assert queue[0] in allowed and queue[1] == "QueueName", f"{function} may not send to {queue}"
    for statement in _statements(policies):
        actions = as_list(statement["Action"])
        assert "*" not in actions and "s3:*" not in actions and "dynamodb:*" not in actions
        assert "ses:*" not in actions
        if any(a.startswith("ses:") for a in actions):
            # mail only From the configured sender, and only by the functions that send it
            assert function in ("FinalizeJobFunction", "NotificationFunction"), f"{function} may not send mail"
            assert actions == ["ses:SendEmail"]
            assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "SenderEmail"}}}
        if any(a.startswith(("s3:", "dynamodb:")) for a in actions):
            for resource in as_list(statement["Resource"]):
                assert not _is_wildcard_resource(resource), f"{function}: {actions} on {resource}"
            if "s3:ListBucket" in actions:
                assert "s3:prefix" in json.dumps(statement.get("Condition", {})), "ListBucket must be prefix-scoped"


@pytest.mark.parametrize("function", ["ApiFunction", "IpsWireFunction", "ProcessFileFunction", "MediaFunction",
                                      "SweepFunction"])
def test_every_function_that_can_end_a_job_may_send_its_finalize_event(resources: dict[str, Any], function: str) -> None:
    """endJob, stopJob and deleteJob (API), the last file (processing) and the sweeper all end jobs
    (services.jobs.finish_if_complete sends to JobEventsQueue); without the permission the job is
    marked ended and its finalize waits for the sweeper's redrive."""
    queues = [p["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0] for p in props(resources, function)["Policies"]
              if isinstance(p, dict) and "SQSSendMessagePolicy" in p]
    assert "JobEventsQueue" in queues, function


def test_api_function_s3_scope(resources: dict[str, Any]) -> None:
    statements = _statements(props(resources, "ApiFunction")["Policies"])
    by_action = {a: s for s in statements for a in as_list(s["Action"])}
    assert by_action["s3:PutObject"]["Resource"]["Fn::Sub"].endswith("${IncomingBucket}/incoming/*")
    assert by_action["s3:GetObject"]["Resource"]["Fn::Sub"].endswith("${AssetsBucket}/*")
    assert "s3:DeleteObject" not in by_action


@pytest.mark.parametrize(("function", "action"), [("ProcessFileFunction", "s3:PutObject"),
                                                  ("MediaFunction", "s3:PutObject"), ("ApiFunction", "s3:GetObject")])
def test_asset_files_beside_the_optimized_tiff_are_in_reach(resources: dict[str, Any], function: str,
                                                            action: str) -> None:
    """Every file services/ingest/outcome.py stores for an asset (the thumbnail included) is written by the
    processing functions and presigned by the API under one AssetsBucket statement."""
    keys = ["c-x/a-y/master", "c-x/a-y/optimized.tif", "c-x/a-y/mask.tif", "c-x/a-y/thumbnail"]
    patterns = [r["Fn::Sub"] for st in _statements(props(resources, function)["Policies"])
                if action in as_list(st["Action"]) for r in as_list(st["Resource"]) if isinstance(r, dict)]
    prefix = "arn:${AWS::Partition}:s3:::${AssetsBucket}/"
    for key in keys:
        assert any(fnmatch.fnmatchcase(prefix + key, pattern) for pattern in patterns), (function, key, patterns)


def test_alarms_notify_only_when_topic_is_set(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert "HasAlarmTopic" in template["Conditions"]
    expected = ({"ProcessDLQAlarm", "MediaDLQAlarm", "TranscodeDLQAlarm", "JobEventsDLQAlarm", "NotificationDLQAlarm",
                 "MediaConvertEventsDLQAlarm", "JobAccountingDriftAlarm"} | {f"{f}ErrorsAlarm" for f in FUNCTIONS})
    alarms = {k for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms == expected
    for name in alarms:
        actions = props(resources, name)["AlarmActions"]
        assert actions == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


def test_accounting_drift_alarm_watches_the_sweepers_metric(resources: dict[str, Any]) -> None:
    from openips.handlers.sweep import METRICS

    alarm = props(resources, "JobAccountingDriftAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("openips", METRICS["drift_found"])
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "openips"}]  # Powertools' EMF dimension
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_every_bucket_refuses_plain_http(resources: dict[str, Any]) -> None:
    buckets = {name for name, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
    guarded = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::S3::BucketPolicy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}:
                assert statement["Action"] == "s3:*" and len(statement["Resource"]) == 2
                guarded.add(resource["Properties"]["Bucket"]["Ref"])
    assert guarded == buckets


def test_api_is_throttled_and_logs_no_secrets(resources: dict[str, Any]) -> None:
    api = props(resources, "HttpApi")
    assert set(api["DefaultRouteSettings"]) == {"ThrottlingRateLimit", "ThrottlingBurstLimit"}
    log_format = api["AccessLogSettings"]["Format"]
    assert "$context.requestId" in log_format
    assert "authorization" not in log_format.lower() and "querystring" not in log_format.lower()
    for function, queue, parameter in (("ProcessFileFunction", "ProcessQueueMessages", "MaxFileConcurrency"),
                                       ("MediaFunction", "MediaQueueMessages", "MaxVideoConcurrency")):
        event = props(resources, function)["Events"][queue]["Properties"]
        assert event["ScalingConfig"] == {"MaximumConcurrency": {"Ref": parameter}}


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {
        "ApiUrl",
        "IncomingBucketName",
        "AssetsBucketName",
        "JobsTableName",
        "ProcessQueueUrl",
        "ProcessDLQUrl",
        "MediaQueueUrl",
        "MediaDLQUrl",
        "JobEventsQueueUrl",
        "NotificationQueueUrl",
        "NotificationDLQUrl",
    } <= set(outputs)
    assert outputs["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
    }


def test_notification_wiring(template: dict[str, Any], resources: dict[str, Any]) -> None:
    event = _sqs_event(resources, "NotificationFunction")
    assert event["Queue"] == {"Fn::GetAtt": ["NotificationQueue", "Arn"]}
    assert event["BatchSize"] == 1  # one webhook POST per invocation
    assert "ReportBatchItemFailures" in event["FunctionResponseTypes"]
    sender = template["Parameters"]["SenderEmail"]
    assert sender["Default"] == ""
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["NOTIFICATION_QUEUE_URL"] == {"Ref": "NotificationQueue"}
    assert env["SENDER_EMAIL"] == {"Ref": "SenderEmail"}
    for function in ("FinalizeJobFunction", "NotificationFunction"):
        url = props(resources, function)["Environment"]["Variables"]["API_BASE_URL"]
        assert "${HttpApi}" in url["Fn::Sub"]
    # ApiFunction is HttpApi's integration: it must not reference HttpApi (circular dependency)
    assert "HttpApi}" not in json.dumps(props(resources, "ApiFunction").get("Environment", {}))
    # the local stack must never allow loopback webhooks on AWS
    assert "WEBHOOK_ALLOW_LOOPBACK" not in json.dumps(template)
    assert "NotificationQueue" in {m.queue for m in sqs_mappings(template)}


def test_layer_makefile_avoids_the_known_traps() -> None:
    makefile = (ROOT / "layers" / "imaging" / "Makefile").read_text(encoding="utf-8")
    assert "build-ImagingLayer:" in makefile
    assert "--platform manylinux_2_28_$(PLATFORM_ARCH)" in makefile
    assert "--platform manylinux2014_$(PLATFORM_ARCH)" in makefile
    assert "--only-binary=:all:" in makefile and "--find-links" in makefile
    assert "wheel" in makefile and "--no-deps" in makefile
    assert "LAYER_ARCH" in makefile
    requirements = (ROOT / "layers" / "imaging" / "requirements.txt").read_text(encoding="utf-8")
    assert "pyvips==3.2.0" in requirements


def test_samconfig() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert str(config["version"]) == "0.1"
    default = config["default"]
    deploy = default["deploy"]["parameters"]
    assert default["global"]["parameters"]["stack_name"] == "openips"
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert "Architecture=arm64" in deploy["parameter_overrides"]
    assert default["build"]["parameters"]["cached"] is True


def test_cfn_lint_passes() -> None:
    exe = Path(sys.executable).parent / "cfn-lint"
    if not exe.exists():
        pytest.skip(f"cfn-lint not installed next to {sys.executable}")
    result = subprocess.run(  # noqa: S603 - fixed argv
        [str(exe), "--", str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, f"cfn-lint exit {result.returncode}\n{result.stdout}\n{result.stderr}"


# ---- delivery (docs/delivery.md) ---------------------------------------------------------------------


def test_delivery_function_serves_the_image_route_publicly_with_the_imaging_layer(template: dict[str, Any],
                                                                                  resources: dict[str, Any]) -> None:
    fn = props(resources, "DeliveryFunction")
    assert fn["Layers"] == [{"Ref": "ImagingLayer"}]
    assert function_timeout(template, "DeliveryFunction") < 30  # API Gateway's integration limit
    [event] = fn["Events"].values()
    assert event["Type"] == "HttpApi"
    assert event["Properties"] == {"ApiId": {"Ref": "HttpApi"}, "Path": "/is/image/{company}/{asset}", "Method": "GET"}
    assert "Auth" not in event["Properties"]  # public, as Image Serving is
    assert fn["Environment"]["Variables"]["DELIVERY_MAX_PIXELS"] == {"Ref": "DeliveryMaxPixels"}
    assert template["Parameters"]["DeliveryMaxPixels"]["Default"] == 2000 * 2000


def test_delivery_function_reads_companies_assets_and_pyramids_only(resources: dict[str, Any]) -> None:
    policies = props(resources, "DeliveryFunction")["Policies"]
    assert all(isinstance(p, dict) and set(p) == {"Statement"} for p in policies)  # no managed read policy
    statements = _statements(policies)
    actions = sorted(a for s in statements for a in as_list(s["Action"]))
    assert actions == ["dynamodb:GetItem", "dynamodb:Query", "s3:GetObject"]
    [table] = [s for s in statements if "dynamodb:Query" in as_list(s["Action"])]
    assert table["Resource"] == [{"Fn::GetAtt": ["JobsTable", "Arn"]}, {"Fn::Sub": "${JobsTable.Arn}/index/*"}]
    [objects] = [s for s in statements if "s3:GetObject" in as_list(s["Action"])]
    patterns = [r["Fn::Sub"] for r in as_list(objects["Resource"])]
    prefix = "arn:${AWS::Partition}:s3:::${AssetsBucket}/"
    for key, reachable in (("c-x/a-y/optimized.tif", True), ("c-x/a-y/mask.tif", True), ("c-x/a-y/master", False),
                           ("c-x/a-y/thumbnail", False), ("c-x/a-y/master.tif", False)):
        assert any(fnmatch.fnmatchcase(prefix + key, p) for p in patterns) is reachable, key
    assert "IncomingBucket" not in json.dumps(policies) and "AccountsTable" not in json.dumps(policies)


def test_the_distribution_caches_the_route_by_its_query_and_serves_nothing_else(template: dict[str, Any],
                                                                                resources: dict[str, Any]) -> None:
    config = props(resources, "DeliveryDistribution")["DistributionConfig"]
    [origin] = config["Origins"]
    assert origin["DomainName"] == {"Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    behaviour = config["DefaultCacheBehavior"]
    assert "CacheBehaviors" not in config
    assert behaviour["TargetOriginId"] == origin["Id"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["CachePolicyId"] == {"Ref": "DeliveryCachePolicy"}
    assert "OriginRequestPolicyId" not in behaviour  # no viewer header (Authorization) reaches the API
    # The key: the whole query as sent (IS modifiers are order-sensitive), no header, no cookie.
    key = props(resources, "DeliveryCachePolicy")["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    assert props(resources, "DeliveryCachePolicy")["CachePolicyConfig"]["DefaultTTL"] == 0  # the origin decides
    [guard] = behaviour["FunctionAssociations"]
    assert guard["EventType"] == "viewer-request"
    assert guard["FunctionARN"] == {"Fn::GetAtt": ["DeliveryRouteOnly", "FunctionMetadata.FunctionARN"]}
    code = props(resources, "DeliveryRouteOnly")["FunctionCode"]
    assert "'/is/image/'" in code and "statusCode: 404" in code
    assert template["Outputs"]["DeliveryDomain"]["Value"] == {"Fn::GetAtt": ["DeliveryDistribution", "DomainName"]}


@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_only_asset_writers_and_the_finalizer_may_invalidate_the_distribution(resources: dict[str, Any],
                                                                           function: str) -> None:
    fn = props(resources, function)
    statements = [s for s in _statements(fn["Policies"]) if any(
        a.startswith("cloudfront:") for a in as_list(s["Action"]))]
    # FinalizeJobFunction carries out what the API asks (an adjusted smart crop): the API function sits
    # behind the HTTP API the distribution fronts, so naming the distribution there would be a cycle.
    if function not in ("ProcessFileFunction", "MediaFunction", "FinalizeJobFunction"):
        assert statements == [] and "CDN_DISTRIBUTION_ID" not in json.dumps(fn.get("Environment", {}))
        return
    [statement] = statements
    assert statement["Action"] == "cloudfront:CreateInvalidation"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${DeliveryDistribution}"}
    assert fn["Environment"]["Variables"]["CDN_DISTRIBUTION_ID"] == {"Ref": "DeliveryDistribution"}



@pytest.mark.parametrize("function", ["ApiFunction", "IpsWireFunction", "SweepFunction"])
def test_every_function_that_can_stop_a_job_may_ask_for_its_renditions_cancel(resources: dict[str, Any],
                                                                             function: str) -> None:
    # services/control.py sends CancelRenditions to TranscodeQueue after stopJob, deleteJob and an expired pause.
    policies = props(resources, function)["Policies"]
    queues = {p["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0] for p in policies
              if isinstance(p, dict) and "SQSSendMessagePolicy" in p}
    assert "TranscodeQueue" in queues


def test_the_api_repair_route_may_send_what_it_re_sends(resources: dict[str, Any]) -> None:
    # accounting.repair (POST /v1/jobs/{j}/accounting/repair runs it in ApiFunction) re-sends lost files
    # to ProcessQueue and lost renditions to TranscodeQueue; without these it fails on AWS only (no IAM in moto).
    policies = props(resources, "ApiFunction")["Policies"]
    queues = {p["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0] for p in policies
              if isinstance(p, dict) and "SQSSendMessagePolicy" in p}
    assert {"ProcessQueue", "TranscodeQueue", "JobEventsQueue"} <= queues


# ---------------------------------------------------------------- MediaConvert (docs/formats-video.md#renditions)


def _if_statements(policies: list[Any], condition: str) -> list[dict[str, Any]]:
    """The statements of the policies given only when ``condition`` holds (``!If [condition, policy, NoValue]``)."""
    found = []
    for policy in policies:
        if isinstance(policy, dict) and "Fn::If" in policy:
            name, then, otherwise = policy["Fn::If"]
            assert name == condition and otherwise == {"Ref": "AWS::NoValue"}, policy
            found.extend(as_list(then["Statement"]))
    return found


def test_mediaconvert_is_off_unless_the_operator_enables_it(template: dict[str, Any], resources: dict[str, Any]) -> None:
    parameter = template["Parameters"]["EnableMediaConvert"]
    assert (parameter["Default"], sorted(parameter["AllowedValues"])) == ("false", ["false", "true"])
    assert template["Conditions"]["UseMediaConvert"] == {"Fn::Equals": [{"Ref": "EnableMediaConvert"}, "true"]}
    for logical_id in ("MediaConvertRole", "MediaConvertEventsFunction"):
        assert resources[logical_id]["Condition"] == "UseMediaConvert", logical_id
    env = props(resources, "TranscodeFunction")["Environment"]["Variables"]
    # Off: an empty role ARN, which settings.py reads as "PyAV only" (the warning beyond the line).
    assert env["MEDIACONVERT_ROLE_ARN"] == {"Fn::If": ["UseMediaConvert", {"Fn::GetAtt": ["MediaConvertRole", "Arn"]},
                                                       ""]}
    assert env["OPENIPS_STACK_NAME"] == {"Ref": "AWS::StackName"}


def test_the_mediaconvert_role_reads_masters_and_writes_renditions_only(resources: dict[str, Any]) -> None:
    role = props(resources, "MediaConvertRole")
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "mediaconvert.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "ManagedPolicyArns" not in role
    statements = [st for policy in role["Policies"] for st in as_list(policy["PolicyDocument"]["Statement"])]
    granted = {(a, r["Fn::Sub"]) for st in statements for a in as_list(st["Action"]) for r in as_list(st["Resource"])}
    prefix = "arn:${AWS::Partition}:s3:::${AssetsBucket}/"
    assert granted == {("s3:GetObject", prefix + "*/master"), ("s3:PutObject", prefix + "*/renditions/*")}
    # The keys services/renditions.py uses for a rendition and its input.
    assert fnmatch.fnmatchcase(prefix + "c-x/a-y/renditions/mp4-h264-720p.mp4", prefix + "*/renditions/*")
    assert fnmatch.fnmatchcase(prefix + "c-x/a-y/master", prefix + "*/master")


def test_only_transcode_function_submits_jobs_and_passes_only_the_mediaconvert_role(resources: dict[str, Any]) -> None:
    statements = _if_statements(props(resources, "TranscodeFunction")["Policies"], "UseMediaConvert")
    by_action = {a: st for st in statements for a in as_list(st["Action"])}
    assert set(by_action) == {"mediaconvert:CreateJob", "mediaconvert:CancelJob", "iam:PassRole"}
    assert by_action["mediaconvert:CreateJob"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:mediaconvert:${AWS::Region}:${AWS::AccountId}:queues/Default"}
    assert by_action["mediaconvert:CancelJob"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:mediaconvert:${AWS::Region}:${AWS::AccountId}:jobs/*"}
    passing = by_action["iam:PassRole"]
    assert passing["Resource"] == {"Fn::GetAtt": ["MediaConvertRole", "Arn"]}
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "mediaconvert.amazonaws.com"}}
    for function in FUNCTIONS:
        if function != "TranscodeFunction":
            text = json.dumps(props(resources, function)["Policies"])
            assert "mediaconvert:" not in text and "iam:PassRole" not in text, function


def test_job_state_changes_of_this_stack_reach_the_events_function(resources: dict[str, Any]) -> None:
    function = props(resources, "MediaConvertEventsFunction")
    assert "Layers" not in function  # thin: no PyAV, no libvips
    [event] = function["Events"].values()
    assert event["Type"] == "EventBridgeRule"
    assert event["Properties"]["Pattern"] == {
        "source": ["aws.mediaconvert"], "detail-type": ["MediaConvert Job State Change"],
        "detail": {"status": ["COMPLETE", "ERROR", "CANCELED"],
                   "userMetadata": {"openipsStack": [{"Ref": "AWS::StackName"}]}}}
    assert function["Environment"]["Variables"]["OPENIPS_STACK_NAME"] == {"Ref": "AWS::StackName"}
    statements = _statements(function["Policies"])
    granted = {(a, r["Fn::Sub"]) for st in statements for a in as_list(st["Action"]) for r in as_list(st["Resource"])}
    assert granted == {("s3:GetObject", "arn:${AWS::Partition}:s3:::${AssetsBucket}/*/renditions/*")}


def test_a_failed_mediaconvert_event_is_kept_in_a_dlq_that_alarms(resources: dict[str, Any]) -> None:
    dlq_arn = {"Fn::GetAtt": ["MediaConvertEventsDLQ", "Arn"]}
    names = ("MediaConvertEventsDLQ", "MediaConvertEventsDLQPolicy", "MediaConvertEventsDLQAlarm")
    assert {resources[n]["Condition"] for n in (*names, "MediaConvertEventsFunction")} == {"UseMediaConvert"}
    assert props(resources, "MediaConvertEventsDLQ")["MessageRetentionPeriod"] == 1209600
    function = props(resources, "MediaConvertEventsFunction")
    # The function's failures past Lambda's retries (asynchronous invocation) ...
    assert function["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": dlq_arn}
    # ... and the events EventBridge could not hand over, after its retry policy, land in one queue.
    [event] = function["Events"].values()
    assert event["Properties"]["DeadLetterConfig"] == {"Arn": dlq_arn}
    retry = event["Properties"]["RetryPolicy"]
    assert retry == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}  # the maximums SAM allows
    # EventBridge sends with its own identity: the queue admits it for this rule only.
    policy = props(resources, "MediaConvertEventsDLQPolicy")
    assert policy["Queues"] == [{"Ref": "MediaConvertEventsDLQ"}]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert (statement["Principal"], statement["Action"], statement["Resource"]) == (
        {"Service": "events.amazonaws.com"}, "sqs:SendMessage", dlq_arn)
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["MediaConvertEventsFunctionJobStateChange", "Arn"]}}}
    alarm = props(resources, "MediaConvertEventsDLQAlarm")
    assert (alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible", 0, "GreaterThanThreshold")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["MediaConvertEventsDLQ", "QueueName"]}}]
