"""``openips local up`` stops within a bounded time, whatever its workers are doing (LocalStack.stop)."""

from __future__ import annotations

import threading
import time
from concurrent.futures.process import BrokenProcessPool

import pytest

from openips_cli.inprocess import LambdaContext
from openips_cli.local import LocalStack

HANDLER = "tests.unit.local_handlers.sleeping"


def _invoking(stack: LocalStack, seconds: float, outcome: list) -> threading.Thread:
    def run() -> None:
        try:
            outcome.append(stack.run_function(HANDLER, {"seconds": seconds}, LambdaContext()))
        except BrokenProcessPool as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not stack._running and time.monotonic() < deadline:  # noqa: SLF001 - until the invocation is in
        time.sleep(0.05)
    return thread


def test_an_invocation_that_outlasts_the_grace_is_ended_and_stop_returns(tmp_path):
    stack = LocalStack(state_dir=tmp_path, workers=1)
    stack.lambdas = stack._new_pool()  # noqa: SLF001 - only the workers: no moto, no servers
    outcome: list = []
    thread = _invoking(stack, 600, outcome)

    began = time.monotonic()
    stack.stop(grace=1)
    thread.join(timeout=30)

    assert time.monotonic() - began < 15  # before: stop waited the whole 600 s
    assert not thread.is_alive() and isinstance(outcome[0], BrokenProcessPool)


def test_an_invocation_within_the_grace_finishes_with_its_result(tmp_path):
    stack = LocalStack(state_dir=tmp_path, workers=1)
    stack.lambdas = stack._new_pool()  # noqa: SLF001
    outcome: list = []
    thread = _invoking(stack, 1, outcome)

    stack.stop(grace=30)
    thread.join(timeout=30)

    assert outcome == [{"slept": 1}]


def test_no_invocation_starts_once_the_stack_is_stopping(tmp_path):
    stack = LocalStack(state_dir=tmp_path, workers=1)
    stack.lambdas = stack._new_pool()  # noqa: SLF001
    stack.stopping.set()
    try:
        with pytest.raises(RuntimeError, match="stopping"):
            stack.run_function(HANDLER, {"seconds": 600}, LambdaContext())
        assert not stack._running  # noqa: SLF001
    finally:
        stack.stop(grace=0)
