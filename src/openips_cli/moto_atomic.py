"""Make the local stack's moto server atomic and isolated per request, as AWS is.

moto's models are plain dicts and lists with (almost) no locks, and ``ThreadedMotoServer``
serves every request on its own thread. Under the local stack's real concurrency (API threads,
pollers, worker processes, the S3 front) that loses writes and hands out wrong answers:

* DynamoDB: ``transact_write_items`` deep-copies every table it touches as a rollback snapshot and,
  when the transaction is cancelled (every conditional transaction whose condition fails),
  puts the snapshot back, erasing whatever other threads wrote meanwhile; the deep copy also
  dies with ``RuntimeError: dictionary changed size during iteration`` and costs O(table size).
  Reads of a range-key table insert empty buckets into ``Table.items`` (a ``defaultdict``) while
  scans and deep copies iterate it.
* SQS: ``receive_message`` checks ``message.visible`` and then marks the message received, with
  no lock in between, so two receivers can get the same message; ``Queue.delete_message``
  rebuilds ``_messages`` from a copy, so of two concurrent deletes one puts back the message the
  other deleted (it is delivered again after its visibility timeout), and a message sent
  meanwhile can be dropped; ``pending_message_groups`` iterates ``pending_messages`` (a set)
  while other threads add to it (``RuntimeError: Set changed size during iteration``, a 500).
* S3: overwriting or deleting a key closes the spooled buffer of the old version while another
  request is still reading it: a ``PutObject``/``CopyObject`` computing the ``ETag`` of the key it
  just stored answers 500 (``ValueError: I/O operation on closed file``) when another write to the
  same key lands in between. ``FakeKey.etag`` also seeks and reads that buffer without the key's
  lock, under a concurrent ``GET``. S3 notifications write to the SQS backend from the S3
  request's thread.

So this module:

1. serialises the requests of each moto service with one lock per service, taken around moto's
   dispatch to that service's Flask app (``DomainDispatcherApplication.create_app``): DynamoDB,
   S3, SQS and SES each run one request at a time, but a long S3 ``GET`` never blocks DynamoDB.
   The request body is read from the socket *before* the lock is taken and the response body
   is materialised *inside* it; ``/moto-api`` requests (state dumps, reset) take every lock.
2. lets SQS long polls wait *without* the SQS lock (``Queue.wait_for_messages``), as on AWS where
   a waiting receiver does not stop senders, and makes S3's notifications to SQS take the SQS lock
   (lock order: S3 then SQS, never the reverse; ``/moto-api`` takes them in the same order).
3. replaces ``transact_write_items``'s whole-table snapshot with an undo log of the items the
   transaction touches: a cancelled transaction restores only those, in reverse order, so it
   changes nothing and undoes nothing of anyone else's, at a cost independent of the table's size.
   Validation, condition checks and ``CancellationReasons`` are moto's own, unchanged (one fix:
   an operation with two actions no longer leaves the writes before it in place).

4. makes ``Query`` refuse an ``ExclusiveStartKey`` outside the query's key conditions with DynamoDB's
   ``ValidationException`` ("The provided starting key is outside query boundaries based on
   provided conditions"), where moto reads on from it: openips turns that error into a refused
   page token (``Table.query_from``). ``patch_query_start_keys()`` installs this one alone, for
   the in-process tests' ``mock_aws``.

``make_atomic(server)`` installs all of it; it raises ``MotoInternalsChanged`` when the moto
internals it relies on are not there (moto is pinned in requirements-dev.txt).
"""

from __future__ import annotations

import copy
import inspect
import io
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

__all__ = ["MotoInternalsChanged", "ServiceLock", "make_atomic", "patch_moto", "patch_query_start_keys",
           "service_lock"]

log = logging.getLogger(__name__)

# The moto release the patches below were written against (the 5.2 line); any other one is
# checked structurally at install time.
TESTED_MOTO = "5.2"

# Backends that share one model: they share one lock.
_LOCK_ALIASES = {"sesv2": "ses", "dynamodb_v20111205": "dynamodb"}
_ALL_SERVICES = "moto_api"  # state dumps and resets read every backend


class MotoInternalsChanged(RuntimeError):
    """The installed moto lacks an internal this module patches: review it before running."""


