"""Unzipped size of every function of a ``sam build``, layers included, against Lambda's 250 MB.

    make sizes                     # builds (scripts/sam-build.sh), then prints the table
    python scripts/lambda_sizes.py [--build-dir .aws-sam/build] [--limit-mb 250] [--json]

Lambda counts a function's code and all its layers, unzipped, against one 250 MB limit
(262,144,000 bytes). Exit status 1 when any function is over it, 2 when there is no build.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from openips_cli.provision import load_template  # noqa: E402

LIMIT_BYTES = 250 * 1024 * 1024  # AWS quotes "250 MB" and means 262,144,000 bytes
MB = 1024 * 1024


@dataclass
class FunctionSize:
    function: str
    code_bytes: int
    layers: dict[str, int]

    @property
    def total_bytes(self) -> int:
        return self.code_bytes + sum(self.layers.values())


def tree_bytes(path: Path) -> int:
    """What Lambda unpacks: every regular file, symlinks not followed."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            file = Path(root) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def measure(build_dir: Path) -> list[FunctionSize]:
    template = load_template(build_dir / "template.yaml")
    resources = template["Resources"]
    sizes = []
    for name, resource in sorted(resources.items()):
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        layers = {}
        for ref in props.get("Layers", []):
            layer = ref.get("Ref") if isinstance(ref, dict) else ref
            if layer not in resources:  # an opt-in layer by ARN (GhostscriptLayerArn): not part of the build
                continue
            layers[layer] = tree_bytes(build_dir / resources[layer]["Properties"]["ContentUri"])
        sizes.append(FunctionSize(name, tree_bytes(build_dir / props["CodeUri"]), layers))
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--limit-mb", type=float, default=LIMIT_BYTES / MB)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (args.build_dir / "template.yaml").exists():
        print(f"no build in {args.build_dir}: run `make build` (or `make sizes`) first", file=sys.stderr)
        return 2
    limit = int(args.limit_mb * MB)
    sizes = measure(args.build_dir)
    if args.json:
        print(json.dumps([asdict(s) | {"total_bytes": s.total_bytes, "limit_bytes": limit} for s in sizes], indent=2))
    else:
        print(f"| function | code MB | layers | total MB (limit {limit / MB:.0f}) |")
        print("|---|---:|---|---:|")
        for s in sizes:
            layers = ", ".join(f"{k} {v / MB:.1f} MB" for k, v in s.layers.items()) or "—"
            flag = "" if s.total_bytes <= limit else " **over**"
            print(f"| {s.function} | {s.code_bytes / MB:.1f} | {layers} | {s.total_bytes / MB:.1f}{flag} |")
    return 1 if any(s.total_bytes > limit for s in sizes) else 0


if __name__ == "__main__":
    sys.exit(main())
