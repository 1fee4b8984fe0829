"""``python -m bench.local_dynamodb``: what a DynamoDB call costs on the local stack's moto, by table size.

Compares moto as it ships ("old": ``transact_write_items`` deep-copies every table it touches,
no locks) with moto made atomic by ``openips_cli.moto_atomic`` ("new": one lock per service,
an undo log of the touched items). Each variant runs in a fresh process on its own
``ThreadedMotoServer``, with the project's tables (``provision``), first empty, then with
20,000 unrelated items in the jobs table. Prints a markdown table of ms per call (median).

``--e2e`` also runs a real job through an in-process ``LocalStack`` (the ``openips upload``
client against it), with the jobs table empty and with the 20,000 items preloaded, and prints
the wall time per file. The old variant of that is skipped unless ``--e2e-old`` (it may not end).

Benchmarks never fail the build: the exit status is 0 whatever the numbers are.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZES = (0, 20_000)
CHILD_TIMEOUT = 1800


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "functions"), str(ROOT / "src"), str(ROOT)]))
    return env


def unrelated_items(count: int) -> list[dict[str, Any]]:
    """History of other jobs: log rows with an owner-index key, as old jobs leave behind."""
    return [{"PutRequest": {"Item": {
        "pk": {"S": f"JOB#old{i // 50:05d}"}, "sk": {"S": f"LOG#{i:08d}"},
        "gsi1pk": {"S": f"OLDCO#{i % 10}"}, "gsi1sk": {"S": f"2026-01-01T00:00:{i:08d}"},
        "logType": {"S": "UploadSuccess"}, "fileName": {"S": f"folder/file-{i}.jpg"},
        "message": {"S": "x" * 120}, "size": {"N": str(1000 + i)}}}} for i in range(count)]


def preload(ddb, table: str, count: int) -> None:
    items = unrelated_items(count)
    for start in range(0, len(items), 25):
        batch = {table: items[start:start + 25]}
        while batch:
            batch = ddb.batch_write_item(RequestItems=batch).get("UnprocessedItems") or {}


def _timed(call, seconds: float, min_calls: int, max_calls: int) -> float:
    """Median ms of ``call()`` over at least ``min_calls`` calls, until ``seconds`` or ``max_calls``."""
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < max_calls and (len(times) < min_calls or time.perf_counter() < deadline):
        started = time.perf_counter()
        call(len(times))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def child_ops(variant: str, seconds: float) -> dict[str, Any]:
    import boto3
    from botocore.exceptions import ClientError
    from moto.server import ThreadedMotoServer

    from openips_cli.local import free_port
    from openips_cli.provision import provision

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    if variant == "new":
        from openips_cli.moto_atomic import make_atomic

        make_atomic(server)
    url = "http://127.0.0.1:%d" % server.get_host_and_port()[1]
    try:
        resources = provision(endpoint_url=url)
        table = resources.names["JobsTable"]
        ddb = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")
        counters = {"pk": {"S": "JOB#bench"}, "sk": {"S": "JOB"}}
        ddb.put_item(TableName=table, Item={**counters, "numProcessed": {"N": "0"}})
        ddb.put_item(TableName=table, Item={"pk": {"S": "JOB#bench"}, "sk": {"S": "CLAIM#taken"}})
        one = {":one": {"N": "1"}}

        def update(_: int) -> None:
            ddb.update_item(TableName=table, Key=counters, UpdateExpression="ADD numProcessed :one",
                            ExpressionAttributeValues=one)

        def committed(i: int) -> None:
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": table, "Key": counters, "UpdateExpression": "ADD numProcessed :one",
                            "ExpressionAttributeValues": one}},
                {"Put": {"TableName": table, "ConditionExpression": "attribute_not_exists(pk)",
                         "Item": {"pk": {"S": "JOB#bench"}, "sk": {"S": f"FILE#{i}-{time.time_ns()}"}}}}])

        def cancelled(_: int) -> None:
            try:
                ddb.transact_write_items(TransactItems=[
                    {"Update": {"TableName": table, "Key": counters, "UpdateExpression": "ADD numProcessed :one",
                                "ExpressionAttributeValues": one}},
                    {"Put": {"TableName": table, "Item": {"pk": {"S": "JOB#bench"}, "sk": {"S": "CLAIM#taken"}},
                             "ConditionExpression": "attribute_not_exists(pk)"}}])
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
            else:
                raise AssertionError("the claim transaction committed")

        results: dict[str, Any] = {}
        loaded = 0
        for size in SIZES:
            preload(ddb, table, size - loaded)
            loaded = size
            results[str(size)] = {
                "UpdateItem (ADD)": _timed(update, seconds, 20, 2000),
                "TransactWriteItems, committed": _timed(committed, seconds, 5, 2000),
                "TransactWriteItems, cancelled": _timed(cancelled, seconds, 5, 2000),
            }
        return results
    finally:
        server.stop()


def child_e2e(variant: str, items: int, files: int, workers: int, timeout: float) -> dict[str, Any]:
    import boto3
    import pyvips

    from openips_cli import moto_atomic
    from openips_cli.local import LocalStack

    if variant == "old":
        moto_atomic.make_atomic = lambda server: None  # LocalStack.start imports it at call time
    work = Path(tempfile.mkdtemp(prefix="openips-bench-"))
    uploads = work / "uploads"
    uploads.mkdir()
    x = pyvips.Image.xyz(640, 480)
    for n in range(files):  # small, distinct pictures: the per-file cost is the stack's, not libvips'
        picture = (x[0] / 640 * 200 + n).bandjoin([x[1] / 480 * 150 + 2 * n, 90 + n]).cast("uchar")
        (uploads / f"file-{n:03d}.jpg").write_bytes(picture.copy(interpretation="srgb").jpegsave_buffer(Q=85))
    stack = LocalStack(port=0, state_dir=work / "state", workers=workers)
    info = stack.start()
    try:
        ddb = boto3.client("dynamodb", endpoint_url=info["awsEndpointUrl"], region_name="us-east-1")
        preload(ddb, stack.resources.names["JobsTable"], items)
        env = {k: v for k, v in _env().items() if not k.startswith("OPENIPS_")}
        env["OPENIPS_STATE_DIR"] = str(work / "state")
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "openips_cli.main", "upload", str(uploads), "--options",
                 str(ROOT / "examples" / "options.json"), "--parallel", "4", "--json"],
                env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        except subprocess.TimeoutExpired:
            return {"seconds": time.perf_counter() - started, "outcome": f"did not end in {timeout:.0f} s"}
        seconds = time.perf_counter() - started
        try:
            log = json.loads(done.stdout)["jobLog"]
            outcome = (f"{log.get('logType')}: {log.get('fileSuccessCount')} ok, "
                       f"{log.get('fileErrorCount')} errors")
        except (ValueError, KeyError, TypeError):
            outcome = f"client exited {done.returncode}: {done.stderr.strip()[-200:]}"
        return {"seconds": seconds, "outcome": outcome}
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


def _run_child(*args: str, timeout: float = CHILD_TIMEOUT) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.local_dynamodb", "--child", *args], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"bench child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local_dynamodb", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="time spent on each measured call (default 4)")
    parser.add_argument("--e2e", action="store_true", help="also time a real job on the local stack")
    parser.add_argument("--e2e-old", action="store_true", help="also on moto as it ships (may not end)")
    parser.add_argument("--files", type=int, default=12, help="files of the --e2e job (default 12)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the --e2e stack (default 2)")
    parser.add_argument("--e2e-timeout", type=float, default=600.0, help="seconds the --e2e job may take")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, variant, *rest = args.child
        if kind == "ops":
            result = child_ops(variant, float(rest[0]))
        else:
            result = child_e2e(variant, int(rest[0]), int(rest[1]), int(rest[2]), float(rest[3]))
        print(json.dumps(result))
        return 0

    ops = {variant: _run_child("ops", variant, str(args.seconds)) for variant in ("old", "new")}
    print("| ms per call (median, one client) | " + " | ".join(
        f"{variant}, {size:,} items" for variant in ("old", "new") for size in SIZES) + " |")
    print("|---|" + "---:|" * (2 * len(SIZES)))
    for operation in ops["new"][str(SIZES[0])]:
        cells = [f"{ops[variant][str(size)][operation]:.1f}" for variant in ("old", "new") for size in SIZES]
        print(f"| {operation} | " + " | ".join(cells) + " |")

    if args.e2e:
        print()
        print(f"| job of {args.files} files, {args.workers} workers | items in the jobs table | wall | per file "
              "| end |")
        print("|---|---:|---:|---:|---|")
        for variant in ("new", "old") if args.e2e_old else ("new",):
            for size in SIZES:
                result = _run_child("e2e", variant, str(size), str(args.files), str(args.workers),
                                    str(args.e2e_timeout), timeout=args.e2e_timeout + 300)
                print(f"| {variant} | {size:,} | {result['seconds']:.1f} s | "
                      f"{result['seconds'] / args.files:.2f} s | {result['outcome']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
