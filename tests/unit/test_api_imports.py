"""The API function must not pay for (or depend on) the imaging layer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_api_handler_loads_neither_pyvips_nor_pil():
    code = ("import sys, openips.handlers.api; "
            "bad = [m for m in ('pyvips', 'PIL', 'openips.imaging') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "functions"), "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lambda_requirements_never_list_imaging_libraries():
    lines = (ROOT / "functions" / "requirements.txt").read_text().lower().splitlines()
    packages = [line.split("#")[0] for line in lines if line.split("#")[0].strip()]
    assert packages and not any("pyvips" in p or "pillow" in p for p in packages)


def test_process_file_never_loads_pyav_and_the_media_handler_does():
    """ProcessFileFunction has no media layer: it sniffs videos in pure Python (docs/formats-video.md)."""
    code = ("import sys, openips.handlers.process_file; bad = 'av' in sys.modules; "
            "import openips.handlers.process_media; sys.exit(1 if bad or 'av' not in sys.modules else 0)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "functions"), "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    cleared = ("LAMBDA_TASK_ROOT", "_X_AMZN_TRACE_ID", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL")
    full = {k: v for k, v in os.environ.items() if k not in cleared}
    full |= {"PYTHONPATH": str(ROOT / "functions"), "AWS_DEFAULT_REGION": "us-east-1", **env}
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=60)


def test_the_xray_sdk_is_loaded_only_for_a_sampled_invocation():
    """Cold starts no longer pay for the X-Ray SDK; a sampled request on Lambda is still traced."""
    code = ("import sys, openips.handlers.api as api\n"
            "from openips.observability import tracer\n"
            "assert 'aws_xray_sdk' not in sys.modules, 'imported at cold start'\n"
            "handler = tracer.capture_lambda_handler(lambda event, context: 'done', capture_response=False)\n"
            "class Context: function_name = 'f'; aws_request_id = 'r'\n"
            "print(handler({}, Context()), tracer.built, 'aws_xray_sdk' in sys.modules)\n")
    unsampled = _run(code, LAMBDA_TASK_ROOT="/var/task", _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0")
    assert unsampled.stdout.split() == ["done", "False", "False"], unsampled.stderr
    sampled = _run(code, LAMBDA_TASK_ROOT="/var/task", AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR",
                   _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    assert sampled.stdout.split() == ["done", "True", "True"], sampled.stderr
