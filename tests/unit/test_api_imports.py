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
