"""Issue 13 item 8: Ghostscript cannot read the function's AWS credentials from its parent.

gs gets an empty environment, but a child of the same user could read ``/proc/<ppid>/environ``,
where Lambda keeps the role's credentials. The runner makes its process non-dumpable first
(``imaging.sandbox``); the kernel then refuses that read to a process without CAP_SYS_PTRACE, as
every process in Lambda's sandbox is. The check runs the real runner in a fresh process of a
user without capabilities (``nobody`` through setpriv when the suite runs as root), with a
``gs`` that only tries to read its parent's environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
SENTINEL = "SENTINEL-SECRET-d41d8cd98f00"

# Runs in the fresh process: the runner starts "/bin/sh" where it would start gs.
SCRIPT = r"""
import os, sys, tempfile
sys.path.insert(0, sys.argv[1])
from openips.imaging import ghostscript, sandbox
if sys.argv[2] == "unprotected":
    ghostscript.protect_process_memory = lambda: False
work = tempfile.mkdtemp()
ghostscript._run(["/bin/sh", "-c", "/bin/cat /proc/$PPID/environ > leak.bin 2>/dev/null; exit 0"], work,
                 os.path.join(work, "gs.log"), ghostscript.Limits(timeout_seconds=20), file_bytes=1 << 20)
leak = os.path.join(work, "leak.bin")
print(open(leak, "rb").read().count(sys.argv[3].encode()) if os.path.exists(leak) else 0)
"""


def _unprivileged_command() -> list[str] | None:
    if os.geteuid() != 0:
        return [sys.executable]
    setpriv, python = shutil.which("setpriv"), shutil.which("python3", path="/usr/bin:/bin")
    if setpriv is None or python is None:
        return None
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", python]


def _leaks(mode: str) -> int:
    command = _unprivileged_command()
    if command is None:
        pytest.skip("needs a non-root user, or setpriv and a system python3 to become one")
    env = {"PATH": "/usr/bin:/bin", "AWS_SECRET_ACCESS_KEY": SENTINEL, "TMPDIR": "/tmp"}
    done = subprocess.run([*command, "-c", SCRIPT, str(FUNCTIONS), mode, SENTINEL], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux")
def test_gs_cannot_read_the_credentials_in_its_parents_environment():
    assert _leaks("unprotected") >= 1, "the check must see the leak the runner prevents"
    assert _leaks("protected") == 0
