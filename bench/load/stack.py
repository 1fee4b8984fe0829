"""``openips local up`` in a subprocess, as a user runs it, and what /proc says about its processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import boto3

from openips_cli.config import LOCAL_FILE, read_local

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0  # seconds; moto, provisioning and the API on a busy 2-core machine
STOP_TIMEOUT = 60.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class StackFailed(RuntimeError):
    """The stack did not start (the message ends with the tail of its log)."""


class Stack:
    """One local stack on free ports, with its own state directory and environment.

    ``env`` is added to this process's environment (minus ``AWS_*``, as tests/e2e/conftest.py
    does): ``OPENIPS_FAULTS`` and the like reach the stack and, through it, its workers.
    """

    def __init__(self, state_dir: Path, *, workers: int = 4, sweep_seconds: int | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.workers = workers
        self.sweep_seconds = sweep_seconds
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen | None = None
        self.info: dict = {}
        self._log = None

    @property
    def log_path(self) -> Path:
        return self.state_dir / "stack.log"

    def start(self) -> dict:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / LOCAL_FILE).unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "functions"), str(ROOT / "src")])
        env.update(self.extra_env)
        command = [sys.executable, "-m", "openips_cli.main", "local", "up", "--port", "0",
                   "--state-dir", str(self.state_dir), "--workers", str(self.workers)]
        if self.sweep_seconds:
            command += ["--sweep-seconds", str(self.sweep_seconds)]
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + START_TIMEOUT
        while not (self.state_dir / LOCAL_FILE).exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise StackFailed("the local stack did not start:\n" + self.log_tail())
            time.sleep(0.2)
        self.info = read_local(self.state_dir)
        return self.info

    def stop(self) -> int | None:
        """SIGTERM (the stack finishes in-flight work), SIGKILL after STOP_TIMEOUT; its exit code."""
        code = None
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                for pid in descendants(self.process.pid):
                    _kill(pid)
                self.process.kill()
                code = self.process.wait()
        elif self.process is not None:
            code = self.process.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def aws(self, service: str):
        """A boto3 client on the stack's moto (the keys in local.json are fixed and local)."""
        return boto3.client(service, endpoint_url=self.info["awsEndpointUrl"], region_name=self.info["region"],
                            aws_access_key_id=self.info["awsAccessKeyId"],
                            aws_secret_access_key=self.info["awsSecretAccessKey"])

    def worker_pids(self) -> list[int]:
        """The worker processes (the Lambda containers): spawned multiprocessing children of the stack."""
        if self.process is None:
            return []
        return [pid for pid in descendants(self.process.pid)
                if "spawn_main" in _cmdline(pid) and "resource_tracker" not in _cmdline(pid)]

    def tree_rss(self) -> tuple[int, int]:
        """Resident bytes of the stack process and every process under it, and of the stack process alone, now."""
        if self.process is None or self.process.poll() is not None:
            return 0, 0
        own = rss(self.process.pid)
        return own + sum(rss(pid) for pid in descendants(self.process.pid)), own

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU seconds used so far by the stack process (moto, S3 front, API, pollers) and by the
        processes under it now (the workers; one killed has taken its count with it)."""
        if self.process is None or self.process.poll() is not None:
            return 0.0, 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        return (cpu_ticks(self.process.pid) / ticks,
                sum(cpu_ticks(pid) for pid in descendants(self.process.pid)) / ticks)


class RssSampler(threading.Thread):
    """The peak of the stack tree's summed RSS (and of the stack process's), sampled every ``interval`` s.

    A sum of each process's own peak (VmHWM) would add peaks that never happened at once;
    sampling the sum misses spikes shorter than the interval instead. The report says so.
    """

    def __init__(self, stack: Stack, interval: float = 0.25) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.stack, self.interval = stack, interval
        self.peak = self.own_peak = 0
        self._lock = threading.Lock()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        total, own = self.stack.tree_rss()
        with self._lock:
            self.peak, self.own_peak = max(self.peak, total), max(self.own_peak, own)

    def reset(self) -> tuple[int, int]:
        """The peaks so far (whole tree, stack process), then start over (one pair per measured run)."""
        self._sample()
        with self._lock:
            peaks = self.peak, self.own_peak
            self.peak = self.own_peak = 0
        return peaks

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


# ---- /proc (Linux; psutil is not a dependency of this project) -----------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    children = _children_map()
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def busiest_worker(stack: Stack, window: float = 0.5) -> tuple[int, float] | None:
    """The worker that used the most CPU over ``window`` seconds (the one mid-file) and its CPU share."""
    pids = stack.worker_pids()
    if not pids:
        return None
    before = {pid: cpu_ticks(pid) for pid in pids}
    time.sleep(window)
    ticks = os.sysconf("SC_CLK_TCK")
    used = {pid: (cpu_ticks(pid) - before[pid]) / ticks / window for pid in pids}
    pid = max(used, key=used.__getitem__)
    return pid, used[pid]

