"""The API handler's cold start (issue 14, docs/performance.md): what its import loads, and what
the SnapStart hook loads into the snapshot. Each case runs in a fresh interpreter, as Lambda's init
does; nothing here is timed (``make bench`` measures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
       "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT / "src")]),
       "AWS_DEFAULT_REGION": "us-east-1", "JOBS_TABLE": "jobs", "INCOMING_BUCKET": "incoming",
       "ASSETS_BUCKET": "assets", "POWERTOOLS_LOG_LEVEL": "ERROR"}


def fresh(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


LOADED = """
import json, sys
import openips.handlers.api as api
from openips.models.base import Model
from openips.handlers.snapstart import _models
print(json.dumps({"boto3": "boto3" in sys.modules,
                  "lazy": [m for m in api.LOADED_ON_FIRST_USE if m in sys.modules],
                  "built": sorted(m.__name__ for m in _models(Model) if m.__pydantic_complete__)}))
"""


def test_importing_the_api_handler_loads_no_boto3_no_admin_service_and_builds_no_validator():
    loaded = fresh("import sys; sys.modules['snapshot_restore_py'] = None\n" + LOADED)
    assert loaded == {"boto3": False, "lazy": [], "built": []}


def test_the_snapshot_hook_loads_what_the_first_request_would():
    pytest.importorskip("snapshot_restore_py")
    # As Lambda's runtime does before it takes the snapshot: run the registered hooks (in reverse).
    loaded = fresh("""
import json, sys
import snapshot_restore_py as hooks
import openips.handlers.api as api
from openips.models.base import Model
from openips.handlers.snapstart import _models
registered = list(hooks.get_before_snapshot())
for func, args, kwargs in reversed(registered):
    func(*args, **kwargs)
from openips.adapters.storage import get_storage
incomplete = [m.__name__ for m in _models(Model)
              if not m.__pydantic_complete__ and not m.__pydantic_generic_metadata__["parameters"]]
print(json.dumps({"hooks": len(registered), "boto3": "boto3" in sys.modules,
                  "lazy": [m for m in api.LOADED_ON_FIRST_USE if m not in sys.modules],
                  "incomplete": incomplete, "clients": get_storage.cache_info().currsize}))
""")
    assert loaded == {"hooks": 1, "boto3": True, "lazy": [], "incomplete": [], "clients": 1}


def test_without_the_snapstart_runtime_nothing_is_registered():
    from openips.handlers.snapstart import prime_before_snapshot

    calls: list[str] = []
    saved = sys.modules.get("snapshot_restore_py")
    sys.modules["snapshot_restore_py"] = None  # type: ignore[assignment] - import now raises ImportError
    try:
        assert prime_before_snapshot(("json",), lambda: calls.append("warm")) is False
    finally:
        if saved is None:
            del sys.modules["snapshot_restore_py"]
        else:
            sys.modules["snapshot_restore_py"] = saved
    assert calls == []
