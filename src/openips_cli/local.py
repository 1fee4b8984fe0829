"""``openips local up``: the whole stack on one machine, no AWS account, no Docker.

* moto in server mode holds S3, SQS, DynamoDB and SES on loopback;
* every table, index, queue, redrive policy, bucket and bucket notification is created
  by reading ``template.yaml`` (``provision``), as are the functions' environment, their
  SQS event source mappings (batch size, window, filter) and their schedules;
* an S3 front before moto makes presigned POST forms behave like S3 (policy, signature,
  expiry, XML errors) and records each uploader's IP;
* an HTTP server turns requests into API Gateway HTTP API v2 events for the real
  ``ApiFunction`` handler;
* pollers hand SQS batches to the real processing and finalize handlers the way Lambda
  event source mappings do (partial batch failures, redrive to the DLQ after
  ``maxReceiveCount``), on a small worker pool; the sweeper runs on its schedule.

Differences from AWS are listed in README.md ("How local differs from AWS").
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import signal
import socket
import threading
import time
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import boto3

from openips_cli.inprocess import (
    LambdaContext,
    event_body,
    http_api_event,
    import_handler,
    invoke_route,
    sqs_lambda_event,
)
from openips_cli.provision import (
    Resources,
    SqsMapping,
    function_environment,
    http_routes,
    load_template,
    message_passes,
    provision,
    route_for,
    schedules,
    sqs_mappings,
)

log = logging.getLogger("openips.local")

ACCESS_KEY = "openips-local"
REGION = "us-east-1"
MAX_API_BODY = 1024 * 1024
# The IPS wire routes (UploadFile carries files): no API Gateway or Lambda cap here, only this one
# against running out of memory (docs/ips-compatibility.md "Limits").
MAX_WIRE_BODY = 1024 * 1024 * 1024
_API_LOCK = threading.Lock()
RETRY_BACKOFF_MAX = 30  # seconds; AWS would wait the queue's visibility timeout (90 min)
LOCAL_FILE_LEASE_SECONDS = 120
# On stop, invocations in flight get this long to finish; then their workers are ended (their messages
# would be retried on AWS; here the state ends with the process anyway), so Ctrl-C always returns.
SHUTDOWN_GRACE_SECONDS = 20.0
SENDER_EMAIL = "openips@openips.local"  # verified in moto's SES; `openips local mail` shows what it sent


def invoke(handler: str, event: dict, context: LambdaContext) -> Any:
    """Run one invocation in a worker process: the worker is this stack's Lambda container.

    Handlers keep per-invocation state in module singletons (Powertools' batch processor,
    logger keys, the resolver's current event), exactly as Lambda allows: one invocation at a
    time per container. Threads would share that state, so workers are processes.
    """
    from openips_cli.faults import install_from_env

    install_from_env()  # OPENIPS_FAULTS: some AWS calls fail as on AWS (faults.py); before any client exists
    return import_handler(handler)(event, context)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class UploadIps:
    """Client IPs of uploads seen by the S3 front, for the events moto sends without them."""

    by_key: dict[tuple[str, str], str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, bucket: str, key: str, ip: str) -> None:
        with self.lock:
            self.by_key[(bucket, key)] = ip

    def enrich(self, body: str) -> str:
        """Add ``requestParameters.sourceIPAddress`` to S3 records, as AWS sends it."""
        try:
            data = json.loads(body)
        except ValueError:
            return body
        for record in data.get("Records", []) if isinstance(data, dict) else []:
            s3 = record.get("s3", {})
            key = unquote_plus(s3.get("object", {}).get("key", ""))
            ip = self.by_key.get((s3.get("bucket", {}).get("name", ""), key))
            if ip and "sourceIPAddress" not in record.get("requestParameters", {}):
                record.setdefault("requestParameters", {})["sourceIPAddress"] = ip
        return json.dumps(data)


class Poller(threading.Thread):
    """One SQS event source mapping: receive, filter, invoke, delete or retry."""

    def __init__(self, stack: LocalStack, mapping: SqsMapping, pool: ThreadPoolExecutor, slots: int) -> None:
        super().__init__(name=f"poll-{mapping.function}", daemon=True)
        self.stack = stack
        self.mapping = mapping
        self.pool = pool
        self.slots = threading.Semaphore(slots)
        self.url = stack.resources.names[mapping.queue]
        self.arn = stack.resources.arns[mapping.queue]
        self.sqs = boto3.client("sqs")

    def run(self) -> None:
        while not self.stack.stopping.is_set():
            if not self.slots.acquire(timeout=0.5):
                continue
            try:
                messages = self._receive()
            except Exception:  # noqa: BLE001 - moto shutting down or a hiccup: keep polling
                log.exception("receive failed on %s", self.mapping.queue)
                self.slots.release()
                time.sleep(1)
                continue
            if not messages:
                self.slots.release()
                continue
            future = self.pool.submit(self._invoke, messages)
            future.add_done_callback(lambda _f: self.slots.release())

    def _receive(self) -> list[dict]:
        response = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=min(self.mapping.batch_size, 10),
            WaitTimeSeconds=1, AttributeNames=["All"])
        messages = []
        for message in response.get("Messages", []):
            # Lambda deletes messages that its filter criteria do not admit.
            if message_passes(self.mapping.filters, message["Body"]):
                messages.append(message)
            else:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    def _invoke(self, messages: list[dict]) -> None:
        for message in messages:
            message["Body"] = self.stack.upload_ips.enrich(message["Body"])
        try:
            result = self.stack.run_function(self.mapping.handler, sqs_lambda_event(messages, self.arn),
                                             LambdaContext(function_name=self.mapping.function)) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:  # noqa: BLE001 - a crashed invocation fails its whole batch, as on Lambda
            log.exception("%s failed", self.mapping.function)
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failed:
                receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"],
                                                   VisibilityTimeout=min(2 ** receives, RETRY_BACKOFF_MAX))
            else:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


class ApiRequestHandler(BaseHTTPRequestHandler):
    """HTTP → API Gateway HTTP API v2 event → the real ``ApiFunction`` handler."""

    protocol_version = "HTTP/1.1"
    server_version = "openips-local"

    def _handle(self) -> None:
        lengths = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        if "Transfer-Encoding" in self.headers or len(lengths) > 1 or not all(
                re.fullmatch(r"[0-9]{1,19}", value) for value in lengths):
            # A negative, non-numeric or doubled length cannot bound the body: refused, connection closed.
            self.close_connection = True
            self._send(400, {"content-type": "application/json"}, '{"message":"Bad Request"}')
            return
        length = int(lengths.pop()) if lengths else 0
        url = urlsplit(self.path)
        # API Gateway refuses payloads over 10 MB; ours are small, but for /scene7's files.
        if length > (MAX_WIRE_BODY if url.path.startswith("/scene7/") else MAX_API_BODY):
            self._send(413, {"content-type": "application/json"},
                       json.dumps({"fault": {"type": "ipsApiFault", "code": 30003, "reason": "Request too large"}}))
            return
        body, is_base64 = event_body(self.rfile.read(length) if length else b"", self.headers.get("Content-Type", ""))
        query: dict[str, str] = {}
        for key, value in parse_qsl(url.query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value  # HTTP API joins repeats
        headers = {k.lower(): v for k, v in self.headers.items()}
        event = http_api_event(self.command, url.path, headers, query or None, body, self.client_address[0],
                               is_base64, raw_query=url.query)
        route = route_for(self.server.routes, self.command, url.path)  # type: ignore[attr-defined]
        if route is None:
            self._send(404, {"content-type": "application/json"}, '{"message":"Not Found"}')
            return
        # One request at a time, as in one Lambda container: the resolver keeps the
        # current request in module state.
        with _API_LOCK:
            result = invoke_route(route, event, LambdaContext(function_name=route.function))
        self._send(result["statusCode"], result.get("headers") or {}, result.get("body") or "",
                   bool(result.get("isBase64Encoded")))

    def _send(self, status: int, headers: dict[str, str], body: str, is_base64: bool = False) -> None:
        # As API Gateway does: a binary answer (gzipped SOAP, an image) comes from the function base64-encoded.
        data = base64.b64decode(body) if is_base64 else body.encode()
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("api %s", format % args)


def page_origins(host: str, port: int) -> list[str]:
    """The origins a browser gives the upload page served on ``host:port`` (loopback by both names)."""
    hosts = ["127.0.0.1", "localhost"] if host in ("127.0.0.1", "localhost") else [host]
    return [f"http://[{h}]:{port}" if ":" in h else f"http://{h}:{port}" for h in hosts]


class LocalStack:
    def __init__(self, port: int = 3000, state_dir: Path = Path(".openips"), host: str = "127.0.0.1",
                 workers: int = 4, sweep_seconds: int | None = None, template: dict | None = None) -> None:
        self.port = port
        self.state_dir = Path(state_dir)
        self.host = host
        self.workers = workers
        self.sweep_seconds = sweep_seconds
        self.template = template or load_template()
        self.stopping = threading.Event()
        self.upload_ips = UploadIps()
        self.threads: list[threading.Thread] = []
        self.resources = Resources()
        self.info: dict[str, Any] = {}
        # Per run: the S3 front checks signatures, and a key printed in the source would sign for anyone.
        self.secret_key = secrets.token_urlsafe(32)
        self._pool_lock = threading.Lock()
        self._retired_pools: list[ProcessPoolExecutor] = []
        self._running: set[Future] = set()  # invocations in the worker processes, for a bounded stop

    def start(self) -> dict[str, Any]:
        from moto.server import ThreadedMotoServer

        from openips_cli.moto_atomic import make_atomic
        from openips_cli.s3front import S3Front

        os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=self.secret_key,
                          AWS_DEFAULT_REGION=REGION, POWERTOOLS_TRACE_DISABLED="true",
                          POWERTOOLS_METRICS_DISABLED="true")
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        # moto checks no signature: it listens on loopback whatever --host says, behind the S3 front.
        moto_port = free_port("127.0.0.1")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log: a line per request, URL and all
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
        self.moto.start()
        make_atomic(self.moto)  # moto is not thread-safe: one request at a time per service, as atomic as AWS
        moto_url = f"http://127.0.0.1:{moto_port}"
        os.environ["AWS_ENDPOINT_URL"] = moto_url  # every boto3 client of the functions goes to moto
        self.s3_front = S3Front(moto_url, {ACCESS_KEY: self.secret_key}, region=REGION, host=self.host,
                                on_accept=self.upload_ips.record)
        s3_url = self.s3_front.start()

        # Bound before the bucket's CORS rule is written: the rule names the page's origin, port and all.
        self.api = ThreadingHTTPServer((self.host, self.port), ApiRequestHandler)
        self.api.daemon_threads = True
        self.api.routes = http_routes(self.template)  # type: ignore[attr-defined]
        self.port = self.api.server_address[1]
        self.resources = provision(template=self.template, endpoint_url=moto_url, sender_email=SENDER_EMAIL,
                                   parameters={"UploadPageOrigins": ",".join(page_origins(self.host, self.port))})
        os.environ.update(function_environment(self.template, self.resources))
        # Set per function on AWS (IAM decides who may use it); one environment here, as IAM is not emulated.
        os.environ["ACCOUNTS_TABLE"] = self.resources.names["AccountsTable"]
        os.environ["OPENIPS_S3_PUBLIC_ENDPOINT"] = s3_url
        # Local only: mail goes to moto's SES (never further), so it may go to any address; webhooks may
        # call this machine (127.0.0.1, ::1).
        os.environ.update(SENDER_EMAIL=SENDER_EMAIL, MAIL_ALLOWED_DOMAINS="*", WEBHOOK_ALLOW_LOOPBACK="true")
        # No function timeout kills a stuck worker here, so a file's claim needs no 16-minute lease:
        # a killed worker's file is taken over after this (docs: "How local differs from AWS").
        os.environ.setdefault("FILE_LEASE_SECONDS", str(LOCAL_FILE_LEASE_SECONDS))
        from openips.services.deps import get_deps, reset_caches

        reset_caches()
        deps = get_deps()  # build the shared clients here, before any worker thread does
        admin_key, company, key, email = self._bootstrap(deps.companies, deps.accounts)

        os.environ["API_BASE_URL"] = f"http://{self.host}:{self.port}/"  # log links in mails and webhooks
        self._thread(self.api.serve_forever, "api")
        self.lambdas = self._new_pool()
        self.pool = ThreadPoolExecutor(max_workers=self.workers + 2, thread_name_prefix="poller")
        for mapping in sqs_mappings(self.template):
            # Files and videos (MediaFunction) run as many at a time as there are workers.
            slots = self.workers if mapping.function in ("ProcessFileFunction", "MediaFunction") else 1
            poller = Poller(self, mapping, self.pool, slots)
            poller.start()
            self.threads.append(poller)
        for schedule in schedules(self.template):
            self._thread(lambda s=schedule: self._tick(s), f"schedule-{schedule.function}")

        self.info = {"apiUrl": f"http://{self.host}:{self.port}", "pageUrl": f"http://{self.host}:{self.port}/",
                     # Renditions of the company's published assets: <imageUrl><asset ID>?wid=… (docs/delivery.md).
                     "imageUrl": f"http://{self.host}:{self.port}/is/image/{company}/",
                     "s3Url": s3_url, "region": REGION,
                     "adminApiKey": admin_key, "companyHandle": company, "apiKey": key, "userEmail": email,
                     # For looking inside with any AWS client (this run's credentials, loopback only).
                     "awsEndpointUrl": moto_url, "awsAccessKeyId": ACCESS_KEY,
                     "awsSecretAccessKey": self.secret_key, "resources": self.resources.names}
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: readers that wait for the file never see it half written.
        partial = self.state_dir / "local.json.partial"
        partial.unlink(missing_ok=True)
        partial.touch(mode=0o600)  # it holds keys
        partial.write_text(json.dumps(self.info, indent=2))
        os.replace(partial, self.state_dir / "local.json")
        return self.info

    def _bootstrap(self, companies, accounts) -> tuple[str, str, str, str]:
        from openips.models.api import CreateCompanyRequest, CreateUserRequest
        from openips.services import auth

        admin, admin_key = auth.bootstrap_admin(companies, accounts, "admin@openips.local")
        company = auth.create_company(companies, admin, CreateCompanyRequest(name="Local Company"))
        email = "user@openips.local"
        _, key = auth.create_user(companies, accounts, admin, CreateUserRequest(
            company_handle=company.company_handle, email=email, role="IpsCompanyAdmin"))
        return admin_key, company.company_handle, key, email

    def run_function(self, handler: str, event: dict, context: LambdaContext) -> Any:
        """One invocation in a worker process; a worker that died (killed, out of memory) is replaced.

        As on Lambda, the invocation that was running in it fails, and so do the others that
        shared its pool at that moment; their messages are retried like any failed batch.
        """
        if self.stopping.is_set():  # not started before the stop: not in flight (its message would come back)
            raise RuntimeError("the local stack is stopping")
        pool = self.lambdas
        try:
            running = pool.submit(invoke, handler, event, context)
            self._running.add(running)
            running.add_done_callback(self._running.discard)
            return running.result()
        except BrokenProcessPool:
            with self._pool_lock:
                if self.lambdas is pool and not self.stopping.is_set():
                    log.error("a worker process died; starting a new pool of %d workers", self.workers)
                    # Kept referenced: dropping the last reference while the pool's manager thread
                    # tears it down deadlocks that thread on its own lock (and then our shutdown).
                    self._retired_pools.append(pool)
                    self.lambdas = self._new_pool()
            raise

    def _new_pool(self) -> ProcessPoolExecutor:
        # Spawned (not forked): this process runs threads, and each worker must start clean.
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def _thread(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _tick(self, schedule) -> None:
        interval = self.sweep_seconds or schedule.seconds
        while not self.stopping.wait(interval):
            try:
                self.run_function(schedule.handler, {"source": "aws.events", "detail-type": "Scheduled Event"},
                                  LambdaContext(function_name=schedule.function))
            except Exception:  # noqa: BLE001 - a failed tick is retried at the next one
                log.exception("%s failed", schedule.function)

    def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop taking work, give in-flight invocations ``grace`` seconds, end those still running, stop the servers."""
        self.stopping.set()
        for thread in self.threads:
            if isinstance(thread, Poller):
                thread.join(timeout=5)
        if hasattr(self, "lambdas"):
            _, late = futures_wait(set(self._running), timeout=grace)
            if late:
                log.warning("%d invocation(s) still running %.0f s after the stop began: ending their workers",
                            len(late), grace)
                # No public way to end a pool's workers before Python 3.14 (terminate_workers).
                for process in list(getattr(self.lambdas, "_processes", {}).values()):
                    process.terminate()
        if hasattr(self, "pool"):
            # Batches not started yet are dropped; the started ones wait on the invocations above: ended or done.
            self.pool.shutdown(wait=True, cancel_futures=True)
        if hasattr(self, "lambdas"):
            self.lambdas.shutdown(wait=True, cancel_futures=True)
        for retired in self._retired_pools:  # broken pools: their workers are gone already
            retired.shutdown(wait=False, cancel_futures=True)
        if hasattr(self, "api"):
            self.api.shutdown()
            self.api.server_close()
        if hasattr(self, "s3_front"):
            self.s3_front.stop()
        if hasattr(self, "moto"):
            self.moto.stop()
        (self.state_dir / "local.json").unlink(missing_ok=True)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sent_mail(aws_endpoint_url: str) -> list[dict]:
    """The mails moto's SES accepted, oldest first: ``{id, source, destinations, subject, body}``.

    Read from moto server's model dump (``/moto-api/data.json``).
    """
    import requests

    response = requests.get(f"{aws_endpoint_url.rstrip('/')}/moto-api/data.json", timeout=30)
    response.raise_for_status()
    messages = response.json().get("ses", {}).get("Message", [])
    return [{key: m.get(key) for key in ("id", "source", "destinations", "subject", "body")} for m in messages]


def run(port: int = 3000, state_dir: Path = Path(".openips"), host: str = "127.0.0.1",
        workers: int = 4, sweep_seconds: int | None = None) -> int:
    """Run until SIGINT/SIGTERM; the state lives in memory and ends with the process."""
    logging.basicConfig(level=os.environ.get("OPENIPS_LOCAL_LOG", "WARNING"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    stack = LocalStack(port, state_dir, host, workers, sweep_seconds)
    done = threading.Event()

    def on_signal(*_: object) -> None:
        if done.is_set():  # a second Ctrl-C: no waiting for in-flight work
            print("stopped at once; in-flight work abandoned", flush=True)
            os._exit(130)
        done.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    info = stack.start()
    print(f"openips local stack ready — open the upload page: {info['pageUrl']}", flush=True)
    print(f"  sign in with the apiKey in {state_dir / 'local.json'}", flush=True)
    print(f"  API {info['apiUrl']}  S3 {info['s3Url']}; Ctrl-C stops", flush=True)
    # Published assets are served as Scene7 Image Serving serves them (docs/delivery.md).
    print(f"  images: {info['imageUrl']}<asset ID>?wid=500&fmt=webp", flush=True)
    try:
        done.wait()
    finally:
        print(f"stopping: finishing in-flight work (at most {SHUTDOWN_GRACE_SECONDS:.0f} s; Ctrl-C again to stop at once)…",
              flush=True)
        stack.stop()
    return 0

