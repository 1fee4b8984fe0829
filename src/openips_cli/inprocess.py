"""Drive the real Lambda handlers in this process, the way Lambda would.

The API handler gets API Gateway HTTP API v2 events; the processing and finalize
handlers get the SQS messages that S3 notifications and the job-events queue really
hold (moto in-process here, or any SQS endpoint).
"""

from __future__ import annotations

import base64
import importlib
import io
import json
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import boto3
import requests

from openips_cli.provision import HttpRoute, Resources, http_routes, load_template, route_for


def import_handler(path: str) -> Any:
    """``openips.handlers.api.lambda_handler`` → the function, as Lambda resolves ``Handler``."""
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


@lru_cache(maxsize=1)
def _routes() -> list[HttpRoute]:
    return http_routes(load_template())


@dataclass
class LambdaContext:
    function_name: str = "openips-local"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:openips-local"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@dataclass
class ApiResponse:
    status: int
    body: Any

    @property
    def fault_code(self) -> int | None:
        return self.body.get("fault", {}).get("code") if isinstance(self.body, dict) else None


# Bodies API Gateway hands over as text; anything else arrives base64-encoded (isBase64Encoded).
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-www-form-urlencoded")


def event_body(data: bytes, content_type: str) -> tuple[str | None, bool]:
    """``(body, isBase64Encoded)`` as API Gateway passes ``data``: UTF-8 text as is, anything else base64."""
    if not data:
        return None, False
    if content_type.lower().startswith(TEXT_TYPES):
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(data).decode("ascii"), True


def http_api_event(method: str, path: str, headers: dict[str, str], query: dict[str, str] | None,
                   body: str | None, source_ip: str, is_base64: bool = False, raw_query: str | None = None) -> dict:
    """An API Gateway HTTP API (payload 2.0) event, as the ``ANY /{proxy+}`` route sends it.

    ``raw_query``: the query as the client sent it (``rawQueryString``), when there was one: Image
    Serving's modifiers are read from it, in order, with their commas and ``$preset$`` names unencoded.
    """
    return {
        "version": "2.0", "routeKey": "ANY /{proxy+}", "rawPath": path,
        "rawQueryString": raw_query if raw_query is not None else urlencode(query or {}), "headers": headers,
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "localhost", "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": headers.get("user-agent", "")},
            "requestId": "local", "routeKey": "ANY /{proxy+}", "stage": "$default",
            "time": "", "timeEpoch": 0,
        },
        "pathParameters": {"proxy": path.lstrip("/")},
        "body": body, "isBase64Encoded": is_base64,
    }


def invoke_route(route: HttpRoute, event: dict, context: Any) -> dict:
    """What API Gateway does with a request a route takes: its Lambda authorizer first (simple
    responses, nothing cached), the verdict's context in ``requestContext.authorizer.lambda``, then
    the route's function."""
    if route.authorizer:
        request = {key: event.get(key) for key in ("version", "routeKey", "rawPath", "rawQueryString", "headers",
                                                   "queryStringParameters", "requestContext", "pathParameters")}
        request |= {"type": "REQUEST", "identitySource": [],
                    "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:local/$default/{route.method}{route.path}"}
        verdict = import_handler(route.authorizer)(request, LambdaContext(function_name="AuthorizerFunction"))
        if not verdict.get("isAuthorized"):
            return {"statusCode": 403, "headers": {"content-type": "application/json"},
                    "body": '{"message":"Forbidden"}'}
        event = {**event, "requestContext": {**event["requestContext"],
                                             "authorizer": {"lambda": verdict.get("context") or {}}}}
    return import_handler(route.handler)(event, context)


def sqs_lambda_event(messages: list[dict], queue_arn: str) -> dict:
    """The event an SQS event source mapping hands to a function for received messages."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "us-east-1"} for m in messages]}


@dataclass
class InProcessStack:
    resources: Resources
    key: str
    context: LambdaContext = field(default_factory=LambdaContext)

    def call(self, method: str, path: str, body: Any = None, key: str | None = "default",
             query: dict[str, str] | None = None, source_ip: str = "203.0.113.7",
             raw_body: str | None = None) -> ApiResponse:
        result = self.invoke(method, path, body, key, query, source_ip, raw_body)
        return ApiResponse(result["statusCode"], json.loads(result.get("body") or "null"))

    def invoke(self, method: str, path: str, body: Any = None, key: str | None = "default",
               query: dict[str, str] | None = None, source_ip: str = "203.0.113.7",
               raw_body: str | None = None, raw_query: str | None = None,
               headers: dict[str, str] | None = None) -> dict:
        """``call``'s request, answered as API Gateway gets it from the function (binary bodies base64)."""
        sent = {"content-type": "application/json", **(headers or {})}
        token = self.key if key == "default" else key
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        if raw_query is not None and query is None:
            query = dict(parse_qsl(raw_query, keep_blank_values=True)) or None
        event = http_api_event(method, path, sent, query, text, source_ip, raw_query=raw_query)
        route = route_for(_routes(), method, path)
        if route is None:  # what API Gateway answers
            return {"statusCode": 404, "headers": {"content-type": "application/json"}, "body": '{"message":"Not Found"}'}
        return invoke_route(route, event, self.context)

    @staticmethod
    def post_file(upload: dict, relative: str, data: bytes) -> requests.Response:
        """POST one file to the presigned form, as a browser or the client would."""
        fields = dict(upload["fields"])
        fields["key"] = upload["keyPrefix"] + relative
        return requests.post(upload["url"], data=fields,
                             files={"file": (relative.rsplit("/", 1)[-1], io.BytesIO(data))}, timeout=60)

    def receive(self, queue: str, max_messages: int = 10) -> list[dict]:
        return boto3.client("sqs").receive_message(
            QueueUrl=self.resources.names[queue], MaxNumberOfMessages=max_messages,
            AttributeNames=["All"]).get("Messages", [])

    def drain(self, rounds: int = 50) -> dict[str, list]:
        """Feed queued messages to the processing (files, videos, renditions) and finalize handlers until the
        queues are empty.

        Messages a handler reports as failed stay in flight (as on AWS, until their
        visibility timeout); the result lists their IDs per queue. ``TranscodeQueue`` is in the
        result only when one of its messages failed, so the callers' three-queue comparisons hold.
        """
        from openips.handlers import finalize_job, process_file, process_media, transcode

        failures: dict[str, list] = {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
        sqs = boto3.client("sqs")
        for _ in range(rounds):
            moved = False
            for queue, handler in (("ProcessQueue", process_file), ("MediaQueue", process_media),
                                   ("TranscodeQueue", transcode), ("JobEventsQueue", finalize_job)):
                messages = self.receive(queue)
                if not messages:
                    continue
                moved = True
                result = handler.lambda_handler(sqs_lambda_event(messages, self.resources.arns[queue]), self.context)
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
                if failed or queue != "TranscodeQueue":
                    failures[queue] = failures.get(queue, []) + sorted(failed)
                for m in messages:
                    if m["MessageId"] not in failed:
                        sqs.delete_message(QueueUrl=self.resources.names[queue], ReceiptHandle=m["ReceiptHandle"])
            if not moved:
                break
        return failures

    def job_log(self, job: str, **query: str) -> dict:
        response = self.call("GET", f"/v1/jobs/{job}/log-details", query=query or None)
        if response.status != 200:
            raise RuntimeError(f"log-details failed: {response.body}")
        return response.body["jobLogArray"][0]