class ServiceLock:
    """A re-entrant lock that knows its owner, so a long poll can step out of it while it waits."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
            return
        self._lock.acquire()
        self._owner, self._depth = me, 1

    def release(self) -> None:
        if self._owner != threading.get_ident():
            raise RuntimeError(f"{self.name} lock released by a thread that does not hold it")
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()

    def held(self) -> bool:
        return self._owner == threading.get_ident()

    def __enter__(self) -> ServiceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Release completely (whatever the depth) for the block, then take it back."""
        if not self.held():
            yield
            return
        depth = self._depth
        self._owner, self._depth = None, 0
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._owner, self._depth = threading.get_ident(), depth


# The services the stack uses exist from the start, so a /moto-api dump always takes their locks.
_locks: dict[str, ServiceLock] = {name: ServiceLock(name) for name in ("dynamodb", "s3", "ses", "sqs")}
_locks_guard = threading.Lock()


def service_lock(service: str) -> ServiceLock:
    """The process-wide lock of one moto service (moto's backends are process-wide too)."""
    name = _LOCK_ALIASES.get(service, service)
    with _locks_guard:
        lock = _locks.get(name)
        if lock is None:
            lock = _locks[name] = ServiceLock(name)
        return lock


def _every_lock() -> list[ServiceLock]:
    # Sorted by name: "s3" before "sqs", the order an S3 request takes them in (notifications).
    with _locks_guard:
        return [_locks[name] for name in sorted(_locks)]


def _buffer_body(environ: dict[str, Any]) -> None:
    """Read the request body off the socket now, so no lock is held while a client sends it."""
    if environ.get("wsgi.input_terminated"):
        return  # chunked: werkzeug's own stream knows where it ends; moto reads it whole
    try:
        remaining = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if remaining <= 0:
        return
    stream, buffer = environ["wsgi.input"], io.BytesIO()
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 20))
        if not chunk:
            break
        buffer.write(chunk)
        remaining -= len(chunk)
    buffer.seek(0)
    environ["wsgi.input"] = buffer


