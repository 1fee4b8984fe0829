"""Keeping this process's secrets from the programs it starts on hostile input (Ghostscript).

A Lambda function's AWS credentials are in its environment. A child started with an empty
environment could still read them from ``/proc/<parent pid>/environ`` (or ``/mem``): the kernel
lets a process of the same user read another's unless that one is *non-dumpable*. So the process
marks itself non-dumpable before it starts one; Lambda's sandbox user has no CAP_SYS_PTRACE to get
past that. Standard library only: the process-isolation test runs it as another user.
"""

from __future__ import annotations

import ctypes
import functools
import sys

_PR_SET_DUMPABLE = 4
_PR_GET_DUMPABLE = 3


@functools.cache
def protect_process_memory() -> bool:
    """Make this process non-dumpable (once); True if it is. Core dumps of it stop as well."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    return libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
