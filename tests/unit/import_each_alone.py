"""Import each module named on the command line alone; print a JSON object of those that fail.

Run by ``test_module_imports.py`` in a fresh interpreter. Each module is imported in its own
child, forked from this interpreter before it has loaded any module of openips or openips_cli,
so what the child imports of ours, it imports alone. The third-party packages that take most of
an interpreter's start (boto3, pydantic, Powertools: more than half of the time, measured) are
loaded once here, before the forks: they do not depend on the order our modules load in.
Native libraries that may start threads at import (pyvips, numpy, PyAV, pdfium) are not: a fork
must not copy a lock some thread holds.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import traceback

PRELOADED = ("boto3", "botocore.session", "botocore.client", "pydantic", "aws_lambda_powertools",
             "aws_lambda_powertools.logging", "aws_lambda_powertools.metrics", "aws_lambda_powertools.event_handler",
             "aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.typing")
OURS = ("openips", "openips_cli")
MAX_ERROR_BYTES = 8192  # under a pipe's buffer: a child never blocks on its report


def main(names: list[str], root: str, jobs: int) -> dict[str, str]:
    for name in PRELOADED:
        importlib.import_module(name)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in OURS)
    assert not loaded, f"preloading loaded our modules: {loaded}"
    assert threading.active_count() == 1, "a preloaded package started a thread: forking is not safe"
    failed: dict[str, str] = {}
    running: dict[int, tuple[str, int]] = {}

    def reap() -> None:
        pid, status = os.wait()
        name, reader = running.pop(pid)
        report = os.read(reader, MAX_ERROR_BYTES).decode(errors="replace")
        os.close(reader)
        if status != 0:
            failed[name] = report or f"exit status {status}"

    for name in names:
        while len(running) >= jobs:
            reap()
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: import one module, report, and leave without any cleanup of the parent's
            os.close(reader)
            status = 0
            try:
                module = importlib.import_module(name)
                assert (module.__file__ or "").startswith(root), f"{name} was found at {module.__file__}"
            except BaseException:  # noqa: BLE001 - whatever the import raised is the report
                os.write(writer, traceback.format_exc()[-MAX_ERROR_BYTES:].encode()[-MAX_ERROR_BYTES:])
                status = 1
            os._exit(status)
        os.close(writer)
        running[pid] = (name, reader)
    while running:
        reap()
    return failed


if __name__ == "__main__":
    root, jobs, *modules = sys.argv[1:]
    print(json.dumps(main(modules, root, int(jobs))))