class SerialisedApp:
    """One moto service's WSGI app, run one request at a time under that service's lock."""

    def __init__(self, service: str, app: Callable[..., Iterable[bytes]]) -> None:
        self.service = service
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        _buffer_body(environ)
        locks = _every_lock() if self.service == _ALL_SERVICES else [service_lock(self.service)]
        with ExitStack() as held:
            for lock in locks:
                held.enter_context(lock)
            result = self.app(environ, start_response)
            try:
                # Materialised under the lock: a lazy body would run moto's code unserialised.
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def make_atomic(server_or_app: Any) -> Any:
    """Serialise the requests of each service of a started ``ThreadedMotoServer`` (or of its
    ``DomainDispatcherApplication``) and install the model patches. Call it before the first
    request; calling it again is harmless. Returns the dispatcher."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    patch_moto()
    dispatcher = server_or_app
    if not isinstance(dispatcher, DomainDispatcherApplication):
        wsgi_server = getattr(server_or_app, "_server", None)
        if wsgi_server is None:
            raise MotoInternalsChanged("make_atomic needs a started ThreadedMotoServer (its _server is not set) "
                                       "or a DomainDispatcherApplication")
        dispatcher = getattr(wsgi_server, "app", None)
    if not isinstance(dispatcher, DomainDispatcherApplication):
        raise MotoInternalsChanged(f"the moto server's WSGI app is {type(dispatcher).__name__}, "
                                   "not moto's DomainDispatcherApplication")
    for attribute in ("create_app", "app_instances", "lock"):
        if not hasattr(dispatcher, attribute):
            raise MotoInternalsChanged(f"DomainDispatcherApplication has no {attribute!r}")
    if getattr(dispatcher, "_openips_atomic", False):
        return dispatcher
    create_app = dispatcher.create_app

    def create_serialised_app(service: str) -> SerialisedApp:
        return SerialisedApp(service, create_app(service))

    with dispatcher.lock:  # the lock moto takes to look up and create the per-service apps
        dispatcher.create_app = create_serialised_app
        for service, app in list(dispatcher.app_instances.items()):
            if not isinstance(app, SerialisedApp):
                dispatcher.app_instances[service] = SerialisedApp(service, app)
        dispatcher._openips_atomic = True
    return dispatcher


# --------------------------------------------------------------------------- model patches

_patched = False
_patch_guard = threading.Lock()


def _require(condition: bool, what: str) -> None:
    if not condition:
        import moto

        raise MotoInternalsChanged(
            f"moto {moto.__version__}: {what}. openips_cli/moto_atomic.py was written against moto "
            f"{TESTED_MOTO}.x (pinned in requirements-dev.txt); review it against this moto.")


def patch_moto() -> None:
    """Install the model patches (process-wide, once). Raises ``MotoInternalsChanged``."""
    global _patched
    with _patch_guard:
        if _patched:
            return
        import moto

        if not moto.__version__.startswith(TESTED_MOTO + "."):
            log.warning("moto %s: openips_cli.moto_atomic was written against moto %s.x; review its "
                        "patches against this version", moto.__version__, TESTED_MOTO)
        _patch_transact_write_items()
        patch_query_start_keys()
        _patch_sqs_long_poll()
        _patch_s3_notifications()
        _patched = True


def _patch_transact_write_items() -> None:
    from moto.dynamodb import models as ddb
    from moto.dynamodb.models.table import Table

    backend = getattr(ddb, "DynamoDBBackend", None)
    _require(backend is not None, "moto.dynamodb.models.DynamoDBBackend is gone")
    original = getattr(backend, "transact_write_items", None)
    if original is _transact_write_items:
        return  # patched already (an earlier install stopped at a later patch)
    _require(original is not None, "DynamoDBBackend.transact_write_items is gone")
    code = getattr(original, "__code__", None)
    names = set(code.co_names) if code is not None else set()
    # What moto's version does and ours re-does: snapshot (deepcopy), the four operations,
    # its exceptions. A moto whose method no longer reads like that needs a fresh look.
    expected = {"deepcopy", "get_item", "put_item", "update_item", "delete_item", "get_filter_expression",
                "ConditionalCheckFailed", "TransactionCanceledException", "MultipleTransactionsException",
                "MockValidationException", "TooManyTransactionsException", "TransactWriteSingleOpException"}
    _require(expected <= names, "DynamoDBBackend.transact_write_items no longer works as patched "
                                f"(missing {sorted(expected - names)})")
    for method in ("get_table", "get_item", "get_keys_value", "put_item", "update_item", "delete_item"):
        _require(callable(getattr(backend, method, None)), f"DynamoDBBackend.{method} is gone")
    _require(hasattr(Table, "has_range_key"), "dynamodb Table.has_range_key is gone")
    for name in ("get_filter_expression", "ConditionalCheckFailed", "TransactionCanceledException",
                 "MultipleTransactionsException", "MockValidationException", "TooManyTransactionsException",
                 "TransactWriteSingleOpException"):
        _require(hasattr(ddb, name), f"moto.dynamodb.models.{name} is gone")
    backend._openips_original_transact_write_items = original
    backend.transact_write_items = _transact_write_items


def _restore_item(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    """Put one item of ``Table.items`` back as it was (``None``: it did not exist)."""
    if table.has_range_key:
        bucket = table.items.get(hash_value)
        if item is None:
            if bucket is not None:
                bucket.pop(range_value, None)
                if not bucket:
                    table.items.pop(hash_value, None)
        else:
            table.items[hash_value][range_value] = item
    elif item is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = item


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2's ``DynamoDBBackend.transact_write_items`` with an undo log instead of snapshots.

    Same checks, same order, same errors and ``CancellationReasons``; only the rollback differs:
    before each write, the item it is about to change is recorded (a copy, as updates mutate
    items in place), and a rollback puts back just those items, latest first.
    """
    from moto.dynamodb import models as ddb

    if len(transact_items) > 100:
        raise ddb.TooManyTransactionsException()
    undo: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, item before or None)
    streams: dict[int, tuple[Any, int]] = {}  # id(table) -> (stream shard, its length before)

    def rollback() -> None:
        for table, hash_value, range_value, before in reversed(undo):
            _restore_item(table, hash_value, range_value, before)
        for shard, length in streams.values():
            del shard.items[length:]  # the stream records of the undone writes

    def remember(table_name: str, key: dict[str, Any], current: Any) -> None:
        table = self.get_table(table_name)
        hash_value, range_value = self.get_keys_value(table, key)
        undo.append((table, hash_value, range_value, copy.deepcopy(current)))
        shard = getattr(table, "stream_shard", None)
        if shard is not None and id(table) not in streams:
            streams[id(table)] = (shard, len(shard.items))

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise ddb.MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            rollback()  # moto keeps the writes before it here; AWS validates before it writes
            raise ddb.TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = ddb.get_filter_expression(
                    condition_expression, expression_attribute_names, expression_attribute_values)
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ddb.ConditionalCheckFailed(item=original_item)

            if op_type in ("Put", "Delete", "Update"):
                remember(table_name, key, current)  # before the write: a failing update may half-apply
            if op_type == "Put":
                self.put_item(
                    table_name, op["Item"], condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values)
            elif op_type == "Delete":
                self.delete_item(
                    table_name, key, condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values)
            elif op_type == "Update":
                self.update_item(
                    table_name, key, update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values)
            errors.append((None, None, None))
        except (ddb.MultipleTransactionsException, ddb.MockValidationException):
            rollback()
            raise
        except ddb.ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - moto reports any other failure as a cancellation reason
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]

    if any(code is not None for code, _, _ in errors):
        rollback()
        raise ddb.TransactionCanceledException(errors)


