"""Lambda SnapStart: what a handler loads on first use is loaded before the snapshot instead.

With SnapStart (``template.yaml``, docs/performance.md), Lambda runs a version's init once,
when it is published, and every cold start resumes from that memory. The handlers keep their
import cheap (boto3, the rarely used services and the pydantic validators load on first use),
which is what the local stack, the tests and a function without SnapStart want; under SnapStart
that first use would fall on the first request after every restore, so the hook below does it
while the snapshot is being taken.

``snapshot_restore_py`` is part of Lambda's Python runtimes; elsewhere it is absent and nothing
is registered, so nothing is loaded early.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence

from openips.models.base import Model
from openips.observability import logger


def _models(root: type[Model]) -> Iterator[type[Model]]:
    for sub in root.__subclasses__():
        yield sub
        yield from _models(sub)


def build_validators() -> int:
    """Build every loaded model's validator now (they are deferred, models/base.py); how many were built."""
    built = 0
    for model in list(_models(Model)):
        if not model.__pydantic_complete__ and not model.__pydantic_generic_metadata__["parameters"]:
            model.model_rebuild(force=True)
            built += 1
    return built


def prime(modules: Sequence[str], warm: Callable[[], object]) -> None:
    """Import ``modules``, call ``warm`` (clients), then build the validators of every model now loaded."""
    for module in modules:
        importlib.import_module(module)
    warm()
    logger.info("primed before the snapshot", extra={"modules": len(modules), "validators": build_validators()})


def prime_before_snapshot(modules: Sequence[str], warm: Callable[[], object]) -> bool:
    """Register :func:`prime` as the SnapStart before-snapshot hook; False where there is no SnapStart runtime."""
    try:
        from snapshot_restore_py import register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(prime, tuple(modules), warm)
    return True
