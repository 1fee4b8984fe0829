"""Cold start: how long a fresh interpreter takes to import each function's handler.

Each measurement is one new process (``python -c``) that imports the module and prints the
seconds the import took, as Lambda's init phase imports ``Handler``. The same run measures the
references the handlers cannot avoid — an empty interpreter's start and ``import boto3`` — so the
report reads as ratios as well as milliseconds.

    python -m bench.cold_start [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_API_MS = 250.0
# The handlers load boto3, their rarely used services and their validators on first use
# (handlers/snapstart.py); this is the handler's import followed by all of that, which is what a
# cold start without SnapStart pays before its first request can finish (and SnapStart's snapshot holds).
FIRST_USE = ("; from openips.handlers.snapstart import prime; from openips.services.deps import get_deps; "
             "prime({module}.LOADED_ON_FIRST_USE, get_deps)")
# (label, module, what follows the import): the handlers of template.yaml's functions that need no
# layer, then the references.
MODULES = (
    ("ApiFunction", "openips.handlers.api", ""),
    ("ApiFunction + what its first request loads", "openips.handlers.api", FIRST_USE),
    ("AuthorizerFunction", "openips.handlers.authorize", ""),
    ("NotificationFunction", "openips.handlers.notify", ""),
    ("boto3 alone (reference)", "boto3", ""),
    ("empty interpreter (reference)", "", ""),
)
_PROBE = ("import time; t = time.perf_counter(); {imports}; "
          "print(time.perf_counter() - t)")


@dataclass(frozen=True, slots=True)
class ColdStart:
    label: str
    module: str
    then: str
    import_ms: list[float]
    process_ms: list[float]

    @property
    def median_import_ms(self) -> float:
        return statistics.median(self.import_ms)

    @property
    def median_process_ms(self) -> float:
        return statistics.median(self.process_ms)


def _environment() -> dict[str, str]:
    # What the functions see at init on AWS, minus the AWS account: nothing is called while importing.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "POWERTOOLS_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT / "src")]),
            "AWS_DEFAULT_REGION": "us-east-1", "JOBS_TABLE": "jobs", "INCOMING_BUCKET": "incoming",
            "ASSETS_BUCKET": "assets"}
    return env


def measure(module: str, repeat: int, then: str = "") -> tuple[list[float], list[float]]:
    """(import ms, whole process ms) for ``repeat`` fresh processes, after one warm-up.

    The warm-up fills the disk cache and writes any missing bytecode, so the measured processes
    load compiled modules as a deployed function does (scripts/sam-build.sh precompiles the build).
    """
    import time

    code = _PROBE.format(imports=(f"import {module}" + then.format(module=module)) if module else "pass")
    imports, processes = [], []
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], env=_environment(), capture_output=True, text=True,
                              timeout=120, check=True)
        elapsed = time.perf_counter() - started
        if attempt:
            imports.append(float(done.stdout.strip().splitlines()[-1]) * 1000)  # after any log line
            processes.append(elapsed * 1000)
    return imports, processes


def run(repeat: int = 5) -> list[ColdStart]:
    return [ColdStart(label, module, then, *measure(module, repeat, then)) for label, module, then in MODULES]


def render(results: list[ColdStart]) -> list[str]:
    """Markdown lines: the table and the target verdict."""
    boto3 = next(r for r in results if r.module == "boto3")
    lines = ["## Cold start (import of the handler in a fresh interpreter)", "",
             "| module | import ms (median) | min | max | whole process ms | import ÷ boto3 alone |",
             "|---|--:|--:|--:|--:|--:|"]
    for result in results:
        ratio = f"{result.median_import_ms / boto3.median_import_ms:.2f}×" if result.module else "—"
        what = (result.module or "pass") + (" + prime" if result.then else "")
        lines.append(f"| {result.label} (`{what}`) | {result.median_import_ms:.0f} "
                     f"| {min(result.import_ms):.0f} | {max(result.import_ms):.0f} "
                     f"| {result.median_process_ms:.0f} | {ratio} |")
    api = results[0]
    verdict = "met" if api.median_import_ms <= TARGET_API_MS else "NOT met"
    lines += ["", f"- Target: importing the API handler in at most {TARGET_API_MS:.0f} ms (median of "
              f"{len(api.import_ms)} fresh processes): {api.median_import_ms:.0f} ms, {verdict}.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per module (after one warm-up)")
    args = parser.parse_args(argv)
    print("\n".join(render(run(args.repeat))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