def _patch_sqs_long_poll() -> None:
    from moto.sqs import models as sqs

    queue = getattr(sqs, "Queue", None)
    _require(queue is not None, "moto.sqs.models.Queue is gone")
    original = getattr(queue, "wait_for_messages", None)
    if hasattr(original, "_openips_original"):
        return
    _require(callable(original), "sqs Queue.wait_for_messages is gone (the long-poll wait)")
    receive = getattr(getattr(sqs, "SQSBackend", None), "receive_message", None)
    _require(receive is not None and "wait_for_messages" in receive.__code__.co_names,
             "SQSBackend.receive_message no longer waits with Queue.wait_for_messages")

    def wait_for_messages(self: Any, timeout: int) -> None:
        # A long poll waits without the SQS lock: senders must get in to wake it, as on AWS.
        with service_lock("sqs").suspended():
            original(self, timeout)

    wait_for_messages._openips_original = original  # type: ignore[attr-defined]
    queue.wait_for_messages = wait_for_messages


def _patch_s3_notifications() -> None:
    from moto.s3 import notifications

    original = getattr(notifications, "_send_sqs_message", None)
    if hasattr(original, "_openips_original"):
        return
    _require(callable(original), "moto.s3.notifications._send_sqs_message is gone")
    _require("_send_sqs_message" in notifications.send_event.__code__.co_names,
             "moto.s3.notifications.send_event no longer sends through _send_sqs_message")

    def send_sqs_message(*args: Any, **kwargs: Any) -> None:
        # Runs on the S3 request's thread but writes to the SQS backend: take its lock.
        with service_lock("sqs"):
            original(*args, **kwargs)

    send_sqs_message._openips_original = original  # type: ignore[attr-defined]
    notifications._send_sqs_message = send_sqs_message


OUTSIDE_BOUNDARIES = "The provided starting key is outside query boundaries based on provided conditions"


def patch_query_start_keys() -> None:
    """``Query`` checks its ``ExclusiveStartKey`` against the key conditions, as DynamoDB does (idempotent)."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType

    original = DynamoDBBackend.query
    if hasattr(original, "_openips_original"):
        return
    signature = inspect.signature(original)
    _require({"exclusive_start_key", "hash_key_conditions", "range_key_conditions"} <= set(signature.parameters),
             "DynamoDBBackend.query no longer takes the start key and the parsed key conditions")
    _require(callable(getattr(DynamoType, "compare", None)), "DynamoType.compare is gone")

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        asked = signature.bind(self, *args, **kwargs).arguments
        start = asked.get("exclusive_start_key")
        if start:
            for name, value in asked.get("hash_key_conditions") or []:
                if name in start and DynamoType(start[name]) != DynamoType(value):
                    raise MockValidationException(OUTSIDE_BOUNDARIES)
            for name, comparison, values in asked.get("range_key_conditions") or []:
                if name in start and not DynamoType(start[name]).compare(comparison, [DynamoType(v) for v in values]):
                    raise MockValidationException(OUTSIDE_BOUNDARIES)
        return original(self, *args, **kwargs)

    query._openips_original = original  # type: ignore[attr-defined]
    DynamoDBBackend.query = query
