"""One measured run in a fresh process: ``python -m bench.child <variant> <input> <out> --crop L,T,R,B``.

Prints one JSON line ({"ok", "seconds", "output_bytes" | "error"}); exit status 0 on success,
3 when the variant failed (the failure is a result, not a crash of the harness).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

from bench.variants import VARIANTS, Job

FAILED = 3


def main(argv: list[str] | None = None) -> int:
    """Apply the memory cap, import the variant, then time only its work."""
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--crop", required=True, help="left,top,right,bottom in pixels")
    parser.add_argument("--mem-cap-gib", type=float, default=0.0, help="RLIMIT_AS for this process; 0 = none")
    parser.add_argument("--cmyk-profile")
    args = parser.parse_args(argv)
    if args.mem_cap_gib > 0:
        cap = int(args.mem_cap_gib * 1024**3)
        # Address space, not RSS, is what the kernel can cap; allocations past it fail with ENOMEM.
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    left, top, right, bottom = (int(v) for v in args.crop.split(","))
    job = Job(args.src, args.dst, left, top, right, bottom, cmyk_profile=args.cmyk_profile)
    started = time.perf_counter()
    try:
        run = VARIANTS[args.variant]()
        started = time.perf_counter()
        run(job)
    except Exception as exc:  # noqa: BLE001 - any failure (MemoryError included) is a result
        seconds = time.perf_counter() - started
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        print(json.dumps({"ok": False, "seconds": seconds, "error": error[:300]}))
        return FAILED
    seconds = time.perf_counter() - started
    print(json.dumps({"ok": True, "seconds": seconds, "output_bytes": os.path.getsize(args.dst)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
