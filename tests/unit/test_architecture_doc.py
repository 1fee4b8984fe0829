"""docs/architecture.md names modules; every path it names must exist, so the map cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASES = (ROOT / "functions" / "openips", ROOT / "functions" / "openips" / "services", ROOT / "src" / "openips_cli", ROOT)


def _exists(name: str) -> bool:
    name = name.rstrip("/")
    return any((base / name).exists() or (base / f"{name}.py").exists() for base in BASES)


def test_every_module_the_architecture_map_names_exists():
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`([a-z_]+(?:/[a-z_<>.]+)+/?)`", text))
    named = {n for n in named if "<" not in n}
    missing = sorted(n for n in named if not _exists(n))
    assert len(named) > 30, named
    assert missing == []
