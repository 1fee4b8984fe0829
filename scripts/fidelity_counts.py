"""Print the status counts of docs/fidelity.md per section; ``--write`` updates the page's block.

    .venv/bin/python scripts/fidelity_counts.py [--write]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.test_fidelity_table import (  # noqa: E402
    DOC,
    count_by_status,
    parse,
    render_counts,
    write_counts,
)


def main(argv: list[str]) -> int:
    if "--write" in argv:
        print(write_counts())
        return 0
    rows, problems = parse(DOC.read_text(encoding="utf-8"))
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(render_counts(count_by_status(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
