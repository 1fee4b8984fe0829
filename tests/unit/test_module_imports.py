"""Every module of openips and openips_cli imports alone (issue 14, item 4).

A module that imports only after some other module (an import cycle, or a name another module
happens to load first) works behind the entry point that loads things in the right order and
fails behind the next one: ``import openips.services.documents`` used to fail alone, because five
modules imported one another through ``processing``. Each module is imported in a child of a
fresh interpreter that has loaded none of ours (``import_each_alone.py`` says why that is as good
as an interpreter per module, at a third of the cost). When this fails, import-linter's acyclic
contract (``PYTHONPATH=functions:src .venv/bin/lint-imports``) names the edge to cut.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"openips": ROOT / "functions", "openips_cli": ROOT / "src"}
RUNNER = Path(__file__).with_name("import_each_alone.py")


def modules() -> list[str]:
    found = []
    for package, base in SOURCES.items():
        for path in sorted((base / package).rglob("*.py")):
            parts = path.relative_to(base).with_suffix("").parts
            if parts[-1] == "__main__":
                continue  # runs the program when imported, by design
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def test_the_module_list_is_complete():
    found = modules()
    assert {"openips.services.processing", "openips.services.ingest.registry", "openips_cli.main"} <= set(found)
    assert len(found) == len(set(found)) > 100


def test_every_module_imports_alone():
    # The runner's own interpreter starts clean: the checkout's sources first, nothing of ours loaded.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(base) for base in SOURCES.values()),
           "AWS_DEFAULT_REGION": "us-east-1"}
    jobs = (os.cpu_count() or 2) + 1  # a child spends part of its import waiting on the disk
    result = subprocess.run([sys.executable, str(RUNNER), str(ROOT), str(jobs), *modules()], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    failed = {name: report.strip().splitlines()[-1] for name, report in json.loads(result.stdout).items()}
    assert failed == {}


def test_imaging_loads_no_pydantic_and_no_job_model():
    # The ProcessFile function's image work pays only for libvips: the pipeline's options are
    # openips.imaging.options dataclasses, converted from the job's pydantic models in services/options.py.
    imaging = [name for name in modules() if name.startswith("openips.imaging")]
    code = ("import importlib, json, sys\n"
            f"for name in {imaging!r}: importlib.import_module(name)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'"
            " or m in ('openips.models.upload_job', 'openips.models.processing'))))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(base) for base in SOURCES.values())}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "openips.imaging.optimize" in imaging and "openips.imaging.pipeline" in imaging
    assert json.loads(result.stdout) == []
