"""Create the stack's stateful resources from ``template.yaml`` on any S3/SQS/DynamoDB endpoint.

Used by the integration tests (moto in-process) and the local stack (moto server), so
that tables, indexes, queues, redrive policies, buckets and bucket notifications are
defined once, in the SAM template, and cannot drift.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import boto3
import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
ACCOUNT = "123456789012"
REGION = "us-east-1"


class _TemplateLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation short tags (``!Ref``) into their long form."""


def _intrinsic(loader: _TemplateLoader, suffix: str, node: yaml.Node) -> dict:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict:
    """The template as plain data (a copy the caller may change); parsed once per file version."""
    stat = path.stat()
    return copy.deepcopy(_parsed(path, stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=4)
def _parsed(path: Path, mtime_ns: int, size: int) -> dict:
    # Parsing the YAML costs far more than a copy, and every provisioned test stack needs it.
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass


@lru_cache(maxsize=4)
def _session(credentials: tuple[str | None, str | None]) -> boto3.session.Session:
    # One session per set of credentials, so botocore loads each service model once per process.
    return boto3.session.Session(region_name=REGION)


@dataclass
class Resources:
    """Physical names of what was created, by logical ID."""

    names: dict[str, str] = field(default_factory=dict)  # table / bucket names, queue URLs
    arns: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The environment variables the functions read (as the template's Globals set them)."""
        env = {
            "JOBS_TABLE": self.names["JobsTable"],
            "ACCOUNTS_TABLE": self.names["AccountsTable"],
            "INCOMING_BUCKET": self.names["IncomingBucket"],
            "ASSETS_BUCKET": self.names["AssetsBucket"],
            "JOB_EVENTS_QUEUE_URL": self.names["JobEventsQueue"],
            "PROCESS_QUEUE_URL": self.names["ProcessQueue"],
            "MEDIA_QUEUE_URL": self.names["MediaQueue"],
            "TRANSCODE_QUEUE_URL": self.names["TranscodeQueue"],
        }
        if "NotificationQueue" in self.names:
            env["NOTIFICATION_QUEUE_URL"] = self.names["NotificationQueue"]
        return env


class _Resolver:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.resources.names.get(arg, {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION,
                                                      "AWS::Partition": "aws"}.get(arg, arg))
            if key == "Fn::GetAtt":
                logical, attribute = arg
                if attribute == "Arn":
                    return self.resources.arns[logical]
                if attribute == "QueueName":
                    return self.resources.names[logical].rsplit("/", 1)[-1]
                raise ValueError(f"unsupported GetAtt {logical}.{attribute}")
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value


def _of_type(template: dict, kind: str) -> dict[str, dict]:
    return {name: res.get("Properties", {}) for name, res in template["Resources"].items()
            if res["Type"] == kind}


def provision(prefix: str = "openips", template: dict | None = None,
              endpoint_url: str | None = None, sender_email: str | None = None,
              parameters: Mapping[str, str] | None = None) -> Resources:
    """Create tables, queues (dead-letter queues first) and buckets with their notifications and
    CORS rules.

    ``sender_email`` (the template's ``SenderEmail``) is verified as an SES identity: SES, and
    moto, refuse mail from unverified senders. ``parameters`` override the template's defaults
    (the local stack sets ``UploadPageOrigins`` to its own page's origin).
    """
    template = template or load_template()
    values = {**parameter_defaults(template), **(parameters or {})}
    session = _session((os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")))
    ddb = session.client("dynamodb", endpoint_url=endpoint_url)
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    s3 = session.client("s3", endpoint_url=endpoint_url)
    resources = Resources()
    resolve = _Resolver(resources)

    for logical, props in _of_type(template, "AWS::DynamoDB::Table").items():
        name = f"{prefix}-{logical}"
        spec = {k: props[k] for k in ("KeySchema", "AttributeDefinitions", "BillingMode") if k in props}
        if props.get("GlobalSecondaryIndexes"):
            spec["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        ddb.create_table(TableName=name, **spec)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        resources.names[logical] = name
        resources.arns[logical] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"

    queues = _of_type(template, "AWS::SQS::Queue")
    for logical in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q]):
        props = queues[logical]
        attributes = {key: str(props[key]) for key in ("VisibilityTimeout", "MessageRetentionPeriod",
                                                       "DelaySeconds", "ReceiveMessageWaitTimeSeconds")
                      if key in props}
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(resolve(props["RedrivePolicy"]))
        url = sqs.create_queue(QueueName=f"{prefix}-{logical}", Attributes=attributes)["QueueUrl"]
        resources.names[logical] = url
        resources.arns[logical] = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    buckets = _of_type(template, "AWS::S3::Bucket")
    for logical in buckets:
        name = f"{prefix}-{logical}".lower()
        s3.create_bucket(Bucket=name)
        resources.names[logical] = name
        resources.arns[logical] = f"arn:aws:s3:::{name}"
    for logical, props in buckets.items():
        name = resources.names[logical]
        if props.get("VersioningConfiguration"):
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
        notification = props.get("NotificationConfiguration", {})
        queue_configs = [
            {"QueueArn": resolve(cfg["Queue"]), "Events": [cfg["Event"]],
             **({"Filter": {"Key": {"FilterRules": cfg["Filter"]["S3Key"]["Rules"]}}} if "Filter" in cfg else {})}
            for cfg in notification.get("QueueConfigurations", [])
        ]
        if queue_configs:
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"QueueConfigurations": queue_configs})
        if props.get("CorsConfiguration"):
            s3.put_bucket_cors(Bucket=name, CORSConfiguration=cors_configuration(props["CorsConfiguration"], values))
    if sender_email:
        session.client("ses", endpoint_url=endpoint_url).verify_email_identity(EmailAddress=sender_email)
    return resources


def parameter_defaults(template: dict) -> dict[str, str]:
    return {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}


# CloudFormation's names of a CORS rule's properties → the S3 API's.
_CORS_KEYS = {"Id": "ID", "AllowedMethods": "AllowedMethods", "AllowedOrigins": "AllowedOrigins",
              "AllowedHeaders": "AllowedHeaders", "ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}


def cors_configuration(config: dict, parameters: Mapping[str, str]) -> dict:
    """A bucket's ``CorsConfiguration`` as ``PutBucketCors`` takes it, parameters resolved (a
    ``CommaDelimitedList`` parameter becomes its list)."""
    resolve = _Resolver(Resources(names=dict(parameters)))
    rules = []
    for rule in config["CorsRules"]:
        converted: dict[str, Any] = {}
        for key, value in rule.items():
            value = resolve(value)
            if key in ("AllowedMethods", "AllowedOrigins", "AllowedHeaders", "ExposedHeaders") and isinstance(value, str):
                value = [item.strip() for item in value.split(",") if item.strip()]
            converted[_CORS_KEYS[key]] = int(value) if key == "MaxAge" else value
        rules.append(converted)
    return {"CORSRules": rules}


# ---- what Lambda would do with the template: environments, event sources, filters ----------


@dataclass(frozen=True)
class SqsMapping:
    """An SQS event source mapping of one function, as the template declares it."""

    function: str
    handler: str
    queue: str
    batch_size: int
    window_seconds: int
    filters: tuple[dict, ...]


@dataclass(frozen=True)
class Schedule:
    function: str
    handler: str
    seconds: int


def _functions(template: dict) -> dict[str, dict]:
    return _of_type(template, "AWS::Serverless::Function")


def _queue_logical_id(ref: Any) -> str:
    # Queue: !GetAtt ProcessQueue.Arn → ProcessQueue
    return ref["Fn::GetAtt"][0] if isinstance(ref, dict) else str(ref)


def sqs_mappings(template: dict) -> list[SqsMapping]:
    mappings = []
    for name, props in _functions(template).items():
        for event in props.get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            p = event["Properties"]
            filters = tuple(json.loads(f["Pattern"]) for f in p.get("FilterCriteria", {}).get("Filters", []))
            mappings.append(SqsMapping(name, props["Handler"], _queue_logical_id(p["Queue"]),
                                       int(p.get("BatchSize", 10)), int(p.get("MaximumBatchingWindowInSeconds", 0)),
                                       filters))
    return mappings


_RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def schedules(template: dict) -> list[Schedule]:
    found = []
    for name, props in _functions(template).items():
        for event in props.get("Events", {}).values():
            if event["Type"] != "Schedule":
                continue
            expression = event["Properties"]["Schedule"]  # only rate(...) is used by openips
            amount, unit = expression.removeprefix("rate(").rstrip(")").split()
            found.append(Schedule(name, props["Handler"], int(amount) * _RATE_UNITS[unit]))
    return found


def function_environment(template: dict, resources: Resources) -> dict[str, str]:
    """Globals.Function environment variables with Refs resolved (parameters take their defaults)."""
    resolve = _Resolver(Resources(names={**parameter_defaults(template), **resources.names}, arns=resources.arns))
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return {key: str(resolve(value)) for key, value in variables.items()}


def matches_filter(pattern: Any, value: Any) -> bool:
    """The subset of Lambda event-filtering semantics openips uses: nested keys, lists of
    allowed values (exact or ``{"prefix": …}``); a list in the event matches if any item does."""
    if isinstance(value, list):
        return any(matches_filter(pattern, item) for item in value)
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and matches_filter(sub, value[key]) for key, sub in pattern.items())
    for allowed in pattern:
        if isinstance(allowed, dict) and "prefix" in allowed:
            if isinstance(value, str) and value.startswith(allowed["prefix"]):
                return True
        elif allowed == value:
            return True
    return False


def message_passes(filters: tuple[dict, ...], body: str) -> bool:
    """Whether Lambda would hand an SQS message with ``body`` to the function."""
    if not filters:
        return True
    try:
        parsed = {"body": json.loads(body)}
    except ValueError:
        return False
    return any(matches_filter(f, parsed) for f in filters)


@dataclass(frozen=True)
class HttpRoute:
    """An HttpApi event of a function: which requests API Gateway hands to it."""

    function: str
    handler: str
    method: str  # "ANY" or a verb
    path: str  # "/v1/assets/{assetHandle}/auto-crop-rect", "/{proxy+}"
    authorizer: str | None = None  # the Lambda authorizer's handler, when the route has one

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("ANY", method.upper()):
            return False
        pattern = self.path.strip("/").split("/")
        parts = path.strip("/").split("/")
        for i, segment in enumerate(pattern):
            if segment.endswith("+}"):  # greedy: one or more remaining segments
                return len(parts) > i
            if i >= len(parts) or (not segment.startswith("{") and segment != parts[i]):
                return False
        return len(parts) == len(pattern)

    @property
    def specificity(self) -> tuple[int, int]:
        # API Gateway prefers the most specific route; greedy paths last.
        segments = self.path.strip("/").split("/")
        return (0 if self.path.endswith("+}") else 1, sum(not s.startswith("{") for s in segments))


def http_routes(template: dict) -> list[HttpRoute]:
    functions = _functions(template)
    routes = [HttpRoute(name, props["Handler"], event["Properties"]["Method"].upper(), event["Properties"]["Path"],
                        _authorizer_handler(template, functions, event["Properties"]))
              for name, props in functions.items()
              for event in props.get("Events", {}).values() if event["Type"] == "HttpApi"]
    return sorted(routes, key=lambda r: r.specificity, reverse=True)


def _authorizer_handler(template: dict, functions: dict[str, dict], event: dict) -> str | None:
    """``Auth: Authorizer: X`` on an HttpApi event → the handler of X's function (HttpApi ``Auth.Authorizers``)."""
    name = (event.get("Auth") or {}).get("Authorizer")
    if not name or name == "NONE":
        return None
    api = template["Resources"][event["ApiId"]["Ref"]]["Properties"]
    arn = api["Auth"]["Authorizers"][name]["FunctionArn"]  # !GetAtt AuthorizerFunction.Arn
    return functions[arn["Fn::GetAtt"][0]]["Handler"]


def route_for(routes: list[HttpRoute], method: str, path: str) -> HttpRoute | None:
    return next((route for route in routes if route.matches(method, path)), None)
