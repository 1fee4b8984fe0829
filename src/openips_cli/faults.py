"""Fault injection for the local stack: a fraction of the functions' AWS calls fail the way AWS fails them.

Switched on by ``OPENIPS_FAULTS`` in the environment of ``openips local up``; its worker
processes (the Lambda containers, ``local.invoke``) install it before they import a handler::

    OPENIPS_FAULTS="dynamodb:throttle:0.1,s3:503:0.05,sqs:500:0.05" openips local up

A rule is ``<service>[.<Operation>][@<text>]:<kind>:<rate>[:<limit>]``:

* ``service``: the botocore service id (``dynamodb``, ``s3``, ``sqs``, ``ses``);
  ``.Operation`` narrows it to one API operation (``sqs.SendMessage``), ``@text`` to the
  requests whose URL or body contains ``text`` (``@JobEventsQueue``).
* ``kind``, answered as AWS answers it (status, error code, body in the service's protocol):

  ===============  ==========================================================================
  ``throttle``     DynamoDB 400 ``ThrottlingException``
  ``provisioned``  DynamoDB 400 ``ProvisionedThroughputExceededException``
  ``500``          500: DynamoDB ``InternalServerError``, S3 ``InternalError``, SQS ``InternalFailure``
  ``503``          503: S3 ``SlowDown``, others ``ServiceUnavailable``
  ``500after``     the request *is applied*, then its answer is lost as a 500 (AWS's "the request
                   may or may not have succeeded"); DynamoDB's ``ClientRequestToken`` idempotency
                   of ``TransactWriteItems``, which moto lacks, is emulated for the retry
  ``drop``         ``sqs.SendMessage`` only: a success answer, and nothing sent (a lost message)
  ===============  ==========================================================================

* ``rate``: the probability that one HTTP attempt fails. Faults are injected at
  ``before-send``, below botocore's retry handler, so its own retries (10 attempts for
  DynamoDB, 5 for the others in legacy mode) absorb most of them, as they would on AWS.
* ``limit``: at most this many firings of the rule across the whole stack (every worker
  process), counted with marker files in ``OPENIPS_FAULTS_DIR``; without that directory, per process.

``OPENIPS_FAULTS_SEED`` seeds each process's draws (mixed with its PID, so that the workers
do not fail in lockstep). Each firing is appended to ``OPENIPS_FAULTS_DIR/fired.log``
(``pid service operation kind``), so a load run can report how many faults it injected.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import uuid
from dataclasses import dataclass
from typing import Any

ENV_RULES = "OPENIPS_FAULTS"
ENV_SEED = "OPENIPS_FAULTS_SEED"
ENV_DIR = "OPENIPS_FAULTS_DIR"
FIRED_LOG = "fired.log"

# (status, error code, message) per service and kind, as AWS documents them.
_ERRORS: dict[tuple[str, str], tuple[int, str, str]] = {
    ("dynamodb", "throttle"): (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    ("dynamodb", "provisioned"): (
        400, "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API."),
    ("dynamodb", "500"): (500, "InternalServerError", "Internal server error"),
    ("dynamodb", "503"): (503, "ServiceUnavailable", "Service unavailable"),
    ("s3", "500"): (500, "InternalError", "We encountered an internal error. Please try again."),
    ("s3", "503"): (503, "SlowDown", "Please reduce your request rate."),
    ("sqs", "500"): (500, "InternalFailure", "The request processing has failed because of an unknown error."),
    ("sqs", "503"): (503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."),
    ("ses", "500"): (500, "InternalFailure", "The request processing has failed because of an unknown error."),
    ("ses", "503"): (503, "ServiceUnavailable", "Service unavailable"),
}
# The wire format of each service's errors (botocore parses them by the service's protocol).
_PROTOCOL = {"dynamodb": "json", "sqs": "json", "s3": "rest-xml", "ses": "query"}
_JSON_NAMESPACE = {"dynamodb": "com.amazonaws.dynamodb.v20120810", "sqs": "com.amazonaws.sqs"}
KINDS = ("throttle", "provisioned", "500", "503", "500after", "drop")


class FaultSpecError(ValueError):
    """``OPENIPS_FAULTS`` does not parse: the stack refuses to start half-configured."""


@dataclass(frozen=True)
class Rule:
    index: int
    service: str
    operation: str | None
    match: str | None
    kind: str
    rate: float
    limit: int | None

    def applies(self, service: str, operation: str, url: str, body: Any) -> bool:
        if service != self.service or (self.operation and operation != self.operation):
            return False
        if self.match is None:
            return True
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body if isinstance(body, str) else ""
        return self.match in url or self.match in text


def parse(spec: str) -> list[Rule]:
    """``"dynamodb:throttle:0.1,sqs.SendMessage@JobEventsQueue:drop:1:1"`` → rules."""
    rules = []
    for index, part in enumerate(p.strip() for p in spec.split(",") if p.strip()):
        fields = part.split(":")
        if len(fields) not in (3, 4):
            raise FaultSpecError(f"{part!r}: expected <service>[.<Operation>][@<text>]:<kind>:<rate>[:<limit>]")
        target, kind, rate_text = fields[:3]
        target, _, match = target.partition("@")
        service, _, operation = target.partition(".")
        service = service.lower()
        try:
            rate = float(rate_text)
            limit = int(fields[3]) if len(fields) == 4 else None
        except ValueError as exc:
            raise FaultSpecError(f"{part!r}: rate must be a number and limit an integer") from exc
        if service not in _PROTOCOL:
            raise FaultSpecError(f"{part!r}: service must be one of {sorted(_PROTOCOL)}")
        if kind not in KINDS or (kind not in ("500after", "drop") and (service, kind) not in _ERRORS):
            raise FaultSpecError(f"{part!r}: {service} has no fault kind {kind!r}")
        if kind == "drop" and (service, operation) != ("sqs", "SendMessage"):
            raise FaultSpecError(f"{part!r}: drop applies to sqs.SendMessage only")
        if not 0 <= rate <= 1 or (limit is not None and limit < 0):
            raise FaultSpecError(f"{part!r}: rate must be within 0..1 and limit >= 0")
        rules.append(Rule(index, service, operation or None, match or None, kind, rate, limit))
    return rules


class _Body:
    """The ``raw`` of a made-up ``AWSResponse``: what botocore reads a body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any):
        yield self._data

    def read(self, *_: Any, **__: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def error_response(service: str, status: int, code: str, message: str, url: str, method: str = "POST"):
    """An ``AWSResponse`` carrying the error exactly as the service would put it on the wire."""
    from botocore.awsrequest import AWSResponse

    request_id = uuid.uuid4().hex.upper()
    headers = {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id}
    protocol = _PROTOCOL[service]
    if protocol == "json":
        headers["Content-Type"] = "application/x-amz-json-1.0"
        if service == "sqs":  # SQS speaks JSON but keeps its query-era codes in this header
            headers["x-amzn-query-error"] = f"{code};{'Sender' if status < 500 else 'Receiver'}"
        body = json.dumps({"__type": f"{_JSON_NAMESPACE[service]}#{code}", "message": message}).encode()
    elif protocol == "rest-xml":
        headers["Content-Type"] = "application/xml"
        # A HEAD answer has no body; botocore then names the error after the status.
        body = b"" if method == "HEAD" else (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{request_id}</RequestId><HostId>openips-faults</HostId></Error>").encode()
    else:
        headers["Content-Type"] = "text/xml"
        body = (f'<ErrorResponse><Error><Type>{"Sender" if status < 500 else "Receiver"}</Type><Code>{code}</Code>'
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>").encode()
    headers["Content-Length"] = str(len(body))
    return AWSResponse(url, status, headers, _Body(body))


def _ok_response(url: str, payload: dict):
    from botocore.awsrequest import AWSResponse

    body = json.dumps(payload).encode()
    return AWSResponse(url, 200, {"Content-Type": "application/x-amz-json-1.0", "Content-Length": str(len(body)),
                                  "x-amzn-RequestId": uuid.uuid4().hex}, _Body(body))


class Injector:
    """The ``before-send`` handler: decides per HTTP attempt whether AWS "fails" it."""

    def __init__(self, rules: list[Rule], seed: str, state_dir: str | None) -> None:
        self.rules = rules
        self.random = random.Random(f"{seed}-{os.getpid()}")
        self.state_dir = state_dir
        self.lock = threading.Lock()
        self.fired_here: dict[int, int] = {}
        self.lost_tokens: set[str] = set()  # TransactWriteItems applied whose answer we "lost"
        self._http = None

    def __call__(self, request: Any, event_name: str = "", **_: Any) -> Any:
        _, _, rest = event_name.partition(".")
        service, _, operation = rest.partition(".")
        body = request.body
        token = _transact_token(operation, body)
        if token is not None and token in self.lost_tokens:
            # DynamoDB answers a retried TransactWriteItems with the same ClientRequestToken
            # with success, without applying it again (moto would apply it twice).
            self.lost_tokens.discard(token)
            return _ok_response(request.url, {})
        for rule in self.rules:
            if not rule.applies(service, operation, request.url, body):
                continue
            with self.lock:
                hit = self.random.random() < rule.rate and self._take(rule)
            if not hit:
                continue
            self._record(service, operation, rule.kind)
            return self._fail(rule, service, request, token)
        return None

    def _fail(self, rule: Rule, service: str, request: Any, token: str | None) -> Any:
        if rule.kind == "drop":
            sent = json.loads(request.body).get("MessageBody", "")
            checksum = hashlib.md5(sent.encode()).hexdigest()  # noqa: S324 - SQS's own checksum of the body
            return _ok_response(request.url, {"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": checksum})
        if rule.kind == "500after":
            if self._send_for_real(request) == 200 and token is not None:
                # Only a transaction that succeeded is remembered under its token: a cancelled one
                # is run again by its retry, on AWS as here.
                self.lost_tokens.add(token)
            status, code, message = _ERRORS.get((service, "500"), (500, "InternalFailure", "Internal error"))
        else:
            status, code, message = _ERRORS[(service, rule.kind)]
        return error_response(service, status, code, message, request.url, request.method)

    def _send_for_real(self, request: Any) -> int:
        """Send ``request`` to the service and throw its answer away; the answer's status."""
        from botocore.httpsession import URLLib3Session

        with self.lock:
            if self._http is None:
                self._http = URLLib3Session(timeout=60)
        response = self._http.send(request)
        response.content  # noqa: B018 - read it all, so the connection goes back to the pool
        return response.status_code

    def _take(self, rule: Rule) -> bool:
        """Whether the rule may fire once more (its limit counts firings across processes)."""
        if rule.limit is None:
            return True
        if self.state_dir is None:
            used = self.fired_here.get(rule.index, 0)
            self.fired_here[rule.index] = used + 1
            return used < rule.limit
        for slot in range(rule.limit):
            try:
                os.close(os.open(os.path.join(self.state_dir, f"limit-{rule.index}-{slot}"),
                                 os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                return True
            except FileExistsError:
                continue
        return False

    def _record(self, service: str, operation: str, kind: str) -> None:
        if self.state_dir is None:
            return
        # One short O_APPEND write per line: lines from several processes never interleave.
        with open(os.path.join(self.state_dir, FIRED_LOG), "a") as log:
            log.write(f"{os.getpid()} {service} {operation} {kind}\n")


def _transact_token(operation: str, body: Any) -> str | None:
    if operation != "TransactWriteItems" or not isinstance(body, (bytes, str)):
        return None
    try:
        return json.loads(body).get("ClientRequestToken")
    except ValueError:
        return None


_installed: Injector | None = None
_install_lock = threading.Lock()


def install_from_env(environ: dict[str, str] | None = None) -> Injector | None:
    """Install the rules of ``OPENIPS_FAULTS`` in this process, once; None when it is not set.

    A botocore client copies its session's event handlers when it is created, so the hook
    goes where every client of the functions comes from: boto3's default session (which
    ``boto3.client``/``boto3.resource`` in ``services/deps.py`` and ``adapters/`` use), and
    botocore's built-in handlers, which every session created later (a new default session,
    a ``boto3.session.Session()``) starts with. Clients built before this call are not hooked:
    ``local.invoke`` calls it before it imports a handler.
    """
    global _installed
    env = os.environ if environ is None else environ
    spec = env.get(ENV_RULES, "").strip()
    if not spec:
        return None
    with _install_lock:
        if _installed is None:
            import boto3
            from botocore.handlers import BUILTIN_HANDLERS

            injector = Injector(parse(spec), env.get(ENV_SEED, "0"), env.get(ENV_DIR) or None)
            if boto3.DEFAULT_SESSION is not None:
                boto3.DEFAULT_SESSION.events.register("before-send", injector)
            BUILTIN_HANDLERS.append(("before-send", injector))
            _installed = injector
        return _installed


def fired(state_dir: str) -> list[tuple[str, str, str]]:
    """``(service, operation, kind)`` of every fault injected so far (from ``fired.log``)."""
    path = os.path.join(state_dir, FIRED_LOG)
    if not os.path.exists(path):
        return []
    with open(path) as log:
        return [tuple(line.split()[1:4]) for line in log if len(line.split()) == 4]  # type: ignore[misc]
