"""``python -m bench.load`` (``make load``): the local stack under load and under faults, over real HTTP.

Each scenario starts its own ``openips local up`` subprocess, drives whole upload jobs as a
user does (the ``openips`` client: open, presigned POSTs from a thread pool, end, wait) and
checks each job's accounting to the file. Prints a markdown report (also written to
``--out``); ``--json`` writes the raw results.

Exit status: 0 when every job ended with exact counts, 1 when any did not (lost or
double-counted files, a job that never ended). Timings never fail the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench.load.report import render
from bench.load.scenarios import FAULTS, LOAD, Options, RunRecord, say
from bench.load.stack import ROOT, StackFailed

RESULTS = ROOT / "bench" / "results" / "load.md"
WORKDIR = ROOT / ".openips" / "load"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", help=f"comma-separated; load: {', '.join(LOAD)}; faults: {', '.join(FAULTS)} "
                                            "(default: every load scenario)")
    parser.add_argument("--faults", action="store_true", help="run every fault scenario (with --scenarios: too)")
    parser.add_argument("--all", action="store_true", help="every load and fault scenario")
    parser.add_argument("--repeat", type=int, default=1, help="measured runs of each scenario (default 1)")
    parser.add_argument("--workers", type=int, default=4, help="the stack's worker processes, and the reference's")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a closed job may take to end")
    parser.add_argument("--stall", type=float, default=300.0,
                        help="give up on a job when no file was accounted for in this many seconds")
    parser.add_argument("--seed", type=int, default=1, help="OPENIPS_FAULTS_SEED and the shuffles")
    parser.add_argument("--small-files", type=int, default=500, help="files of the small-500 job")
    parser.add_argument("--large-files", type=int, default=40, help="files of the large-40 job")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON here")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"markdown report (default {RESULTS})")
    parser.add_argument("--workdir", type=Path, default=WORKDIR,
                        help=f"stack state and logs, one folder per scenario (default {WORKDIR})")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.workers < 1:
        parser.error("--repeat and --workers must be >= 1")
    names = [n for n in (args.scenarios or "").split(",") if n]
    unknown = sorted(set(names) - set(LOAD) - set(FAULTS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {[*LOAD, *FAULTS]}")
    if args.all:
        names = [*LOAD, *FAULTS]
    elif args.faults:
        names += [n for n in FAULTS if n not in names]
    elif not names:
        names = list(LOAD)

    opts = Options(workers=args.workers, repeat=args.repeat, timeout=args.timeout, stall=args.stall, seed=args.seed,
                   workdir=args.workdir, large_files=args.large_files, small_files=args.small_files)
    started, load_before = time.monotonic(), os.getloadavg()[0]
    records: list[RunRecord] = []
    for name in names:
        shutil.rmtree(opts.workdir / name, ignore_errors=True)  # fault logs and limits start empty
        try:
            records += {**LOAD, **FAULTS}[name](opts)
        except StackFailed as exc:
            say(f"{name}: {exc}")
            record = RunRecord(name, "fault" if name in FAULTS else "load", name, 0)
            record.extra_problems.append(str(exc).splitlines()[0])
            records.append(record)
    report = render(records, opts, time.monotonic() - started, (load_before, os.getloadavg()[0]))
    print(report, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    say(f"report written to {args.out}; stack logs under {opts.workdir}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.as_json() for r in records], indent=2, default=str))
        say(f"results written to {args.json}")
    return 0 if records and all(r.ok for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
