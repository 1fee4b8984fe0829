"""``openips assets``: one asset, listings, and downloads of an asset's files."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from openips_cli.cli.errors import EXIT_OK
from openips_cli.cli.terminal import Column, Output, human_size, short_date
from openips_cli.client import OpenIpsClient, download_file

LIST_COLUMNS = [Column("ASSET", "handle"), Column("NAME"), Column("TYPE", "word"), Column("FOLDER"), Column("FILE"),
                Column("SIZE", "word"), Column("PIXELS", "word"), Column("PUBLISH", "word")]

# The thumbnail's key has no extension (one key per asset whatever its format): its format names it.
THUMBNAIL_SUFFIX = {"jpeg": ".jpg", "webp": ".webp"}


def safe_name(name: str) -> str:
    """A server-given name reduced to one path component, so downloads stay inside --to."""
    cleaned = PurePosixPath(name.replace("\\", "/")).name
    return cleaned if cleaned not in ("", ".", "..") else "unnamed"


def cmd_assets(args: argparse.Namespace, client_factory: Callable[[], OpenIpsClient], out: Output) -> int:
    client = client_factory()
    if args.assets_command == "get":
        data = client.get_asset(args.asset)
        out.result(data, lambda: print(asset_text(data)))
    elif args.assets_command == "list":
        data = client.find_all_assets(folder=args.folder, name=args.name, job_handle=args.job, asset_type=args.type)
        rows = [[a.get("assetHandle"), a.get("name"), a.get("type"), a.get("folder"), a.get("fileName"),
                 human_size(a.get("fileSize") or 0), pixels(a), a.get("publishState")]
                for a in data.get("assetArray", [])]
        out.result(data, lambda: out.table(LIST_COLUMNS, rows, empty="no assets"))
    else:
        asset = client.get_asset(args.asset)
        target = Path(args.to)
        target.mkdir(parents=True, exist_ok=True)
        written = []
        name = safe_name(asset.get("name") or asset["assetHandle"])
        for kind in ("master", "optimized", "mask", "thumbnail"):
            entry = (asset.get("files") or {}).get(kind)
            if not entry or not entry.get("url"):
                continue
            suffix = PurePosixPath(entry.get("key", "")).suffix or ".tif"
            file_name = {"master": safe_name(asset.get("fileName") or name), "optimized": f"{name}.tif",
                         "mask": f"{name}-mask{suffix}",
                         "thumbnail": f"{name}-thumbnail{THUMBNAIL_SUFFIX.get(entry.get('format'), '.jpg')}"}[kind]
            size = download_file(entry["url"], target / file_name)
            written.append({"kind": kind, "path": str(target / file_name), "size": size})
            out.info(f"{kind:<9} {target / file_name} ({human_size(size)})")
        out.result({"assetHandle": asset["assetHandle"], "written": written}, lambda: None)
    return EXIT_OK


def pixels(asset: dict) -> str:
    return f"{asset['width']}x{asset['height']}" if asset.get("width") and asset.get("height") else ""


def asset_text(a: dict) -> str:
    """``openips assets get``: one ``key  value`` line per field that has a value."""
    files = a.get("files") or {}
    rows = [("asset", a.get("assetHandle")), ("name", a.get("name")), ("type", a.get("type")),
            ("folder", a.get("folder")), ("file", a.get("fileName")),
            ("size", f"{human_size(a.get('fileSize') or 0)} ({a.get('fileSize')} bytes)"), ("pixels", pixels(a)),
            ("publish", a.get("publishState")), ("created", short_date(a.get("created"))),
            ("updated", short_date(a.get("updated"))), ("created by", a.get("createdJobHandle")),
            ("updated by", a.get("updatedJobHandle")), ("keywords", ", ".join(a.get("xmpKeywords") or [])),
            ("parent", a.get("parentHandle")), ("children", ", ".join(a.get("children") or []))]
    rows += [(kind, (files.get(kind) or {}).get("key")) for kind in ("master", "optimized", "mask")]
    # The preview is for looking at: its presigned URL (valid for an hour), ready for a browser.
    rows.append(("thumbnail", (files.get("thumbnail") or {}).get("url")))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows if v not in (None, ""))
