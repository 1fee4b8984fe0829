"""Where the CLI finds the API: flags, then environment, then the local stack's ``local.json``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE_DIR = ".openips"
LOCAL_FILE = "local.json"
NOT_CONFIGURED = "start the local stack with `openips local up` or set OPENIPS_API_URL/OPENIPS_API_KEY"


class ConfigError(Exception):
    """The API endpoint or key cannot be resolved."""


@dataclass(frozen=True)
class Config:
    api_url: str
    api_key: str
    source: str


def state_dir(flag: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path:
    """``--state-dir`` > ``OPENIPS_STATE_DIR`` > ``.openips``."""
    return Path(flag or env.get("OPENIPS_STATE_DIR") or DEFAULT_STATE_DIR)


def read_local(directory: Path) -> dict:
    """The local stack's ``local.json``, or ``{}`` when there is none."""
    path = directory / LOCAL_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a JSON object")
    return data


def resolve(api_url: str | None = None, api_key: str | None = None, state: str | os.PathLike[str] | None = None,
            admin: bool = False, env: Mapping[str, str] | None = None) -> Config:
    """Each of URL and key: flag > environment > ``local.json`` (``adminApiKey`` when ``admin``)."""
    env = os.environ if env is None else env
    url = api_url or env.get("OPENIPS_API_URL")
    key = api_key or env.get("OPENIPS_API_KEY")
    source = "flags/environment"
    if not (url and key):
        directory = state_dir(state, env)
        local = read_local(directory)
        url = url or local.get("apiUrl")
        key = key or local.get("adminApiKey" if admin else "apiKey")
        if local:
            source = str(directory / LOCAL_FILE)
    if not url and not key:
        raise ConfigError(f"no API configured: {NOT_CONFIGURED}")
    if not url:
        raise ConfigError(f"no API URL: set --api-url or OPENIPS_API_URL, or {NOT_CONFIGURED}")
    if not key:
        wanted = "adminApiKey" if admin else "apiKey"
        raise ConfigError(f"no API key (no --api-key, OPENIPS_API_KEY or {wanted} in local.json): {NOT_CONFIGURED}")
    return Config(api_url=url.rstrip("/"), api_key=key, source=source)
